/* SPDX-License-Identifier: MIT */
/*
 * saferring-fio.c - libsaferring-fio.so, an external fio ioengine that
 * does a job's I/O through saferringd with libsaferring:
 *
 *   fio --ioengine=external:build/lib/libsaferring-fio.so \
 *       --filename=/var/tmp/f --rw=randread --bs=4k --iodepth=128 --direct=1
 *
 * fio's hooks map onto the library one to one: init connects a session
 * with one slot per io_u (iodepth slots of the largest block size);
 * io_u_init gives each io_u its slot; iomem_alloc hands fio the arena
 * itself as its I/O buffers, so io_u->buf is the slot and nothing is
 * copied; open_file registers the file and keeps the handle; queue
 * prepares a read, write or fsync into the pending batch; commit is one
 * sr_submit; getevents reaps with sr_wait_cqes, honouring fio's timeout;
 * event hands back the io_u of the n-th completion.
 *
 * Built against the headers of the very fio release that loads it (fio
 * has no stable engine ABI: FIO_IOOPS_VERSION and its structures change
 * between releases); init refuses to run under another fio version.
 *
 * Must never use anything of libsaferring but its public API
 * (saferring.h), never make an io_uring system call itself, and never
 * let fio's buffers and the slots part: an io_u whose transfer buffer is
 * not inside its own slot fails with EINVAL instead of being copied
 * behind the caller's back.
 */
#include <errno.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* fio's headers: built with -isystem on the configured source tree of
 * the installed fio (see fio/fetch-src.sh) and its config-host.h. */
#include "fio.h"
#include "optgroup.h"
#include "verify.h"

#include "saferring.h"

#ifndef SR_FIO_BUILT_FOR
#error "SR_FIO_BUILT_FOR (the fio_version_string of the headers) must be defined"
#endif

/* Engine options (--sr_socket=... on the command line or in a job
 * file).  Those not given leave libsaferring to its environment
 * (SAFERRING_SOCKET, SAFERRING_TRANSPORT, SAFERRING_INLINE,
 * SAFERRING_SPIN_US), so a job file need not say anything. */
struct sr_fio_options {
	void *pad;		/* fio: no option may sit at offset 0 */
	char *socket;		/* sr_socket */
	unsigned int v1;	/* sr_socket_transport */
	unsigned int noinline;	/* sr_noinline */
	unsigned int spin_us;	/* sr_spin_us, when spin_set */
	unsigned int spin_set;
};

/* fio calls an option's callback with the engine's option struct. */
static int sr_fio_opt_spin(void *data, unsigned long long *val)
{
	struct sr_fio_options *o = data;

	o->spin_us = (unsigned int)*val;
	o->spin_set = 1;
	return 0;
}

static struct fio_option options[] = {
	{
		.name	= "sr_socket",
		.lname	= "saferringd socket",
		.type	= FIO_OPT_STR_STORE,
		.off1	= offsetof(struct sr_fio_options, socket),
		.help	= "saferringd's socket (default: $SAFERRING_SOCKET, "
			  "else " SR_DEFAULT_SOCKET ")",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "sr_socket_transport",
		.lname	= "saferring over the socket",
		.type	= FIO_OPT_STR_SET,
		.off1	= offsetof(struct sr_fio_options, v1),
		.help	= "Everything over the socket (protocol v1), no "
			  "shared-memory rings (SAFERRING_TRANSPORT=socket)",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "sr_noinline",
		.lname	= "saferring: no inline attempt",
		.type	= FIO_OPT_STR_SET,
		.off1	= offsetof(struct sr_fio_options, noinline),
		.help	= "Send every read and write to the daemon (no "
			  "page-cache attempt in the client; SAFERRING_INLINE=0)",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= "sr_spin_us",
		.lname	= "saferring spin",
		.type	= FIO_OPT_INT,
		.cb	= sr_fio_opt_spin,
		.maxval	= 1000000,
		.help	= "Microseconds to poll for completions before sleeping "
			  "(default $SAFERRING_SPIN_US, else 50)",
		.category = FIO_OPT_C_ENGINE,
		.group	= FIO_OPT_G_INVALID,
	},
	{
		.name	= NULL,
	},
};

struct sr_fio {
	struct sr_client *c;
	struct sr_limits lim;
	unsigned int depth;	/* io_us, slots, events: td->o.iodepth */
	unsigned long long bs;	/* the largest block size, each slot's use */
	sr_slot_t *slot;	/* io_u->index -> its slot */
	struct io_u **queued;	/* prepared since the last submit */
	unsigned int nqueued;
	struct io_u **events;	/* the last getevents' completions */
	struct sr_cqe *cqes;
	int efd;		/* sr_fd, asked for on the first timed wait */
	bool arena_iomem;	/* td->orig_buffer is the arena */
	bool refusal_said;	/* one line about daemon refusals is enough */
};

