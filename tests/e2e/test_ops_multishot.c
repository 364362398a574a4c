/* SPDX-License-Identifier: MIT */
/*
 * test_ops_multishot.c - end-to-end: multishot receive and accept with
 * the receive pool, against a real saferringd.  Over many messages every
 * slot a receive hands over was in the pool, comes with a new generation
 * that the next PROVIDE must name, and is never handed out twice; the
 * byte stream arrives whole and in order; an empty pool ends the receive
 * with -ENOBUFS; a cancel ends it.  A multishot accept hands out a new
 * working handle per connection, counts them against the fd quota and
 * ends with -EMFILE past it.  Refusals of the pool fields are exact.
 */
#include "ops_util.h"

#define POOL 16
#define RECV_TAG 500

/* What the raw client believes about the pool. */
struct pool {
	struct rc *c;
	bool in_pool[POOL];
	uint32_t gen[POOL];  /* generation last handed to us */
	uint64_t next_tag;
	unsigned provided;   /* PROVIDEs whose completion is pending */
};

static void pool_provide(struct pool *p, uint32_t slot)
{
	struct rc_op op;

	assert_false(p->in_pool[slot]);
	ou_raw_op(&op, p->next_tag++, SR_OP_PROVIDE);
	ou_raw_slot(&op, slot, p->gen[slot], 0, p->c->slot_size);
	rc_submit(p->c, &op, 1);
	p->in_pool[slot] = true;
	p->provided++;
}

static void arm(struct rc *c, struct rc_handle h)
{
	struct rc_op op;

	ou_raw_op(&op, RECV_TAG, SR_OP_RECV);
	ou_raw_fd(&op, h);
	op.op.has_flags = true;
	op.op.flags = SR_RECV_MULTISHOT;
	rc_submit(c, &op, 1);
}

/* Check one completion of the receive; the slot it hands over (or -1). */
static int pool_take(struct pool *p, const struct rc_cqe *e,
		     const unsigned char *stream, uint64_t *got)
{
	uint32_t s = e->slot_index;

	assert_int_equal(e->status, SR_STATUS_OK);
	if (!e->has_slot)
		return -1;
	if (s >= POOL || !p->in_pool[s])
		fail_msg("slot %u handed over, but it is not in the pool", s);
	if (e->slot_generation == p->gen[s])
		fail_msg("slot %u handed over with its old generation %u", s,
			 e->slot_generation);
	p->in_pool[s] = false;
	p->gen[s] = e->slot_generation;
	assert_true(e->result > 0 && (uint32_t)e->result <= p->c->slot_size);
	if (memcmp(rc_slot(p->c, s), stream + *got, (size_t)e->result))
		fail_msg("bytes %llu..%llu differ",
			 (unsigned long long)*got,
			 (unsigned long long)(*got + (uint64_t)e->result));
	*got += (uint64_t)e->result;
	return (int)s;
}

