/* A bare int where a slot is expected: sr_slot_release.
 * control: builds with SR_UNTYPED_API (the types are what refuse it)
 * expect: incompatible type for argument 2 of .sr_slot_release.|passing 'int'.*incompatible type 'sr_slot_t' */
#include "saferring.h"

int bad(struct sr_client *c);
int bad(struct sr_client *c)
{
	return sr_slot_release(c, 3);
}
