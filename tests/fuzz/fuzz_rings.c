/* SPDX-License-Identifier: MIT */
/*
 * fuzz_rings.c - libFuzzer harness D: protocol v2's submission ring as a
 * hostile client writes it, read by the daemon's code.
 *
 * Both modes judge the daemon by an independent reading of the record
 * rules of PROTOCOL.md ("Rings", "What the daemon trusts"), written here
 * in 64-bit arithmetic without shm_ring.c: a tail behind the head, more
 * than the ring ahead or off the 8-byte grid; a record over max_record
 * (or the reader's buffer), past the tail or across the end of the data;
 * a PAD whose length is not the rest of the data or that runs past the
 * tail.  Anything else is sound.
 *
 * Input: one mode byte.
 *
 * Mode A (even): shm_ring_get() alone.  Then a size byte (a ring of
 * 8 << (b % 10) bytes), a max_record byte, a cap byte, a 4-byte start
 * index, the ring's bytes (zeros where the input runs out), then steps
 * of five bytes, an operation and a 32-bit value: a tail relative to the
 * consumer, an absolute tail, a plausible tail (on the grid, at most a
 * ring and a grain ahead), or one byte written into the ring.  After each
 * tail, shm_ring_get is called until it answers 0 or -EPROTO, and every
 * answer (result, kind, length, payload, position) must be the model's;
 * nothing past the record's length is written to the caller's buffer.
 *
 * Mode B (odd): a whole v2 session (daemon/session*.c with the real
 * validator and codec, the kernel replaced by fake_ring.c, set-up by
 * fake_offload.c): Hello{rings}, the Welcome's three descriptors, the
 * memfd mapped, a file registered; then a policy byte and steps of a
 * command byte c:
 *   c % 8 = 0  a record: kind byte, 2 length bytes, payload from the input
 *           1  an OpBatch built from the input: count byte, then 3 bytes
 *              an operation (opcode, slot/fd/flags variations); with
 *              c & 0x80 a filler of unknown field bytes (2 length bytes)
 *           2  a raw header (4-byte len, 4-byte kind), the tail moved by
 *              2 bytes * 8
 *           3  an absolute tail (4 bytes)
 *           4  bytes written into the ring (2 offset bytes, count, bytes)
 *           5  the completion ring: consume, lie about the head (ahead of
 *              the tail or more than the ring behind), or tell the truth
 *           6  the doorbell
 *           7  the fake kernel finishes its slow operations, the daemon
 *              may go idle, and with c & 0x80 a Stats request on the
 *              socket (the daemon takes the ring before reading it)
 * Records are published with the doorbell when the daemon's flags ask
 * for it, unless c & 0x40.  After each step the harness does what
 * server.c's loop would (polling while the session is hot).
 *
 * Checked in mode B, every step: the daemon's head moves only forward,
 * on record boundaries, never past the tail, and only over sound
 * records; the Errors it sends on the socket are exactly, in order, the
 * model's verdict on each record it took (other kind or not decoding:
 * MALFORMED; over 256 operations: TOO_LARGE); it answers Error{PROTOCOL}
 * and ends the session only when the model finds the ring corrupt where
 * the daemon read; no Completions on the socket; the completion ring
 * holds only well-formed records the consumer has room for (the harness
 * lies about its head only out of range), and every completion keeps the
 * protocol's rules.  At the end, after draining: a session still alive
 * took everything up to the tail and answered every operation once.
 * Then the session is freed with no descriptor left open.
 *
 * Seeds: `FUZZ_RINGS_SEEDS=DIR fuzz_rings` writes the seed corpus into DIR
 * and exits; the committed tests/fuzz/corpus/fuzz_rings/ is its output.
 *
 * Must never weaken a check to make a crash go away: a crash here is a
 * finding, reproduced with `build-fuzz/fuzz/fuzz_rings CRASHFILE`.
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
#include "offload.h"
#include "policy.h"
#include "ring_layout.h"
#include "saferring.h"
#include "saferring.pb-c.h"
#include "session.h"
#include "shm_ring.h"
#include "wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_RECORD WIRE_MAX_DATAGRAM
/* What the daemon's decoder has (session_rings.c): the same, so that a
 * batch unpacks here exactly when it unpacks there. */
#define UNPACK_BYTES BATCH_UNPACK_BYTES(MAX_RECORD)
#define DRAIN_ROUNDS 64
#define FD_WINDOW 32
/* Errors one turn may bring at most: a policy's max_errors is at most 64
 * here, plus PROTOCOL and the max_errors notice. */
#define MAX_VERDICTS 256

static unsigned char unpack_buf[UNPACK_BYTES] __attribute__((aligned(64)));
static unsigned char rx[WIRE_MAX_DATAGRAM];
static unsigned char rec[MAX_RECORD + 64];
static unsigned char buf_a[MAX_RECORD + 64];
static unsigned char ring_a[4096];
static struct op_request reqs[BATCH_MAX_OPS];
static struct op_completion comps[BATCH_MAX_OPS];
static struct batch_op_encoder enc;
static int memfile = -1; /* a memfd: a file the daemon admits */
static struct session_env env;

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz_rings: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

static uint32_t le32(const unsigned char *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	       (uint32_t)p[3] << 24;
}

/* ------------------------------------------------------------------ */
/* The model: PROTOCOL.md's record rules, read independently. */

enum verdict { V_NONE, V_RECORD, V_CORRUPT };

struct model_rec {
	uint32_t kind, len;
	uint64_t payload; /* offset of the payload in the data */
};

/* The next record at @pos (mod 2^32) before @tail, skipping PADs as a
 * consumer does; *pos moves past what was taken. */
