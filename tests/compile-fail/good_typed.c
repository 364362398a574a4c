/* Every call of the typed API, used correctly: must build (-std=c11
 * -Wall -Wextra -Werror) and link.  Run with a socket path it does one
 * pass against a daemon; test_compile_fail.sh only builds it. */
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "saferring.h"

static int use_all(const char *sock, int fd, int sfd)
{
	struct sr_client *c;
	struct sr_cqe cqe;
	struct sockaddr_in sin;
	char buf[64];
	int r = sr_connect(sock, NULL, &c);

	if (r < 0)
		return r;
	sr_handle_t h = sr_register_fd(c, fd);
	sr_handle_t sh = sr_register_fd(c, sfd);
	sr_slot_t s = sr_slot_acquire(c);
	sr_slot_t t = sr_slot_acquire(c);

	if (sr_handle_index(h) < 0 || sr_handle_index(sh) < 0 ||
	    sr_slot_index(s) < 0 || sr_slot_index(t) < 0)
		goto out;
	if (sr_slot_eq(s, t) || sr_handle_eq(h, sh))
		goto out;
	memset(sr_slot_data(c, s), 0, sr_slot_size(c));
	const char *view = sr_slot_view(c, s);
	(void)view[0];

	struct sr_iov iov[2] = {
		{ .slot = s, .offset = 0, .len = 512 },
		{ .slot = t, .offset = 0, .len = 512 },
	};
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sr_prep_nop(c, 1);
	sr_prep_read(c, 2, h, s, 0, 512, 0);
	sr_prep_write(c, 3, h, s, 0, 512, 0);
	sr_prep_fsync(c, 4, h, SR_FSYNC_DATASYNC);
	sr_prep_readv(c, 5, h, iov, 2, 0);
	sr_prep_writev(c, 6, h, iov, 2, 0);
	sr_prep_fallocate(c, 7, h, 0, 0, 4096);
	sr_prep_send(c, 8, sh, s, 0, 16, 0);
	sr_prep_recv(c, 9, sh, t, 0, 16, 0);
	sr_prep_sendmsg(c, 10, sh, iov, 2, 0);
	sr_prep_recvmsg(c, 11, sh, iov, 2, 0);
	sr_prep_recv_multishot(c, 12, sh, 0);
	sr_prep_provide(c, 13, t);
	sr_prep_accept(c, 14, sh);
	sr_prep_multishot_accept(c, 15, sh);
	sr_prep_connect(c, 16, sh, (const struct sockaddr *)&sin,
			sizeof(sin));
	sr_prep_poll_add(c, 17, sh, 0x001U);
	sr_prep_poll_remove(c, 18, 17);
	sr_prep_cancel(c, 19, 12);
	sr_prep_timeout(c, 20, 1000);
	sr_prep_link_timeout(c, 21, 1000);
	sr_prep_shutdown(c, 22, sh, SHUT_RDWR);
	sr_prep_close(c, 23, sh);
	sr_link_last(c, 0);
	sr_submit(c);
	while (sr_peek_cqe(c, &cqe) == 0) {
		/* The completion's slot and handle are typed too. */
		if (sr_slot_eq(cqe.slot, s) &&
		    sr_handle_index(cqe.handle) == sr_handle_index(SR_HANDLE_NONE))
			printf("slot %d done\n", sr_slot_index(cqe.slot));
	}
	sr_pwrite(c, h, "x", 1, 0);
	sr_pread(c, h, buf, sizeof(buf), 0);
	sr_fsync(c, h);
	sr_slot_release(c, s);
	sr_slot_release(c, t);
	sr_slot_release(c, SR_SLOT_NONE); /* -EINVAL, but well typed */
	sr_unregister_fd(c, h);
	sr_unregister_fd(c, SR_HANDLE(sr_handle_index(h)));
out:
	sr_close(c);
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1)
		return use_all(argv[1], 0, 1) ? 1 : 0;
	return 0;
}