/* A handle lives in the file's engine_pos, plus one so that 0 is none. */
static sr_handle_t sr_fio_handle(const struct fio_file *f)
{
	return SR_HANDLE((int)f->engine_pos - 1);
}

static void sr_fio_free(struct sr_fio *sd)
{
	if (!sd)
		return;
	if (sd->c)
		sr_close(sd->c);
	free(sd->slot);
	free(sd->queued);
	free(sd->events);
	free(sd->cqes);
	free(sd);
}

/* The library's operations this job needs, each allowed by policy. */
static int sr_fio_check_ops(struct thread_data *td, const struct sr_limits *lim)
{
	static const struct {
		unsigned int op;
		const char *what;
	} need[] = {
		{ SR_OP_READ, "read" },
		{ SR_OP_WRITE, "write" },
		{ SR_OP_FSYNC, "fsync" },
	};
	bool want[3] = {
		td_read(td) || td->o.verify != VERIFY_NONE,
		td_write(td),
		td_write(td) && (td->o.fsync_blocks || td->o.fdatasync_blocks ||
				 td->o.end_fsync || td->o.fsync_on_close),
	};

	for (unsigned int i = 0; i < 3; i++) {
		if (want[i] && !(lim->allowed_ops & (1ULL << need[i].op))) {
			log_err("saferring: saferringd's policy does not allow "
				"%s for this user; the job needs it\n",
				need[i].what);
			return EPERM;
		}
	}
	return 0;
}

static int sr_fio_init(struct thread_data *td)
{
	struct sr_fio_options *o = td->eo;
	struct sr_params p = { 0 };
	struct sr_fio *sd;
	int r;

	/* fio has no stable engine ABI: structures we read (thread_data,
	 * io_u, fio_file) move between releases.  FIO_IOOPS_VERSION is
	 * checked by fio; the release is checked here. */
	if (strcmp(fio_version_string, SR_FIO_BUILT_FOR) != 0) {
		log_err("saferring: this engine was built against the headers "
			"of %s but runs in %s; rebuild it (make fio-engine)\n",
			SR_FIO_BUILT_FOR, fio_version_string);
		return 1;
	}
	sd = calloc(1, sizeof(*sd));
	if (!sd)
		return 1;
	sd->efd = -1;
	sd->depth = td->o.iodepth;
	sd->bs = td_max_bs(td);
	if (sd->bs > UINT32_MAX) {
		log_err("saferring: bs %llu is larger than a slot can be\n",
			sd->bs);
		goto fail;
	}
	p.slot_count = sd->depth;
	p.slot_size = (uint32_t)sd->bs;
	if (o->v1)
		p.flags |= SR_PARAMS_SOCKET;
	if (o->noinline)
		p.flags |= SR_PARAMS_NO_INLINE;
	if (o->spin_set) {
		p.flags |= SR_PARAMS_SPIN;
		p.spin_us = o->spin_us;
	}
	r = sr_connect(o->socket && *o->socket ? o->socket : NULL, &p, &sd->c);
	if (r < 0) {
		const char *path = o->socket && *o->socket ? o->socket :
				   getenv(SR_SOCKET_ENV);

		log_err("saferring: cannot connect to saferringd at %s: %s%s\n",
			path && *path ? path : SR_DEFAULT_SOCKET, strerror(-r),
			r == -ENOENT || r == -ECONNREFUSED ?
			" (is saferringd running? --sr_socket or "
			"$SAFERRING_SOCKET name another)" : "");
		goto fail;
	}
	sr_limits(sd->c, &sd->lim);
	if (sd->lim.slot_count < sd->depth || sd->lim.slot_size < sd->bs ||
	    sd->lim.max_in_flight < sd->depth) {
		log_err("saferring: saferringd granted %u slots of %u bytes and "
			"%u operations in flight; this job needs iodepth=%u "
			"slots of %llu bytes (its largest bs) and as many in "
			"flight: lower iodepth or bs, or raise slots, slot_size, "
			"arena and in_flight in the daemon's policy\n",
			sd->lim.slot_count, sd->lim.slot_size,
			sd->lim.max_in_flight, sd->depth, sd->bs);
		goto fail;
	}
	if (sr_fio_check_ops(td, &sd->lim))
		goto fail;
	sd->slot = calloc(sd->depth, sizeof(*sd->slot));
	sd->queued = calloc(sd->depth, sizeof(*sd->queued));
	sd->events = calloc(sd->depth, sizeof(*sd->events));
	sd->cqes = calloc(sd->depth, sizeof(*sd->cqes));
	if (!sd->slot || !sd->queued || !sd->events || !sd->cqes)
		goto fail;
	for (unsigned int i = 0; i < sd->depth; i++)
		sd->slot[i] = SR_SLOT_NONE;
	td->io_ops_data = sd;
	return 0;
fail:
	sr_fio_free(sd);
	return 1;
}