static enum verdict model_next(const unsigned char *data, uint64_t size,
			       uint64_t max_record, uint64_t cap,
			       uint32_t *pos, uint32_t tail,
			       struct model_rec *out)
{
	for (;;) {
		uint64_t avail = ((uint64_t)tail + (1ULL << 32) - *pos) &
				 0xffffffffULL;
		uint64_t off = *pos % size, rest = size - off, need;
		uint32_t len, kind;

		if (avail == 0)
			return V_NONE;
		if (avail > size || avail % 8)
			return V_CORRUPT;
		len = le32(data + off);
		kind = le32(data + off + 4);
		if (kind == SR_RING_REC_PAD) {
			if ((uint64_t)len + 8 != rest || rest > avail)
				return V_CORRUPT;
			*pos = (uint32_t)(*pos + rest);
			continue;
		}
		need = 8 + ((uint64_t)len + 7) / 8 * 8;
		if (len > max_record || len > cap || need > avail || need > rest)
			return V_CORRUPT;
		out->kind = kind;
		out->len = len;
		out->payload = off + 8;
		*pos = (uint32_t)(*pos + need);
		return V_RECORD;
	}
}

/* ------------------------------------------------------------------ */
/* Mode A: the reader against the model. */

static void mode_reader(const uint8_t *data, size_t size)
{
	uint32_t rsize, max_record, cap, start;
	struct shm_ring r;
	uint32_t words[2], mpos;

	if (size < 7)
		return;
	rsize = 8U << (data[0] % 10);
	max_record = data[1] < 200 ? (uint32_t)data[1] * (rsize / 64 + 1) :
		     (data[1] < 250 ? rsize : MAX_RECORD);
	cap = data[2] & 1 ? max_record : max_record / 2;
	if (cap > MAX_RECORD)
		cap = MAX_RECORD;
	start = le32(data + 3) & ~7U;
	data += 7;
	size -= 7;
	memset(ring_a, 0, sizeof(ring_a));
	memcpy(ring_a, data, size < rsize ? size : rsize);
	data += size < rsize ? size : rsize;
	size -= size < rsize ? size : rsize;
	words[0] = words[1] = start;
	shm_ring_init(&r, ring_a, rsize, max_record, &words[0], &words[1]);
	r.pos = mpos = start;

	for (; size >= 5; data += 5, size -= 5) {
		uint32_t v = le32(data + 1), tail;

		switch (data[0] % 4) {
		case 0:
			tail = r.pos + v;
			break;
		case 1:
			tail = v;
			break;
		case 2:
			tail = r.pos + (v % (rsize / 8 + 2)) * 8;
			break;
		default:
			ring_a[v % rsize] = (unsigned char)(v >> 24);
			continue;
		}
		words[0] = tail;
		for (;;) {
			struct model_rec m = { 0 };
			enum verdict want = model_next(ring_a, rsize, max_record,
						       cap, &mpos, tail, &m);
			uint32_t kind = 0xdeadbeef, len = 0xdeadbeef;
			int got;

			memset(buf_a, 0xa5, cap + 64 < sizeof(buf_a) ?
			       cap + 64 : sizeof(buf_a));
			got = shm_ring_get(&r, shm_ring_tail(&r), buf_a, cap, &kind,
					   &len);
			if (want == V_CORRUPT) {
				if (got != -EPROTO)
					fail("reader answered %d where the ring is "
					     "corrupt (pos %u tail %u size %u)", got,
					     r.pos, tail, rsize);
				/* A corrupt ring is not read again; go on from
				 * the tail as a new session would. */
				r.pos = mpos = tail & ~7U;
				break;
			}
			if (r.pos != mpos && want == V_RECORD)
				fail("reader at %u, model at %u", r.pos, mpos);
			if (want == V_NONE) {
				if (got != 0 || r.pos != mpos)
					fail("reader answered %d at %u where nothing is "
					     "left (model at %u)", got, r.pos, mpos);
				shm_ring_release(&r);
				if (words[1] != r.pos)
					fail("release stored %u, not %u", words[1],
					     r.pos);
				break;
			}
			if (got != 1 || kind != m.kind || len != m.len ||
			    memcmp(buf_a, ring_a + m.payload, len))
				fail("reader answered %d kind %u len %u where the "
				     "model has kind %u len %u", got, kind, len,
				     m.kind, m.len);
			for (uint32_t i = len; i < cap + 64 && i < sizeof(buf_a); i++)
				if (buf_a[i] != 0xa5 && i >= cap)
					fail("reader wrote past the buffer's cap");
		}
	}
}

/* ------------------------------------------------------------------ */
/* Mode B: a whole session. */

struct client {
	int sock;
	bool eof;
	bool ended;            /* PROTOCOL or max_errors: no more checks of
				* what the session answers */
	bool welcomed;
	uint32_t slot_count, fd_table_size, max_errors;
	uint32_t seq;
	/* The rings. */
	unsigned char *map;
	size_t map_len;
	int memfd, sq_efd, cq_efd;
	struct sr_ring_ctl *ctl;
	unsigned char *sq, *cq;
	uint32_t sq_bytes, cq_bytes, max_record;
	uint32_t sq_pos;       /* our next record */
	uint32_t cq_pos;       /* what we consumed: the truth */
	bool lying;            /* cq_head shows something else */
	uint32_t head;         /* the daemon's head after the last turn */
	bool hot;              /* polled, as server.c does after work */
	/* What the session owes. */
	uint64_t ops_expected, finals;
	/* Errors that came this turn, in order. */
	uint32_t errors[MAX_VERDICTS];
	unsigned nerrors;
	bool protocol, limit;
};

