/* SPDX-License-Identifier: MIT */
/*
 * test_properties.c - model-based property test of libsaferring against a
 * real saferringd.
 *
 * Each seed drives one random sequence of API calls - acquire, release,
 * prep (nop, read, write, timeout, cancel), submit, peek, wait, register,
 * unregister, disconnect - through the library, and a reference model in
 * this file predicts every return value and every completion (status,
 * res, slot, flags) before it is checked.  The model knows which slot is
 * whose, which handle index holds which registration, what is prepared,
 * what is sent, and the session's quotas (slots, fds, in_flight); the
 * daemon's policy here makes those small so that the limits are hit
 * often.  Stale references are the point: a released slot, an
 * unregistered handle, and above all an operation prepared with a handle
 * that is unregistered (and perhaps registered again, to another file, at
 * the same index) before it is submitted, which the daemon must refuse
 * with exactly BAD_HANDLE or STALE_HANDLE.
 *
 * Only what is deterministic is asserted.  Operations that never finish
 * on their own (a long TIMEOUT, a read of a pipe nobody writes) are what
 * cancel and unregister-while-busy act on; operations that finish at
 * once (nop, file I/O) are never raced against: the model waits for them
 * before an unregister whose answer would depend on them.  Completions
 * may come in any order, so they are matched by user_data, and one that
 * the model cannot have produced yet (an operation still blocked) fails.
 *
 * SR_PROP_SEED=N runs seed N alone; SR_PROP_SEEDS=N sets how many seeds
 * (from SR_PROP_FIRST, default 1) a run takes.  A failure prints the
 * command line that replays it and the last steps taken.
 */
#include "ops_util.h"
#include "../lib/prng.h"

#include <inttypes.h>

#define P_SLOTS 6
#define P_SLOT_SIZE 4096U
#define P_FDS 3
#define P_IN_FLIGHT 6
#define FILE_SIZE (16 * 4096)
#define PATTERN_SEED 0x51ede
#define STEPS_PER_SEED 80
#define DEFAULT_SEEDS 1500
/* make check runs every end-to-end test again against a daemon under
 * valgrind (test_valgrind.sh), some 30 times slower: there the point is
 * the daemon's memory, not the number of sequences. */
#define VALGRIND_SEEDS 200
/* Under AddressSanitizer (make check-asan) library and daemon run some
 * ten times slower; fewer seeds keep the run near its usual length. */
#ifdef __SANITIZE_ADDRESS__
#undef DEFAULT_SEEDS
#define DEFAULT_SEEDS 200
#endif
/* Never reached: these are cancelled or dropped with the session. */
#define FOREVER_NS (600ULL * 1000000000ULL)

static const char prop_conf[] =
	"# written by tests/e2e/test_properties.c\n"
	"[default]\n"
	"ops = all\n"
	"slots = 6\n"
	"slot_size = 4K\n"
	"arena = 1M\n"
	"fds = 3\n"
	"in_flight = 6\n"
	"sessions = 64\n"
	/* Refused registrations and BUSY unregisters are Errors; the model
	 * makes many on purpose and must not end its session that way. */
	"max_errors = 1000000\n";

/* ---- the model ------------------------------------------------------ */

enum mslot_state { MS_FREE, MS_ACQUIRED, MS_BUSY };
enum mhandle_kind { MH_FILE, MH_PIPE };
enum mop_kind { K_NOP, K_READ, K_WRITE, K_TIMEOUT, K_CANCEL };
enum mop_state { MO_NONE, MO_BATCHED, MO_SENT };

struct mhandle {
	bool live;
	enum mhandle_kind kind;
	uint32_t reg;      /* which registration holds the index */
};

struct mop {
	enum mop_state state;
	enum mop_kind kind;
	uint64_t ud;
	int slot;          /* -1: none */
	int handle;
	uint32_t reg;      /* the registration the handle named at prep */
	enum mhandle_kind hkind;
	uint32_t soff;     /* where in the slot */
	uint32_t len;
	uint64_t file_off;
	uint64_t target;   /* K_CANCEL */
	/* From submit on: what the completion must say. */
	uint32_t status;
	int32_t res;
	bool blocked;      /* completes only when cancelled */
	bool targeted;     /* a cancel names it */
};

static struct model {
	struct sr_client *c;
	enum mslot_state slot[P_SLOTS];
	uint64_t owner[P_SLOTS]; /* MS_BUSY: the operation holding it */
	struct mhandle h[2 * P_FDS];
	uint32_t fd_table_size;
	struct mop op[64];
	unsigned batched, sent;
	uint64_t next_ud;
	uint32_t next_reg;
} m;