static void sr_fio_cleanup(struct thread_data *td)
{
	sr_fio_free(td->io_ops_data);
	td->io_ops_data = NULL;
}

/* Each io_u owns one slot for the whole job. */
static int sr_fio_io_u_init(struct thread_data *td, struct io_u *io_u)
{
	struct sr_fio *sd = td->io_ops_data;
	sr_slot_t s;

	if (io_u->index >= sd->depth)
		return EINVAL;
	s = sr_slot_acquire(sd->c);
	if (sr_slot_index(s) < 0) {
		log_err("saferring: no slot for io_u %u: %s\n", io_u->index,
			strerror(-sr_slot_index(s)));
		return -sr_slot_index(s);
	}
	sd->slot[io_u->index] = s;
	return 0;
}

static void sr_fio_io_u_free(struct thread_data *td, struct io_u *io_u)
{
	struct sr_fio *sd = td->io_ops_data;

	if (!sd || io_u->index >= sd->depth ||
	    sr_slot_index(sd->slot[io_u->index]) < 0)
		return;
	sr_slot_release(sd->c, sd->slot[io_u->index]);
	sd->slot[io_u->index] = SR_SLOT_NONE;
}

/*
 * fio lays io_u i's buffer at orig_buffer + i * max_bs (page-aligned
 * first under O_DIRECT, plus mem_align).  When the io_us' slots sit
 * exactly so in the arena, the arena is fio's buffer memory: io_u->buf
 * is the slot from the start.  Otherwise fio gets ordinary memory here
 * and post_init points every io_u at its slot.
 */
static int sr_fio_iomem_alloc(struct thread_data *td, size_t total)
{
	struct sr_fio *sd = td->io_ops_data;
	char *base = sr_slot_data(sd->c, sd->slot[0]);
	bool fits = base && !td->o.mem_align && sd->lim.slot_size == sd->bs &&
		    !((uintptr_t)base & page_mask);

	for (unsigned int i = 1; fits && i < sd->depth; i++)
		fits = sr_slot_data(sd->c, sd->slot[i]) == base + i * sd->bs;
	if (fits) {
		td->orig_buffer = base;
		sd->arena_iomem = true;
		dprint(FD_MEM, "saferring: io_u buffers are the arena at %p\n",
		       base);
		return 0;
	}
	dprint(FD_MEM, "saferring: slots not laid out as fio's buffers; "
	       "io_us will be pointed at them\n");
	if (posix_memalign((void **)&td->orig_buffer, page_size, total))
		return 1;
	return 0;
}

static void sr_fio_iomem_free(struct thread_data *td)
{
	struct sr_fio *sd = td->io_ops_data;

	/* The arena goes with the session, in cleanup. */
	if (!sd || !sd->arena_iomem)
		free(td->orig_buffer);
}

static int sr_fio_post_init(struct thread_data *td)
{
	struct sr_fio *sd = td->io_ops_data;
	struct io_u *io_u;
	unsigned int i;

	io_u_qiter(&td->io_u_all, io_u, i) {
		char *d = sr_slot_data(sd->c, sd->slot[io_u->index]);

		if (!d)
			return 1;
		if (io_u->buf == d)
			continue;
		/* Only when iomem_alloc could not lend the arena: the
		 * contents fio put in for writes move once, here. */
		if (io_u->buf && td_write(td))
			memcpy(d, io_u->buf, sd->bs);
		io_u->buf = d;
	}
	return 0;
}

static int sr_fio_open_file(struct thread_data *td, struct fio_file *f)
{
	struct sr_fio *sd = td->io_ops_data;
	int r = generic_open_file(td, f);
	int h;

	if (r)
		return r;
	h = sr_handle_index(sr_register_fd(sd->c, f->fd));
	if (h < 0) {
		log_err("saferring: saferringd refused %s: %s\n", f->file_name,
			strerror(-h));
		td_verror(td, -h, "sr_register_fd");
		if (generic_close_file(td, f)) {
			/* The registration's error is the one to report. */
		}
		return 1;
	}
	f->engine_pos = (uint64_t)h + 1;
	return 0;
}

