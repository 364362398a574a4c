/* SPDX-License-Identifier: MIT */
/*
 * fuzz_batch.c - libFuzzer harness C: the columnar codec's decoders
 * (proto/batch.h), batch_decode_ops() and batch_decode_completions(), on
 * hostile bytes, through a bounded wire_arena as the daemon and the
 * client use them.
 *
 * Input: one mode byte, then the bytes of one message.  Mode bit 0: an
 * OpBatch (0) or a CompletionBatch (1); bit 1: the limit on operations
 * is the next byte (0..255) instead of BATCH_MAX_OPS, so that -E2BIG is
 * reached too.
 *
 * Checked for every input: the verdict is the one an independent reading
 * of the layout rules gives (the message unpacked here separately, its
 * columns counted bit by bit): -EINVAL exactly when it does not unpack
 * or breaks a rule, -E2BIG exactly when it unpacks with more operations
 * than the limit, 0 otherwise; a refusal leaves *n at 0 and the output
 * untouched; the arena never hands out more than it has.  For a decoded
 * batch: every address lies inside the arena (and is read whole, for
 * ASan), ranges past OP_MAX_IOV are not stored, and the operations are
 * exactly what request_from_wire() makes of the same operations sent as
 * a nested Submit, and what the columnar encoder and decoder give back
 * (completions: what the encoder and decoder give back).
 *
 * Seeds: `FUZZ_BATCH_SEEDS=DIR build-fuzz/fuzz/fuzz_batch` writes the
 * seed corpus (every opcode's shape, typical READ batches, completions of
 * every kind, a few refusals) into DIR and exits; the committed
 * tests/fuzz/corpus/fuzz_batch/ is its output (`make fuzz-corpus`
 * runs this too).
 *
 * Must never weaken a check to make a crash go away: a crash here is a
 * finding, reproduced with `build-fuzz/fuzz/fuzz_batch CRASHFILE`.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "batch.h"
#include "op.h"
#include "request.h"
#include "saferring.h"
#include "saferring.pb-c.h"
#include "wire.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define ARENA_BYTES (8 * 1024 * 1024)
#define BUF_BYTES (512 * 1024)

static unsigned char arena_buf[ARENA_BYTES] __attribute__((aligned(64)));
static unsigned char check_buf[ARENA_BYTES] __attribute__((aligned(64)));
static unsigned char pack_buf[BUF_BYTES];
static struct op_request ops[BATCH_MAX_OPS];
static struct op_request again[BATCH_MAX_OPS];
static struct op_completion comps[BATCH_MAX_OPS];
static struct op_completion comps_again[BATCH_MAX_OPS];
/* What the output holds before a decode, to see that a refusal left it
 * alone (memcmp: a byte loop would cost most of the run in coverage
 * callbacks). */
static unsigned char untouched[sizeof(ops)];
static struct batch_op_encoder op_enc;
static struct batch_completion_encoder comp_enc;

static void __attribute__((noreturn, format(printf, 1, 2)))
fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("fuzz_batch: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

/* ---- an independent reading of the layout rules -------------------------- */

/* Columns read together with presence bit i of an OpBatch. */
static bool op_columns_ok(const Saferring__OpBatch *b)
{
	const size_t n = b->n_tag;
	size_t per_bit[11] = { 0 };
	uint64_t ranges = 0;

	if (b->n_opcode != n || b->n_present != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (b->present[i] >= 1u << 11)
			return false;
		for (unsigned bit = 0; bit < 11; bit++)
			if (b->present[i] & (1u << bit))
				per_bit[bit]++;
	}
	const size_t want[][2] = {
		{ b->n_fd_index, per_bit[0] },
		{ b->n_fd_generation, per_bit[0] },
		{ b->n_slot_index, per_bit[1] },
		{ b->n_slot_generation, per_bit[1] },
		{ b->n_slot_offset, per_bit[1] },
		{ b->n_slot_length, per_bit[1] },
		{ b->n_file_offset, per_bit[2] },
		{ b->n_flags, per_bit[3] },
		{ b->n_link, per_bit[4] },
		{ b->n_msg_flags, per_bit[5] },
		{ b->n_length, per_bit[6] },
		{ b->n_timeout_ns, per_bit[7] },
		{ b->n_target, per_bit[8] },
		{ b->n_addr, per_bit[9] },
		{ b->n_iov_count, per_bit[10] },
	};
	for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++)
		if (want[k][0] != want[k][1])
			return false;
	for (size_t k = 0; k < b->n_iov_count; k++) {
		if (!b->iov_count[k])
			return false;
		ranges += b->iov_count[k];
	}
	return b->n_iov_index == ranges && b->n_iov_generation == ranges &&
	       b->n_iov_offset == ranges && b->n_iov_length == ranges;
}

