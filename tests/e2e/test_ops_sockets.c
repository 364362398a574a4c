/* SPDX-License-Identifier: MIT */
/*
 * test_ops_sockets.c - end-to-end: socket operations against a real
 * saferringd over loopback.  SEND/RECV and SENDMSG/RECVMSG move bytes
 * between slots and a peer (with their message flags), a send to a
 * vanished peer is -EPIPE and kills nothing, ACCEPT turns a connection
 * into a handle that works like a registered one, CONNECT and SHUTDOWN
 * act on a client-made socket, POLL_ADD fires and POLL_REMOVE removes,
 * the fd quota holds for accepts, and every refusal of the new fields
 * answers its exact status.
 */
#include "ops_util.h"

#include <sys/un.h>

#define SLOT_SIZE 4096

static void test_send_recv(void **state)
{
	struct sr_client *c = ou_small_session(16);
	int sv[2];
	sr_handle_t h;
	sr_slot_t b = ou_acquire(c);
	sr_slot_t a = ou_acquire(c);
	struct sr_cqe cqe[2];
	char buf[100];

	(void)state;
	ou_socketpair(sv);
	h = ou_register(c, sv[0]);
	memcpy((char *)sr_slot_data(c, a) + 10, "hello, peer", 11);
	assert_int_equal(sr_prep_send(c, 1, h, a, 10, 11, 0), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], 11);
	assert_slot_equal(cqe[0].slot, a);
	ou_read_all(sv[1], buf, 11);
	assert_memory_equal(buf, "hello, peer", 11);

	/* A receive waits for data; WAITALL waits for all of it. */
	assert_int_equal(sr_prep_recv(c, 2, h, b, 5, 8, MSG_WAITALL), 0);
	ou_submit(c, 1);
	ou_quiet(c, 50);
	assert_int_equal(send(sv[1], "0123", 4, 0), 4);
	ou_quiet(c, 50);
	assert_int_equal(send(sv[1], "4567", 4, 0), 4);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], 8);
	assert_slot_equal(cqe[0].slot, b);
	assert_memory_equal((char *)sr_slot_data(c, b) + 5, "01234567", 8);
	/* DONTWAIT with nothing there; PEEK leaves the data. */
	assert_int_equal(sr_prep_recv(c, 3, h, b, 0, 8, MSG_DONTWAIT), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], -EAGAIN);
	assert_int_equal(send(sv[1], "xy", 2, 0), 2);
	assert_int_equal(sr_prep_recv(c, 4, h, b, 0, 8, MSG_PEEK), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], 2);
	assert_int_equal(sr_prep_recv(c, 5, h, a, 0, 8, 0), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], 2);
	assert_memory_equal(sr_slot_data(c, a), "xy", 2);
	/* The library refuses flags the daemon would. */
	assert_int_equal(sr_prep_send(c, 6, h, a, 0, 1, MSG_PEEK), -EINVAL);
	assert_int_equal(sr_prep_recv(c, 6, h, a, 0, 1, MSG_MORE), -EINVAL);

	/* Sending on a socket shut for writing: -EPIPE, never a SIGPIPE
	 * in the daemon. */
	assert_int_equal(sr_prep_shutdown(c, 10, h, SHUT_WR), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], 0);
	assert_int_equal(sr_prep_send(c, 7, h, a, 0, 100, 0), 0);
	assert_int_equal(sr_prep_send(c, 8, h, b, 0, 100, MSG_NOSIGNAL), 0);
	ou_submit(c, 2);
	ou_wait(c, cqe, 2);
	ou_ok(&cqe[0], -EPIPE);
	ou_ok(&cqe[1], -EPIPE);
	/* The peer goes away: end of file. */
	close(sv[1]);
	assert_int_equal(sr_prep_recv(c, 9, h, a, 0, 100, 0), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], 0);
	sr_close(c);
	hd_check_service(&hd);
}

