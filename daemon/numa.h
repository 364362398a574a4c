/* SPDX-License-Identifier: MIT */
/*
 * numa.h - where a session lives on a machine with several NUMA nodes:
 * the node its arena's pages come from and the worker that serves it.
 *
 * The machine's topology is read once, at start-up, from sysfs
 * (numa_topo_read); every choice after that is a pure function of the
 * topology and what is known of the client (numa_client_node,
 * numa_pick_worker), so that it can be tested with made-up machines.
 *
 * What a client says of itself (the CPU in its Hello) is a hint and is
 * never trusted: a CPU the topology does not know, or a node without
 * memory, means no placement, never an error.
 */
#ifndef SAFERRINGD_NUMA_H
#define SAFERRINGD_NUMA_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* CPUs and nodes past these are treated as unknown: their sessions are
 * not placed.  A node mask of NUMA_MAX_NODES bits is one word for
 * mbind(2). */
#define NUMA_MAX_CPUS 4096
#define NUMA_MAX_NODES 64

struct numa_topo {
	unsigned ncpus;                    /* CPU numbers below this are known */
	int8_t cpu_node[NUMA_MAX_CPUS];    /* -1: offline or past NUMA_MAX_NODES */
	uint64_t cpu_nodes;                /* nodes with a CPU, bit per node */
	uint64_t mem_nodes;                /* nodes with memory, bit per node */
};

/* The running machine's, from /sys/devices/system/node.  A kernel
 * without that folder reads as one node 0 with no CPU known: nothing is
 * placed.  0, or -errno with a topology that places nothing either. */
int numa_topo_read(struct numa_topo *t);
/* A cpulist as sysfs writes it ("0-3,8,10-11\n"): each CPU's node set to
 * @node.  -EINVAL on anything else (CPUs past NUMA_MAX_CPUS are
 * skipped). */
int numa_parse_cpulist(struct numa_topo *t, const char *text, size_t len,
		       int node);

/* Nodes with CPUs: a machine with fewer than two has nothing to place. */
unsigned numa_cpu_node_count(const struct numa_topo *t);

/* The node of @cpu, -1 when it is no CPU the topology knows. */
int numa_node_of_cpu(const struct numa_topo *t, int64_t cpu);

/* The node a client's arena is bound to: that of the CPU its Hello
 * names (@hint_cpu, -1 when absent), else that of the CPU its socket
 * was last processed on (@incoming_cpu, -1 when unknown), else the
 * node of the worker that serves it (@worker_node, -1: unpinned).  -1
 * when none of them is known or when that node has no memory of its
 * own: then the kernel's default policy applies (memory near the
 * thread that first touches it, falling back by distance).  On a
 * machine with one node that node is still chosen: binding to it
 * changes nothing, and the same code runs everywhere. */
int numa_client_node(const struct numa_topo *t, int64_t hint_cpu,
		     int64_t incoming_cpu, int worker_node);

/* Which node each of @nworkers workers is pinned to (@node[i], -1:
 * unpinned): none on a machine with fewer than two nodes with CPUs,
 * else round-robin over those nodes, so that each node with a CPU has a
 * worker when there are enough. */
void numa_worker_nodes(const struct numa_topo *t, unsigned nworkers,
		       int *node);

/* The worker for a session on @node (-1: any): the least loaded of the
 * workers pinned to @node, else the least loaded of all.  @load[i]: the
 * sessions worker i serves. */
unsigned numa_pick_worker(const int *worker_node, const unsigned *load,
			  unsigned nworkers, int node);

#endif
