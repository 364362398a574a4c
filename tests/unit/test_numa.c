/* SPDX-License-Identifier: MIT */
/*
 * test_numa.c - unit tests of daemon/numa.c: which node a session's
 * arena is bound to and which worker serves it, on made-up machines
 * (two nodes, four nodes of which one has no memory, one node), with
 * the client's CPU hint valid, absent, out of range or on an offline
 * CPU; and the sysfs list parser against well- and ill-formed lists.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "numa.h"

static struct numa_topo topo;

static void topo_empty(void)
{
	memset(&topo, 0, sizeof(topo));
	memset(topo.cpu_node, -1, sizeof(topo.cpu_node));
}

static void add_node(const char *cpus, int node, bool memory)
{
	assert_int_equal(numa_parse_cpulist(&topo, cpus, strlen(cpus), node), 0);
	topo.cpu_nodes |= 1ULL << node;
	if (memory)
		topo.mem_nodes |= 1ULL << node;
}

/* Two nodes of four CPUs, interleaved as some firmware numbers them. */
static void two_nodes(void)
{
	topo_empty();
	add_node("0-1,4-5\n", 0, true);
	add_node("2-3,6-7\n", 1, true);
}

/* Four nodes; node 3 has CPUs but no memory of its own; CPU 9 is
 * offline (in no node's list). */
static void four_nodes(void)
{
	topo_empty();
	add_node("0-1", 0, true);
	add_node("2-3", 1, true);
	add_node("4-5", 2, true);
	add_node("6-8,10", 3, false);
}