static void test_multishot_recv_many(void **state)
{
	struct rc *c = rc_open(hd.sock);
	struct pool p = { .c = c, .next_tag = 1000 };
	const size_t total = 8U << 20;
	unsigned char *stream = malloc(total);
	uint64_t sent = 0, got = 0, completions = 0, enobufs = 0;
	int sv[2];
	struct rc_handle h;
	struct rc_cqe e;

	(void)state;
	assert_non_null(stream);
	assert_true(c->slot_count >= POOL);
	hd_pattern(stream, total, 0, 0x5107);
	/* A TCP stream: completions hand the bytes over in order. */
	ou_socketpair(sv);
	fcntl(sv[1], F_SETFL, O_NONBLOCK);
	h = rc_register_fd(c, sv[0]);
	close(sv[0]);
	for (uint32_t i = 0; i < POOL; i++)
		p.gen[i] = c->gen[i];

	/* An empty pool: the receive ends with -ENOBUFS at the first byte. */
	arm(c, h);
	assert_int_equal(send(sv[1], stream, 1000, 0), 1000);
	sent = 1000;
	rc_wait_cqes(c, 1, &e, HD_TIMEOUT_MS);
	assert_int_equal(e.tag, RECV_TAG);
	assert_int_equal(e.result, -ENOBUFS);
	assert_false(e.flags & SR_CQE_F_MORE);
	assert_false(e.has_slot);

	/* Four slots: four receives, then -ENOBUFS again. */
	for (uint32_t i = 0; i < 4; i++)
		pool_provide(&p, i);
	arm(c, h);
	for (;;) {
		rc_wait_cqes(c, 1, &e, HD_TIMEOUT_MS);
		if (e.tag != RECV_TAG) {
			assert_int_equal(e.status, SR_STATUS_OK);
			assert_false(e.has_slot);
			p.provided--;
			continue;
		}
		if (!(e.flags & SR_CQE_F_MORE) && !e.has_slot) {
			assert_int_equal(e.result, -ENOBUFS);
			break;
		}
		pool_take(&p, &e, stream, &got);
		if (got == sent) {
			size_t n = got < 4000 ? 16000 : 20000;

			assert_int_equal(send(sv[1], stream + sent, n, 0),
					 (ssize_t)n);
			sent += n;
		}
	}
	for (uint32_t i = 0; i < 4; i++)
		assert_false(p.in_pool[i]);

	/* Megabytes through a pool of 16 refilled as slots come back: every
	 * slot handed over is checked, every byte compared. */
	for (uint32_t i = 0; i < POOL; i++)
		pool_provide(&p, i);
	arm(c, h);
	uint64_t deadline = hd_now_ns() + 60ULL * 1000000000ULL;
	while (got < total) {
		if (hd_now_ns() > deadline)
			fail_msg("stalled at %llu of %zu bytes",
				 (unsigned long long)got, total);
		while (sent < total) {
			size_t n = 1 + (size_t)((sent * 7919) % 3000);
			ssize_t r;

			if (n > total - sent)
				n = total - sent;
			r = send(sv[1], stream + sent, n, 0);
			if (r < 0)
				break;
			sent += (uint64_t)r;
		}
		if (c->cq_len == 0) {
			struct pollfd pfd = { .fd = c->sock, .events = POLLIN };

			if (poll(&pfd, 1, 50) <= 0)
				continue;
		}
		rc_wait_cqes(c, 1, &e, HD_TIMEOUT_MS);
		if (e.tag != RECV_TAG) {
			assert_int_equal(e.status, SR_STATUS_OK);
			p.provided--;
			continue;
		}
		completions++;
		int s = pool_take(&p, &e, stream, &got);
		if (!(e.flags & SR_CQE_F_MORE)) {
			/* The pool ran dry before refills came: arm again. */
			assert_true(e.result == -ENOBUFS || s >= 0);
			enobufs++;
			if (s >= 0)
				pool_provide(&p, (uint32_t)s);
			arm(c, h);
			continue;
		}
		assert_true(s >= 0);
		pool_provide(&p, (uint32_t)s);
	}
	printf("test_ops_multishot: %zu bytes in %llu receives through a pool "
	       "of %d slots (%llu re-arms)\n", total,
	       (unsigned long long)completions, POOL,
	       (unsigned long long)enobufs);
	/* Each slot of the pool went round many times. */
	assert_true(completions > 4 * POOL);
	/* Cancelled: the last completion, without MORE. */
	{
		struct rc_op op;
		struct rc_cqe out[2];

		ou_raw_op(&op, 600, SR_OP_ASYNC_CANCEL);
		op.op.has_target = true;
		op.op.target = RECV_TAG;
		rc_submit(c, &op, 1);
		for (int n = 0; n < 2;) {
			rc_wait_cqes(c, 1, &out[n], HD_TIMEOUT_MS);
			if (out[n].tag >= 1000) {
				p.provided--;
				continue;
			}
			n++;
		}
		const struct rc_cqe *rv = rc_find_cqe(out, 2, RECV_TAG);
		assert_non_null(rv);
		assert_int_equal(rv->result, -ECANCELED);
		assert_false(rv->flags & SR_CQE_F_MORE);
		assert_int_equal(rc_find_cqe(out, 2, 600)->result, 0);
	}
	/* Every slot is back in the pool: none was lost. */
	for (uint32_t i = 0; i < POOL; i++)
		assert_true(p.in_pool[i]);
	close(sv[1]);
	free(stream);
	rc_close(c);
	hd_check_service(&hd);
}