static int sr_fio_close_file(struct thread_data *td, struct fio_file *f)
{
	struct sr_fio *sd = td->io_ops_data;

	if (sd && f->engine_pos) {
		int r = sr_unregister_fd(sd->c, sr_fio_handle(f));

		/* fio closes files once their I/O is reaped; should some
		 * still be in flight (-EBUSY), sr_close cleans up later. */
		if (r < 0 && r != -EBUSY)
			log_err("saferring: unregister %s: %s\n", f->file_name,
				strerror(-r));
		f->engine_pos = 0;
	}
	return generic_close_file(td, f);
}

static enum fio_q_status sr_fio_queue(struct thread_data *td,
				      struct io_u *io_u)
{
	struct sr_fio *sd = td->io_ops_data;
	uint64_t tag = (uintptr_t)io_u;
	sr_handle_t h = sr_fio_handle(io_u->file);
	int r;

	fio_ro_check(td, io_u);
	if (io_u->ddir == DDIR_READ || io_u->ddir == DDIR_WRITE) {
		sr_slot_t s = sd->slot[io_u->index];
		char *d = sr_slot_data(sd->c, s);
		char *x = io_u->xfer_buf;

		/* fio moves xfer_buf on after a short transfer; it stays
		 * inside the io_u's buffer, which is the slot. */
		if (!d || x < d || io_u->xfer_buflen > sd->lim.slot_size ||
		    (size_t)(x - d) > sd->lim.slot_size - io_u->xfer_buflen) {
			io_u->error = EINVAL;
			return FIO_Q_COMPLETED;
		}
		if (io_u->ddir == DDIR_READ)
			r = sr_prep_read(sd->c, tag, h, s, (uint32_t)(x - d),
					 (uint32_t)io_u->xfer_buflen,
					 io_u->offset);
		else
			r = sr_prep_write(sd->c, tag, h, s, (uint32_t)(x - d),
					  (uint32_t)io_u->xfer_buflen,
					  io_u->offset);
	} else if (io_u->ddir == DDIR_SYNC || io_u->ddir == DDIR_DATASYNC) {
		/* A sync covers the writes completed before it: like fio's
		 * libaio engine, let everything in flight finish first
		 * (fio reaps and queues it again). */
		if (sd->nqueued || sr_in_flight(sd->c))
			return FIO_Q_BUSY;
		r = sr_prep_fsync(sd->c, tag, h,
				  io_u->ddir == DDIR_DATASYNC ?
				  SR_FSYNC_DATASYNC : 0);
	} else {
		/* Trim and sync_file_range: the daemon has no such
		 * operation.  fio reports the error and ends the job. */
		io_u->error = EOPNOTSUPP;
		return FIO_Q_COMPLETED;
	}
	if (r == -ENOSPC) {
		/* The batch is full: fio commits, reaps and comes back.
		 * With nothing pending anywhere that would never end. */
		if (!sd->nqueued && !sr_in_flight(sd->c)) {
			io_u->error = EIO;
			return FIO_Q_COMPLETED;
		}
		return FIO_Q_BUSY;
	}
	if (r < 0) {
		io_u->error = -r;
		return FIO_Q_COMPLETED;
	}
	sd->queued[sd->nqueued++] = io_u;
	return FIO_Q_QUEUED;
}

/* One sr_submit for everything queued since the last; the issue time
 * is taken here, as fio's io_uring and libaio engines do at their
 * submit system call. */
static int sr_fio_commit(struct thread_data *td)
{
	struct sr_fio *sd = td->io_ops_data;
	struct timespec now;
	int r;

	if (!sd->nqueued)
		return 0;
	r = sr_submit_and_wait(sd->c, 0);
	if (r < 0) {
		td_verror(td, -r, "sr_submit");
		return r;
	}
	if (fio_fill_issue_time(td)) {
		fio_gettime(&now, NULL);
		for (unsigned int i = 0; i < sd->nqueued; i++) {
			memcpy(&sd->queued[i]->issue_time, &now, sizeof(now));
			io_u_queued(td, sd->queued[i]);
		}
		if (td->o.read_iolog_file)
			memcpy(&td->last_issue, &now, sizeof(now));
	}
	io_u_mark_submit(td, sd->nqueued);
	sd->nqueued = 0;
	return 0;
}

static uint64_t sr_fio_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