static int file_fd, pipe_fd[2];
static uint64_t cur_seed;
static unsigned cur_step;
static char trace[32][160];
static unsigned trace_n;

static void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void note(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(trace[trace_n++ % 32], sizeof(trace[0]), fmt, ap);
	va_end(ap);
}

/* The model and the library disagree: say how to get here again. */
static void pfail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void pfail(const char *fmt, ...)
{
	const char *t = getenv("SAFERRING_TRANSPORT");
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	fprintf(stderr, "property failed, seed %" PRIu64 " step %u: %s\n"
		"last steps:\n", cur_seed, cur_step, msg);
	for (unsigned i = trace_n > 32 ? trace_n - 32 : 0; i < trace_n; i++)
		fprintf(stderr, "  %s\n", trace[i % 32]);
	fprintf(stderr, "replay: SAFERRING_TRANSPORT=%s SR_PROP_SEED=%" PRIu64
		" %s\n", t ? t : "rings", cur_seed, program_invocation_name);
	fail_msg("seed %" PRIu64 ": %s", cur_seed, msg);
}

static void expect_ret(const char *what, int got, int want)
{
	if (got != want)
		pfail("%s returned %d (%s), model expected %d (%s)", what, got,
		      got < 0 ? strerror(-got) : "ok", want,
		      want < 0 ? strerror(-want) : "ok");
}

static struct mop *op_by_ud(uint64_t ud)
{
	for (unsigned i = 0; i < 64; i++)
		if (m.op[i].state != MO_NONE && m.op[i].ud == ud)
			return &m.op[i];
	return NULL;
}

static struct mop *op_new(void)
{
	for (unsigned i = 0; i < 64; i++)
		if (m.op[i].state == MO_NONE) {
			memset(&m.op[i], 0, sizeof(m.op[i]));
			m.op[i].slot = -1;
			m.op[i].handle = -1;
			m.op[i].ud = ++m.next_ud;
			return &m.op[i];
		}
	pfail("model holds 64 operations");
	return NULL;
}

/* Sent, and able to complete without anything else happening. */
static unsigned completable(void)
{
	unsigned n = 0;

	for (unsigned i = 0; i < 64; i++)
		n += m.op[i].state == MO_SENT && !m.op[i].blocked;
	return n;
}

static bool handle_ok(int h)
{
	return h >= 0 && (uint32_t)h < m.fd_table_size && m.h[h].live;
}

/* The library hands a slot back when the completion arrives, which may
 * be before the caller reaps it: a slot whose operation can complete may
 * be the caller's again at any moment. */
static bool slot_back_maybe(int s)
{
	struct mop *o;

	if (m.slot[s] != MS_BUSY)
		return false;
	o = op_by_ud(m.owner[s]);
	return o && o->state == MO_SENT && !o->blocked;
}

static void session_open(void)
{
	struct sr_params p = { .slot_count = P_SLOTS, .slot_size = P_SLOT_SIZE };
	struct sr_limits lim;
	int r;

	memset(&m, 0, sizeof(m));
	r = sr_connect(hd.sock, &p, &m.c);
	if (r < 0)
		pfail("sr_connect: %s", strerror(-r));
	assert_int_equal(sr_limits(m.c, &lim), 0);
	/* The policy above is what the model's quotas are. */
	if (lim.slot_count != P_SLOTS || lim.slot_size != P_SLOT_SIZE ||
	    lim.max_fds != P_FDS || lim.max_in_flight != P_IN_FLIGHT ||
	    lim.fd_table_size > 2 * P_FDS)
		pfail("granted %u slots of %u, %u fds (table %u), in_flight %u",
		      lim.slot_count, lim.slot_size, lim.max_fds,
		      lim.fd_table_size, lim.max_in_flight);
	m.fd_table_size = lim.fd_table_size;
}

/* ---- completions ----------------------------------------------------- */