static void test_library_pool(void **state)
{
	struct sr_params params = { .slot_count = 8, .slot_size = 4096 };
	struct sr_client *c = ou_connect(&params);
	int sv[2];
	sr_handle_t h;
	sr_slot_t s = ou_acquire(c);
	struct sr_cqe cqe[2];

	(void)state;
	ou_socketpair(sv);
	h = ou_register(c, sv[0]);
	assert_int_equal(sr_prep_provide(c, 1, s), 0);
	/* Pooled: not the caller's any more. */
	assert_int_equal(sr_slot_release(c, s), -EBUSY);
	assert_int_equal(sr_prep_read(c, 2, h, s, 0, 1, 0), -EBUSY);
	assert_int_equal(sr_prep_provide(c, 2, s), -EBUSY);
	assert_int_equal(sr_prep_recv_multishot(c, 3, h, 0), 0);
	ou_submit(c, 2);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], 0);
	assert_int_equal(sr_slot_index(cqe[0].slot), -1);
	assert_int_equal(send(sv[1], "pool", 4, 0), 4);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], 4);
	assert_true(cqe[0].flags & SR_CQE_F_MORE);
	assert_slot_equal(cqe[0].slot, s);
	assert_memory_equal(sr_slot_data(c, s), "pool", 4);
	/* The caller's again: it can be used, given back, released. */
	assert_int_equal(sr_in_flight(c), 1);
	assert_int_equal(sr_prep_send(c, 4, h, s, 0, 4, 0), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 1);
	ou_ok(&cqe[0], 4);
	assert_int_equal(sr_prep_cancel(c, 5, 3), 0);
	ou_submit(c, 1);
	ou_wait(c, cqe, 2);
	ou_ok(ou_find(cqe, 2, 3), -ECANCELED);
	assert_false(ou_find(cqe, 2, 3)->flags & SR_CQE_F_MORE);
	assert_int_equal(sr_in_flight(c), 0);
	assert_int_equal(sr_slot_release(c, s), 0);
	close(sv[1]);
	sr_close(c);
	hd_check_service(&hd);
}

static void test_multishot_accept(void **state)
{
	struct sr_client *c = ou_connect(NULL);
	struct sr_limits lim;
	uint16_t port;
	sr_handle_t l = ou_register(c, ou_listener(&port));
	sr_slot_t s = ou_acquire(c);
	int *peers, n = 0;
	sr_handle_t *handles;
	struct sr_cqe cqe;
	char buf[8];

	(void)state;
	sr_limits(c, &lim);
	peers = calloc(lim.max_fds + 8, sizeof(*peers));
	handles = calloc(lim.max_fds + 8, sizeof(*handles));
	assert_non_null(peers);
	assert_non_null(handles);
	assert_int_equal(sr_prep_multishot_accept(c, 1, l), 0);
	ou_submit(c, 1);
	/* Each connection: a new, distinct, working handle. */
	for (; n < 5; n++) {
		peers[n] = ou_dial(port);
		ou_wait(c, &cqe, 1);
		assert_int_equal(cqe.status, SR_STATUS_OK);
		assert_true(cqe.flags & SR_CQE_F_MORE);
		assert_true(sr_handle_index(cqe.handle) >= 0 &&
			    !sr_handle_eq(cqe.handle, l));
		assert_true((uint32_t)sr_handle_index(cqe.handle) <
			    lim.fd_table_size);
		for (int i = 0; i < n; i++)
			assert_false(sr_handle_eq(handles[i], cqe.handle));
		handles[n] = cqe.handle;
		memcpy(sr_slot_data(c, s), "conn-", 5);
		((char *)sr_slot_data(c, s))[5] = (char)('0' + n);
		((char *)sr_slot_data(c, s))[6] = '!';
		assert_int_equal(sr_prep_send(c, 2, handles[n], s, 0, 7, 0), 0);
		ou_submit(c, 1);
		ou_wait(c, &cqe, 1);
		ou_ok(&cqe, 7);
		ou_read_all(peers[n], buf, 7);
		assert_memory_equal(buf, sr_slot_data(c, s), 7);
	}
	/* Up to the quota (the listener holds one entry)... */
	for (; (uint32_t)n + 1 < lim.max_fds; n++) {
		peers[n] = ou_dial(port);
		ou_wait(c, &cqe, 1);
		assert_int_equal(cqe.status, SR_STATUS_OK);
		assert_true(cqe.flags & SR_CQE_F_MORE);
		handles[n] = cqe.handle;
	}
	int file = hd_make_file(&hd, "quota-file", 0, 1);
	assert_int_equal(sr_handle_index(sr_register_fd(c, file)), -EDQUOT);
	close(file);
	/* ...and past it the connection is closed, the accept ends. */
	peers[n] = ou_dial(port);
	ou_wait(c, &cqe, 1);
	ou_ok(&cqe, -EMFILE);
	assert_false(cqe.flags & SR_CQE_F_MORE);
	assert_int_equal(sr_handle_index(cqe.handle), -1);
	assert_int_equal(recv(peers[n], buf, 1, 0), 0);
	n++;
	/* Closing accepted handles makes room for another accept. */
	assert_int_equal(sr_prep_close(c, 3, handles[0]), 0);
	assert_int_equal(sr_prep_accept(c, 4, l), 0);
	ou_submit(c, 2);
	ou_wait(c, &cqe, 1);
	ou_ok(&cqe, 0);
	assert_int_equal(recv(peers[0], buf, 1, 0), 0);
	peers[n] = ou_dial(port);
	ou_wait(c, &cqe, 1);
	ou_ok(&cqe, 0);
	assert_true(sr_handle_index(cqe.handle) >= 0);
	n++;
	for (int i = 0; i < n; i++)
		close(peers[i]);
	free(peers);
	free(handles);
	sr_close(c);
	hd_check_service(&hd);
}

