/* SPDX-License-Identifier: MIT */
/*
 * fuzz_session.c - libFuzzer harness B: one whole saferringd session
 * (daemon/session.c with the real slot table, fd registry, validator and
 * protobuf decoding) driven by datagrams over a socketpair, with the
 * kernel replaced by tests/fuzz/fake_ring.c.
 *
 * Input: one policy byte, then steps.  A step is a command byte:
 *   c % 8 in 0..2  a datagram: two length bytes (little endian, cut to
 *                  what is left), the bytes, sent with (c >> 3) % 4
 *                  descriptors attached (copies of /dev/null);
 *          3       complete the fake kernel's slow operations once;
 *          4       the client stops / resumes reading replies;
 *          5       an event-loop turn without new input;
 *          6       a datagram over 64 KiB;
 *          7       the client hangs up (the rest of the input is unused).
 * After each step the harness does what server.c's event loop would,
 * including handing back a finished set-up (tests/fuzz/fake_offload.c
 * runs it at once).
 *
 * Checked: nothing crashes or trips ASan/UBSan/LSan; every reply is one
 * datagram of at most 64 KiB that decodes through a bounded allocator;
 * only a Welcome carries a descriptor, a sealed memfd of the announced
 * size; every completion keeps the protocol's rules (refusals carry the
 * matching errno and no slot; slots and handles are in range); no
 * operation is answered twice, and once the session is idle every one
 * accepted is answered (or still held by the fake kernel); the session is
 * freed only when drained, and after it no descriptor is left open.
 *
 * Must never weaken a check to make a crash go away: a crash here is a
 * finding, reproduced with `build-fuzz/fuzz/fuzz_session CRASHFILE`.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "batch.h"
#include "fake_ring.h"
#include "log.h"
#include "offload.h"
#include "policy.h"
#include "saferring.h"
#include "saferring.pb-c.h"
#include "session.h"
#include "wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Must equal UNPACK_ARENA_BYTES in daemon/session.c: the harness predicts
 * which requests the session can decode by decoding them the same way. */
#define FUZZ_UNPACK_BYTES (4 * 1024 * 1024)
/* Event-loop turns the harness waits for a closed session to drain. */
#define DRAIN_ROUNDS 64
/* Descriptors checked for leaks above the lowest free one at the start. */
#define FD_WINDOW 32

static unsigned char unpack_buf[FUZZ_UNPACK_BYTES] __attribute__((aligned(64)));
static unsigned char rx[WIRE_MAX_DATAGRAM];
static unsigned char big[WIRE_MAX_DATAGRAM + 512];
static int devnull = -1; /* a memfd: a file the daemon admits */
static struct session_env env;

enum phase { PH_HELLO, PH_READY, PH_CLOSED };

struct client {
	int sock;
	bool reading;
	bool hung_up;
	bool eof;
	enum phase phase;        /* the session's, predicted in send order */
	uint64_t ops_expected;   /* operations the session must answer */
	uint64_t finals;         /* last completions received */
	bool welcomed;
	uint32_t slot_count, slot_size, fd_table_size;
};

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz_session: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

/* What server.c answers a StatsRequest with, from the asking session's
 * own figures (and, asked for them, one SessionStats). */