static bool completion_columns_ok(const Saferring__CompletionBatch *b)
{
	const size_t n = b->n_tag;
	size_t per_bit[3] = { 0 };
	uint64_t slots = 0;

	if (b->n_status != n || b->n_result != n || b->n_flags != n ||
	    b->n_present != n)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (b->present[i] >= 1u << 3)
			return false;
		for (unsigned bit = 0; bit < 3; bit++)
			if (b->present[i] & (1u << bit))
				per_bit[bit]++;
	}
	if (b->n_slot_index != per_bit[0] ||
	    b->n_slot_generation != per_bit[0] ||
	    b->n_handle_index != per_bit[1] ||
	    b->n_handle_generation != per_bit[1] ||
	    b->n_slots_count != per_bit[2])
		return false;
	for (size_t k = 0; k < b->n_slots_count; k++) {
		if (!b->slots_count[k] || b->slots_count[k] > OP_MAX_IOV)
			return false;
		slots += b->slots_count[k];
	}
	return b->n_slots_index == slots && b->n_slots_generation == slots;
}

/* ---- comparing -------------------------------------------------------------- */

static void op_same(const struct op_request *a, const struct op_request *b,
		    size_t i, const char *what)
{
	struct op_request x, y;

	memcpy(&x, a, sizeof(x));
	memcpy(&y, b, sizeof(y));
	x.addr = y.addr = NULL;
	if (memcmp(&x, &y, sizeof(x)) ||
	    (a->addr_len && memcmp(a->addr, b->addr, a->addr_len)))
		fail("operation %zu decodes otherwise %s", i, what);
}

/* The same operations as a nested Submit, decoded as the daemon does. */
static void check_nested(size_t n, struct wire_arena *arena)
{
	static Saferring__Op wops[BATCH_MAX_OPS];
	static Saferring__Op *wptrs[BATCH_MAX_OPS];
	static Saferring__FdHandle fds[BATCH_MAX_OPS];
	static Saferring__SlotRef slots[BATCH_MAX_OPS];
	static Saferring__SlotRef iov[BATCH_MAX_OPS][OP_MAX_IOV];
	static Saferring__SlotRef *iov_ptrs[BATCH_MAX_OPS][OP_MAX_IOV];
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__Submit submit = SAFERRING__SUBMIT__INIT;
	Saferring__Request *got;
	size_t len;

	for (size_t i = 0; i < n; i++) {
		const struct op_request *r = &ops[i];
		Saferring__Op *w = &wops[i];

		saferring__op__init(w);
		w->tag = r->tag;
		w->opcode = r->opcode;
		if (r->has_fd) {
			saferring__fd_handle__init(&fds[i]);
			fds[i].index = r->fd_index;
			fds[i].generation = r->fd_generation;
			w->fd = &fds[i];
		}
		if (r->has_slot) {
			saferring__slot_ref__init(&slots[i]);
			slots[i].index = r->slot_index;
			slots[i].generation = r->slot_generation;
			slots[i].offset = r->slot_offset;
			slots[i].length = r->slot_length;
			w->slot = &slots[i];
		}
		w->has_file_offset = r->has_file_offset;
		w->file_offset = r->file_offset;
		w->has_flags = r->flags != 0;
		w->flags = r->flags;
		w->has_link = r->link != 0;
		w->link = r->link;
		w->has_msg_flags = r->has_msg_flags;
		w->msg_flags = r->msg_flags;
		w->has_length = r->has_length;
		w->length = r->length;
		w->has_timeout_ns = r->has_timeout;
		w->timeout_ns = r->timeout_ns;
		w->has_target = r->has_target;
		w->target = r->target;
		w->has_addr = r->has_addr;
		w->addr.data = (uint8_t *)r->addr;
		w->addr.len = r->addr_len;
		for (uint32_t k = 0; k < r->n_iov; k++) {
			saferring__slot_ref__init(&iov[i][k]);
			iov[i][k].index = r->iov[k].index;
			iov[i][k].generation = r->iov[k].generation;
			iov[i][k].offset = r->iov[k].offset;
			iov[i][k].length = r->iov[k].length;
			iov_ptrs[i][k] = &iov[i][k];
		}
		w->n_iov = r->n_iov;
		w->iov = iov_ptrs[i];
		wptrs[i] = w;
	}
	submit.n_ops = n;
	submit.ops = wptrs;
	req.body_case = SAFERRING__REQUEST__BODY_SUBMIT;
	req.submit = &submit;
	len = saferring__request__get_packed_size(&req);
	if (len > sizeof(pack_buf))
		fail("a nested Submit of %zu operations needs %zu bytes", n,
		     len);
	saferring__request__pack(&req, pack_buf);
	got = saferring__request__unpack(&arena->allocator, len, pack_buf);
	if (!got || !got->submit || got->submit->n_ops != n)
		fail("the nested Submit does not decode");
	for (size_t i = 0; i < n; i++) {
		request_from_wire(got->submit->ops[i], &again[i]);
		op_same(&ops[i], &again[i], i, "than as a nested Op");
	}
}

