/* SPDX-License-Identifier: MIT */
/*
 * test_numa_placement.c - end-to-end: where a session's arena memory is.
 *
 *  - A Hello naming a CPU: the daemon reports (Stats) the node sysfs
 *    gives that CPU, and move_pages(2), asked where every page of the
 *    client's mapping of the arena is, finds each on that node.  Done
 *    for every CPU this test may run on, and through libsaferring too
 *    (which sends the CPU it runs on itself).
 *  - Hellos naming no CPU, a CPU past the machine's, UINT32_MAX: each
 *    session is welcomed all the same (a hint is never a reason to
 *    refuse) and works; on a machine with one node, and so unpinned
 *    workers, the daemon reports no node for them; on one with several,
 *    whatever node it reports is where the pages are.
 *
 * The machine this runs on usually has one node: then every answer is
 * node 0, which still shows the daemon binds what it says it binds and
 * reports it, and that the seccomp filter lets it.
 */
#include <errno.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cmocka.h>

#include "../lib/harness.h"
#include "saferring.h"

#define WAIT_MS (60 * 1000)
#define SLOTS 8
#define SLOT_SIZE (64 * 1024)

static const char numa_conf[] =
	"# written by tests/e2e/test_numa_placement.c\n"
	"[default]\n"
	"ops = all\n"
	"slots = 64\n"
	"slot_size = 64K\n"
	"arena = 4M\n"
	"fds = 16\n"
	"in_flight = 64\n"
	"sessions = 64\n"
	"control = 1\n";

/* The node sysfs puts @cpu on; -1 when none says so. */
static int sysfs_node_of_cpu(unsigned cpu)
{
	char path[96];

	for (int node = 0; node < 1024; node++) {
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d/cpu%u",
			 node, cpu);
		if (access(path, F_OK) == 0)
			return node;
	}
	return -1;
}

static int sysfs_node_count(void)
{
	char path[64];
	int n = 0;

	for (int node = 0; node < 1024; node++) {
		snprintf(path, sizeof(path), "/sys/devices/system/node/node%d",
			 node);
		n += access(path, F_OK) == 0;
	}
	return n;
}

/* Session @id's node as a StatsRequest reports it: -1 when absent. */
static int reported_node(uint64_t id)
{
	struct rc *c = rc_connect(hd.sock);
	const Saferring__Stats *st = rc_stats(c, WAIT_MS);
	int node = -2;

	for (size_t i = 0; i < st->n_session; i++) {
		const Saferring__SessionStats *s = st->session[i];

		if (s->session_id == id)
			node = s->has_node ? (int)s->node : -1;
	}
	rc_close(c);
	if (node == -2)
		fail_msg("session %llu is not in the Stats reply",
			 (unsigned long long)id);
	return node;
}

/* Every page of [@base, +@size) is on @node, as move_pages(2) finds
 * them from this process.  Each is read first: a page the daemon's ring
 * faulted in is not yet in this process's page tables. */
static void assert_pages_on(const void *base, size_t size, int node)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t n = size / (size_t)page;
	void **pages = calloc(n, sizeof(*pages));
	int *status = calloc(n, sizeof(*status));
	volatile const unsigned char *p = base;
	unsigned sum = 0;

	assert_non_null(pages);
	assert_non_null(status);
	for (size_t i = 0; i < n; i++) {
		sum += p[i * (size_t)page];
		pages[i] = (void *)(p + i * (size_t)page);
		status[i] = -12345;
	}
	(void)sum;
	assert_int_equal(syscall(SYS_move_pages, 0, n, pages, NULL, status, 0),
			 0);
	for (size_t i = 0; i < n; i++)
		if (status[i] != node)
			fail_msg("page %zu of %zu of the arena: node %d (%s), "
				 "the daemon says %d", i, n, status[i],
				 status[i] < 0 ? strerror(-status[i]) : "-",
				 node);
	free(pages);
	free(status);
}

