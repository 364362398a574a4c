/* SPDX-License-Identifier: MIT */
/*
 * gen_corpus.c - writes the seed corpus of the fuzz harnesses from valid
 * protocol messages: `gen_corpus DIR` fills DIR/fuzz_request and
 * DIR/fuzz_session (see the input formats at the top of fuzz_request.c
 * and fuzz_session.c).  The committed tests/fuzz/corpus/ is its output
 * (`make fuzz-corpus` rewrites it).
 *
 * Seeds cover every opcode, chains, the receive pool, multishot accepts,
 * cancellation, a client that stops reading, one that hangs up with work
 * in flight, and a few refusals; the fuzzer mutates from there.  Must
 * stay deterministic: the same build writes the same bytes.
 */
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include "saferring.h"
#include "saferring.pb-c.h"

#define MAX_OPS 256
#define BUF_BYTES (128 * 1024)

struct op {
	Saferring__Op op;
	Saferring__FdHandle fd;
	Saferring__SlotRef slot;
	Saferring__SlotRef iov[4];
	Saferring__SlotRef *iov_ptrs[4];
	unsigned char addr[32];
};

static struct op ops[MAX_OPS];
static size_t nops;

static struct op *op_new(uint64_t tag, uint32_t opcode)
{
	struct op *o = &ops[nops++];

	memset(o, 0, sizeof(*o));
	saferring__op__init(&o->op);
	o->op.tag = tag;
	o->op.opcode = opcode;
	return o;
}

static void op_fd(struct op *o, uint32_t index)
{
	saferring__fd_handle__init(&o->fd);
	o->fd.index = index;
	o->fd.generation = 1;
	o->op.fd = &o->fd;
}

static void op_slot(struct op *o, uint32_t index, uint32_t off, uint32_t len)
{
	saferring__slot_ref__init(&o->slot);
	o->slot.index = index;
	o->slot.generation = 1;
	o->slot.offset = off;
	o->slot.length = len;
	o->op.slot = &o->slot;
}

static void op_iov(struct op *o, uint32_t first, unsigned n)
{
	for (unsigned i = 0; i < n; i++) {
		saferring__slot_ref__init(&o->iov[i]);
		o->iov[i].index = first + i;
		o->iov[i].generation = 1;
		o->iov[i].offset = 0;
		o->iov[i].length = 1024;
		o->iov_ptrs[i] = &o->iov[i];
	}
	o->op.n_iov = n;
	o->op.iov = o->iov_ptrs;
}

static void op_off(struct op *o, uint64_t off)
{
	o->op.has_file_offset = 1;
	o->op.file_offset = off;
}

static void op_link(struct op *o, uint32_t link)
{
	o->op.has_link = 1;
	o->op.link = link;
}

static void op_flags(struct op *o, uint32_t flags)
{
	o->op.has_flags = 1;
	o->op.flags = flags;
}

static void op_target(struct op *o, uint64_t target)
{
	o->op.has_target = 1;
	o->op.target = target;
}

static void op_timeout(struct op *o, uint64_t ns)
{
	o->op.has_timeout_ns = 1;
	o->op.timeout_ns = ns;
}

static void op_msg(struct op *o, uint32_t flags)
{
	o->op.has_msg_flags = 1;
	o->op.msg_flags = flags;
}

static void op_inet(struct op *o, int v6)
{
	if (v6) {
		struct sockaddr_in6 sa = { .sin6_family = AF_INET6,
					   .sin6_port = htons(9) };
		memcpy(o->addr, &sa, sizeof(sa));
		o->op.addr.len = sizeof(sa);
	} else {
		struct sockaddr_in sa = { .sin_family = AF_INET,
					  .sin_port = htons(9),
					  .sin_addr.s_addr = htonl(0x7f000001) };
		memcpy(o->addr, &sa, sizeof(sa));
		o->op.addr.len = sizeof(sa);
	}
	o->op.has_addr = 1;
	o->op.addr.data = o->addr;
}

/* ------------------------------------------------------------------ */
/* Packing. */

static size_t pack_submit(unsigned char *buf)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__Submit submit = SAFERRING__SUBMIT__INIT;
	Saferring__Op *ptrs[MAX_OPS];

	for (size_t i = 0; i < nops; i++)
		ptrs[i] = &ops[i].op;
	submit.n_ops = nops;
	submit.ops = ptrs;
	req.body_case = SAFERRING__REQUEST__BODY_SUBMIT;
	req.submit = &submit;
	nops = 0;
	return saferring__request__pack(&req, buf);
}