static void check_cqe(const struct sr_cqe *e)
{
	struct mop *o = op_by_ud(e->user_data);

	if (!o || o->state != MO_SENT)
		pfail("completion for user_data %" PRIu64 " the model has not "
		      "sent", e->user_data);
	if (o->blocked)
		pfail("user_data %" PRIu64 " (kind %d) completed while nothing "
		      "could end it (res %d, %s)", e->user_data, o->kind,
		      e->res, sr_strstatus(e->status));
	note("  cqe ud %" PRIu64 " status %u res %d slot %d flags %#x",
	     e->user_data, e->status, e->res, sr_slot_index(e->slot),
	     e->flags);
	if (e->status != o->status || e->res != o->res ||
	    sr_slot_index(e->slot) != o->slot || e->flags != 0 ||
	    sr_handle_index(e->handle) != -1)
		pfail("user_data %" PRIu64 " (kind %d, handle %d, slot %d): got "
		      "status %s res %d slot %d flags %#x handle %d, model "
		      "expected %s res %d slot %d flags 0 handle -1",
		      e->user_data, o->kind, o->handle, o->slot,
		      sr_strstatus(e->status), e->res,
		      sr_slot_index(e->slot), e->flags,
		      sr_handle_index(e->handle), sr_strstatus(o->status),
		      o->res, o->slot);
	/* A slot whose completion arrived may be taken again before that
	 * completion is reaped (see slot_back): then it is no longer this
	 * operation's, nor are its bytes. */
	bool still = o->slot >= 0 && m.slot[o->slot] == MS_BUSY &&
		     m.owner[o->slot] == o->ud;

	if (still && o->kind == K_READ && e->status == SR_STATUS_OK &&
	    e->res > 0 &&
	    !hd_pattern_ok((char *)sr_slot_data(m.c, SR_SLOT(o->slot)) +
			   o->soff,
			   (size_t)e->res,
			   o->file_off, PATTERN_SEED))
		pfail("user_data %" PRIu64 ": slot %d does not hold the file's "
		      "bytes at %" PRIu64, e->user_data, o->slot, o->file_off);
	if (still)
		m.slot[o->slot] = MS_ACQUIRED;
	o->state = MO_NONE;
	m.sent--;
}

static void wait_one(void)
{
	struct sr_cqe e;
	int r = sr_wait_cqe(m.c, &e);

	if (r)
		pfail("sr_wait_cqe: %d (%s) with %u completable", r,
		      strerror(-r), completable());
	check_cqe(&e);
}

/* ---- actions --------------------------------------------------------- */

static void do_acquire(void)
{
	int want_free = 0, r;

	for (int i = 0; i < P_SLOTS; i++)
		want_free += m.slot[i] == MS_FREE;
	r = sr_slot_index(sr_slot_acquire(m.c));
	note("acquire -> %d", r);
	if (!want_free) {
		expect_ret("sr_slot_acquire", r, -ENOBUFS);
		return;
	}
	if (r < 0 || r >= P_SLOTS || m.slot[r] != MS_FREE)
		pfail("sr_slot_acquire returned %d; model's free slots: %d",
		      r, want_free);
	m.slot[r] = MS_ACQUIRED;
}

/* Any slot index, including ones out of range, biased to acquired ones. */
static int pick_slot(void)
{
	if (rng_pct(75)) {
		int cand[P_SLOTS], n = 0;

		for (int i = 0; i < P_SLOTS; i++)
			if (m.slot[i] == MS_ACQUIRED)
				cand[n++] = i;
		if (n)
			return cand[rng_below((uint32_t)n)];
	}
	return (int)rng_below(P_SLOTS + 2) - 1;
}

static void do_release(void)
{
	int s = pick_slot(), want, r;

	if (s < 0 || s >= P_SLOTS || m.slot[s] == MS_FREE)
		want = -EINVAL;
	else if (m.slot[s] == MS_BUSY)
		want = -EBUSY;
	else
		want = 0;
	r = sr_slot_release(m.c, SR_SLOT(s));
	note("release %d -> %d", s, r);
	if (!(want == -EBUSY && r == 0 && slot_back_maybe(s)))
		expect_ret("sr_slot_release", r, want);
	if (!r)
		m.slot[s] = MS_FREE;
}

static bool full(void)
{
	return m.batched + m.sent >= P_IN_FLIGHT;
}

static void batched(struct mop *o)
{
	o->state = MO_BATCHED;
	m.batched++;
	if (o->slot >= 0) {
		m.slot[o->slot] = MS_BUSY;
		m.owner[o->slot] = o->ud;
	}
}

static void do_nop(void)
{
	uint64_t ud = m.next_ud + 1;
	int r = sr_prep_nop(m.c, ud);

	note("prep nop ud %" PRIu64 " -> %d", ud, r);
	expect_ret("sr_prep_nop", r, full() ? -ENOSPC : 0);
	if (!r) {
		struct mop *o = op_new();

		o->kind = K_NOP;
		batched(o);
	}
}