static void test_cpulist(void **state)
{
	(void)state;
	topo_empty();
	assert_int_equal(numa_parse_cpulist(&topo, "0-2,5,7-8\n", 10, 1), 0);
	assert_int_equal(topo.ncpus, 9);
	assert_int_equal(topo.cpu_node[0], 1);
	assert_int_equal(topo.cpu_node[2], 1);
	assert_int_equal(topo.cpu_node[3], -1);
	assert_int_equal(topo.cpu_node[5], 1);
	assert_int_equal(topo.cpu_node[8], 1);
	/* A node without CPUs (memory only) has an empty list. */
	assert_int_equal(numa_parse_cpulist(&topo, "\n", 1, 2), 0);
	/* Not lists. */
	const char *bad[] = { "3-1", "1,,2", "a", "1-", "-1", "1 2", "1-2-3",
			      "99999999999" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(numa_parse_cpulist(&topo, bad[i],
						    strlen(bad[i]), 0), -EINVAL);
	assert_int_equal(numa_parse_cpulist(&topo, "0", 1, NUMA_MAX_NODES),
			 -EINVAL);
	assert_int_equal(numa_parse_cpulist(&topo, "0", 1, -1), -EINVAL);
	/* CPUs past what the table holds are left out, not written. */
	topo_empty();
	assert_int_equal(numa_parse_cpulist(&topo, "4094-5000", 9, 1), 0);
	assert_int_equal(topo.ncpus, NUMA_MAX_CPUS);
	assert_int_equal(topo.cpu_node[NUMA_MAX_CPUS - 1], 1);
}

static void test_two_nodes(void **state)
{
	(void)state;
	two_nodes();
	assert_int_equal(numa_cpu_node_count(&topo), 2);
	/* The hint decides; the socket's CPU only without one. */
	assert_int_equal(numa_client_node(&topo, 2, 0, -1), 1);
	assert_int_equal(numa_client_node(&topo, 5, 7, -1), 0);
	assert_int_equal(numa_client_node(&topo, -1, 7, -1), 1);
	assert_int_equal(numa_client_node(&topo, -1, 4, -1), 0);
	assert_int_equal(numa_client_node(&topo, -1, -1, -1), -1);
	/* A hint the topology does not know is as good as none. */
	assert_int_equal(numa_client_node(&topo, 8, 6, -1), 1);
	assert_int_equal(numa_client_node(&topo, UINT32_MAX, 1, -1), 0);
	assert_int_equal(numa_client_node(&topo, INT64_MAX, -1, -1), -1);
	assert_int_equal(numa_client_node(&topo, INT64_MIN, -1, -1), -1);
	assert_int_equal(numa_client_node(&topo, NUMA_MAX_CPUS, 3, -1), 1);
}

static void test_four_nodes(void **state)
{
	(void)state;
	four_nodes();
	assert_int_equal(numa_cpu_node_count(&topo), 4);
	assert_int_equal(numa_client_node(&topo, 0, -1, -1), 0);
	assert_int_equal(numa_client_node(&topo, 3, -1, -1), 1);
	assert_int_equal(numa_client_node(&topo, 5, -1, -1), 2);
	/* Node 3 has no memory: nothing to bind to there. */
	assert_int_equal(numa_client_node(&topo, 6, -1, -1), -1);
	assert_int_equal(numa_client_node(&topo, 10, 0, -1), -1);
	/* CPU 9 is offline: the socket's CPU decides. */
	assert_int_equal(numa_client_node(&topo, 9, 4, -1), 2);
	assert_int_equal(numa_client_node(&topo, 9, -1, -1), -1);
	assert_int_equal(numa_client_node(&topo, 11, 2, -1), 1);
	/* Nothing known of the client: its worker's node, if it has
	 * memory; a bogus worker node is none. */
	assert_int_equal(numa_client_node(&topo, -1, -1, 2), 2);
	assert_int_equal(numa_client_node(&topo, 99, 99, 1), 1);
	assert_int_equal(numa_client_node(&topo, -1, -1, 3), -1);
	assert_int_equal(numa_client_node(&topo, -1, -1, NUMA_MAX_NODES), -1);
	assert_int_equal(numa_client_node(&topo, 0, -1, 2), 0);
}

static void test_one_node(void **state)
{
	(void)state;
	topo_empty();
	add_node("0-1", 0, true);
	/* No pinning; the one node is still named, so that what is
	 * bound and reported is the same code as on a larger machine. */
	assert_int_equal(numa_client_node(&topo, 0, 1, -1), 0);
	assert_int_equal(numa_client_node(&topo, 2, -1, -1), -1);
	int node[3] = { 7, 7, 7 };
	numa_worker_nodes(&topo, 3, node);
	for (int i = 0; i < 3; i++)
		assert_int_equal(node[i], -1);
	/* A second node of memory alone (no CPUs): still one to pin to. */
	topo.mem_nodes |= 1ULL << 1;
	numa_worker_nodes(&topo, 3, node);
	assert_int_equal(node[0], -1);
}

static void test_worker_nodes(void **state)
{
	int node[6];

	(void)state;
	four_nodes();
	numa_worker_nodes(&topo, 6, node);
	const int want[6] = { 0, 1, 2, 3, 0, 1 };
	for (int i = 0; i < 6; i++)
		assert_int_equal(node[i], want[i]);
	/* Nodes the daemon may not run on get no worker. */
	topo.cpu_nodes &= ~(1ULL << 1);
	numa_worker_nodes(&topo, 4, node);
	const int want2[4] = { 0, 2, 3, 0 };
	for (int i = 0; i < 4; i++)
		assert_int_equal(node[i], want2[i]);
}

static void test_pick_worker(void **state)
{
	const int node[5] = { 0, 1, 0, 1, 2 };
	unsigned load[5] = { 3, 5, 2, 4, 0 };

	(void)state;
	/* The least loaded on the node, though another is lighter. */
	assert_int_equal(numa_pick_worker(node, load, 5, 0), 2);
	assert_int_equal(numa_pick_worker(node, load, 5, 1), 3);
	assert_int_equal(numa_pick_worker(node, load, 5, 2), 4);
	/* No node, or one without a worker: the least loaded of all. */
	assert_int_equal(numa_pick_worker(node, load, 5, -1), 4);
	assert_int_equal(numa_pick_worker(node, load, 5, 3), 4);
	/* Ties go to the first. */
	load[3] = 5;
	assert_int_equal(numa_pick_worker(node, load, 5, 1), 1);
	/* Unpinned workers (one node): least loaded, as before NUMA. */
	const int none[3] = { -1, -1, -1 };
	unsigned l3[3] = { 2, 1, 1 };
	assert_int_equal(numa_pick_worker(none, l3, 3, -1), 1);
	assert_int_equal(numa_pick_worker(none, l3, 1, -1), 0);
}

/* Whatever this machine is, what is read is consistent. */
static void test_this_machine(void **state)
{
	(void)state;
	assert_int_equal(numa_topo_read(&topo), 0);
	assert_true(topo.mem_nodes != 0);
	assert_true(numa_cpu_node_count(&topo) >= 1);
	assert_int_equal(numa_node_of_cpu(&topo, 0) >= 0, 1);
	assert_int_equal(numa_node_of_cpu(&topo, topo.ncpus), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cpulist),
		cmocka_unit_test(test_two_nodes),
		cmocka_unit_test(test_four_nodes),
		cmocka_unit_test(test_one_node),
		cmocka_unit_test(test_worker_nodes),
		cmocka_unit_test(test_pick_worker),
		cmocka_unit_test(test_this_machine),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