static void check_completion(struct client *c, const struct op_completion *oc)
{
	if (oc->status >= SR_STATUS__COUNT)
		fail("completion with status %u", oc->status);
	if (oc->status != SR_STATUS_OK &&
	    (oc->result != sr_status_errno(oc->status) || oc->has_slot ||
	     oc->n_slots || oc->has_handle || (oc->flags & SR_CQE_F_MORE)))
		fail("refusal %u with result %d or something handed back",
		     oc->status, oc->result);
	if (oc->has_slot &&
	    (oc->slot_index >= c->slot_count || oc->slot_generation == 0))
		fail("slot %u generation %u handed back (of %u)", oc->slot_index,
		     oc->slot_generation, c->slot_count);
	for (uint32_t i = 0; i < oc->n_slots; i++)
		if (oc->slots[i].index >= c->slot_count ||
		    oc->slots[i].generation == 0)
			fail("vectored slot %u handed back", oc->slots[i].index);
	if (oc->has_handle && oc->handle_index >= c->fd_table_size)
		fail("handle %u past the table (%u)", oc->handle_index,
		     c->fd_table_size);
	if (!(oc->flags & SR_CQE_F_MORE))
		c->finals++;
	if (!c->ended && c->finals > c->ops_expected)
		fail("%llu last completions for %llu operations",
		     (unsigned long long)c->finals,
		     (unsigned long long)c->ops_expected);
}

/* Consume every completion record the daemon published; the records
 * between our head and its tail must be whole and well formed. */
static void consume(struct client *c)
{
	static struct wire_arena arena;
	uint32_t tail = sr_ring_load_acquire(&c->ctl->cq_tail);

	while (c->cq_pos != tail) {
		uint32_t avail = tail - c->cq_pos, off = c->cq_pos % c->cq_bytes;
		uint32_t len, kind, need;
		size_t n;

		if (avail > c->cq_bytes || avail % 8)
			fail("completion tail %u with the consumer at %u", tail,
			     c->cq_pos);
		len = le32(c->cq + off);
		kind = le32(c->cq + off + 4);
		if (kind == SR_RING_REC_PAD) {
			if (len + 8 != c->cq_bytes - off ||
			    c->cq_bytes - off > avail)
				fail("bad PAD in the completion ring");
			c->cq_pos += c->cq_bytes - off;
			continue;
		}
		need = sr_ring_rec_bytes(len);
		if (kind != SR_RING_REC_COMPLETIONS || len > c->max_record ||
		    need > avail || need > c->cq_bytes - off)
			fail("completion record kind %u len %u at %u", kind, len,
			     off);
		for (uint32_t i = len; i < need - 8; i++)
			if (c->cq[off + 8 + i])
				fail("completion record padding not zero");
		memcpy(rec, c->cq + off + 8, len);
		wire_arena_init(&arena, unpack_buf, sizeof(unpack_buf));
		if (batch_decode_completions(rec, len, &arena, comps,
					     BATCH_MAX_OPS, &n))
			fail("completion record of %u bytes does not decode", len);
		for (size_t i = 0; i < n; i++)
			check_completion(c, &comps[i]);
		c->cq_pos += need;
	}
	if (!c->lying)
		sr_ring_store_release(&c->ctl->cq_head, c->cq_pos);
}

/* What server.c answers a StatsRequest with (the asker is root). */
static void fuzz_stats(void *arg, struct session *asker, uint32_t seq,
		       bool with_sessions)
{
	Saferring__Stats out = SAFERRING__STATS__INIT;

	(void)arg;
	(void)with_sessions;
	out.version = (char *)"fuzz";
	out.sessions = 1;
	session_send_stats(asker, seq, &out);
}

static int send_request(struct client *c, Saferring__Request *req, int fd)
{
	size_t len = saferring__request__get_packed_size(req);

	if (len > sizeof(rx))
		fail("request too large");
	saferring__request__pack(req, rx);
	return wire_send(c->sock, rx, len, fd);
}

static void take_welcome(struct client *c, const Saferring__Welcome *w,
			 const struct wire_msg *m)
{
	const Saferring__RingLayout *l = w->rings;
	struct stat st;

	if (m->nfds != 3 || !l)
		fail("Welcome with %u descriptors, rings %p", m->nfds, (void *)l);
	c->memfd = m->fds[0];
	c->sq_efd = m->fds[1];
	c->cq_efd = m->fds[2];
	if (l->offset % 4096 || l->sq_bytes < 4096 || l->cq_bytes < 4096 ||
	    l->sq_bytes & (l->sq_bytes - 1) || l->cq_bytes & (l->cq_bytes - 1) ||
	    l->max_record != MAX_RECORD ||
	    l->offset < (uint64_t)w->slot_count * w->slot_size)
		fail("ring layout breaks the protocol");
	if (fstat(c->memfd, &st) < 0 ||
	    (uint64_t)st.st_size != l->offset + 256 + l->sq_bytes + l->cq_bytes)
		fail("memfd of %lld bytes for the layout", (long long)st.st_size);
	c->map_len = (size_t)st.st_size;
	c->map = mmap(NULL, c->map_len, PROT_READ | PROT_WRITE, MAP_SHARED,
		      c->memfd, 0);
	if (c->map == MAP_FAILED)
		fail("mmap: %s", strerror(errno));
	c->ctl = (struct sr_ring_ctl *)(c->map + l->offset);
	c->sq = c->map + l->offset + 256;
	c->cq = c->sq + l->sq_bytes;
	c->sq_bytes = l->sq_bytes;
	c->cq_bytes = l->cq_bytes;
	c->max_record = l->max_record;
	c->slot_count = w->slot_count;
	c->fd_table_size = w->fd_table_size;
	c->max_errors = w->max_errors;
	c->welcomed = true;
}

