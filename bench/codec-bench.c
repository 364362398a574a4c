/* SPDX-License-Identifier: MIT */
/*
 * codec-bench.c - micro-benchmark of the wire codecs: nanoseconds per
 * operation to pack and to unpack a message of 32 operations (32
 * completions), today's nested Submit{Op} and Completions against the
 * columnar OpBatch and CompletionBatch (proto/batch.h), for typical
 * READs and for a mix of every shape.
 *
 * pack:   decoded form (struct op_request / op_completion) to bytes,
 *         filling protobuf-c's structures included;
 * unpack: protobuf-c's unpack alone, through a wire_arena;
 * decode: bytes to the decoded form, all checks included (nested:
 *         unpack + request_from_wire(); columnar: batch_decode_*()).
 *
 * Each figure is the best of several runs of about --seconds/--runs
 * each; each measured message is checked to decode to what was encoded
 * first.  Exits non-zero only when something fails to encode or decode,
 * never because of a timing: timings are reported, not judged.  On a
 * shared machine compare figures of one run only, and rerun when another
 * load was about (best-of hides short noise, not a busy neighbour).
 *
 *   build/bin/codec-bench [--seconds S] [--runs N] [--ops N]
 */
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "batch.h"
#include "op.h"
#include "request.h"
#include "saferring.h"
#include "saferring.pb-c.h"
#include "wire.h"

#define BUF_BYTES (256 * 1024)
#define ARENA_BYTES (4 * 1024 * 1024)

static unsigned n_ops = 32;
static double seconds = 1.0; /* per figure */
static unsigned runs = 10;
static int errors;

static unsigned char buf[BUF_BYTES];
static size_t buf_len;
static unsigned char arena_buf[ARENA_BYTES];
static struct wire_arena arena;

static struct op_request ops[BATCH_MAX_OPS];
static struct op_request ops_out[BATCH_MAX_OPS];
static struct op_completion comps[BATCH_MAX_OPS];
static struct op_completion comps_out[BATCH_MAX_OPS];
static struct batch_op_encoder op_enc;
static struct batch_completion_encoder comp_enc;
static unsigned char addr_in[sizeof(struct sockaddr_in)];

/* ---- today's nested form ------------------------------------------------ */

struct nested_op {
	Saferring__Op op;
	Saferring__FdHandle fd;
	Saferring__SlotRef slot;
	Saferring__SlotRef iov[OP_MAX_IOV];
	Saferring__SlotRef *iov_ptrs[OP_MAX_IOV];
};

struct nested_completion {
	Saferring__Completion c;
	Saferring__FdHandle handle;
	Saferring__SlotBack backs[OP_MAX_IOV];
	Saferring__SlotBack *back_ptrs[OP_MAX_IOV];
};

static struct nested_op nops[BATCH_MAX_OPS];
static Saferring__Op *nop_ptrs[BATCH_MAX_OPS];
static struct nested_completion ncomps[BATCH_MAX_OPS];
static Saferring__Completion *ncomp_ptrs[BATCH_MAX_OPS];

static void slot_ref(Saferring__SlotRef *w, const struct op_slot_ref *r)
{
	saferring__slot_ref__init(w);
	w->index = r->index;
	w->generation = r->generation;
	w->offset = r->offset;
	w->length = r->length;
}