static size_t pack_hello(unsigned char *buf, uint32_t version)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__Hello hello = SAFERRING__HELLO__INIT;

	hello.version = version;
	hello.has_slot_count = 1;
	hello.slot_count = 8;
	hello.has_slot_size = 1;
	hello.slot_size = 4096;
	req.has_seq = 1;
	req.seq = 1;
	req.body_case = SAFERRING__REQUEST__BODY_HELLO;
	req.hello = &hello;
	return saferring__request__pack(&req, buf);
}

static size_t pack_register(unsigned char *buf)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__RegisterFd body = SAFERRING__REGISTER_FD__INIT;

	req.has_seq = 1;
	req.seq = 2;
	req.body_case = SAFERRING__REQUEST__BODY_REGISTER_FD;
	req.register_fd = &body;
	return saferring__request__pack(&req, buf);
}

static size_t pack_unregister(unsigned char *buf, uint32_t index)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__UnregisterFd body = SAFERRING__UNREGISTER_FD__INIT;
	Saferring__FdHandle h = SAFERRING__FD_HANDLE__INIT;

	h.index = index;
	h.generation = 1;
	body.handle = &h;
	req.has_seq = 1;
	req.seq = 3;
	req.body_case = SAFERRING__REQUEST__BODY_UNREGISTER_FD;
	req.unregister_fd = &body;
	return saferring__request__pack(&req, buf);
}

static size_t pack_stats(unsigned char *buf)
{
	Saferring__Request req = SAFERRING__REQUEST__INIT;
	Saferring__StatsRequest body = SAFERRING__STATS_REQUEST__INIT;

	body.has_sessions = 1;
	body.sessions = 1;
	req.has_seq = 1;
	req.seq = 4;
	req.body_case = SAFERRING__REQUEST__BODY_STATS;
	req.stats = &body;
	return saferring__request__pack(&req, buf);
}

/* ------------------------------------------------------------------ */
/* Seed files. */

static unsigned char seed[BUF_BYTES];
static size_t seed_len;

static void put(const void *p, size_t n)
{
	if (seed_len + n > sizeof(seed)) {
		fprintf(stderr, "gen_corpus: seed too large\n");
		exit(1);
	}
	memcpy(seed + seed_len, p, n);
	seed_len += n;
}

static void put_byte(unsigned char b)
{
	put(&b, 1);
}

static void write_seed(const char *dir, const char *harness, const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s/%s", dir, harness, name);
	f = fopen(path, "wb");
	if (!f || fwrite(seed, 1, seed_len, f) != seed_len || fclose(f) != 0) {
		fprintf(stderr, "gen_corpus: %s: %s\n", path, strerror(errno));
		exit(1);
	}
	seed_len = 0;
}

/* fuzz_session: a datagram step with @nfds descriptors. */
static void step_dgram(const unsigned char *msg, size_t len, unsigned nfds)
{
	put_byte((unsigned char)(nfds << 3));
	put_byte((unsigned char)(len & 0xff));
	put_byte((unsigned char)(len >> 8));
	put(msg, len);
}

static unsigned char msg[BUF_BYTES];

static void s_hello(void)
{
	step_dgram(msg, pack_hello(msg, SR_PROTOCOL_VERSION), 0);
}

static void s_register(void)
{
	step_dgram(msg, pack_register(msg), 1);
}

static void s_submit(void)
{
	step_dgram(msg, pack_submit(msg), 0);
}

/* fuzz_request: 16 slots of 4 KiB, fd quota 4 with handles 0 and 1
 * live, 16 in flight allowed, all opcodes, a pool of 8, and @busy
 * slots (from 8 up) in flight. */
static void r_header(unsigned busy)
{
	const unsigned char h[] = { 15, 0, 3, 15, 0, 0xff, 0xff, 0xff, 8 };

	put(h, sizeof(h));
	put_byte((unsigned char)(2 + busy));
	put_byte(5);
	put_byte(0);
	put_byte(5);
	put_byte(0);
	for (unsigned i = 0; i < busy; i++) {
		put_byte(0);
		put_byte((unsigned char)(8 + i));
	}
}

/* The operation families, each added to the pending batch. */
static void ops_files(void)
{
	struct op *o;

	o = op_new(1, SR_OP_READ);
	op_fd(o, 0);
	op_slot(o, 0, 0, 4096);
	op_off(o, 0);
	o = op_new(2, SR_OP_WRITE);
	op_fd(o, 0);
	op_slot(o, 1, 512, 1024);
	op_off(o, 8192);
	o = op_new(3, SR_OP_FSYNC);
	op_fd(o, 0);
	op_flags(o, SR_FSYNC_DATASYNC);
	o = op_new(4, SR_OP_FALLOCATE);
	op_fd(o, 0);
	op_off(o, 0);
	o->op.has_length = 1;
	o->op.length = 65536;
	op_flags(o, SR_FALLOC_KEEP_SIZE);
	op_new(5, SR_OP_NOP);
}