static void fuzz_stats(void *arg, struct session *asker, uint32_t seq,
		       bool with_sessions)
{
	Saferring__Stats out = SAFERRING__STATS__INIT;
	Saferring__SessionStats one = SAFERRING__SESSION_STATS__INIT;
	Saferring__SessionStats *ptr = &one;
	struct session_stats st;

	(void)arg;
	session_get_stats(asker, &st);
	if (st.in_flight > 1U << 20 || st.slots_in_use > 1U << 20)
		fail("session stats out of range: %u in flight, %u slots",
		     st.in_flight, st.slots_in_use);
	out.version = (char *)"fuzz";
	out.sessions = 1;
	out.has_in_flight = true;
	out.in_flight = st.in_flight;
	if (with_sessions) {
		one.session_id = st.id;
		one.uid = st.uid;
		one.pid = st.pid;
		out.n_session = 1;
		out.session = &ptr;
	}
	session_send_stats(asker, seq, &out);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	devnull = memfd_create("fuzz-file", MFD_CLOEXEC);
	if (devnull < 0)
		fail("open /dev/null: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	memset(big, 0x08, sizeof(big));
	session_set_stats_handler(fuzz_stats, NULL);
	return 0;
}

/* ------------------------------------------------------------------ */
/* The client's side. */

static void check_completion(struct client *c, const Saferring__Completion *cc)
{
	if (cc->status >= SR_STATUS__COUNT)
		fail("completion with status %u", cc->status);
	if (cc->status != SR_STATUS_OK) {
		if (cc->result != sr_status_errno(cc->status))
			fail("refusal %u with result %d", cc->status, cc->result);
		if (cc->has_slot_index || cc->has_slot_generation ||
		    cc->n_slots || cc->handle)
			fail("refusal %u hands something back", cc->status);
		if (cc->has_flags && (cc->flags & SR_CQE_F_MORE))
			fail("refusal with MORE");
	}
	if (cc->has_slot_index != cc->has_slot_generation)
		fail("slot index without generation or the reverse");
	if (cc->has_slot_index &&
	    (cc->slot_index >= c->slot_count || cc->slot_generation == 0))
		fail("slot %u generation %u handed back (of %u)", cc->slot_index,
		     cc->slot_generation, c->slot_count);
	if (cc->n_slots > SR_MAX_IOV)
		fail("%zu slots handed back by one completion", cc->n_slots);
	for (size_t i = 0; i < cc->n_slots; i++)
		if (cc->slots[i]->index >= c->slot_count ||
		    cc->slots[i]->generation == 0)
			fail("vectored slot %u generation %u handed back",
			     cc->slots[i]->index, cc->slots[i]->generation);
	if (cc->handle && cc->handle->index >= c->fd_table_size)
		fail("handle %u past the table (%u)", cc->handle->index,
		     c->fd_table_size);
	if (!(cc->has_flags && (cc->flags & SR_CQE_F_MORE)))
		c->finals++;
	if (c->finals > c->ops_expected)
		fail("%llu last completions for %llu operations",
		     (unsigned long long)c->finals,
		     (unsigned long long)c->ops_expected);
}

static void check_welcome(struct client *c, const Saferring__Welcome *w,
			  int fd)
{
	struct stat st;
	int seals;

	if (fd < 0)
		fail("Welcome without the arena memfd");
	if (c->welcomed)
		fail("second Welcome");
	if (w->version != SR_PROTOCOL_VERSION || !w->slot_count ||
	    !w->slot_size || w->slot_size % POLICY_SLOT_ALIGN ||
	    !w->slot_generation || !w->max_fds || !w->max_in_flight ||
	    w->max_batch != WIRE_MAX_BATCH)
		fail("Welcome with bad limits");
	if (fstat(fd, &st) < 0 ||
	    (uint64_t)st.st_size != (uint64_t)w->slot_count * w->slot_size)
		fail("arena memfd size does not match the Welcome");
	seals = fcntl(fd, F_GET_SEALS);
	if (seals < 0 || (seals & (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL)) !=
	    (F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL))
		fail("arena memfd seals %#x", seals);
	c->welcomed = true;
	c->slot_count = w->slot_count;
	c->slot_size = w->slot_size;
	c->fd_table_size = w->has_fd_table_size ? w->fd_table_size : w->max_fds;
}

/* Read every reply waiting; returns how many. */
static unsigned drain_replies(struct client *c)
{
	static struct wire_arena arena;
	unsigned n = 0;

	while (!c->eof) {
		struct wire_msg m;
		Saferring__Reply *r;
		int k = wire_recv(c->sock, rx, sizeof(rx), &m);

		if (k == -EAGAIN)
			break;
		if (k == 0 || k == -ECONNRESET) {
			c->eof = true;
			break;
		}
		if (k < 0)
			fail("client receive: %s", strerror(-k));
		n++;
		if (m.truncated || m.fds_truncated)
			fail("reply over %d bytes or with too many descriptors",
			     WIRE_MAX_DATAGRAM);
		wire_arena_init(&arena, unpack_buf, sizeof(unpack_buf));
		r = saferring__reply__unpack(&arena.allocator, m.len, rx);
		if (!r)
			fail("reply of %zu bytes does not decode", m.len);
		if (m.nfds && r->body_case != SAFERRING__REPLY__BODY_WELCOME)
			fail("reply %u carries %u descriptors", r->body_case, m.nfds);
		switch (r->body_case) {
		case SAFERRING__REPLY__BODY_WELCOME:
			if (m.nfds != 1)
				fail("Welcome with %u descriptors", m.nfds);
			check_welcome(c, r->welcome, m.fds[0]);
			break;
		case SAFERRING__REPLY__BODY_COMPLETIONS:
			if (r->has_seq)
				fail("Completions with a seq");
			if (r->completions->n_completions > WIRE_MAX_BATCH)
				fail("%zu completions in one reply",
				     r->completions->n_completions);
			for (size_t i = 0; i < r->completions->n_completions; i++)
				check_completion(c, r->completions->completions[i]);
			break;
		case SAFERRING__REPLY__BODY_ERROR:
			if (r->error->status == SR_STATUS_OK ||
			    r->error->status >= SR_STATUS__COUNT)
				fail("Error with status %u", r->error->status);
			break;
		case SAFERRING__REPLY__BODY_FD_REGISTERED:
			if (!c->welcomed ||
			    r->fd_registered->handle->index >= c->fd_table_size)
				fail("handle %u registered",
				     r->fd_registered->handle->index);
			break;
		case SAFERRING__REPLY__BODY_FD_UNREGISTERED:
		case SAFERRING__REPLY__BODY_STATS:
			break;
		/* Completion batches go in the completion ring only (and this
		 * harness's sessions have none). */
		case SAFERRING__REPLY__BODY_COMPLETION_BATCH:
		case SAFERRING__REPLY__BODY__NOT_SET:
		case _SAFERRING__REPLY__BODY__CASE_IS_INT_SIZE:
		default:
			fail("reply with body %u", r->body_case);
		}
		wire_msg_close_fds(&m);
	}
	return n;
}

/* What the session will make of @buf, in send order: the operations it
 * must answer and the phase it moves to. */
static void predict(struct client *c, const uint8_t *buf, size_t len,
		    unsigned nfds)
{
	static struct wire_arena arena;
	Saferring__Request *req;

	if (c->phase == PH_CLOSED)
		return;
	/* An empty datagram is a request without a body: refused. */
	if (len > WIRE_MAX_DATAGRAM)
		return;
	wire_arena_init(&arena, unpack_buf, sizeof(unpack_buf));
	req = saferring__request__unpack(&arena.allocator, len, buf);
	if (!req)
		return;
	if (nfds && req->body_case != SAFERRING__REQUEST__BODY_REGISTER_FD)
		return;
	if (c->phase == PH_HELLO) {
		if (req->body_case == SAFERRING__REQUEST__BODY_HELLO)
			c->phase = req->hello->version == SR_PROTOCOL_VERSION ?
				   PH_READY : PH_CLOSED;
		return;
	}
	if (req->body_case == SAFERRING__REQUEST__BODY_SUBMIT &&
	    req->submit->n_ops <= WIRE_MAX_BATCH)
		c->ops_expected += req->submit->n_ops;
	/* The columnar batch (what libsaferring sends on the socket): every
	 * operation of one that decodes is answered, as session_socket.c
	 * decodes it. */
	if (req->body_case == SAFERRING__REQUEST__BODY_OP_BATCH) {
		static struct op_request ops[WIRE_MAX_BATCH];
		size_t n;

		if (batch_ops_from_wire(req->op_batch, ops, WIRE_MAX_BATCH,
					&n) == 0)
			c->ops_expected += n;
	}
}

static void send_datagram(struct client *c, const uint8_t *buf, size_t len,
			  unsigned nfds)
{
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(sizeof(int) * 3)];
	} control;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	int fds[3];

	if (c->hung_up)
		return;
	for (unsigned i = 0; i < nfds; i++) {
		fds[i] = fcntl(devnull, F_DUPFD_CLOEXEC, 0);
		if (fds[i] < 0)
			fail("dup: %s", strerror(errno));
	}
	if (nfds) {
		memset(&control, 0, sizeof(control));
		mh.msg_control = control.b;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);
		cm->cmsg_level = SOL_SOCKET;
		cm->cmsg_type = SCM_RIGHTS;
		cm->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(cm), fds, sizeof(int) * nfds);
	}
	/* The session may not be reading (backpressure): then the datagram
	 * waits in the socket, as it would in the kernel. */
	if (sendmsg(c->sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL) >= 0)
		predict(c, buf, len, nfds);
	for (unsigned i = 0; i < nfds; i++)
		close(fds[i]);
}