/*
 * Up to max completions, at least min unless the timeout ends first.
 * fio itself passes no timeout (wait) or a zero one (poll); a real one
 * is honoured with poll(2) on sr_fd, which from then on has the daemon
 * signal every completion (a system call each): the library has no
 * timed wait, and only a caller that asks for one pays.
 *
 * iodepth_batch_complete_min=0 asks other engines to poll without end
 * instead of sleeping.  Here a wait already polls first, for spin_us
 * (sr_spin_us), and a poll without end would take the CPU from the
 * daemon that produces the completions: it waits as usual.  (fio then
 * reaps after every io_u it queues, with any engine: io_uring's drops
 * from 31k to 3k IOPS at QD16 here too.)
 */
static int sr_fio_reap(struct thread_data *td, unsigned int min,
		       unsigned int max, const struct timespec *t)
{
	struct sr_fio *sd = td->io_ops_data;
	uint64_t deadline = 0;
	unsigned int n = 0;
	int r;

	if (t && (t->tv_sec || t->tv_nsec))
		deadline = sr_fio_now_ns() + (uint64_t)t->tv_sec * 1000000000ULL +
			   (uint64_t)t->tv_nsec;
	for (;;) {
		unsigned int want = !t && min > n ? min - n : 0;

		r = sr_wait_cqes(sd->c, sd->cqes + n, max - n, want);
		if (r == -ENODATA)
			break;	/* nothing in flight: nothing to wait for */
		if (r < 0)
			return r;
		n += (unsigned int)r;
		if (n >= min || n >= max || (t && !deadline))
			break;
		if (deadline) {
			uint64_t now = sr_fio_now_ns();
			struct pollfd pfd = { .events = POLLIN };

			if (now >= deadline)
				break;
			if (sd->efd < 0) {
				sd->efd = sr_fd(sd->c);
				if (sd->efd < 0)
					return sd->efd;
			}
			pfd.fd = sd->efd;
			/* Round up: a wait of 0 ms would spin. */
			if (poll(&pfd, 1, (int)((deadline - now + 999999) /
						1000000)) < 0 && errno != EINTR)
				return -errno;
		}
	}
	return (int)n;
}

static int sr_fio_getevents(struct thread_data *td, unsigned int min,
			    unsigned int max, const struct timespec *t)
{
	struct sr_fio *sd = td->io_ops_data;
	int n;

	if (max > sd->depth)
		max = sd->depth;
	if (min > max)
		min = max;
	n = sr_fio_reap(td, min, max, t);
	if (n < 0)
		return n;
	for (int i = 0; i < n; i++) {
		const struct sr_cqe *e = &sd->cqes[i];
		struct io_u *io_u = (struct io_u *)(uintptr_t)e->user_data;

		if (e->res < 0) {
			io_u->error = -e->res;
			if (e->status != SR_STATUS_OK && !sd->refusal_said) {
				log_err("saferring: saferringd refused an "
					"operation: %s\n",
					sr_strstatus(e->status));
				sd->refusal_said = true;
			}
		} else if (ddir_rw(io_u->ddir) &&
			   (unsigned long long)e->res < io_u->xfer_buflen) {
			/* fio goes on with the rest, or takes it as EOF. */
			io_u->resid = io_u->xfer_buflen - (unsigned long long)e->res;
		}
		sd->events[i] = io_u;
	}
	return n;
}

static struct io_u *sr_fio_event(struct thread_data *td, int event)
{
	struct sr_fio *sd = td->io_ops_data;

	return sd->events[event];
}

/*
 * The symbol fio looks up in an external engine.  FIO_NO_OFFLOAD: a
 * session is not thread-safe, so no io_submit_mode=offload.
 * FIO_ASYNCIO_SETS_ISSUE_TIME: commit stamps the issue time.
 */
struct ioengine_ops ioengine = {
	.name			= "saferring",
	.version		= FIO_IOOPS_VERSION,
	.flags			= FIO_NO_OFFLOAD | FIO_ASYNCIO_SETS_ISSUE_TIME,
	.init			= sr_fio_init,
	.post_init		= sr_fio_post_init,
	.io_u_init		= sr_fio_io_u_init,
	.io_u_free		= sr_fio_io_u_free,
	.iomem_alloc		= sr_fio_iomem_alloc,
	.iomem_free		= sr_fio_iomem_free,
	.queue			= sr_fio_queue,
	.commit			= sr_fio_commit,
	.getevents		= sr_fio_getevents,
	.event			= sr_fio_event,
	.cleanup		= sr_fio_cleanup,
	.open_file		= sr_fio_open_file,
	.close_file		= sr_fio_close_file,
	.get_file_size		= generic_get_file_size,
	.options		= options,
	.option_struct_size	= sizeof(struct sr_fio_options),
};
