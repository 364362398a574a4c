/* sr_slot_view is read-only: writing through it does not compile.
 * expect: assignment of read-only location|read-only variable is not assignable */
#include "saferring.h"

void bad(struct sr_client *c, sr_slot_t s);
void bad(struct sr_client *c, sr_slot_t s)
{
	const char *p = sr_slot_view(c, s);

	p[0] = 'x';
}
