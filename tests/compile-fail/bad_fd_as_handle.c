/* The descriptor instead of the handle sr_register_fd returned for it:
 * the mistake the int API let through.
 * control: builds with SR_UNTYPED_API (the types are what refuse it)
 * expect: incompatible type for argument 2 of .sr_pread.|passing 'int'.*incompatible type 'sr_handle_t' */
#include <sys/types.h>

#include "saferring.h"

ssize_t bad(struct sr_client *c, int fd, char *buf);
ssize_t bad(struct sr_client *c, int fd, char *buf)
{
	(void)sr_register_fd(c, fd);
	return sr_pread(c, fd, buf, 512, 0);
}