static void test_sendmsg_recvmsg(void **state)
{
	struct sr_client *c = ou_small_session(16);
	int sv[2];
	sr_slot_t s[4];
	sr_handle_t h;
	struct sr_iov out[2], in[2];
	struct sr_cqe cqe[1];
	char buf[64];

	(void)state;
	ou_socketpair(sv);
	h = ou_register(c, sv[0]);
	for (int i = 0; i < 4; i++)
		s[i] = ou_acquire(c);
	memcpy(sr_slot_data(c, s[0]), "scatter-", 8);
	memcpy((char *)sr_slot_data(c, s[1]) + 100, "gather", 6);
	out[0] = (struct sr_iov){ s[0], 0, 8 };
	out[1] = (struct sr_iov){ s[1], 100, 6 };
	assert_int_equal(sr_prep_sendmsg(c, 1, h, out, 2, 0), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], 14);
	ou_read_all(sv[1], buf, 14);
	assert_memory_equal(buf, "scatter-gather", 14);

	assert_int_equal(send(sv[1], "abcdefghij", 10, 0), 10);
	in[0] = (struct sr_iov){ s[2], 1, 4 };
	in[1] = (struct sr_iov){ s[3], 2, 20 };
	assert_int_equal(sr_prep_recvmsg(c, 2, h, in, 2, MSG_WAITALL), 0);
	ou_submit(c, 1);
	assert_int_equal(send(sv[1], "klmnopqrstuvwxyz", 14, 0), 14);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], 24);
	assert_memory_equal((char *)sr_slot_data(c, s[2]) + 1, "abcd", 4);
	assert_memory_equal((char *)sr_slot_data(c, s[3]) + 2,
			    "efghijklmnopqrstuvwx", 20);
	/* All four slots are the caller's again. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(sr_slot_release(c, s[i]), 0);
	close(sv[1]);
	sr_close(c);
	hd_check_service(&hd);
}

static void test_accept_connect_shutdown(void **state)
{
	struct sr_client *c = ou_small_session(16);
	uint16_t port;
	int lfd = ou_listener(&port);
	sr_handle_t l = ou_register(c, lfd);
	int peer;
	sr_handle_t hc;
	sr_handle_t ha;
	sr_slot_t t = ou_acquire(c);
	sr_slot_t s = ou_acquire(c);
	struct sockaddr_in to = ou_loopback(port);
	struct sockaddr_un un = { .sun_family = AF_UNIX };
	struct sr_cqe cqe[2];
	char buf[16];

	(void)state;
	/* A connection accepted by the daemon becomes a handle. */
	assert_int_equal(sr_prep_accept(c, 1, l), 0);
	ou_submit(c, 1);
	ou_quiet(c, 50);
	peer = ou_dial(port);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], 0);
	ha = cqe[0].handle;
	assert_true(sr_handle_index(ha) >= 0 && !sr_handle_eq(ha, l));
	memcpy(sr_slot_data(c, s), "accepted", 8);
	assert_int_equal(sr_prep_send(c, 2, ha, s, 0, 8, 0), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], 8);
	ou_read_all(peer, buf, 8);
	assert_memory_equal(buf, "accepted", 8);
	close(peer);

	/* CONNECT on a socket the client made; the daemon accepts too. */
	hc = ou_register(c, socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	assert_int_equal(sr_prep_connect(c, 3, hc, (struct sockaddr *)&to,
					 sizeof(to)), 0);
	assert_int_equal(sr_prep_accept(c, 4, l), 0);
	ou_submit(c, 2);
	ou_wait(c, cqe, 2);
	ou_ok(ou_find(cqe, 2, 3), 0);
	ou_ok(ou_find(cqe, 2, 4), 0);
	ha = ou_find(cqe, 2, 4)->handle;
	assert_true(sr_handle_index(ha) >= 0);
	/* Both ends are the daemon's: data across, then SHUT_WR is an end
	 * of stream on the other side. */
	memcpy(sr_slot_data(c, s), "via daemon", 10);
	assert_int_equal(sr_prep_send(c, 5, hc, s, 0, 10, 0), 0);
	assert_int_equal(sr_prep_recv(c, 6, ha, t, 0, 10, MSG_WAITALL), 0);
	ou_submit(c, 2);
	ou_wait(c, cqe, 2);
	ou_ok(ou_find(cqe, 2, 5), 10);
	ou_ok(ou_find(cqe, 2, 6), 10);
	assert_memory_equal(sr_slot_data(c, t), "via daemon", 10);
	assert_int_equal(sr_prep_shutdown(c, 7, hc, SHUT_WR), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], 0);
	assert_int_equal(sr_prep_recv(c, 8, ha, t, 0, 10, 0), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], 0);
	/* Kernel errors come back as results: nobody listens there now. */
	close(lfd);
	assert_int_equal(sr_prep_close(c, 9, l), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 1);
	hc = ou_register(c, socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
	assert_int_equal(sr_prep_connect(c, 10, hc, (struct sockaddr *)&to,
					 sizeof(to)), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], -ECONNREFUSED);
	/* The library knows which addresses the daemon takes. */
	assert_int_equal(sr_prep_connect(c, 11, hc, (struct sockaddr *)&un,
					 sizeof(un)), -EAFNOSUPPORT);
	assert_int_equal(sr_prep_connect(c, 11, hc, (struct sockaddr *)&to,
					 sizeof(to) - 1), -EINVAL);
	assert_int_equal(sr_prep_shutdown(c, 11, hc, 3), -EINVAL);
	sr_close(c);
	hd_check_service(&hd);
}