/* What the client's sr_fill_wire() does for an operation. */
static void nested_fill(const struct op_request *r, struct nested_op *w)
{
	saferring__op__init(&w->op);
	w->op.tag = r->tag;
	w->op.opcode = r->opcode;
	if (r->has_fd) {
		saferring__fd_handle__init(&w->fd);
		w->fd.index = r->fd_index;
		w->fd.generation = r->fd_generation;
		w->op.fd = &w->fd;
	}
	if (r->has_slot) {
		const struct op_slot_ref s = {
			r->slot_index, r->slot_generation, r->slot_offset,
			r->slot_length,
		};

		slot_ref(&w->slot, &s);
		w->op.slot = &w->slot;
	}
	w->op.has_file_offset = r->has_file_offset;
	w->op.file_offset = r->file_offset;
	w->op.has_flags = r->flags != 0;
	w->op.flags = r->flags;
	w->op.has_link = r->link != 0;
	w->op.link = r->link;
	w->op.has_msg_flags = r->has_msg_flags;
	w->op.msg_flags = r->msg_flags;
	w->op.has_length = r->has_length;
	w->op.length = r->length;
	w->op.has_timeout_ns = r->has_timeout;
	w->op.timeout_ns = r->timeout_ns;
	w->op.has_target = r->has_target;
	w->op.target = r->target;
	if (r->has_addr) {
		w->op.has_addr = 1;
		w->op.addr.data = (uint8_t *)r->addr;
		w->op.addr.len = r->addr_len;
	}
	for (uint32_t i = 0; i < r->n_iov; i++) {
		slot_ref(&w->iov[i], &r->iov[i]);
		w->iov_ptrs[i] = &w->iov[i];
	}
	w->op.n_iov = r->n_iov;
	w->op.iov = w->iov_ptrs;
}

/* What the daemon's session_fill_completion() makes of a completion. */
static void nested_fill_completion(const struct op_completion *c,
				   struct nested_completion *w)
{
	saferring__completion__init(&w->c);
	w->c.tag = c->tag;
	w->c.status = c->status;
	w->c.result = c->result;
	w->c.has_flags = c->flags != 0;
	w->c.flags = c->flags;
	if (c->has_slot) {
		w->c.has_slot_index = w->c.has_slot_generation = 1;
		w->c.slot_index = c->slot_index;
		w->c.slot_generation = c->slot_generation;
	}
	if (c->has_handle) {
		saferring__fd_handle__init(&w->handle);
		w->handle.index = c->handle_index;
		w->handle.generation = c->handle_generation;
		w->c.handle = &w->handle;
	}
	for (uint32_t i = 0; i < c->n_slots; i++) {
		saferring__slot_back__init(&w->backs[i]);
		w->backs[i].index = c->slots[i].index;
		w->backs[i].generation = c->slots[i].generation;
		w->back_ptrs[i] = &w->backs[i];
	}
	w->c.n_slots = c->n_slots;
	w->c.slots = w->back_ptrs;
}

/* The client's reading of a Completion, as the columnar decoder does it:
 * every count checked. */
static int nested_completion_from_wire(const Saferring__Completion *w,
				       struct op_completion *c)
{
	memset(c, 0, sizeof(*c));
	if (w->has_slot_index != w->has_slot_generation ||
	    w->n_slots > OP_MAX_IOV)
		return -EINVAL;
	c->tag = w->tag;
	c->status = w->status;
	c->result = w->result;
	c->flags = w->has_flags ? w->flags : 0;
	c->has_slot = w->has_slot_index;
	c->slot_index = w->slot_index;
	c->slot_generation = w->slot_generation;
	if (w->handle) {
		c->has_handle = true;
		c->handle_index = w->handle->index;
		c->handle_generation = w->handle->generation;
	}
	c->n_slots = (uint32_t)w->n_slots;
	for (size_t i = 0; i < w->n_slots; i++) {
		c->slots[i].index = w->slots[i]->index;
		c->slots[i].generation = w->slots[i]->generation;
	}
	return 0;
}

/* ---- the operations measured -------------------------------------------- */

static int pack_submit(void)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__Submit submit = SAFERRING__SUBMIT__INIT;
	size_t need;

	for (unsigned i = 0; i < n_ops; i++) {
		nested_fill(&ops[i], &nops[i]);
		nop_ptrs[i] = &nops[i].op;
	}
	submit.n_ops = n_ops;
	submit.ops = nop_ptrs;
	req.body_case = SAFERRING__REQUEST__BODY_SUBMIT;
	req.submit = &submit;
	/* As wire_send_message(): the size first, then the bytes. */
	need = saferring__request__get_packed_size(&req);
	if (need > sizeof(buf))
		return -EMSGSIZE;
	buf_len = saferring__request__pack(&req, buf);
	return 0;
}

