/* A handle passed where a slot is expected: argument 4 of sr_prep_read.
 * control: builds with SR_UNTYPED_API (the types are what refuse it)
 * expect: incompatible type for argument 4 of .sr_prep_read.|passing 'sr_handle_t'.*incompatible type 'sr_slot_t' */
#include "saferring.h"

int bad(struct sr_client *c, sr_handle_t h, sr_slot_t s);
int bad(struct sr_client *c, sr_handle_t h, sr_slot_t s)
{
	(void)s;
	return sr_prep_read(c, 1, h, h, 0, 4096, 0);
}