static void do_timeout(void)
{
	uint64_t ud = m.next_ud + 1;
	int r = sr_prep_timeout(m.c, ud, FOREVER_NS);

	note("prep timeout ud %" PRIu64 " -> %d", ud, r);
	expect_ret("sr_prep_timeout", r, full() ? -ENOSPC : 0);
	if (!r) {
		struct mop *o = op_new();

		o->kind = K_TIMEOUT;
		batched(o);
	}
}

/* Any handle index: live ones mostly, dead and out-of-range ones too. */
static int pick_handle(bool file_only)
{
	if (rng_pct(80)) {
		int cand[2 * P_FDS], n = 0;

		for (uint32_t i = 0; i < m.fd_table_size; i++)
			if (m.h[i].live &&
			    (!file_only || m.h[i].kind == MH_FILE))
				cand[n++] = (int)i;
		if (n)
			return cand[rng_below((uint32_t)n)];
	}
	return (int)rng_below(m.fd_table_size + 2) - 1;
}

static void do_rw(bool write)
{
	/* A write to the pipe would end reads the model holds blocked. */
	int h = pick_handle(write), s = pick_slot(), want, r;
	uint32_t off = rng_below(P_SLOT_SIZE), len;
	uint64_t foff;
	uint64_t ud = m.next_ud + 1;

	len = 1 + rng_below(P_SLOT_SIZE - off);
	if (rng_pct(5))
		len = P_SLOT_SIZE - off + 1 + rng_below(64); /* past the slot */
	if (write)
		foff = rng_below(FILE_SIZE - len + 1);
	else
		foff = rng_below(FILE_SIZE + P_SLOT_SIZE);
	if (rng_pct(3))
		foff = (uint64_t)INT64_MAX + 1 + rng_below(16);
	if (write && handle_ok(h) && m.h[h].kind == MH_PIPE)
		h = -1;

	if (full())
		want = -ENOSPC;
	else if (!handle_ok(h) || foff > INT64_MAX || s < 0 ||
		 s >= P_SLOTS || (uint64_t)off + len > P_SLOT_SIZE ||
		 m.slot[s] == MS_FREE)
		want = -EINVAL;
	else if (m.slot[s] == MS_BUSY)
		want = -EBUSY;
	else
		want = 0;
	/* The model keeps indices (bad ones on purpose); typed here. */
	r = write ? sr_prep_write(m.c, ud, SR_HANDLE(h), SR_SLOT(s), off, len,
				  foff) :
		    sr_prep_read(m.c, ud, SR_HANDLE(h), SR_SLOT(s), off, len,
				 foff);
	note("prep %s ud %" PRIu64 " h %d slot %d [%u+%u] at %" PRIu64
	     " -> %d", write ? "write" : "read", ud, h, s, off, len, foff, r);
	if (!(want == -EBUSY && r == 0 && slot_back_maybe(s)))
		expect_ret(write ? "sr_prep_write" : "sr_prep_read", r, want);
	if (r)
		return;
	/* Written before submit, when the kernel reads it: the file keeps
	 * its pattern whatever order writes run in. */
	if (write)
		hd_pattern((char *)sr_slot_data(m.c, SR_SLOT(s)) + off, len,
			   foff, PATTERN_SEED);
	struct mop *o = op_new();

	o->kind = write ? K_WRITE : K_READ;
	o->handle = h;
	o->reg = m.h[h].reg;
	o->hkind = m.h[h].kind;
	o->slot = s;
	o->soff = off;
	o->len = len;
	o->file_off = foff;
	batched(o);
}

static void do_cancel(void)
{
	struct mop *cand[64], *t = NULL;
	unsigned n = 0;
	uint64_t target, ud = m.next_ud + 1;
	int r;

	/* Only what cannot finish by itself: racing a finishing operation
	 * makes the answer a matter of timing. */
	for (unsigned i = 0; i < 64; i++)
		if (m.op[i].state == MO_SENT && m.op[i].blocked &&
		    !m.op[i].targeted)
			cand[n++] = &m.op[i];
	if (n && rng_pct(80)) {
		t = cand[rng_below(n)];
		target = t->ud;
	} else {
		target = (1ULL << 40) + rng_below(1000); /* no such operation */
	}
	r = sr_prep_cancel(m.c, ud, target);
	note("prep cancel ud %" PRIu64 " of %" PRIu64 " -> %d", ud, target, r);
	expect_ret("sr_prep_cancel", r, full() ? -ENOSPC : 0);
	if (r)
		return;
	struct mop *o = op_new();

	o->kind = K_CANCEL;
	o->target = target;
	if (t)
		t->targeted = true;
	batched(o);
}

