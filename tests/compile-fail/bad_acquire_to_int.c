/* sr_slot_acquire's result kept in an int: the index comes out only
 * through sr_slot_index().
 * control: builds with SR_UNTYPED_API (the types are what refuse it)
 * expect: incompatible types when initializing type .int. using type .sr_slot_t.|initializing 'int' with an expression of incompatible type 'sr_slot_t' */
#include "saferring.h"

int bad(struct sr_client *c);
int bad(struct sr_client *c)
{
	int s = sr_slot_acquire(c);

	return s;
}
