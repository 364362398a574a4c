/* A slot passed where a handle is expected: sr_unregister_fd.
 * control: builds with SR_UNTYPED_API (the types are what refuse it)
 * expect: incompatible type for argument 2 of .sr_unregister_fd.|passing 'sr_slot_t'.*incompatible type 'sr_handle_t' */
#include "saferring.h"

int bad(struct sr_client *c, sr_slot_t s);
int bad(struct sr_client *c, sr_slot_t s)
{
	return sr_unregister_fd(c, s);
}