static void check_ops(const uint8_t *msg, size_t len, size_t max)
{
	static struct wire_arena arena, check;
	Saferring__OpBatch *b;
	size_t n = 7777, n2, out_len;
	int want, ret;

	wire_arena_init(&check, check_buf, sizeof(check_buf));
	b = saferring__op_batch__unpack(&check.allocator, len, msg);
	want = !b ? -EINVAL : b->n_tag > max ? -E2BIG :
	       op_columns_ok(b) ? 0 : -EINVAL;

	memset(ops, 0x5a, sizeof(ops));
	wire_arena_init(&arena, arena_buf, sizeof(arena_buf));
	ret = batch_decode_ops(msg, len, &arena, ops, max, &n);
	if (arena.used > arena.size)
		fail("the arena handed out %zu of %zu bytes", arena.used,
		     arena.size);
	if (ret != want)
		fail("operations: verdict %d, the layout rules say %d", ret,
		     want);
	if (ret) {
		if (n != 0)
			fail("a refused batch says %zu operations", n);
		if (memcmp(ops, untouched, sizeof(ops)))
			fail("a refused batch wrote its output");
		return;
	}
	if (n != b->n_tag || n > max)
		fail("%zu operations decoded of %zu sent, limit %zu", n,
		     b->n_tag, max);

	bool encodable = true;
	volatile unsigned char sink = 0;

	for (size_t i = 0; i < n; i++) {
		const struct op_request *r = &ops[i];

		if (r->addr_len) {
			if (!r->has_addr || !r->addr ||
			    r->addr < arena.base ||
			    r->addr + r->addr_len > arena.base + arena.size)
				fail("operation %zu: address outside the arena",
				     i);
			for (uint32_t k = 0; k < r->addr_len; k++)
				sink ^= r->addr[k];
		}
		for (uint32_t k = r->n_iov; k < OP_MAX_IOV; k++)
			if (r->iov[k].index || r->iov[k].generation ||
			    r->iov[k].offset || r->iov[k].length)
				fail("operation %zu: range %u past n_iov set",
				     i, k);
		if (r->n_iov > OP_MAX_IOV)
			encodable = false;
	}
	(void)sink;

	/* Encoded again: the same bytes' meaning. */
	ret = batch_encode_ops(&op_enc, ops, n, pack_buf, sizeof(pack_buf),
			       &out_len);
	if (!encodable) {
		if (ret != -EINVAL)
			fail("more than %d ranges encoded: %d", OP_MAX_IOV, ret);
		return;
	}
	if (ret)
		fail("decoded operations do not encode: %d", ret);
	if (saferring__op_batch__get_packed_size(&op_enc.msg) > op_enc.max_bytes)
		fail("the encoder's size bound is short");
	ret = batch_decode_ops(pack_buf, out_len, &arena, again, max, &n2);
	if (ret || n2 != n)
		fail("re-encoded operations do not decode: %d", ret);
	for (size_t i = 0; i < n; i++)
		op_same(&ops[i], &again[i], i, "once encoded again");
	check_nested(n, &arena);
}