/* A raw session whose Hello says @cpu (when @has_cpu). */
static struct rc *session_with_hint(bool has_cpu, uint32_t cpu)
{
	struct rc *c = rc_connect(hd.sock);

	c->has_hello_cpu = has_cpu;
	c->hello_cpu = cpu;
	rc_hello(c, SLOTS, SLOT_SIZE);
	return c;
}

static void test_hint_decides(void **state)
{
	cpu_set_t mine;
	unsigned tried = 0;

	(void)state;
	assert_int_equal(sched_getaffinity(0, sizeof(mine), &mine), 0);
	for (unsigned cpu = 0; cpu < CPU_SETSIZE; cpu++) {
		if (!CPU_ISSET(cpu, &mine))
			continue;
		int want = sysfs_node_of_cpu(cpu);
		struct rc *c = session_with_hint(true, cpu);
		int node = reported_node(c->session_id);

		if (want < 0)
			skip(); /* a kernel without NUMA in sysfs */
		if (node != want)
			fail_msg("Hello with CPU %u (node %d): the daemon "
				 "reports node %d", cpu, want, node);
		assert_pages_on(c->arena, c->arena_size, node);
		rc_close(c);
		tried++;
	}
	assert_true(tried > 0);
	printf("ok: %u CPU hints, each arena on its CPU's node\n", tried);
}

/* libsaferring sends the CPU it runs on: its arena is on that CPU's
 * node (the thread may move between sched_getcpu and here; the node
 * must still be one with this process's CPUs). */
static void test_library_sends_its_cpu(void **state)
{
	struct sr_params p = { .slot_count = SLOTS, .slot_size = SLOT_SIZE };
	struct sr_limits lim;
	struct sr_client *c;
	int node;

	(void)state;
	assert_int_equal(sr_connect(hd.sock, &p, &c), 0);
	assert_int_equal(sr_limits(c, &lim), 0);
	node = reported_node(lim.session_id);
	if (sysfs_node_count() == 1)
		assert_int_equal(node, 0);
	else
		assert_true(node >= 0);
	/* The slots are contiguous in the arena, slot 0 first. */
	assert_pages_on(sr_slot_data(c, SR_SLOT(0)), (size_t)lim.slot_count *
			lim.slot_size, node);
	sr_close(c);
	printf("ok: libsaferring's session is on node %d\n", node);
}

static void test_bad_or_no_hint(void **state)
{
	const struct {
		bool has;
		uint32_t cpu;
		const char *what;
	} hints[] = {
		{ false, 0, "no CPU" },
		{ true, CPU_SETSIZE, "CPU_SETSIZE" },
		{ true, 1U << 20, "CPU 1 << 20" },
		{ true, UINT32_MAX, "CPU UINT32_MAX" },
	};
	bool one_node = sysfs_node_count() <= 1;

	(void)state;
	for (size_t i = 0; i < sizeof(hints) / sizeof(hints[0]); i++) {
		struct rc *c = session_with_hint(hints[i].has, hints[i].cpu);
		int node = reported_node(c->session_id);

		/* One node: workers are not pinned, AF_UNIX gives no
		 * incoming CPU; nothing is left to choose a node by. */
		if (one_node && node != -1)
			fail_msg("Hello with %s: the daemon reports node %d "
				 "on a one-node machine", hints[i].what, node);
		if (node >= 0)
			assert_pages_on(c->arena, c->arena_size, node);
		rc_close(c);
		printf("ok: Hello with %s: welcomed, node %s\n", hints[i].what,
		       node < 0 ? "none" : "of its worker");
	}
	hd_check_service(&hd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_hint_decides),
		cmocka_unit_test(test_library_sends_its_cpu),
		cmocka_unit_test(test_bad_or_no_hint),
	};
	int failed;

	hd_watchdog(120);
	hd_start_config(&hd, numa_conf);
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	if (failed)
		hd_print_log_tail(&hd, 30);
	if (hd_stop(&hd) < 0)
		failed++;
	return failed ? 1 : 0;
}