/* ------------------------------------------------------------------ */
/* The daemon's side: what server.c's loop does for one session. */

static unsigned session_backlog(const struct session *s)
{
	int n = 0;

	if (session_sock(s) < 0 || ioctl(session_sock(s), FIONREAD, &n) < 0)
		return 0;
	return (unsigned)n;
}

/* Set-ups the (fake) offload thread finished, handed back. */
static void setups_done(void)
{
	struct offload_job *job;

	while ((job = offload_take_done(env.offload)))
		session_on_setup_done(session_of_setup(job));
}

/* One event-loop turn; returns whether anything happened. */
static bool turn(struct session *s, struct client *c)
{
	unsigned replies = 0, before = session_backlog(s);

	if (session_sock(s) >= 0 && session_wants_write(s))
		session_on_writable(s);
	if (session_sock(s) >= 0 && session_wants_read(s))
		session_on_readable(s);
	setups_done();
	session_on_ring(s);
	if (c->reading)
		replies = drain_replies(c);
	return replies || session_backlog(s) != before;
}

static struct policy fuzz_policy(uint8_t b, const uint8_t **data,
				 size_t *size)
{
	static const uint32_t in_flight[] = { 1, 3, 8, 16 };
	static const uint32_t fds[] = { 1, 2, 4, 8 };
	static const uint32_t errors[] = { 1, 4, 16, 64 };
	struct policy p;

	policy_default(&p);
	p.default_slot_count = 4;
	p.max_slot_count = b & 0x80 ? 16 : 4;
	p.default_slot_size = 4096;
	p.max_slot_size = 8192;
	p.max_arena_bytes = 16 * 8192;
	p.max_in_flight = in_flight[b & 3];
	p.max_fds = fds[(b >> 2) & 3];
	p.max_errors = errors[(b >> 5) & 3];
	p.max_sessions = 1;
	if ((b & 0x10) && *size >= 3) {
		p.allowed_ops = ((uint64_t)(*data)[0] | (uint64_t)(*data)[1] << 8 |
				 (uint64_t)(*data)[2] << 16) &
				((1ULL << SR_OP__COUNT) - 1);
		*data += 3;
		*size -= 3;
	}
	return p;
}