static int unpack_submit(void)
{
	Saferring__Request *req;

	wire_arena_reset(&arena);
	req = saferring__request__unpack(&arena.allocator, buf_len, buf);
	return req && req->body_case == SAFERRING__REQUEST__BODY_SUBMIT &&
	       req->submit->n_ops == n_ops ? 0 : -EINVAL;
}

static int decode_submit(void)
{
	Saferring__Request *req;

	wire_arena_reset(&arena);
	req = saferring__request__unpack(&arena.allocator, buf_len, buf);
	if (!req || req->body_case != SAFERRING__REQUEST__BODY_SUBMIT ||
	    req->submit->n_ops != n_ops)
		return -EINVAL;
	for (size_t i = 0; i < req->submit->n_ops; i++)
		request_from_wire(req->submit->ops[i], &ops_out[i]);
	return 0;
}

static int pack_op_batch(void)
{
	return batch_encode_ops(&op_enc, ops, n_ops, buf, sizeof(buf),
				&buf_len);
}

static int unpack_op_batch(void)
{
	Saferring__OpBatch *b;

	wire_arena_reset(&arena);
	b = saferring__op_batch__unpack(&arena.allocator, buf_len, buf);
	return b && b->n_tag == n_ops ? 0 : -EINVAL;
}

static int decode_op_batch(void)
{
	size_t n;
	int ret;

	wire_arena_reset(&arena);
	ret = batch_decode_ops(buf, buf_len, &arena, ops_out, BATCH_MAX_OPS,
			       &n);
	return ret ? ret : n == n_ops ? 0 : -EINVAL;
}

static int pack_completions(void)
{
	Saferring__Reply reply = SAFERRING__REPLY__INIT;
	Saferring__Completions body = SAFERRING__COMPLETIONS__INIT;
	size_t need;

	for (unsigned i = 0; i < n_ops; i++) {
		nested_fill_completion(&comps[i], &ncomps[i]);
		ncomp_ptrs[i] = &ncomps[i].c;
	}
	body.n_completions = n_ops;
	body.completions = ncomp_ptrs;
	reply.body_case = SAFERRING__REPLY__BODY_COMPLETIONS;
	reply.completions = &body;
	need = saferring__reply__get_packed_size(&reply);
	if (need > sizeof(buf))
		return -EMSGSIZE;
	buf_len = saferring__reply__pack(&reply, buf);
	return 0;
}

static int unpack_completions(void)
{
	Saferring__Reply *r;

	wire_arena_reset(&arena);
	r = saferring__reply__unpack(&arena.allocator, buf_len, buf);
	return r && r->body_case == SAFERRING__REPLY__BODY_COMPLETIONS &&
	       r->completions->n_completions == n_ops ? 0 : -EINVAL;
}

static int decode_completions(void)
{
	Saferring__Reply *r;

	wire_arena_reset(&arena);
	r = saferring__reply__unpack(&arena.allocator, buf_len, buf);
	if (!r || r->body_case != SAFERRING__REPLY__BODY_COMPLETIONS ||
	    r->completions->n_completions != n_ops)
		return -EINVAL;
	for (size_t i = 0; i < n_ops; i++)
		if (nested_completion_from_wire(r->completions->completions[i],
						&comps_out[i]))
			return -EINVAL;
	return 0;
}

static int pack_completion_batch(void)
{
	return batch_encode_completions(&comp_enc, comps, n_ops, buf,
					sizeof(buf), &buf_len);
}

static int unpack_completion_batch(void)
{
	Saferring__CompletionBatch *b;

	wire_arena_reset(&arena);
	b = saferring__completion_batch__unpack(&arena.allocator, buf_len, buf);
	return b && b->n_tag == n_ops ? 0 : -EINVAL;
}

