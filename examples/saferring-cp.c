/* SPDX-License-Identifier: MIT */
/*
 * saferring-cp - copy a file through saferringd.
 *
 *   saferring-cp [--socket PATH] SRC DST
 *
 * Keeps several chunks in flight, each as a linked chain: read a chunk
 * into a slot, then (linked, so only after the read filled the slot
 * completely) write it out from the same slot.  A short read breaks the
 * link (the write completes with -ECANCELED); the bytes read are then
 * written alone, and the chunk reads on from where it stopped, until a
 * read meets end of file.  Short writes are resumed.  DST is created or
 * truncated with SRC's permission bits, cut to the bytes copied, and
 * fsynced at the end.  A pipe or FIFO at either end has no offsets: then
 * one chunk goes at a time, in order.  Must never make an io_uring system call itself:
 * every byte goes through libsaferring.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "saferring.h"

#define MAX_CHUNKS 32

enum chunk_state { IDLE, CHAIN, READING, WRITING };

/* One slot's share of the copy: file bytes [pos, end) are still to do. */
struct chunk {
	sr_slot_t slot;
	enum chunk_state state;
	uint64_t pos;
	uint64_t end;
	unsigned pending;  /* completions still to come */
	bool linked;       /* CHAIN: the write is linked behind the read */
	int32_t read_res;
	int32_t write_res;
	uint32_t read_status;  /* how saferringd answered each half */
	uint32_t write_status;
	uint32_t have;     /* bytes read into the slot */
	uint32_t written;  /* of those, bytes written */
};

struct copy {
	struct sr_client *c;
	const char *src, *dst;
	sr_handle_t in, out;
	uint32_t chunk_size;
	uint64_t next;        /* next chunk's offset */
	uint64_t copied;      /* bytes written, all chunks */
	bool eof;
	unsigned active;      /* chunks not IDLE */
	struct chunk chunks[MAX_CHUNKS];
	unsigned nchunks;
};

static void usage(FILE *f)
{
	fprintf(f,
		"usage: saferring-cp [--socket PATH] SRC DST\n"
		"Copy SRC to DST through saferringd, which does the I/O.\n"
		"\n"
		"  -s, --socket PATH  daemon socket (default: $%s, else %s)\n"
		"  -h, --help         show this help\n",
		SR_SOCKET_ENV, SR_DEFAULT_SOCKET);
}