/* Every reply waiting on the socket. */
static void drain_replies(struct client *c)
{
	static struct wire_arena arena;

	while (!c->eof) {
		struct wire_msg m;
		Saferring__Reply *r;
		int k = wire_recv(c->sock, rx, sizeof(rx), &m);

		if (k == -EAGAIN)
			break;
		if (k == -ECONNRESET)
			continue; /* replies may still be queued behind it */
		if (k == 0) {
			c->eof = true;
			break;
		}
		if (k < 0)
			fail("client receive: %s", strerror(-k));
		if (m.truncated || m.fds_truncated)
			fail("reply over 64 KiB or with too many descriptors");
		wire_arena_init(&arena, unpack_buf, sizeof(unpack_buf));
		r = saferring__reply__unpack(&arena.allocator, m.len, rx);
		if (!r)
			fail("reply of %zu bytes does not decode", m.len);
		if (r->body_case != SAFERRING__REPLY__BODY_WELCOME && m.nfds)
			fail("reply %u with descriptors", r->body_case);
		switch (r->body_case) {
		case SAFERRING__REPLY__BODY_WELCOME:
			if (c->welcomed)
				fail("second Welcome");
			take_welcome(c, r->welcome, &m);
			continue; /* the descriptors are the client's now */
		case SAFERRING__REPLY__BODY_ERROR:
			if (c->nerrors == MAX_VERDICTS)
				fail("more than %d Errors in one turn", MAX_VERDICTS);
			if (r->error->status == SR_STATUS_PROTOCOL && !r->has_seq)
				c->protocol = true;
			else if (r->error->status == SR_STATUS_QUOTA && !r->has_seq &&
				 r->error->message &&
				 strstr(r->error->message, "max_errors"))
				c->limit = true;
			else
				c->errors[c->nerrors++] = r->error->status;
			break;
		case SAFERRING__REPLY__BODY_FD_REGISTERED:
		case SAFERRING__REPLY__BODY_FD_UNREGISTERED:
		case SAFERRING__REPLY__BODY_STATS:
			break;
		case SAFERRING__REPLY__BODY_COMPLETIONS:
		case SAFERRING__REPLY__BODY_COMPLETION_BATCH:
			fail("a v2 session got completions on the socket");
		case SAFERRING__REPLY__BODY__NOT_SET:
		case _SAFERRING__REPLY__BODY__CASE_IS_INT_SIZE:
		default:
			fail("reply with body %u", r->body_case);
		}
		wire_msg_close_fds(&m);
	}
}

static void setups_done(void)
{
	struct offload_job *job;

	while ((job = offload_take_done(env.offload)))
		session_on_setup_done(session_of_setup(job));
}

static unsigned backlog(const struct session *s)
{
	int n = 0;

	if (session_sock(s) < 0 || ioctl(session_sock(s), FIONREAD, &n) < 0)
		return 0;
	return (unsigned)n;
}

/* What the daemon must have made of the records from the last turn's
 * head to this turn's: judged by the model, compared with what it did. */
static void judge(struct client *c, struct session *s, uint32_t tail)
{
	uint32_t pos = c->head, now = sr_ring_load_acquire(&c->ctl->sq_head);
	uint32_t verdicts[MAX_VERDICTS];
	unsigned nv = 0;
	bool corrupt = false;

	if (c->ended)
		return;
	if (!c->protocol && now - c->head > tail - c->head)
		fail("the daemon's head %u passed the tail %u (from %u)", now,
		     tail, c->head);
	/* Walk as the daemon must have: to its head, or, when it said the
	 * ring was corrupt, to where the model finds it so. */
	while (c->protocol || pos != now) {
		static struct wire_arena arena;
		struct model_rec m;
		enum verdict v = model_next(c->sq, c->sq_bytes, c->max_record,
					    c->max_record, &pos, tail, &m);
		size_t n;
		int r;

		if (v == V_CORRUPT) {
			corrupt = true;
			break;
		}
		if (v == V_NONE)
			break;
		if (nv == MAX_VERDICTS)
			fail("more than %d records taken in one turn", MAX_VERDICTS);
		if (m.kind != SR_RING_REC_OPS) {
			verdicts[nv++] = SR_STATUS_MALFORMED;
			continue;
		}
		memcpy(rec, c->sq + m.payload, m.len);
		wire_arena_init(&arena, unpack_buf, sizeof(unpack_buf));
		r = batch_decode_ops(rec, m.len, &arena, reqs, BATCH_MAX_OPS, &n);
		if (r == -E2BIG)
			verdicts[nv++] = SR_STATUS_TOO_LARGE;
		else if (r < 0)
			verdicts[nv++] = SR_STATUS_MALFORMED;
		else
			c->ops_expected += n;
		if (!c->protocol && pos - c->head > now - c->head)
			fail("the daemon's head %u is not on a record boundary",
			     now);
	}
	if (c->protocol && !corrupt)
		fail("Error{PROTOCOL} for a ring the model finds sound from %u to "
		     "the tail %u", c->head, tail);
	if (!c->protocol && pos != now)
		fail("the daemon's head %u is past a corrupt record at %u (tail "
		     "%u)", now, pos, tail);
	if (nv != c->nerrors)
		fail("%u Errors for %u refused records", c->nerrors, nv);
	for (unsigned i = 0; i < nv; i++)
		if (verdicts[i] != c->errors[i])
			fail("Error %u is %u, the record's verdict %u", i,
			     c->errors[i], verdicts[i]);
	c->head = now;
	c->nerrors = 0;
	if (c->protocol || c->limit) {
		c->ended = true;
		if (session_sock(s) >= 0 && c->protocol)
			fail("Error{PROTOCOL} and the session goes on");
	}
}

