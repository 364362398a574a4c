/* A prep without its user_data: the handle lands in user_data's place.
 * expect: too few arguments to function .sr_prep_read.|too few arguments to function call */
#include "saferring.h"

int bad(struct sr_client *c, sr_handle_t h, sr_slot_t s);
int bad(struct sr_client *c, sr_handle_t h, sr_slot_t s)
{
	return sr_prep_read(c, h, s, 0, 4096, 0);
}