/* What the daemon answers each operation of the batch: the handle is
 * judged now, when the batch reaches it, not when it was prepared. */
static void judge(struct mop *o)
{
	o->status = SR_STATUS_OK;
	o->res = 0;
	o->blocked = false;
	switch (o->kind) {
	case K_NOP:
		return;
	case K_TIMEOUT:
		o->blocked = true;
		o->res = -ECANCELED;
		return;
	case K_CANCEL: {
		struct mop *t = op_by_ud(o->target);

		o->res = t ? 0 : -ENOENT;
		return;
	}
	case K_READ:
	case K_WRITE:
	default:
		break;
	}
	if (!handle_ok(o->handle)) {
		o->status = SR_STATUS_BAD_HANDLE;
	} else if (m.h[o->handle].reg != o->reg) {
		o->status = SR_STATUS_STALE_HANDLE;
	}
	if (o->status != SR_STATUS_OK) {
		o->res = sr_status_errno(o->status);
		return;
	}
	if (o->hkind == MH_PIPE) {
		o->blocked = true;
		o->res = -ECANCELED;
	} else if (o->kind == K_WRITE) {
		o->res = (int32_t)o->len;
	} else if (o->file_off >= FILE_SIZE) {
		o->res = 0;
	} else {
		/* Short at the end of the file, whose size writes keep. */
		o->res = (int32_t)(FILE_SIZE - o->file_off < o->len ?
				   FILE_SIZE - o->file_off : o->len);
	}
}

static void do_submit(void)
{
	unsigned want = m.batched;
	int r;

	r = rng_pct(50) ? sr_submit(m.c) : sr_submit_and_wait(m.c, 0);
	if (r == -EAGAIN)
		r = sr_submit_and_wait(m.c, 0);
	note("submit -> %d", r);
	expect_ret("sr_submit", r, (int)want);
	for (unsigned i = 0; i < 64; i++) {
		struct mop *o = &m.op[i];

		if (o->state != MO_BATCHED)
			continue;
		judge(o);
		o->state = MO_SENT;
	}
	/* Cancels in this batch end their targets. */
	for (unsigned i = 0; i < 64; i++) {
		struct mop *o = &m.op[i], *t;

		if (o->state == MO_SENT && o->kind == K_CANCEL && !o->res &&
		    (t = op_by_ud(o->target)) != NULL)
			t->blocked = false;
	}
	m.sent += want;
	m.batched = 0;
}

static void do_peek(void)
{
	struct sr_cqe e;
	int r = sr_peek_cqe(m.c, &e);

	note("peek -> %d", r);
	if (r == -EAGAIN)
		return; /* not there yet is always allowed */
	expect_ret("sr_peek_cqe", r, 0);
	check_cqe(&e);
}

static void do_wait(void)
{
	struct sr_cqe e;
	int r;

	if (completable()) {
		note("wait");
		wait_one();
		return;
	}
	if (!m.sent) {
		r = sr_wait_cqe(m.c, &e);
		note("wait (nothing in flight) -> %d", r);
		expect_ret("sr_wait_cqe", r, -ENODATA);
		return;
	}
	/* Only blocked operations: nothing can come, whatever the time. */
	r = sr_wait_cqe_timeout(m.c, &e, 0);
	note("wait_timeout 0 (all blocked) -> %d", r);
	if (r == 0)
		check_cqe(&e); /* fails: it was blocked */
	expect_ret("sr_wait_cqe_timeout", r, -ETIME);
}

static void do_register(void)
{
	enum mhandle_kind kind = rng_pct(25) ? MH_PIPE : MH_FILE;
	unsigned live = 0;
	int r;

	for (uint32_t i = 0; i < m.fd_table_size; i++)
		live += m.h[i].live;
	r = sr_handle_index(sr_register_fd(m.c, kind == MH_PIPE ? pipe_fd[0]
								: file_fd));
	note("register %s -> %d", kind == MH_PIPE ? "pipe" : "file", r);
	if (live >= P_FDS) {
		expect_ret("sr_register_fd", r, -EDQUOT);
		return;
	}
	if (r < 0 || (uint32_t)r >= m.fd_table_size || m.h[r].live)
		pfail("sr_register_fd returned %d with %u of %u live", r, live,
		      P_FDS);
	m.h[r] = (struct mhandle){ .live = true, .kind = kind,
				   .reg = ++m.next_reg };
}