static void check_completions(const uint8_t *msg, size_t len, size_t max)
{
	static struct wire_arena arena, check;
	Saferring__CompletionBatch *b;
	size_t n = 7777, n2, out_len;
	int want, ret;

	wire_arena_init(&check, check_buf, sizeof(check_buf));
	b = saferring__completion_batch__unpack(&check.allocator, len, msg);
	want = !b ? -EINVAL : b->n_tag > max ? -E2BIG :
	       completion_columns_ok(b) ? 0 : -EINVAL;

	memset(comps, 0x5a, sizeof(comps));
	wire_arena_init(&arena, arena_buf, sizeof(arena_buf));
	ret = batch_decode_completions(msg, len, &arena, comps, max, &n);
	if (arena.used > arena.size)
		fail("the arena handed out %zu of %zu bytes", arena.used,
		     arena.size);
	if (ret != want)
		fail("completions: verdict %d, the layout rules say %d", ret,
		     want);
	if (ret) {
		if (n != 0)
			fail("a refused batch says %zu completions", n);
		if (memcmp(comps, untouched, sizeof(comps)))
			fail("a refused batch wrote its output");
		return;
	}
	if (n != b->n_tag || n > max)
		fail("%zu completions decoded of %zu sent", n, b->n_tag);
	for (size_t i = 0; i < n; i++)
		if (comps[i].n_slots > OP_MAX_IOV)
			fail("completion %zu: %u slots", i, comps[i].n_slots);
	ret = batch_encode_completions(&comp_enc, comps, n, pack_buf,
				       sizeof(pack_buf), &out_len);
	if (ret)
		fail("decoded completions do not encode: %d", ret);
	if (saferring__completion_batch__get_packed_size(&comp_enc.msg) >
	    comp_enc.max_bytes)
		fail("the encoder's size bound is short");
	ret = batch_decode_completions(pack_buf, out_len, &arena, comps_again,
				       max, &n2);
	if (ret || n2 != n)
		fail("re-encoded completions do not decode: %d", ret);
	if (memcmp(comps, comps_again, n * sizeof(comps[0])))
		fail("completions decode otherwise once encoded again");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t max = BATCH_MAX_OPS;
	uint8_t mode;

	if (size < 1)
		return 0;
	mode = data[0];
	data++;
	size--;
	if (mode & 2) {
		if (size < 1)
			return 0;
		max = data[0];
		data++;
		size--;
	}
	if (mode & 1)
		check_completions(data, size, max);
	else
		check_ops(data, size, max);
	return 0;
}

/* ---- seeds ---------------------------------------------------------------- */

static const char *seed_dir;

static void write_seed(const char *name, uint8_t mode, int max,
		       const void *msg, size_t len)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", seed_dir, name);
	f = fopen(path, "wb");
	if (!f)
		fail("cannot write %s", path);
	fputc(mode | (max >= 0 ? 2 : 0), f);
	if (max >= 0)
		fputc(max, f);
	if (len && fwrite(msg, 1, len, f) != len)
		fail("cannot write %s", path);
	if (fclose(f))
		fail("cannot write %s", path);
}

static void seed_ops(const char *name, const struct op_request *r, size_t n,
		     int max)
{
	size_t len;

	if (batch_encode_ops(&op_enc, r, n, pack_buf, sizeof(pack_buf), &len))
		fail("seed %s does not encode", name);
	write_seed(name, 0, max, pack_buf, len);
}

static void seed_completions(const char *name, const struct op_completion *c,
			     size_t n, int max)
{
	size_t len;

	if (batch_encode_completions(&comp_enc, c, n, pack_buf,
				     sizeof(pack_buf), &len))
		fail("seed %s does not encode", name);
	write_seed(name, 1, max, pack_buf, len);
}

static struct op_request op(uint64_t tag, uint32_t opcode, bool fd,
			    bool slot, bool file_offset)
{
	struct op_request r;

	memset(&r, 0, sizeof(r));
	r.tag = tag;
	r.opcode = opcode;
	if (fd) {
		r.has_fd = true;
		r.fd_index = 1;
		r.fd_generation = 1;
	}
	if (slot) {
		r.has_slot = true;
		r.slot_index = (uint32_t)tag % 64;
		r.slot_generation = 1;
		r.slot_length = 4096;
	}
	if (file_offset) {
		r.has_file_offset = true;
		r.file_offset = tag * 4096;
	}
	return r;
}

