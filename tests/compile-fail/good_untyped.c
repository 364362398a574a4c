/* Source written for the int API builds unchanged with SR_UNTYPED_API
 * (the migration aid saferring.h describes): must build.  The same
 * calls without the macro would not compile. */
#define SR_UNTYPED_API
#include "saferring.h"

int old_style(struct sr_client *c, int fd);
int old_style(struct sr_client *c, int fd)
{
	struct sr_cqe cqe;
	int h = sr_register_fd(c, fd);
	int s = sr_slot_acquire(c);

	if (h < 0 || s < 0)
		return h < 0 ? h : s;
	if (sr_prep_read(c, 1, h, s, 0, 512, 0) < 0 || sr_submit(c) < 0 ||
	    sr_wait_cqe(c, &cqe) < 0)
		return -1;
	if (cqe.slot != s)
		return -1;
	return sr_slot_release(c, s) || sr_unregister_fd(c, h);
}

int main(void)
{
	return 0;
}
