/* Slots are compared with sr_slot_eq (or by index), not ==.
 * control: builds with SR_UNTYPED_API (the types are what refuse it)
 * expect: invalid operands to binary ==|invalid operands to binary expression */
#include "saferring.h"

int bad(const struct sr_cqe *cqe, sr_slot_t s);
int bad(const struct sr_cqe *cqe, sr_slot_t s)
{
	return cqe->slot == s;
}