static int decode_completion_batch(void)
{
	size_t n;
	int ret;

	wire_arena_reset(&arena);
	ret = batch_decode_completions(buf, buf_len, &arena, comps_out,
				       BATCH_MAX_OPS, &n);
	return ret ? ret : n == n_ops ? 0 : -EINVAL;
}

/* ---- workloads ------------------------------------------------------------ */

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;

static uint64_t rng(void)
{
	/* xorshift64*: fixed seed, so every run measures the same bytes */
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 0x2545f4914f6cdd1dULL;
}

/* A READ as the client prepares it: a handle, a whole 4 KiB range of a
 * slot, a 4 KiB-aligned offset in a 1 GiB file. */
static void read_op(struct op_request *r, unsigned i)
{
	memset(r, 0, sizeof(*r));
	r->tag = i;
	r->opcode = SR_OP_READ;
	r->has_fd = true;
	r->fd_index = i % 4;
	r->fd_generation = 1;
	r->has_slot = true;
	r->slot_index = i;
	r->slot_generation = 1 + 2 * (uint32_t)(rng() % 500);
	r->slot_offset = 0;
	r->slot_length = 4096;
	r->has_file_offset = true;
	r->file_offset = (rng() % (1u << 18)) * 4096;
}

static void workload_read(void)
{
	for (unsigned i = 0; i < n_ops; i++)
		read_op(&ops[i], i);
}

/* Values of absent fields are not sent: make them 0, as decoded. */
static void canon_op(struct op_request *r)
{
	if (!r->has_fd)
		r->fd_index = r->fd_generation = 0;
	if (!r->has_slot)
		r->slot_index = r->slot_generation = r->slot_offset =
			r->slot_length = 0;
	if (!r->has_file_offset)
		r->file_offset = 0;
}

static void canon_completion(struct op_completion *c)
{
	if (!c->has_slot)
		c->slot_index = c->slot_generation = 0;
}

/* Every shape the client sends, in turn. */
static void workload_mix(void)
{
	struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = htons(8080),
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};

	memcpy(addr_in, &sin, sizeof(sin));
	for (unsigned i = 0; i < n_ops; i++) {
		struct op_request *r = &ops[i];

		read_op(r, i);
		switch (i % 12) {
		case 0:
			break;
		case 1:
			r->opcode = SR_OP_WRITE;
			r->link = SR_LINK;
			break;
		case 2:
			r->opcode = SR_OP_FSYNC;
			r->has_slot = r->has_file_offset = false;
			r->flags = 1;
			break;
		case 3:
		case 4:
			r->opcode = i % 12 == 3 ? SR_OP_READV : SR_OP_WRITEV;
			r->has_slot = false;
			r->n_iov = 4;
			for (unsigned j = 0; j < 4; j++)
				r->iov[j] = (struct op_slot_ref){
					(i + j) % 64, 3, 0, 4096,
				};
			break;
		case 5:
			r->opcode = SR_OP_SEND;
			r->has_file_offset = false;
			r->has_msg_flags = true;
			r->msg_flags = MSG_NOSIGNAL;
			break;
		case 6:
			r->opcode = SR_OP_RECV;
			r->has_file_offset = false;
			r->has_msg_flags = true;
			r->msg_flags = MSG_WAITALL;
			break;
		case 7:
			r->opcode = SR_OP_POLL_ADD;
			r->has_slot = r->has_file_offset = false;
			r->flags = POLLIN;
			break;
		case 8:
			memset(r, 0, sizeof(*r));
			r->tag = i;
			r->opcode = SR_OP_TIMEOUT;
			r->has_timeout = true;
			r->timeout_ns = 1000000000ULL;
			break;
		case 9:
			r->opcode = SR_OP_CONNECT;
			r->has_slot = r->has_file_offset = false;
			r->has_addr = true;
			r->addr = addr_in;
			r->addr_len = sizeof(addr_in);
			break;
		case 10:
			memset(r, 0, sizeof(*r));
			r->tag = i;
			r->opcode = SR_OP_ASYNC_CANCEL;
			r->has_target = true;
			r->target = i - 1;
			break;
		case 11:
			r->opcode = SR_OP_FALLOCATE;
			r->has_slot = false;
			r->has_length = true;
			r->length = 1 << 20;
			break;
		default: /* i % 12 has no other values */
			break;
		}
		canon_op(r);
	}
}

