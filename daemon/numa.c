/* SPDX-License-Identifier: MIT */
/*
 * numa.c - see numa.h.
 */
#include "numa.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define NODE_DIR "/sys/devices/system/node"

/* One decimal of a sysfs list; -1 when there is none. */
static long list_number(const char **p, const char *end)
{
	long v = 0;

	if (*p == end || **p < '0' || **p > '9')
		return -1;
	while (*p < end && **p >= '0' && **p <= '9') {
		/* Past any CPU or node number: no valid list has it. */
		if (v > 1000000)
			return -1;
		v = v * 10 + (**p - '0');
		(*p)++;
	}
	return v;
}

/* Calls @each for every number of a sysfs list ("0-3,8\n", or "\n" for
 * none); -EINVAL when it is not one. */
static int list_parse(const char *text, size_t len,
		      void (*each)(void *arg, long n), void *arg)
{
	const char *p = text, *end = text + len;

	while (end > p && (end[-1] == '\n' || end[-1] == '\0'))
		end--;
	while (p < end) {
		long lo = list_number(&p, end), hi = lo;

		if (lo < 0)
			return -EINVAL;
		if (p < end && *p == '-') {
			p++;
			hi = list_number(&p, end);
			if (hi < lo)
				return -EINVAL;
		}
		if (p < end && *p++ != ',')
			return -EINVAL;
		for (long n = lo; n <= hi; n++)
			each(arg, n);
	}
	return 0;
}

struct cpu_of_node {
	struct numa_topo *t;
	int node;
};

static void set_cpu_node(void *arg, long cpu)
{
	struct cpu_of_node *c = arg;

	if (cpu >= NUMA_MAX_CPUS)
		return;
	c->t->cpu_node[cpu] = (int8_t)c->node;
	if ((unsigned)cpu >= c->t->ncpus)
		c->t->ncpus = (unsigned)cpu + 1;
}

int numa_parse_cpulist(struct numa_topo *t, const char *text, size_t len,
		       int node)
{
	struct cpu_of_node c = { t, node };

	if (node < 0 || node >= NUMA_MAX_NODES)
		return -EINVAL;
	return list_parse(text, len, set_cpu_node, &c);
}

static void set_node_bit(void *arg, long node)
{
	if (node < NUMA_MAX_NODES)
		*(uint64_t *)arg |= 1ULL << node;
}

/* The whole of a small sysfs file; its length, or -errno. */
static ssize_t read_small(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	n = read(fd, buf, size);
	if (n < 0)
		n = -errno;
	close(fd);
	/* Filling the buffer means it may have been cut short. */
	return n == (ssize_t)size ? -EFBIG : n;
}

int numa_topo_read(struct numa_topo *t)
{
	/* A cpulist of every CPU one at a time is under 5 bytes a CPU. */
	static char text[NUMA_MAX_CPUS * 5];
	char path[sizeof(NODE_DIR) + 64];
	struct dirent *e;
	cpu_set_t allowed;
	ssize_t n;
	DIR *d;
	int r = 0;

	memset(t, 0, sizeof(*t));
	memset(t->cpu_node, -1, sizeof(t->cpu_node));
	d = opendir(NODE_DIR);
	if (!d) {
		/* No NUMA in this kernel: one node, nothing to place. */
		t->cpu_nodes = t->mem_nodes = 1;
		return errno == ENOENT ? 0 : -errno;
	}
	while (r == 0 && (e = readdir(d))) {
		char *end;
		long node;

		if (strncmp(e->d_name, "node", 4) != 0)
			continue;
		node = strtol(e->d_name + 4, &end, 10);
		if (end == e->d_name + 4 || *end || node < 0 ||
		    node >= NUMA_MAX_NODES)
			continue;
		snprintf(path, sizeof(path), NODE_DIR "/node%ld/cpulist", node);
		n = read_small(path, text, sizeof(text));
		r = n < 0 ? (int)n : numa_parse_cpulist(t, text, (size_t)n,
							(int)node);
	}
	closedir(d);
	if (r == 0) {
		n = read_small(NODE_DIR "/has_memory", text, sizeof(text));
		r = n < 0 ? (int)n : list_parse(text, (size_t)n, set_node_bit,
						&t->mem_nodes);
	}
	/* Workers go only where the daemon may run. */
	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		CPU_ZERO(&allowed);
	for (unsigned cpu = 0; cpu < t->ncpus; cpu++)
		if (t->cpu_node[cpu] >= 0 && cpu < CPU_SETSIZE &&
		    CPU_ISSET(cpu, &allowed))
			t->cpu_nodes |= 1ULL << t->cpu_node[cpu];
	/* Half a topology would place by guesswork: place nothing. */
	if (r < 0)
		t->cpu_nodes = t->mem_nodes = 0;
	return r;
}

unsigned numa_cpu_node_count(const struct numa_topo *t)
{
	return (unsigned)__builtin_popcountll(t->cpu_nodes);
}

int numa_node_of_cpu(const struct numa_topo *t, int64_t cpu)
{
	if (cpu < 0 || cpu >= (int64_t)t->ncpus)
		return -1;
	return t->cpu_node[cpu];
}

int numa_client_node(const struct numa_topo *t, int64_t hint_cpu,
		     int64_t incoming_cpu, int worker_node)
{
	int node = numa_node_of_cpu(t, hint_cpu);

	if (node < 0)
		node = numa_node_of_cpu(t, incoming_cpu);
	if (node < 0 && worker_node >= 0 && worker_node < NUMA_MAX_NODES)
		node = worker_node;
	if (node < 0 || !(t->mem_nodes & (1ULL << node)))
		return -1;
	return node;
}

void numa_worker_nodes(const struct numa_topo *t, unsigned nworkers,
		       int *node)
{
	unsigned next = 0;

	for (unsigned i = 0; i < nworkers; i++) {
		node[i] = -1;
		if (numa_cpu_node_count(t) < 2)
			continue;
		/* The next node with a CPU, from where the last one was. */
		while (!(t->cpu_nodes & (1ULL << next)))
			next = (next + 1) % NUMA_MAX_NODES;
		node[i] = (int)next;
		next = (next + 1) % NUMA_MAX_NODES;
	}
}

unsigned numa_pick_worker(const int *worker_node, const unsigned *load,
			  unsigned nworkers, int node)
{
	unsigned best = 0;
	bool found = false;

	for (unsigned i = 0; node >= 0 && i < nworkers; i++) {
		if (worker_node[i] != node ||
		    (found && load[i] >= load[best]))
			continue;
		best = i;
		found = true;
	}
	if (found)
		return best;
	for (unsigned i = 1; i < nworkers; i++)
		if (load[i] < load[best])
			best = i;
	return best;
}