static void ops_vectored(void)
{
	struct op *o;

	o = op_new(10, SR_OP_READV);
	op_fd(o, 0);
	op_iov(o, 2, 3);
	op_off(o, 4096);
	o = op_new(11, SR_OP_WRITEV);
	op_fd(o, 0);
	op_iov(o, 5, 2);
	op_off(o, 0);
}

static void ops_chains(void)
{
	struct op *o;

	o = op_new(20, SR_OP_NOP);
	op_link(o, SR_LINK);
	o = op_new(21, SR_OP_READ);
	op_fd(o, 0);
	op_slot(o, 0, 0, 4096);
	op_off(o, 3);
	op_link(o, SR_LINK);
	o = op_new(22, SR_OP_WRITE);
	op_fd(o, 0);
	op_slot(o, 0, 0, 4096);
	op_off(o, 4096);
	o = op_new(23, SR_OP_RECV);
	op_fd(o, 1);
	op_slot(o, 1, 0, 100);
	op_link(o, SR_LINK);
	o = op_new(24, SR_OP_LINK_TIMEOUT);
	op_timeout(o, 1000000);
	o = op_new(25, SR_OP_RECV);
	op_fd(o, 1);
	op_slot(o, 2, 0, 100);
	op_link(o, SR_LINK_HARD);
	o = op_new(26, SR_OP_RECV);
	op_fd(o, 1);
	op_slot(o, 3, 0, 100);
}

static void ops_sockets(void)
{
	struct op *o;

	o = op_new(30, SR_OP_SEND);
	op_fd(o, 1);
	op_slot(o, 0, 0, 64);
	op_msg(o, MSG_DONTWAIT);
	o = op_new(31, SR_OP_RECV);
	op_fd(o, 1);
	op_slot(o, 1, 0, 4096);
	o = op_new(32, SR_OP_SENDMSG);
	op_fd(o, 1);
	op_iov(o, 2, 2);
	o = op_new(33, SR_OP_RECVMSG);
	op_fd(o, 1);
	op_iov(o, 4, 2);
	op_msg(o, MSG_WAITALL);
	o = op_new(34, SR_OP_CONNECT);
	op_fd(o, 1);
	op_inet(o, 0);
	o = op_new(35, SR_OP_CONNECT);
	op_fd(o, 0);
	op_inet(o, 1);
	o = op_new(36, SR_OP_SHUTDOWN);
	op_fd(o, 1);
	op_flags(o, SHUT_WR);
}

static void ops_pool(void)
{
	struct op *o;

	for (uint32_t i = 4; i < 7; i++) {
		o = op_new(40 + i, SR_OP_PROVIDE);
		op_slot(o, i, 0, 4096);
	}
	o = op_new(47, SR_OP_RECV);
	op_fd(o, 1);
	op_flags(o, SR_RECV_MULTISHOT);
}

static void ops_accept(void)
{
	struct op *o;

	o = op_new(50, SR_OP_ACCEPT);
	op_fd(o, 0);
	op_flags(o, SR_ACCEPT_MULTISHOT);
	o = op_new(51, SR_OP_ACCEPT);
	op_fd(o, 1);
}

static void ops_cancel(void)
{
	struct op *o;

	o = op_new(60, SR_OP_POLL_ADD);
	op_fd(o, 1);
	op_flags(o, 0x001);
	o = op_new(61, SR_OP_POLL_REMOVE);
	op_target(o, 60);
	o = op_new(62, SR_OP_TIMEOUT);
	op_timeout(o, 5000000000ULL);
	o = op_new(63, SR_OP_ASYNC_CANCEL);
	op_target(o, 62);
	o = op_new(64, SR_OP_RECV);
	op_fd(o, 1);
	op_slot(o, 7, 0, 10);
}

static void ops_close(void)
{
	struct op *o;

	o = op_new(70, SR_OP_READ);
	op_fd(o, 1);
	op_slot(o, 0, 0, 10);
	op_off(o, 0);
	o = op_new(71, SR_OP_CLOSE);
	op_fd(o, 1);
	o = op_new(72, SR_OP_READ);
	op_fd(o, 1);
	op_slot(o, 1, 0, 10);
	op_off(o, 0);
}