static void read_completion(struct op_completion *c, unsigned i)
{
	memset(c, 0, sizeof(*c));
	c->tag = i;
	c->result = 4096;
	c->has_slot = true;
	c->slot_index = i;
	c->slot_generation = 2 + 2 * (uint32_t)(rng() % 500);
}

static void workload_read_completions(void)
{
	for (unsigned i = 0; i < n_ops; i++)
		read_completion(&comps[i], i);
}

static void workload_mix_completions(void)
{
	for (unsigned i = 0; i < n_ops; i++) {
		struct op_completion *c = &comps[i];

		read_completion(c, i);
		switch (i % 6) {
		case 1: /* a vectored op hands back 4 slots */
			c->has_slot = false;
			c->result = 4 * 4096;
			c->n_slots = 4;
			for (unsigned j = 0; j < 4; j++)
				c->slots[j] = (struct op_slot_back){
					(i + j) % 64, 4,
				};
			break;
		case 2: /* a refused op */
			c->has_slot = false;
			c->status = SR_STATUS_STALE_GENERATION;
			c->result = -ESTALE;
			break;
		case 3: /* an accept */
			c->has_slot = false;
			c->result = 0;
			c->has_handle = true;
			c->handle_index = 9;
			c->handle_generation = 3;
			break;
		case 4: /* one shot of a multishot receive */
			c->flags = 2; /* IORING_CQE_F_MORE */
			c->result = 1200;
			break;
		default:
			break;
		}
		canon_completion(c);
	}
}

/* ---- measuring ------------------------------------------------------------ */

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static uint64_t timed(int (*fn)(void), uint64_t iters)
{
	uint64_t t0 = now_ns();

	for (uint64_t k = 0; k < iters; k++)
		if (fn()) {
			errors++;
			return 0;
		}
	return now_ns() - t0;
}

/* Best ns per operation of @fn over @runs runs of about
 * seconds / runs each; -1 when it failed. */
static double measure(int (*fn)(void))
{
	uint64_t run_ns = (uint64_t)(seconds / runs * 1e9);
	uint64_t iters = 1, t;
	double best = -1;

	/* Calibrate: double until a batch takes a tenth of a run. */
	for (;;) {
		t = timed(fn, iters);
		if (!t && errors)
			return -1;
		if (t >= run_ns / 10 || iters >= (1ULL << 40))
			break;
		iters *= 2;
	}
	iters = t ? iters * run_ns / t : iters;
	if (!iters)
		iters = 1;
	for (unsigned r = 0; r < runs; r++) {
		t = timed(fn, iters);
		if (!t && errors)
			return -1;
		double ns = (double)t / (double)iters / n_ops;

		if (best < 0 || ns < best)
			best = ns;
	}
	return best;
}

static bool addr_equal(const struct op_request *a, const struct op_request *b)
{
	return a->has_addr == b->has_addr && a->addr_len == b->addr_len &&
	       (!a->addr_len || memcmp(a->addr, b->addr, a->addr_len) == 0);
}

static bool ops_equal(const struct op_request *a, const struct op_request *b)
{
	struct op_request x = *a, y = *b;

	x.addr = y.addr = NULL;
	return addr_equal(a, b) && memcmp(&x, &y, sizeof(x)) == 0;
}

static void check_ops(const char *what)
{
	for (unsigned i = 0; i < n_ops; i++)
		if (!ops_equal(&ops[i], &ops_out[i])) {
			fprintf(stderr, "codec-bench: %s: operation %u decodes "
				"to something else\n", what, i);
			errors++;
			return;
		}
}