/* One event-loop turn, as server.c's; returns whether anything moved. */
static bool turn(struct session *s, struct client *c)
{
	uint32_t tail = sr_ring_load_acquire(&c->ctl->sq_tail);
	uint32_t head = c->head, cq = sr_ring_load_acquire(&c->ctl->cq_tail);
	unsigned before = backlog(s);
	bool did = false;

	if (session_sock(s) >= 0 && session_wants_write(s))
		session_on_writable(s);
	if (session_sock(s) >= 0 && session_wants_read(s))
		session_on_readable(s);
	setups_done();
	session_on_ring(s);
	if (c->hot && session_sock(s) >= 0)
		did = session_rings_poll(s);
	drain_replies(c);
	judge(c, s, tail);
	/* The completion ring never holds more than the consumer has room
	 * for: the harness lies only out of range. */
	if (sr_ring_load_acquire(&c->ctl->cq_tail) - c->cq_pos > c->cq_bytes)
		fail("completion tail %u with the consumer at %u",
		     sr_ring_load_acquire(&c->ctl->cq_tail), c->cq_pos);
	return did || c->head != head || backlog(s) != before ||
	       sr_ring_load_acquire(&c->ctl->cq_tail) != cq;
}

static void bell(struct client *c, struct session *s)
{
	uint64_t one = 1;

	if (write(c->sq_efd, &one, sizeof(one)) < 0) {
		/* EAGAIN: rung already */
	}
	if (session_doorbell_fd(s) >= 0) {
		session_rings_on_doorbell(s);
		c->hot = true;
	}
}

static void publish(struct client *c, struct session *s, bool quiet)
{
	sr_ring_store_release(&c->ctl->sq_tail, c->sq_pos);
	sr_ring_fence();
	if (!quiet && (sr_ring_load(&c->ctl->sq_flags) & SR_RING_SQ_NEED_WAKEUP))
		bell(c, s);
}

/* An honest producer: PAD when it does not fit before the end, nothing
 * when there is no room. */
static void put(struct client *c, uint32_t kind, const void *p, uint32_t len)
{
	uint32_t need = sr_ring_rec_bytes(len), off = c->sq_pos % c->sq_bytes;
	uint32_t contig = c->sq_bytes - off, used = c->sq_pos - c->head;
	uint32_t total = need > contig ? contig + need : need;
	unsigned char hdr[8];

	if (len > c->max_record || used > c->sq_bytes ||
	    total > c->sq_bytes - used)
		return;
	if (need > contig) {
		uint32_t padlen = contig - 8, padkind = SR_RING_REC_PAD;

		memcpy(hdr, &padlen, 4);
		memcpy(hdr + 4, &padkind, 4);
		memcpy(c->sq + off, hdr, 8);
		c->sq_pos += contig;
		off = 0;
	}
	memcpy(hdr, &len, 4);
	memcpy(hdr + 4, &kind, 4);
	memcpy(c->sq + off, hdr, 8);
	memcpy(c->sq + off + 8, p, len);
	memset(c->sq + off + 8 + len, 0, need - 8 - len);
	c->sq_pos += need;
}

/* An OpBatch from the input: 3 bytes an operation. */
static size_t build_ops(const uint8_t **data, size_t *size, uint8_t cmd,
			unsigned char *out, size_t cap)
{
	size_t n, len = 0;

	if (*size < 1)
		return 0;
	n = (*data)[0] % 48;
	(*data)++;
	(*size)--;
	if (n * 3 > *size)
		n = *size / 3;
	for (size_t i = 0; i < n; i++) {
		const uint8_t *b = *data + 3 * i;
		struct op_request *o = &reqs[i];

		memset(o, 0, sizeof(*o));
		o->tag = i;
		o->opcode = b[0] % (SR_OP__COUNT + 1);
		if (b[1] & 1) {
			o->has_fd = true;
			o->fd_index = b[2] & 1;
			o->fd_generation = 1 + ((b[2] >> 1) & 1);
		}
		if (b[1] & 2) {
			o->has_slot = true;
			o->slot_index = b[2] % 5;
			o->slot_generation = 1;
			o->slot_offset = (b[1] & 0x40) ? 4000 : 0;
			o->slot_length = 64U << (b[2] >> 5);
		}
		if (b[1] & 4) {
			o->has_file_offset = true;
			o->file_offset = b[2] * 512ULL;
		}
		if (b[1] & 8)
			o->link = 1 + (b[2] & 1);
		if (b[1] & 16) {
			o->has_timeout = true;
			o->timeout_ns = 1000;
		}
		if (b[1] & 32) {
			o->has_target = true;
			o->target = b[2] % 4;
		}
		if (b[1] & 0x80)
			o->flags = b[2] & 3;
	}
	*data += 3 * n;
	*size -= 3 * n;
	if (batch_encode_ops(&enc, reqs, n, out, cap, &len) < 0)
		return 0;
	if ((cmd & 0x80) && *size >= 2) {
		/* A filler the decoder skips: field 15, length-delimited. */
		size_t fill = ((size_t)(*data)[0] | (size_t)(*data)[1] << 8);

		*data += 2;
		*size -= 2;
		if (fill > cap - len - 8)
			fill = cap - len - 8;
		out[len++] = 15 << 3 | 2;
		for (size_t v = fill; ; v >>= 7) {
			out[len++] = (unsigned char)((v & 0x7f) | (v > 0x7f ? 0x80 : 0));
			if (v <= 0x7f)
				break;
		}
		memset(out + len, 0, fill);
		len += fill;
	}
	return len;
}

static struct policy rings_policy(uint8_t b)
{
	static const uint32_t in_flight[] = { 4, 16, 64, 256 };
	static const uint32_t errors[] = { 2, 8, 32, 64 };
	struct policy p;

	policy_default(&p);
	p.default_slot_count = 4;
	p.max_slot_count = 4;
	p.default_slot_size = 4096;
	p.max_slot_size = 4096;
	p.max_arena_bytes = 4 * 4096;
	p.max_in_flight = in_flight[b & 3];
	p.max_fds = 2;
	p.max_errors = errors[(b >> 2) & 3];
	p.max_sessions = 1;
	return p;
}