static void test_poll(void **state)
{
	struct sr_client *c = ou_small_session(16);
	int sv[2];
	sr_handle_t h;
	struct sr_cqe cqe[2];

	(void)state;
	ou_socketpair(sv);
	h = ou_register(c, sv[0]);
	assert_int_equal(sr_prep_poll_add(c, 1, h, POLLIN), 0);
	ou_submit(c, 1);
	ou_quiet(c, 50);
	assert_int_equal(send(sv[1], "!", 1, 0), 1);
	ou_wait(c, cqe, 1);
	assert_int_equal(cqe[0].status, SR_STATUS_OK);
	assert_true(cqe[0].res & POLLIN);
	/* Writable at once. */
	assert_int_equal(sr_prep_poll_add(c, 2, h, POLLOUT), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 1);
	assert_true(cqe[0].res & POLLOUT);
	/* A pending poll removed by its user_data. */
	assert_int_equal(sr_prep_poll_add(c, 3, h, POLLPRI), 0);
	ou_submit(c, 1);
	ou_quiet(c, 30);
	assert_int_equal(sr_prep_poll_remove(c, 4, 3), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 2);
	ou_ok(ou_find(cqe, 2, 3), -ECANCELED);
	ou_ok(ou_find(cqe, 2, 4), 0);
	/* Nothing left to remove. */
	assert_int_equal(sr_prep_poll_remove(c, 5, 3), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], -ENOENT);
	assert_int_equal(sr_prep_poll_add(c, 6, h, 0x40 /* POLLRDNORM */),
			 -EINVAL);
	close(sv[1]);
	sr_close(c);
	hd_check_service(&hd);
}