static void ops_refused(void)
{
	struct op *o;

	o = op_new(80, SR_OP_READ);          /* stale generation */
	op_fd(o, 0);
	op_slot(o, 0, 0, 4096);
	o->slot.generation = 7;
	op_off(o, 0);
	o = op_new(81, SR_OP_WRITE);         /* range wraps */
	op_fd(o, 0);
	op_slot(o, 1, 0xffffffffu, 2);
	op_off(o, 0);
	o = op_new(82, SR_OP_READ);          /* handle never registered */
	op_fd(o, 3);
	op_slot(o, 2, 0, 1);
	op_off(o, 0);
	o = op_new(83, 99);                  /* unknown opcode */
	o = op_new(84, SR_OP_READV);         /* same slot twice */
	op_fd(o, 0);
	op_iov(o, 3, 2);
	o->iov[1].index = 3;
	op_off(o, 0);
	o = op_new(85, SR_OP_NOP);           /* runs off the batch */
	op_link(o, SR_LINK);
}

typedef void (*ops_fn)(void);

static void mkdirs(const char *dir)
{
	char path[512];

	mkdir(dir, 0755);
	snprintf(path, sizeof(path), "%s/fuzz_request", dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/fuzz_session", dir);
	mkdir(path, 0755);
}

int main(int argc, char **argv)
{
	static const struct {
		const char *name;
		ops_fn fn;
	} families[] = {
		{ "files", ops_files },     { "vectored", ops_vectored },
		{ "chains", ops_chains },   { "sockets", ops_sockets },
		{ "pool", ops_pool },       { "accept", ops_accept },
		{ "cancel", ops_cancel },   { "close", ops_close },
		{ "refused", ops_refused },
	};
	const size_t nfam = sizeof(families) / sizeof(families[0]);
	/* 16 in flight, 4 fds, 64 errors, 16 slots allowed. */
	const unsigned char policy = 3 | 2 << 2 | 3 << 5 | 0x80;
	char name[64];

	if (argc != 2) {
		fprintf(stderr, "usage: gen_corpus DIR\n");
		return 2;
	}
	mkdirs(argv[1]);

	/* fuzz_request: each family as one Submit, on a fresh state and
	 * on one with slots in flight; and the other request kinds. */
	for (size_t i = 0; i < nfam; i++) {
		for (unsigned busy = 0; busy < 2; busy++) {
			r_header(busy ? 3 : 0);
			families[i].fn();
			put(msg, pack_submit(msg));
			snprintf(name, sizeof(name), "%s%s", families[i].name,
				 busy ? "-busy" : "");
			write_seed(argv[1], "fuzz_request", name);
		}
	}
	r_header(0);
	put(msg, pack_hello(msg, SR_PROTOCOL_VERSION));
	write_seed(argv[1], "fuzz_request", "hello");
	r_header(0);
	put(msg, pack_unregister(msg, 1));
	write_seed(argv[1], "fuzz_request", "unregister");

	/* fuzz_session: Hello, two registered descriptors, the family,
	 * then the slow operations completed a few times. */
	for (size_t i = 0; i < nfam; i++) {
		put_byte(policy);
		s_hello();
		s_register();
		s_register();
		families[i].fn();
		s_submit();
		for (int k = 0; k < 4; k++)
			put_byte(3);
		put_byte(5);
		write_seed(argv[1], "fuzz_session", families[i].name);
	}
	/* A client that stops reading while it floods NOPs. */
	put_byte(policy);
	s_hello();
	put_byte(4);
	for (int k = 0; k < 24; k++) {
		for (int j = 0; j < 50; j++)
			op_new((uint64_t)(k * 50 + j), SR_OP_NOP);
		s_submit();
	}
	put_byte(4);
	write_seed(argv[1], "fuzz_session", "flood");
	/* Hanging up with receives in flight and the pool in use. */
	put_byte(policy);
	s_hello();
	s_register();
	s_register();
	ops_pool();
	ops_chains();
	s_submit();
	put_byte(3);
	put_byte(7);
	write_seed(argv[1], "fuzz_session", "hangup");
	/* Refusals at the message level. */
	put_byte(policy);
	ops_files();
	s_submit();                        /* before Hello */
	step_dgram(msg, pack_hello(msg, 2), 0);  /* wrong version */
	write_seed(argv[1], "fuzz_session", "version");
	put_byte(policy);
	step_dgram(msg, pack_stats(msg), 0);  /* statistics, no Hello */
	s_hello();
	step_dgram(msg, pack_stats(msg), 0);
	put_byte(6);                       /* over 64 KiB */
	step_dgram((const unsigned char *)"\xff\xff\xff", 3, 2);
	s_hello();                         /* twice */
	step_dgram(msg, pack_unregister(msg, 0), 0);
	s_register();
	step_dgram(msg, pack_unregister(msg, 0), 0);
	write_seed(argv[1], "fuzz_session", "messages");
	return 0;
}