static void die(const char *fmt, ...)
	__attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("saferring-cp: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

/* "<strerror> (<who refused>)" for a failed result. */
static void die_op(const char *what, const char *path, uint64_t off,
		   int res, uint32_t status)
{
	if (status != SR_STATUS_OK)
		die("%s %s at offset %llu: %s (refused by saferringd: %s)",
		    what, path, (unsigned long long)off, strerror(-res),
		    sr_strstatus(status));
	die("%s %s at offset %llu: %s", what, path,
	    (unsigned long long)off, strerror(-res));
}

/* user_data: the chunk, and whether it is the read or the write. */
static uint64_t ud(const struct copy *cp, const struct chunk *ch, bool write)
{
	return (uint64_t)(ch - cp->chunks) * 2 + write;
}

static int prep_one(struct copy *cp, struct chunk *ch, bool write,
		    uint32_t slot_off, uint32_t len, uint64_t off)
{
	if (write)
		return sr_prep_write(cp->c, ud(cp, ch, true), cp->out, ch->slot,
				     slot_off, len, off);
	return sr_prep_read(cp->c, ud(cp, ch, false), cp->in, ch->slot,
			    slot_off, len, off);
}

/* Prepare one operation, submitting the batch first when it is full. */
static void prep(struct copy *cp, struct chunk *ch, bool write,
		 uint32_t slot_off, uint32_t len, uint64_t off)
{
	int ret = prep_one(cp, ch, write, slot_off, len, off);

	if (ret == -ENOSPC) {
		ret = sr_submit_and_wait(cp->c, 0);
		if (ret < 0)
			die("submit: %s", strerror(-ret));
		ret = prep_one(cp, ch, write, slot_off, len, off);
	}
	if (ret < 0)
		die("prepare %s at offset %llu: %s", write ? "write" : "read",
		    (unsigned long long)off, strerror(-ret));
	ch->pending++;
}

/* Read [pos, end) and, linked behind it, write the same bytes out. */
static void start_chain(struct copy *cp, struct chunk *ch)
{
	uint32_t len = (uint32_t)(ch->end - ch->pos);

	ch->state = CHAIN;
	ch->pending = 0;
	ch->have = ch->written = 0;
	ch->read_res = ch->write_res = 0;
	ch->read_status = ch->write_status = SR_STATUS_OK;
	prep(cp, ch, false, 0, len, ch->pos);
	if (sr_link_last(cp->c, SR_LINK) < 0)
		die("link: %s", strerror(EINVAL));
	/* The write must join the read's batch; with no room left the read
	 * goes alone and the write follows its completion. */
	ch->linked = prep_one(cp, ch, true, 0, len, ch->pos) == 0;
	if (ch->linked)
		ch->pending++;
	else
		sr_link_last(cp->c, 0);
}

static void read_on(struct copy *cp, struct chunk *ch)
{
	if (ch->pos >= ch->end) {
		if (cp->eof) {
			ch->state = IDLE;
			cp->active--;
			return;
		}
		ch->pos = cp->next;
		ch->end = cp->next + cp->chunk_size;
		cp->next = ch->end;
	}
	start_chain(cp, ch);
}

/* Write what the slot holds and was not written yet. */
static void write_rest(struct copy *cp, struct chunk *ch)
{
	if (ch->written < ch->have) {
		ch->state = WRITING;
		ch->pending = 0;
		prep(cp, ch, true, ch->written, ch->have - ch->written,
		     ch->pos + ch->written);
		return;
	}
	cp->copied += ch->have;
	ch->pos += ch->have;
	read_on(cp, ch);
}

/* A refused chain: report the member refused for a reason of its own,
 * not the one refused because of it. */
static void chain_failed(struct copy *cp, struct chunk *ch)
{
	if (ch->read_status != SR_STATUS_OK &&
	    ch->read_status != SR_STATUS_CHAIN_REFUSED)
		die_op("read", cp->src, ch->pos, ch->read_res, ch->read_status);
	if (ch->write_status != SR_STATUS_OK &&
	    ch->write_status != SR_STATUS_CHAIN_REFUSED)
		die_op("write", cp->dst, ch->pos, ch->write_res,
		       ch->write_status);
	if (ch->read_res < 0)
		die_op("read", cp->src, ch->pos, ch->read_res, ch->read_status);
	die_op("write", cp->dst, ch->pos, ch->write_res, ch->write_status);
}

/* Both halves of a chain are in. */
static void chain_done(struct copy *cp, struct chunk *ch)
{
	uint32_t len = (uint32_t)(ch->end - ch->pos);

	/* A cancelled write is expected after a short read, handled below;
	 * anything else that failed ends the copy. */
	if (ch->read_res < 0 || ch->read_status != SR_STATUS_OK ||
	    ch->write_status != SR_STATUS_OK ||
	    (ch->write_res < 0 && ch->write_res != -ECANCELED))
		chain_failed(cp, ch);
	ch->have = (uint32_t)ch->read_res;
	if (ch->have == 0) {
		/* End of file: this chunk and every later one are done. */
		cp->eof = true;
		ch->pos = ch->end;
		read_on(cp, ch);
		return;
	}
	/* A short read broke the link and the write was cancelled; a full
	 * one was written, maybe short.  Bytes past what was read are never
	 * counted as written. */
	if (ch->linked && ch->write_res > 0)
		ch->written = (uint32_t)ch->write_res < ch->have ?
			      (uint32_t)ch->write_res : ch->have;
	if (ch->have == len && ch->written == 0 && ch->linked)
		die_op("write", cp->dst, ch->pos, ch->write_res, SR_STATUS_OK);
	write_rest(cp, ch);
}

static void on_cqe(struct copy *cp, const struct sr_cqe *e)
{
	struct chunk *ch;
	bool write = e->user_data & 1;

	if (e->user_data / 2 >= cp->nchunks)
		die("completion for unknown operation %llu",
		    (unsigned long long)e->user_data);
	ch = &cp->chunks[e->user_data / 2];
	ch->pending--;
	if (ch->state == WRITING) {
		uint64_t off = ch->pos + ch->written;

		if (e->res < 0)
			die_op("write", cp->dst, off, e->res, e->status);
		if (e->res == 0)
			die("write %s at offset %llu: no progress", cp->dst,
			    (unsigned long long)off);
		ch->written += (uint32_t)e->res;
		write_rest(cp, ch);
		return;
	}
	/* Judged once both halves are in (chain_done). */
	if (!write) {
		ch->read_res = e->res;
		ch->read_status = e->status;
	} else {
		ch->write_res = e->res;
		ch->write_status = e->status;
	}
	if (ch->pending == 0)
		chain_done(cp, ch);
}

static void run(struct copy *cp)
{
	struct sr_cqe cqes[2 * MAX_CHUNKS];
	int n, ret;

	for (unsigned i = 0; i < cp->nchunks; i++) {
		cp->chunks[i].pos = cp->chunks[i].end = 0;
		cp->active++;
		read_on(cp, &cp->chunks[i]);
	}
	while (cp->active) {
		ret = sr_submit_and_wait(cp->c, 0);
		if (ret < 0)
			die("submit: %s", strerror(-ret));
		n = sr_wait_cqes(cp->c, cqes, 2 * MAX_CHUNKS, 1);
		if (n < 0)
			die("waiting for completions: %s", strerror(-n));
		for (int i = 0; i < n; i++)
			on_cqe(cp, &cqes[i]);
	}
}

static sr_handle_t register_fd(struct sr_client *c, int fd,
			       const char *path)
{
	sr_handle_t h = sr_register_fd(c, fd);

	if (sr_handle_index(h) < 0)
		die("register %s with saferringd: %s", path,
		    strerror(-sr_handle_index(h)));
	return h;
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "socket", required_argument, NULL, 's' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct copy cp = { .in = SR_HANDLE_NONE, .out = SR_HANDLE_NONE };
	const char *sock = NULL, *shown;
	struct sr_limits lim;
	struct stat st;
	int opt, in, out, ret;
	bool stream, out_regular;
	unsigned n;

	while ((opt = getopt_long(argc, argv, "s:h", opts, NULL)) != -1) {
		switch (opt) {
		case 's':
			sock = optarg;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (argc - optind != 2) {
		usage(stderr);
		return 2;
	}
	cp.src = argv[optind];
	cp.dst = argv[optind + 1];

	/* O_NONBLOCK only while opening, so that a FIFO is not waited for
	 * before it was even looked at. */
	in = open(cp.src, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (in < 0)
		die("open %s: %s", cp.src, strerror(errno));
	if (fstat(in, &st) < 0)
		die("stat %s: %s", cp.src, strerror(errno));
	if (S_ISDIR(st.st_mode))
		die("%s: %s", cp.src, strerror(EISDIR));
	if (fcntl(in, F_SETFL, fcntl(in, F_GETFL) & ~O_NONBLOCK) < 0)
		die("%s: %s", cp.src, strerror(errno));
	stream = !S_ISREG(st.st_mode);
	out = open(cp.dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC,
		   st.st_mode & 0777);
	if (out < 0)
		die("open %s: %s", cp.dst, strerror(errno));
	if (fstat(out, &st) < 0)
		die("stat %s: %s", cp.dst, strerror(errno));
	out_regular = S_ISREG(st.st_mode);
	stream |= !out_regular;

	shown = sock ? sock : getenv(SR_SOCKET_ENV);
	if (!shown || !*shown)
		shown = SR_DEFAULT_SOCKET;
	ret = sr_connect(sock, NULL, &cp.c);
	if (ret < 0)
		die("connect to saferringd at %s: %s", shown, strerror(-ret));
	sr_limits(cp.c, &lim);

	cp.in = register_fd(cp.c, in, cp.src);
	cp.out = register_fd(cp.c, out, cp.dst);
	close(in);

	/* A pipe has no offsets: its bytes come (or go) in the order they
	 * are read (written), so one chunk at a time, or they would be
	 * shuffled. */
	n = stream ? 1 : MAX_CHUNKS;
	if (n > lim.max_in_flight)
		n = lim.max_in_flight;
	if (n > lim.slot_count)
		n = lim.slot_count;
	cp.chunk_size = lim.slot_size;
	for (cp.nchunks = 0; cp.nchunks < n; cp.nchunks++) {
		sr_slot_t s = sr_slot_acquire(cp.c);

		if (sr_slot_index(s) < 0)
			die("acquire slot: %s", strerror(-sr_slot_index(s)));
		cp.chunks[cp.nchunks].slot = s;
	}

	run(&cp);

	/* A write the kernel ran past a short read (it should have been
	 * cancelled) can only have written beyond the end: cut it off. */
	if (out_regular && ftruncate(out, (off_t)cp.copied) < 0)
		die("truncate %s: %s", cp.dst, strerror(errno));
	ret = out_regular ? sr_fsync(cp.c, cp.out) : 0;
	if (ret < 0)
		die("fsync %s: %s", cp.dst, strerror(-ret));
	sr_close(cp.c);
	if (close(out) < 0)
		die("close %s: %s", cp.dst, strerror(errno));
	return 0;
}