static void test_accept_quota(void **state)
{
	struct sr_client *c = ou_small_session(16);
	struct sr_limits lim;
	uint16_t port;
	int lfd = ou_listener(&port);
	sr_handle_t l = ou_register(c, lfd);
	int fd = hd_make_file(&hd, "quota.dat", 0, 0);
	sr_handle_t h = SR_HANDLE_NONE;
	struct sr_cqe cqe[1];

	(void)state;
	sr_limits(c, &lim);
	assert_true(lim.fd_table_size >= lim.max_fds);
	/* One entry left: a single-shot accept reserves it... */
	for (uint32_t i = 2; i < lim.max_fds; i++)
		assert_true(sr_handle_index(sr_register_fd(c, fd)) >= 0);
	assert_int_equal(sr_prep_accept(c, 1, l), 0);
	ou_submit(c, 1);
	ou_quiet(c, 30);
	/* ...so nothing more can be registered, nor accepted. */
	assert_int_equal(sr_handle_index(sr_register_fd(c, fd)), -EDQUOT);
	assert_int_equal(sr_prep_accept(c, 2, l), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 1);
	ou_refused(&cqe[0], SR_STATUS_QUOTA);
	int peer = ou_dial(port);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], 0);
	h = cqe[0].handle;
	assert_true(sr_handle_index(h) >= 0 &&
		    (uint32_t)sr_handle_index(h) < lim.max_fds);
	/* Unregistered like any handle, which frees the entry. */
	assert_int_equal(sr_unregister_fd(c, h), 0);
	assert_true(sr_handle_index(sr_register_fd(c, fd)) >= 0);
	close(peer);
	close(fd);
	sr_close(c);
	hd_check_service(&hd);
}