static void write_seeds(void)
{
	static const struct sockaddr_in sin = {
		.sin_family = AF_INET,
		.sin_port = 0x5000,
		.sin_addr.s_addr = 0x0100007f,
	};
	struct op_request *r = ops;
	struct op_completion *c = comps;
	size_t n = 0;

	if (mkdir(seed_dir, 0755) && errno != EEXIST)
		fail("cannot create %s", seed_dir);
	/* 32 READs, the common case. */
	for (size_t i = 0; i < 32; i++)
		r[i] = op(i, SR_OP_READ, true, true, true);
	seed_ops("ops-read32", r, 32, -1);
	seed_ops("ops-read32-max16", r, 32, 16);
	seed_ops("ops-empty", r, 0, -1);
	/* Every opcode, each field of its own kind. */
	r[n++] = op(1, SR_OP_NOP, false, false, false);
	r[n++] = op(2, SR_OP_WRITE, true, true, true);
	r[n] = op(3, SR_OP_FSYNC, true, false, false);
	r[n++].flags = 1;
	for (uint32_t o = SR_OP_READV; o <= SR_OP_WRITEV; o++) {
		r[n] = op(4, o, true, false, true);
		r[n].n_iov = o == SR_OP_READV ? 2 : OP_MAX_IOV;
		for (uint32_t k = 0; k < r[n].n_iov; k++)
			r[n].iov[k] = (struct op_slot_ref){ k, 1, 0, 1024 };
		n++;
	}
	r[n] = op(6, SR_OP_FALLOCATE, true, false, true);
	r[n].has_length = true;
	r[n++].length = 1 << 20;
	r[n] = op(7, SR_OP_SEND, true, true, false);
	r[n].has_msg_flags = true;
	r[n++].msg_flags = MSG_MORE;
	r[n] = op(8, SR_OP_RECV, true, false, false);
	r[n++].flags = 1;
	r[n] = op(9, SR_OP_SENDMSG, true, false, false);
	r[n].n_iov = 1;
	r[n].iov[0] = (struct op_slot_ref){ 3, 1, 0, 10 };
	r[n].has_msg_flags = true;
	r[n++].link = SR_LINK;
	r[n] = op(10, SR_OP_LINK_TIMEOUT, false, false, false);
	r[n].has_timeout = true;
	r[n++].timeout_ns = 1000000;
	r[n] = op(11, SR_OP_CONNECT, true, false, false);
	r[n].has_addr = true;
	r[n].addr = (const unsigned char *)&sin;
	r[n++].addr_len = sizeof(sin);
	r[n] = op(12, SR_OP_ASYNC_CANCEL, false, false, false);
	r[n].has_target = true;
	r[n++].target = 7;
	r[n++] = op(13, SR_OP_CLOSE, true, false, false);
	r[n++] = op(14, SR_OP_PROVIDE, false, true, false);
	r[n++] = op(UINT64_MAX, UINT32_MAX, true, true, true);
	seed_ops("ops-every-kind", r, n, -1);
	seed_ops("ops-every-kind-max4", r, n, 4);

	/* Completions: reads, and every kind. */
	memset(c, 0, 32 * sizeof(*c));
	for (size_t i = 0; i < 32; i++) {
		c[i].tag = i;
		c[i].result = 4096;
		c[i].has_slot = true;
		c[i].slot_index = (uint32_t)i;
		c[i].slot_generation = 2;
	}
	seed_completions("completions-read32", c, 32, -1);
	memset(c, 0, 6 * sizeof(*c));
	c[0].tag = 1;
	c[0].result = 3 * 4096;
	c[0].n_slots = 3;
	for (uint32_t k = 0; k < 3; k++)
		c[0].slots[k] = (struct op_slot_back){ k, 4 };
	c[1].tag = 2;
	c[1].has_handle = true;
	c[1].handle_index = 5;
	c[1].handle_generation = 1;
	c[1].flags = 2;
	c[2].tag = 3;
	c[2].status = SR_STATUS_STALE_GENERATION;
	c[2].result = -ESTALE;
	c[3].tag = 4;
	c[3].result = 1500;
	c[3].flags = 2 | 4;
	c[3].has_slot = true;
	c[3].slot_index = 9;
	c[3].slot_generation = 3;
	c[4].tag = 5;
	c[4].result = -ECANCELED;
	c[5].tag = UINT64_MAX;
	c[5].result = INT32_MIN;
	c[5].has_slot = c[5].has_handle = true;
	c[5].n_slots = OP_MAX_IOV;
	seed_completions("completions-every-kind", c, 6, -1);
	seed_completions("completions-every-kind-max2", c, 6, 2);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	memset(untouched, 0x5a, sizeof(untouched));
	seed_dir = getenv("FUZZ_BATCH_SEEDS");
	if (seed_dir && *seed_dir) {
		write_seeds();
		exit(0);
	}
	return 0;
}
