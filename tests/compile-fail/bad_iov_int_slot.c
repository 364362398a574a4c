/* An int as sr_iov.slot.  C's brace elision lets "{ .slot = 3 }"
 * initialize the struct's one member, so this is refused only through
 * -Wmissing-braces (in -Wall) with -Werror; assigning an int to the
 * member (v.slot = 3) is refused by any compiler.
 * control: builds with SR_UNTYPED_API (the types are what refuse it)
 * expect: missing braces around initializer|suggest braces around initialization */
#include "saferring.h"

int bad(struct sr_client *c, sr_handle_t h);
int bad(struct sr_client *c, sr_handle_t h)
{
	struct sr_iov v[1] = { { .slot = 3, .offset = 0, .len = 512 } };

	return sr_prep_readv(c, 1, h, v, 1, 0);
}