static int fd_window(bool open[FD_WINDOW])
{
	int lo = fcntl(memfile, F_DUPFD_CLOEXEC, 0);

	if (lo < 0)
		fail("dup: %s", strerror(errno));
	close(lo);
	for (int i = 0; i < FD_WINDOW; i++)
		open[i] = fcntl(lo + i, F_GETFD) >= 0;
	return lo;
}

static void mode_session(const uint8_t *data, size_t size)
{
	struct session_peer peer = {
		.cred = { .pid = getpid(), .uid = 0, .gid = 0 },
		.file_size_limit = UINT64_MAX,
	};
	struct client c = { .memfd = -1, .sq_efd = -1, .cq_efd = -1,
			    .hot = true };
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__Hello hello = SAFERRING__HELLO__INIT;
	Saferring__RegisterFd regfd = SAFERRING__REGISTER_FD__INIT;
	static unsigned char out[MAX_RECORD];
	bool open_before[FD_WINDOW];
	struct session *s;
	struct policy pol;
	int sv[2], lo;

	if (size < 1)
		return;
	lo = fd_window(open_before);
	pol = rings_policy(data[0]);
	data++;
	size--;
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK | SOCK_CLOEXEC,
		       0, sv) < 0)
		fail("socketpair: %s", strerror(errno));
	c.sock = sv[0];
	if (!env.offload && offload_start(&env.offload) < 0)
		fail("offload_start");
	env.rings = true;
	env.pinned_max = UINT64_MAX;
	env.pinned = 0;
	s = session_new(1, sv[1], &peer, &pol, &env);
	if (!s)
		fail("session_new");

	/* Hello with rings, the Welcome, one registered file. */
	hello.version = SR_PROTOCOL_VERSION;
	hello.has_rings = hello.rings = true;
	req.has_seq = true;
	req.seq = ++c.seq;
	req.body_case = SAFERRING__REQUEST__BODY_HELLO;
	req.hello = &hello;
	if (send_request(&c, &req, -1) < 0)
		fail("send Hello");
	for (int i = 0; i < 4 && !c.welcomed; i++) {
		if (session_wants_read(s))
			session_on_readable(s);
		setups_done();
		drain_replies(&c);
	}
	if (!c.welcomed)
		fail("no Welcome");
	req.seq = ++c.seq;
	req.body_case = SAFERRING__REQUEST__BODY_REGISTER_FD;
	req.register_fd = &regfd;
	if (send_request(&c, &req, memfile) < 0)
		fail("send RegisterFd");
	session_on_readable(s);
	drain_replies(&c);

	while (size > 0 && !c.ended && !c.eof) {
		uint8_t cmd = data[0];
		bool quiet = cmd & 0x40;
		uint32_t len;

		data++;
		size--;
		switch (cmd % 8) {
		case 0: {
			uint32_t kind;

			if (size < 3)
				break;
			kind = data[0] % 4 == 2 ? data[0] >> 2 : SR_RING_REC_OPS;
			len = (uint32_t)data[1] | (uint32_t)data[2] << 8;
			data += 3;
			size -= 3;
			if (len > size)
				len = (uint32_t)size;
			put(&c, kind, data, len);
			data += len;
			size -= len;
			publish(&c, s, quiet);
			break;
		}
		case 1:
			len = (uint32_t)build_ops(&data, &size, cmd, out, sizeof(out));
			put(&c, SR_RING_REC_OPS, out, len);
			publish(&c, s, quiet);
			break;
		case 2: {
			unsigned char hdr[8];
			uint32_t adv;

			if (size < 10)
				break;
			memcpy(hdr, data, 8);
			adv = ((uint32_t)data[8] | (uint32_t)data[9] << 8) * 8;
			data += 10;
			size -= 10;
			if (c.sq_bytes - c.sq_pos % c.sq_bytes >= 8)
				memcpy(c.sq + c.sq_pos % c.sq_bytes, hdr, 8);
			c.sq_pos += adv;
			publish(&c, s, quiet);
			break;
		}
		case 3:
			if (size < 4)
				break;
			sr_ring_store_release(&c.ctl->sq_tail, le32(data));
			data += 4;
			size -= 4;
			break;
		case 4: {
			uint32_t off, n;

			if (size < 3)
				break;
			off = (uint32_t)data[0] | (uint32_t)data[1] << 8;
			n = data[2] % 33;
			data += 3;
			size -= 3;
			if (n > size)
				n = (uint32_t)size;
			for (uint32_t i = 0; i < n; i++)
				c.sq[(c.sq_pos + off * 8 + i) % c.sq_bytes] = data[i];
			data += n;
			size -= n;
			break;
		}
		case 5: {
			uint32_t tail = sr_ring_load_acquire(&c.ctl->cq_tail), v;

			if (size < 2)
				break;
			v = (uint32_t)data[1] * 8;
			switch (data[0] % 4) {
			case 0:
			case 1:
				consume(&c);
				break;
			case 2:
				c.lying = true;
				sr_ring_store_release(&c.ctl->cq_head,
						      data[1] & 1 ? tail + 8 + v :
						      c.cq_pos - c.cq_bytes - 8 - v);
				break;
			default:
				c.lying = false;
				sr_ring_store_release(&c.ctl->cq_head, c.cq_pos);
				sr_ring_fence();
				if (sr_ring_load(&c.ctl->sq_flags) & SR_RING_SQ_CQ_WAIT)
					bell(&c, s);
				break;
			}
			data += 2;
			size -= 2;
			break;
		}
		case 6:
			bell(&c, s);
			break;
		default:
			fake_ring_kick();
			if (session_sock(s) >= 0 && session_rings_idle(s))
				c.hot = false;
			if (cmd & 0x80) {
				Saferring__StatsRequest st =
					SAFERRING__STATS_REQUEST__INIT;

				req.seq = ++c.seq;
				req.body_case = SAFERRING__REQUEST__BODY_STATS;
				req.stats = &st;
				if (send_request(&c, &req, -1) < 0)
					fail("send Stats");
			}
			break;
		}
		turn(s, &c);
	}

	/* Drain: the truth about the head, doorbells, the kernel's slow
	 * operations, until nothing moves. */
	c.lying = false;
	for (int i = 0; i < DRAIN_ROUNDS && !c.ended && !c.eof; i++) {
		bool moved;

		consume(&c);
		fake_ring_kick();
		bell(&c, s);
		moved = turn(s, &c);
		consume(&c);
		if (!moved && !session_wants_write(s) && !backlog(s) &&
		    sr_ring_load_acquire(&c.ctl->cq_tail) == c.cq_pos)
			break;
	}
	if (!c.ended && !c.eof && session_sock(s) >= 0) {
		uint32_t tail = sr_ring_load_acquire(&c.ctl->sq_tail);

		if (c.head != tail)
			fail("session alive with records from %u to %u untaken",
			     c.head, tail);
		if (c.finals + fake_ring_pending() != c.ops_expected)
			fail("%llu operations taken, %llu answered, %u still held",
			     (unsigned long long)c.ops_expected,
			     (unsigned long long)c.finals, fake_ring_pending());
	}

	if (getenv("FUZZ_RINGS_VERBOSE"))
		fprintf(stderr, "fuzz_rings: session: head %u tail %u, %llu "
			"operations, %llu answered, %s\n", c.head,
			sr_ring_load_acquire(&c.ctl->sq_tail),
			(unsigned long long)c.ops_expected,
			(unsigned long long)c.finals,
			c.protocol ? "ended: ring corrupt" :
			c.limit ? "ended: max_errors" :
			c.eof ? "ended" : "alive");

	/* The client goes away. */
	close(c.sock);
	if (session_sock(s) >= 0 && session_wants_read(s))
		session_on_readable(s);
	setups_done();
	if (session_sock(s) >= 0)
		session_close(s, "fuzz: hang-up");
	for (int i = 0; i < DRAIN_ROUNDS && !session_drained(s); i++)
		session_on_ring(s);
	if (!session_drained(s))
		fail("session not drained: %u operations held",
		     fake_ring_pending());
	session_free(s);
	if (env.pinned)
		fail("pinned budget still held after free");
	if (fake_ring_live())
		fail("session freed without tearing down its ring");
	if (c.map)
		munmap(c.map, c.map_len);
	if (c.memfd >= 0)
		close(c.memfd);
	if (c.sq_efd >= 0)
		close(c.sq_efd);
	if (c.cq_efd >= 0)
		close(c.cq_efd);
	for (int i = 0; i < FD_WINDOW; i++)
		if (!open_before[i] && fcntl(lo + i, F_GETFD) >= 0)
			fail("descriptor %d left open", lo + i);
}