static void test_pool_refusals(void **state)
{
	struct rc *c = rc_open(hd.sock);
	int sv[2];
	struct rc_handle h;
	struct rc_op op;

	(void)state;
	ou_socketpair(sv);
	h = rc_register_fd(c, sv[0]);
#define PROVIDE(tag, slot, gen, off, len)                                  \
	do {                                                               \
		ou_raw_op(&op, tag, SR_OP_PROVIDE);                        \
		ou_raw_slot(&op, slot, gen, off, len);                     \
	} while (0)
	PROVIDE(1, 0, c->gen[0], 1, c->slot_size - 1);
	ou_raw_refused(c, &op, SR_STATUS_OUT_OF_BOUNDS);
	PROVIDE(2, 0, c->gen[0], 0, c->slot_size - 1);
	ou_raw_refused(c, &op, SR_STATUS_OUT_OF_BOUNDS);
	PROVIDE(3, 0, c->gen[0] + 1, 0, c->slot_size);
	ou_raw_refused(c, &op, SR_STATUS_STALE_GENERATION);
	PROVIDE(4, c->slot_count, 1, 0, c->slot_size);
	ou_raw_refused(c, &op, SR_STATUS_BAD_SLOT);
	PROVIDE(5, 0, c->gen[0], 0, c->slot_size);
	ou_raw_fd(&op, h);
	ou_raw_refused(c, &op, SR_STATUS_MALFORMED);
	PROVIDE(6, 0, c->gen[0], 0, c->slot_size);
	op.op.has_flags = true;
	op.op.flags = 1;
	ou_raw_refused(c, &op, SR_STATUS_BAD_FLAGS);
	ou_raw_op(&op, 7, SR_OP_PROVIDE);
	ou_raw_refused(c, &op, SR_STATUS_MALFORMED);
	/* Pooled once: then it is the kernel's. */
	{
		const uint32_t ok = SR_STATUS_OK;

		PROVIDE(8, 0, c->gen[0], 0, c->slot_size);
		ou_raw_expect(c, &op, 1, &ok);
	}
	PROVIDE(9, 0, c->gen[0], 0, c->slot_size);
	ou_raw_refused(c, &op, SR_STATUS_BUFFER_IN_FLIGHT);
	PROVIDE(10, 0, c->gen[0] + 1, 0, c->slot_size);
	ou_raw_refused(c, &op, SR_STATUS_BUFFER_IN_FLIGHT);
	rc_op_rw(&op, 11, SR_OP_READ, h, 0, c->gen[0] + 1, 0, 10, 0);
	ou_raw_refused(c, &op, SR_STATUS_BUFFER_IN_FLIGHT);
#undef PROVIDE
	/* A multishot receive names no slot and no foreign flags. */
	ou_raw_op(&op, 12, SR_OP_RECV);
	ou_raw_fd(&op, h);
	op.op.has_flags = true;
	op.op.flags = SR_RECV_MULTISHOT;
	ou_raw_slot(&op, 1, c->gen[1], 0, 10);
	ou_raw_refused(c, &op, SR_STATUS_MALFORMED);
	op.op.slot = NULL;
	op.op.has_msg_flags = true;
	op.op.msg_flags = MSG_MORE;
	ou_raw_refused(c, &op, SR_STATUS_BAD_FLAGS);
	op.op.msg_flags = MSG_DONTWAIT;
	op.op.has_link = true;
	op.op.link = 3;
	ou_raw_refused(c, &op, SR_STATUS_BAD_FLAGS);
	ou_raw_op(&op, 13, SR_OP_ACCEPT);
	ou_raw_fd(&op, h);
	op.op.has_flags = true;
	op.op.flags = SR_ACCEPT_MULTISHOT | 2;
	ou_raw_refused(c, &op, SR_STATUS_BAD_FLAGS);
	close(sv[1]);
	rc_close(c);
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_multishot_recv_many),
		cmocka_unit_test(test_library_pool),
		cmocka_unit_test(test_multishot_accept),
		cmocka_unit_test(test_pool_refusals),
	};

	return HD_RUN(tests, 180);
}