/* Which descriptors of the window above the lowest free one are open. */
static int fd_window(bool open[FD_WINDOW])
{
	int lo = fcntl(devnull, F_DUPFD_CLOEXEC, 0);

	if (lo < 0)
		fail("dup: %s", strerror(errno));
	close(lo);
	for (int i = 0; i < FD_WINDOW; i++)
		open[i] = fcntl(lo + i, F_GETFD) >= 0;
	return lo;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct session_peer peer = {
		.cred = { .pid = getpid(), .uid = 0, .gid = 0 },
		.file_size_limit = UINT64_MAX,
	};
	struct client c = { .reading = true, .phase = PH_HELLO,
			    .fd_table_size = 0 };
	struct session *s;
	struct policy pol;
	bool open_before[FD_WINDOW];
	int sv[2], lo;

	if (size < 1)
		return 0;
	lo = fd_window(open_before);
	data++;
	size--;
	pol = fuzz_policy(data[-1], &data, &size);
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0, sv) < 0)
		fail("socketpair: %s", strerror(errno));
	c.sock = sv[0];
	if (!env.offload && offload_start(&env.offload) < 0)
		fail("offload_start");
	env.pinned_max = UINT64_MAX;
	env.pinned = 0;
	s = session_new(1, sv[1], &peer, &pol, &env);
	if (!s)
		fail("session_new");

	while (size > 0 && !c.hung_up) {
		uint8_t cmd = data[0];
		size_t len;

		data++;
		size--;
		switch (cmd % 8) {
		case 0:
		case 1:
		case 2:
			len = size >= 2 ? (size_t)data[0] | (size_t)data[1] << 8 : 0;
			data += size >= 2 ? 2 : size;
			size -= size >= 2 ? 2 : size;
			if (len > size)
				len = size;
			send_datagram(&c, data, len, (cmd >> 3) % 4);
			data += len;
			size -= len;
			break;
		case 3:
			fake_ring_kick();
			break;
		case 4:
			c.reading = !c.reading;
			break;
		case 5:
			break;
		case 6:
			send_datagram(&c, big, sizeof(big), 0);
			break;
		default: /* 7 */
			c.hung_up = true;
			break;
		}
		turn(s, &c);
	}

	/* Let the session catch up with everything sent, reading all. */
	c.reading = true;
	for (int i = 0; i < DRAIN_ROUNDS && !c.hung_up; i++)
		if (!turn(s, &c) && !session_wants_write(s) &&
		    !session_backlog(s))
			break;
	if (!c.hung_up && session_sock(s) >= 0 && !c.eof &&
	    c.phase != PH_CLOSED && !session_wants_write(s) &&
	    !session_backlog(s) &&
	    c.finals + fake_ring_pending() != c.ops_expected)
		fail("%llu operations accepted, %llu answered, %u still held",
		     (unsigned long long)c.ops_expected,
		     (unsigned long long)c.finals, fake_ring_pending());

	/* The client goes away; the session notices as server.c would. */
	close(c.sock);
	if (session_sock(s) >= 0 && session_wants_read(s))
		session_on_readable(s);
	setups_done();
	if (session_sock(s) >= 0)
		session_close(s, "fuzz: hang-up");
	for (int i = 0; i < DRAIN_ROUNDS && !session_drained(s); i++)
		session_on_ring(s);
	if (!session_drained(s))
		fail("session not drained after %d turns: %u operations held",
		     DRAIN_ROUNDS, fake_ring_pending());
	session_free(s);
	if (env.pinned)
		fail("%llu bytes of the pinned budget still held after free",
		     (unsigned long long)env.pinned);
	if (fake_ring_live())
		fail("session freed without tearing down its ring");
	for (int i = 0; i < FD_WINDOW; i++)
		if (!open_before[i] && fcntl(lo + i, F_GETFD) >= 0)
			fail("descriptor %d left open", lo + i);
	return 0;
}