/* ------------------------------------------------------------------ */
/* Seeds. */

static unsigned char seed[1 << 16];
static size_t seed_len;

static void s_byte(uint8_t b)
{
	if (seed_len < sizeof(seed))
		seed[seed_len++] = b;
}

static void s_u16(uint32_t v)
{
	s_byte((uint8_t)v);
	s_byte((uint8_t)(v >> 8));
}

static void s_u32(uint32_t v)
{
	s_u16(v);
	s_u16(v >> 16);
}

static void s_write(const char *dir, const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "we");
	if (!f || fwrite(seed, 1, seed_len, f) != seed_len || fclose(f))
		fail("writing %s", path);
	seed_len = 0;
}

/* Mode A: a ring of records, PADs and a wrap, read by plausible tails. */
static void seed_reader(const char *dir)
{
	const uint32_t size = 256;

	s_byte(0);
	s_byte(5);          /* 8 << 5 = 256 bytes */
	s_byte(10);         /* max_record 50 */
	s_byte(1);          /* cap = max_record */
	s_u32(0);
	/* Records: 20 bytes of kind 1, 0 bytes of kind 7, a PAD to the end. */
	s_u32(20);
	s_u32(1);
	for (int i = 0; i < 24; i++)
		s_byte((uint8_t)i);
	s_u32(0);
	s_u32(7);
	s_u32(size - 40 - 8);
	s_u32(SR_RING_REC_PAD);
	for (uint32_t i = 48; i < size; i++)
		s_byte(0);
	for (int i = 0; i < 4; i++) {
		s_byte(2);
		s_u32((uint32_t)i * 3);
	}
	s_byte(0);          /* the whole ring */
	s_u32(size);
	s_byte(1);          /* a tail of 2^32-1 */
	s_u32(UINT32_MAX);
	s_write(dir, "reader-records");

	s_byte(0);
	s_byte(9);          /* 4096 */
	s_byte(255);        /* max_record 64 KiB */
	s_byte(0);
	s_u32(0u - 64);     /* indexes about to wrap */
	s_u32(4096);        /* a header over max_record... */
	s_u32(1);
	for (int i = 0; i < 8; i++)
		s_byte(0);
	for (int i = 0; i < 8; i++) {
		s_byte((uint8_t)(i % 4));
		s_u32((uint32_t)(i * 8 + 4));
	}
	s_write(dir, "reader-hostile");

	/* Tails around two sound records: off the grid past one, inside
	 * one, behind, past the ring, 2^32-1, then the sound ones. */
	s_byte(0);
	s_byte(5);          /* 256 bytes */
	s_byte(10);
	s_byte(1);
	s_u32(0);
	s_u32(5);
	s_u32(1);
	s_u32(0x64636261);
	s_u32(0x65);
	s_u32(0);
	s_u32(1);
	for (uint32_t i = 24; i < 256; i++)
		s_byte(0);
	static const uint32_t tails[] = { 20, 12, 4, 16, 8, 16 + 256 + 8,
					  UINT32_MAX, 24 };
	for (size_t i = 0; i < sizeof(tails) / sizeof(tails[0]); i++) {
		s_byte(1);
		s_u32(tails[i]);
	}
	s_write(dir, "reader-tails");
}