static void do_unregister(void)
{
	int h = pick_handle(false), want, r;
	bool busy = false;

	if (handle_ok(h)) {
		/* The daemon holds the handle from submit to the kernel's
		 * completion: wait for every operation on it that can
		 * finish, or the answer would be a matter of timing. */
		for (;;) {
			bool racing = false;

			busy = false;
			for (unsigned i = 0; i < 64; i++) {
				struct mop *o = &m.op[i];

				if (o->state != MO_SENT || o->handle != h ||
				    o->reg != m.h[h].reg ||
				    o->status != SR_STATUS_OK)
					continue;
				if (o->blocked)
					busy = true;
				else
					racing = true;
			}
			if (!racing)
				break;
			note("wait (before unregister %d)", h);
			wait_one();
		}
		want = busy ? -EBUSY : 0;
	} else {
		want = -EBADF;
	}
	r = sr_unregister_fd(m.c, SR_HANDLE(h));
	note("unregister %d -> %d", h, r);
	expect_ret("sr_unregister_fd", r, want);
	if (!r)
		m.h[h].live = false;
}

static void do_disconnect(void)
{
	note("disconnect (%u sent, %u batched)", m.sent, m.batched);
	sr_close(m.c);
	session_open();
}

/* The library's own counters must agree with the model after each step. */
static void check_invariants(void)
{
	unsigned in = sr_in_flight(m.c);
	int ready = sr_cq_ready(m.c);

	if (in != m.sent)
		pfail("sr_in_flight %u, model has %u sent", in, m.sent);
	if (ready < 0 || (unsigned)ready > completable())
		pfail("sr_cq_ready %d, model allows at most %u", ready,
		      completable());
}

static void run_seed(uint64_t seed)
{
	cur_seed = seed;
	rng_state = seed;
	trace_n = 0;
	session_open();
	for (cur_step = 0; cur_step < STEPS_PER_SEED; cur_step++) {
		unsigned a = rng_below(100);

		if (a < 10)
			do_acquire();
		else if (a < 16)
			do_release();
		else if (a < 24)
			do_nop();
		else if (a < 36)
			do_rw(false);
		else if (a < 44)
			do_rw(true);
		else if (a < 48)
			do_timeout();
		else if (a < 53)
			do_cancel();
		else if (a < 65)
			do_submit();
		else if (a < 72)
			do_peek();
		else if (a < 80)
			do_wait();
		else if (a < 88)
			do_register();
		else if (a < 97)
			do_unregister();
		else
			do_disconnect();
		check_invariants();
	}
	sr_close(m.c);
	m.c = NULL;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : dflt;
}

static void test_model(void **state)
{
	uint64_t first = env_u64("SR_PROP_FIRST", 1);
	uint64_t n = env_u64("SR_PROP_SEEDS",
			     getenv("SAFERRING_DAEMON_UNDER_VALGRIND") ?
			     VALGRIND_SEEDS : DEFAULT_SEEDS);
	uint64_t t0 = hd_now_ns();

	if (getenv("SR_PROP_SEED")) {
		first = env_u64("SR_PROP_SEED", 1);
		n = 1;
	}
	file_fd = hd_make_file(&hd, "prop-file", FILE_SIZE, PATTERN_SEED);
	assert_int_equal(pipe2(pipe_fd, O_CLOEXEC), 0);
	printf("test_properties: %" PRIu64 " seeds (%" PRIu64 "..%" PRIu64
	       "), %d steps each\n", n, first, first + n - 1, STEPS_PER_SEED);
	for (uint64_t s = first; s < first + n; s++)
		run_seed(s);
	printf("test_properties: %" PRIu64 " seeds passed in %.1f s\n", n,
	       (double)(hd_now_ns() - t0) / 1e9);
	close(file_fd);
	close(pipe_fd[0]);
	close(pipe_fd[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_model),
	};
	int failed;

	hd_watchdog(300);
	hd_start_config(&hd, prop_conf);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	if (failed)
		hd_print_log_tail(&hd, 30);
	if (hd_stop(&hd) < 0)
		failed++;
	return failed ? 1 : 0;
}