static void check_completions(const char *what)
{
	for (unsigned i = 0; i < n_ops; i++)
		if (memcmp(&comps[i], &comps_out[i], sizeof(comps[i]))) {
			fprintf(stderr, "codec-bench: %s: completion %u decodes "
				"to something else\n", what, i);
			errors++;
			return;
		}
}

struct form {
	const char *name;
	int (*pack)(void);
	int (*unpack)(void);
	int (*decode)(void);
	bool completions;
};

static void row(const char *workload, const struct form *f)
{
	double pack, unpack, decode;

	if (f->pack()) {
		fprintf(stderr, "codec-bench: %s %s: does not encode\n",
			f->name, workload);
		errors++;
		return;
	}
	size_t bytes = buf_len;

	/* The bytes measured must mean what was encoded. */
	if (f->decode()) {
		fprintf(stderr, "codec-bench: %s %s: does not decode\n",
			f->name, workload);
		errors++;
		return;
	}
	if (f->completions)
		check_completions(f->name);
	else
		check_ops(f->name);
	pack = measure(f->pack);
	unpack = measure(f->unpack);
	decode = measure(f->decode);
	printf("%-16s %-6s %8.1f %9.1f %11.1f %11.1f\n", f->name, workload,
	       (double)bytes / n_ops, pack, unpack, decode);
	fflush(stdout);
}

static void usage(FILE *to)
{
	fprintf(to, "usage: codec-bench [--seconds S] [--runs N] [--ops N]\n"
		"  --seconds S  time per figure, best of --runs runs (1)\n"
		"  --runs N     runs per figure (10)\n"
		"  --ops N      operations per message, 1..%d (32)\n",
		BATCH_MAX_OPS);
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "seconds", required_argument, NULL, 's' },
		{ "runs", required_argument, NULL, 'r' },
		{ "ops", required_argument, NULL, 'n' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const struct form op_forms[] = {
		{ "Submit{Op}", pack_submit, unpack_submit, decode_submit,
		  false },
		{ "OpBatch", pack_op_batch, unpack_op_batch, decode_op_batch,
		  false },
	};
	static const struct form comp_forms[] = {
		{ "Completions", pack_completions, unpack_completions,
		  decode_completions, true },
		{ "CompletionBatch", pack_completion_batch,
		  unpack_completion_batch, decode_completion_batch, true },
	};
	int c;

	while ((c = getopt_long(argc, argv, "s:r:n:h", longopts, NULL)) != -1) {
		switch (c) {
		case 's':
			seconds = atof(optarg);
			break;
		case 'r':
			runs = (unsigned)atoi(optarg);
			break;
		case 'n':
			n_ops = (unsigned)atoi(optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (seconds <= 0 || runs < 1 || n_ops < 1 || n_ops > BATCH_MAX_OPS) {
		usage(stderr);
		return 2;
	}
	wire_arena_init(&arena, arena_buf, sizeof(arena_buf));

	printf("codec-bench: %u operations per message, best of %u runs, "
	       "%.2f s per figure\n", n_ops, runs, seconds);
	printf("%-16s %-6s %8s %9s %11s %11s\n", "form", "load", "bytes/op",
	       "pack ns", "unpack ns", "decode ns");
	workload_read();
	for (size_t i = 0; i < 2; i++)
		row("read", &op_forms[i]);
	workload_mix();
	for (size_t i = 0; i < 2; i++)
		row("mix", &op_forms[i]);
	workload_read_completions();
	for (size_t i = 0; i < 2; i++)
		row("read", &comp_forms[i]);
	workload_mix_completions();
	for (size_t i = 0; i < 2; i++)
		row("mix", &comp_forms[i]);
	printf("(ns per operation; pack: from the decoded form, protobuf-c "
	       "structures filled; unpack: protobuf-c alone; decode: "
	       "unpack, checks and conversion to the decoded form)\n");
	if (errors) {
		fprintf(stderr, "codec-bench: %d errors\n", errors);
		return 1;
	}
	return 0;
}