static void s_ops(uint8_t cmd, unsigned n, uint8_t opcode, uint8_t flags,
		  uint8_t b2)
{
	s_byte(cmd);
	s_byte((uint8_t)n);
	for (unsigned i = 0; i < n; i++) {
		s_byte(opcode);
		s_byte(flags);
		s_byte((uint8_t)(b2 + i));
	}
}

static void seed_sessions(const char *dir)
{
	/* NOP batches, consumed, a wrap with fillers, idle and doorbells. */
	s_byte(1);
	s_byte(3 | 3 << 2);
	for (int k = 0; k < 6; k++) {
		s_ops(1, 40, SR_OP_NOP, 0, 0);
		s_byte(5);
		s_byte(0);
		s_byte(0);
	}
	for (int k = 0; k < 5; k++) {
		s_ops(0x81, 1, SR_OP_NOP, 0, 0);
		s_u16(60000);
		s_byte(5);
		s_byte(0);
		s_byte(0);
	}
	s_byte(7);
	s_ops(0x41, 2, SR_OP_NOP, 0, 0);    /* published without a doorbell */
	s_byte(6);
	s_write(dir, "session-nops");

	/* Every opcode with a file and a slot, chains, slow operations. */
	s_byte(1);
	s_byte(2 | 3 << 2);
	for (uint8_t op = 0; op <= SR_OP__COUNT; op++)
		s_ops(1, 3, op, (uint8_t)(1 | 2 | 4 | (op % 3 == 0 ? 8 : 0) |
				       (op == SR_OP_TIMEOUT ? 16 : 0) |
				       (op == SR_OP_ASYNC_CANCEL ? 32 : 0)), 0);
	for (int k = 0; k < 3; k++) {
		s_byte(7);
		s_byte(5);
		s_byte(0);
		s_byte(0);
	}
	s_byte(0x87);                         /* Stats on the socket */
	s_write(dir, "session-ops");

	/* Refused records: other kinds, garbage, over 256 operations. */
	s_byte(1);
	s_byte(1 | 1 << 2);
	s_byte(0);
	s_byte(2 | 9 << 2);                   /* kind 9 */
	s_u16(3);
	s_byte(1);
	s_byte(2);
	s_byte(3);
	s_byte(0);
	s_byte(0);                            /* OPS that does not decode */
	s_u16(4);
	s_u32(0xffffffff);
	/* Kind 9 again, holding a sound OpBatch of one NOP: still refused. */
	static const uint8_t one_nop[] = { 0x0a, 0x01, 0x01, 0x12, 0x01, 0x00,
					   0x1a, 0x01, 0x00 };
	s_byte(0);
	s_byte(2 | 9 << 2);
	s_u16(sizeof(one_nop));
	for (size_t i = 0; i < sizeof(one_nop); i++)
		s_byte(one_nop[i]);
	/* The same as OPS: runs. */
	s_byte(0);
	s_byte(0);
	s_u16(sizeof(one_nop));
	for (size_t i = 0; i < sizeof(one_nop); i++)
		s_byte(one_nop[i]);
	s_ops(1, 1, SR_OP_NOP, 0, 0);
	s_byte(5);
	s_byte(0);
	s_byte(0);
	s_write(dir, "session-refused");

	/* A lying completion head, the ring filling, then the truth. */
	s_byte(1);
	s_byte(0);
	s_byte(5);
	s_byte(2);
	s_byte(1);                            /* ahead of the tail */
	for (int k = 0; k < 8; k++)
		s_ops(1, 40, SR_OP_NOP, 0, 0);
	s_byte(5);
	s_byte(2);
	s_byte(0);                            /* far behind */
	s_ops(1, 40, SR_OP_NOP, 0, 0);
	s_byte(5);
	s_byte(3);
	s_byte(0);                            /* the truth */
	s_byte(5);
	s_byte(0);
	s_byte(0);
	s_write(dir, "session-cq-lies");

	/* Corrupt: a raw header past the tail, a bad tail, scribbles. */
	s_byte(1);
	s_byte(0);
	s_ops(1, 2, SR_OP_NOP, 0, 0);
	s_byte(2);
	s_u32(100);
	s_u32(SR_RING_REC_OPS);
	s_u16(8);
	s_write(dir, "session-header");

	s_byte(1);
	s_byte(0);
	s_ops(1, 2, SR_OP_NOP, 0, 0);
	s_byte(3);
	s_u32(UINT32_MAX);
	s_byte(6);
	s_write(dir, "session-tail");

	/* The daemon asleep, a record published without the doorbell,
	 * its header scribbled on (32 bytes back from our tail), then the
	 * doorbell. */
	s_byte(1);
	s_byte(0);
	s_byte(7);
	s_ops(0x41, 4, SR_OP_NOP, 0, 0);
	s_byte(4);
	s_u16(32768 - 4);
	s_byte(8);
	for (int i = 0; i < 8; i++)
		s_byte(0xff);
	s_byte(6);
	s_write(dir, "session-scribble");
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *dir = getenv("FUZZ_RINGS_SEEDS");

	(void)argc;
	(void)argv;
	memfile = memfd_create("fuzz-file", MFD_CLOEXEC);
	if (memfile < 0)
		fail("memfd_create: %s", strerror(errno));
	signal(SIGPIPE, SIG_IGN);
	session_set_stats_handler(fuzz_stats, NULL);
	if (dir && *dir) {
		mkdir(dir, 0755);
		seed_reader(dir);
		seed_sessions(dir);
		exit(0);
	}
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 1)
		mode_session(data + 1, size - 1);
	else
		mode_reader(data + 1, size - 1);
	return 0;
}