/* Every refusal of the socket fields, through the raw protocol. */
static void test_socket_refusals(void **state)
{
	struct rc *c = rc_open(hd.sock);
	int sv[2];
	struct rc_handle h;
	struct rc_op op;
	unsigned char addr[sizeof(struct sockaddr_un) + 4] = { 0 };
	sa_family_t fam;

	(void)state;
	ou_socketpair(sv);
	h = rc_register_fd(c, sv[0]);
#define SOCKOP(tag, opcode)                                                \
	do {                                                               \
		ou_raw_op(&op, tag, opcode);                               \
		ou_raw_fd(&op, h);                                         \
	} while (0)
#define MSGF(v)                                                            \
	do {                                                               \
		op.op.has_msg_flags = true;                                \
		op.op.msg_flags = (v);                                     \
	} while (0)
#define FLAGS(v)                                                           \
	do {                                                               \
		op.op.has_flags = true;                                    \
		op.op.flags = (v);                                         \
	} while (0)

	SOCKOP(1, SR_OP_SEND);
	ou_raw_slot(&op, 0, c->gen[0], 0, 10);
	MSGF(MSG_PEEK);
	ou_raw_refused(c, &op, SR_STATUS_BAD_FLAGS);
	MSGF(MSG_OOB);
	ou_raw_refused(c, &op, SR_STATUS_BAD_FLAGS);
	op.op.has_msg_flags = false;
	op.op.has_file_offset = true;
	ou_raw_refused(c, &op, SR_STATUS_MALFORMED);
	SOCKOP(2, SR_OP_SEND);
	ou_raw_refused(c, &op, SR_STATUS_MALFORMED);
	SOCKOP(3, SR_OP_RECV);
	ou_raw_slot(&op, 0, c->gen[0], 0, 10);
	MSGF(MSG_MORE);
	ou_raw_refused(c, &op, SR_STATUS_BAD_FLAGS);
	MSGF(MSG_TRUNC);
	ou_raw_refused(c, &op, SR_STATUS_BAD_FLAGS);
	op.op.has_msg_flags = false;
	FLAGS(2);
	ou_raw_refused(c, &op, SR_STATUS_BAD_FLAGS);
	FLAGS(SR_RECV_MULTISHOT); /* multishot takes no slot */
	ou_raw_refused(c, &op, SR_STATUS_MALFORMED);
	ou_raw_slot(&op, 0, c->gen[0], 5, c->slot_size);
	op.op.has_flags = false;
	ou_raw_refused(c, &op, SR_STATUS_OUT_OF_BOUNDS);
	SOCKOP(4, SR_OP_RECV);
	ou_raw_refused(c, &op, SR_STATUS_MALFORMED);
	SOCKOP(5, SR_OP_SENDMSG);
	ou_raw_slot(&op, 0, c->gen[0], 0, 10);
	ou_raw_refused(c, &op, SR_STATUS_MALFORMED);
	SOCKOP(6, SR_OP_RECVMSG);
	ou_raw_refused(c, &op, SR_STATUS_MALFORMED);
	SOCKOP(7, SR_OP_ACCEPT);
	FLAGS(2);
	ou_raw_refused(c, &op, SR_STATUS_BAD_FLAGS);
	SOCKOP(8, SR_OP_ACCEPT);
	ou_raw_slot(&op, 0, c->gen[0], 0, 10);
	ou_raw_refused(c, &op, SR_STATUS_MALFORMED);
	SOCKOP(9, SR_OP_POLL_ADD);
	FLAGS(1U << 30); /* EPOLLONESHOT */
	ou_raw_refused(c, &op, SR_STATUS_BAD_FLAGS);
	FLAGS(POLLIN);
	op.op.has_target = true;
	ou_raw_refused(c, &op, SR_STATUS_MALFORMED);
	SOCKOP(10, SR_OP_POLL_REMOVE);
	op.op.has_target = true;
	ou_raw_refused(c, &op, SR_STATUS_MALFORMED);
	ou_raw_op(&op, 11, SR_OP_POLL_REMOVE);
	ou_raw_refused(c, &op, SR_STATUS_MALFORMED);
	SOCKOP(12, SR_OP_SHUTDOWN);
	FLAGS(3);
	ou_raw_refused(c, &op, SR_STATUS_BAD_FLAGS);
	SOCKOP(13, SR_OP_SHUTDOWN);
	op.fd.generation += 1;
	ou_raw_refused(c, &op, SR_STATUS_STALE_HANDLE);

	/* CONNECT's address. */
	SOCKOP(20, SR_OP_CONNECT);
	ou_raw_refused(c, &op, SR_STATUS_MALFORMED);
#define ADDR(family_, len_, status_)                                        \
	do {                                                               \
		fam = (family_);                                           \
		memcpy(addr, &fam, sizeof(fam));                           \
		SOCKOP(21, SR_OP_CONNECT);                                 \
		op.op.has_addr = true;                                     \
		op.op.addr.data = addr;                                    \
		op.op.addr.len = (len_);                                   \
		ou_raw_refused(c, &op, status_);                           \
	} while (0)
	ADDR(AF_INET, 0, SR_STATUS_BAD_ADDRESS);
	ADDR(AF_INET, 1, SR_STATUS_BAD_ADDRESS);
	ADDR(AF_INET, sizeof(struct sockaddr_in) - 1, SR_STATUS_BAD_ADDRESS);
	ADDR(AF_INET, sizeof(struct sockaddr_in) + 1, SR_STATUS_BAD_ADDRESS);
	ADDR(AF_INET6, sizeof(struct sockaddr_in), SR_STATUS_BAD_ADDRESS);
	ADDR(AF_UNIX, sizeof(sa_family_t), SR_STATUS_BAD_ADDRESS);
	ADDR(AF_UNIX, sizeof(struct sockaddr_un) + 1, SR_STATUS_BAD_ADDRESS);
	ADDR(AF_PACKET, 20, SR_STATUS_BAD_ADDRESS);
	ADDR(AF_UNIX, sizeof(struct sockaddr_un), SR_STATUS_NOT_PERMITTED);
	/* A well-formed address of the right family runs (and fails in the
	 * kernel: this socket is AF_UNIX). */
	{
		const uint32_t ok = SR_STATUS_OK;

		fam = AF_INET;
		memcpy(addr, &fam, sizeof(fam));
		SOCKOP(22, SR_OP_CONNECT);
		op.op.has_addr = true;
		op.op.addr.data = addr;
		op.op.addr.len = sizeof(struct sockaddr_in);
		ou_raw_expect(c, &op, 1, &ok);
	}
#undef ADDR
#undef FLAGS
#undef MSGF
#undef SOCKOP
	close(sv[1]);
	rc_close(c);
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_send_recv),
		cmocka_unit_test(test_sendmsg_recvmsg),
		cmocka_unit_test(test_accept_connect_shutdown),
		cmocka_unit_test(test_poll),
		cmocka_unit_test(test_accept_quota),
		cmocka_unit_test(test_socket_refusals),
	};

	return HD_RUN(tests, 120);
}
