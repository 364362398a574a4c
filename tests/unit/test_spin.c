/* SPDX-License-Identifier: MIT */
/*
 * test_spin.c - unit tests of proto/spin.c: when a poller must stop
 * polling because the machine's run queue is longer than its CPUs.
 *
 * The guard reads /proc/loadavg; here it reads a memfd holding a
 * loadavg line we choose, so that a contended machine, a brief spike,
 * and an unreadable file can each be shown; and it watches the gaps
 * between idle polls for a time slice lost to a task on the same CPU.
 * And a poller learns how long its waits take, and polls only while
 * they are well inside its window.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include "spin.h"

/* A guard on @ncpus CPUs reading @line instead of /proc/loadavg. */
static struct spin_guard guard_reading(const char *line, unsigned ncpus)
{
	struct spin_guard g = { .loadavg_fd = -1, .ncpus = ncpus };
	int fd = memfd_create("loadavg", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
	g.loadavg_fd = fd;
	return g;
}

static void set_line(struct spin_guard *g, const char *line)
{
	assert_int_equal(ftruncate(g->loadavg_fd, 0), 0);
	assert_int_equal(pwrite(g->loadavg_fd, line, strlen(line), 0),
			 (ssize_t)strlen(line));
}

static void test_quiet_machine(void **state)
{
	struct spin_guard g = guard_reading("0.50 0.40 0.30 2/180 999\n", 2);
	uint64_t now = 1000000;

	(void)state;
	/* Two pollers on two CPUs: nobody waits, polling goes on. */
	for (int i = 0; i < 100; i++, now += SPIN_CHECK_US)
		assert_false(spin_contended(&g, now));
	assert_false(spin_backing_off(&g, now));
	spin_guard_free(&g);
}

static void test_contended_machine(void **state)
{
	struct spin_guard g = guard_reading("3.10 2.00 1.00 3/180 999\n", 2);
	uint64_t now = 1000000;

	(void)state;
	/* One look is not enough: a task that runs for a moment does not
	 * make a contended machine. */
	assert_false(spin_contended(&g, now));
	/* Between checks the verdict stands without reading again. */
	assert_false(spin_contended(&g, now + SPIN_CHECK_US / 2));
	now += SPIN_CHECK_US;
	assert_true(spin_contended(&g, now));
	/* Then it backs off for SPIN_BACKOFF_US, whatever the file says. */
	set_line(&g, "0.00 0.00 0.00 1/180 999\n");
	assert_true(spin_backing_off(&g, now + SPIN_BACKOFF_US - 1));
	assert_true(spin_contended(&g, now + SPIN_BACKOFF_US - 1));
	assert_false(spin_backing_off(&g, now + SPIN_BACKOFF_US));
	assert_false(spin_contended(&g, now + SPIN_BACKOFF_US));
	spin_guard_free(&g);
}

static void test_spike_is_forgiven(void **state)
{
	struct spin_guard g = guard_reading("1 1 1 5/180 9\n", 2);
	uint64_t now = 1000000;

	(void)state;
	assert_false(spin_contended(&g, now));
	set_line(&g, "1 1 1 2/180 9\n");
	now += SPIN_CHECK_US;
	assert_false(spin_contended(&g, now));
	/* The count of long queues starts again. */
	set_line(&g, "1 1 1 5/180 9\n");
	now += SPIN_CHECK_US;
	assert_false(spin_contended(&g, now));
	now += SPIN_CHECK_US;
	assert_true(spin_contended(&g, now));
	spin_guard_free(&g);
}

static void test_wider_machine(void **state)
{
	struct spin_guard g = guard_reading("1 1 1 3/180 9\n", 4);
	uint64_t now = 1000000;

	(void)state;
	/* Three runnable tasks on four CPUs: room for all. */
	for (int i = 0; i < 10; i++, now += SPIN_CHECK_US)
		assert_false(spin_contended(&g, now));
	spin_guard_free(&g);
}

static void test_unreadable(void **state)
{
	static const char *const bad[] = {
		"", "garbage\n", "1 1 1 x/180 9\n", "1 1 1 3\n", "1 1 1\n",
	};
	uint64_t now = 1000000;

	(void)state;
	/* What it cannot read never stops polling (nor crashes). */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct spin_guard g = guard_reading(bad[i], 1);

		for (int k = 0; k < 4; k++, now += SPIN_CHECK_US)
			assert_false(spin_contended(&g, now));
		spin_guard_free(&g);
	}
	struct spin_guard none = { .loadavg_fd = -1, .ncpus = 1 };
	assert_false(spin_contended(&none, now));
	assert_false(spin_contended(&none, now + SPIN_CHECK_US));
}

static void test_stolen_slice(void **state)
{
	struct spin_guard g = guard_reading("1 1 1 2/180 9\n", 2);
	uint64_t now = 1000000;

	(void)state;
	/* Idle passes close together: nobody else runs here. */
	for (int i = 0; i < 50; i++, now += 3)
		assert_false(spin_idle(&g, now));
	/* Work in between is ours, however long it took. */
	spin_worked(&g);
	now += 10 * SPIN_STOLEN_US;
	assert_false(spin_idle(&g, now));
	/* A whole slice between two idle passes went to another task on
	 * this CPU (a client pinned beside the daemon, say), although the
	 * run queue is no longer than the machine is wide. */
	now += SPIN_STOLEN_US + 1;
	assert_true(spin_idle(&g, now));
	assert_true(spin_backing_off(&g, now + SPIN_BACKOFF_US - 1));
	assert_false(spin_idle(&g, now + SPIN_BACKOFF_US));
	spin_guard_free(&g);
}

/* @n waits of @us each, starting at @t; when the last ended. */
static uint64_t waits(struct spin_guard *g, uint64_t t, unsigned n,
		      uint64_t us)
{
	for (unsigned i = 0; i < n; i++) {
		spin_wait_begin(g, t);
		/* A second begin inside the same wait changes nothing. */
		spin_wait_begin(g, t + us / 2);
		t += us;
		spin_wait_end(g, t);
	}
	return t;
}

static void test_waits_learned(void **state)
{
	struct spin_guard g = { .loadavg_fd = -1, .ncpus = 2 };
	uint64_t t = 1000;

	(void)state;
	/* Nothing learned yet: poll. */
	assert_true(spin_worth(&g, 50, t));
	/* Answers in 5 us: worth a 50 us window, not a 8 us one. */
	t = waits(&g, t, 64, 5);
	assert_true(spin_worth(&g, 50, t));
	assert_false(spin_worth(&g, 8, t));
	/* A disk's 100 us: polling for 50 would only add a wake-up. */
	t = waits(&g, t, 64, 100);
	assert_false(spin_worth(&g, 50, t));
	assert_true(spin_worth(&g, 250, t));
	/* Short answers again win it back within a few dozen waits. */
	t = waits(&g, t, 32, 3);
	assert_true(spin_worth(&g, 50, t));
	/* One very long wait weighs no more than the cap. */
	spin_wait_begin(&g, t);
	spin_wait_end(&g, t + 60000000);
	assert_true(g.wait_avg_us8 <= 8U * SPIN_WAIT_CAP_US);
	t = waits(&g, t + 60000000, 40, 1);
	assert_true(spin_worth(&g, 50, t));
	/* An end without a begin learns nothing. */
	uint32_t before = g.wait_avg_us8;
	spin_wait_end(&g, t + 1000);
	assert_int_equal(g.wait_avg_us8, before);
}

static void test_probes(void **state)
{
	struct spin_guard g = { .loadavg_fd = -1, .ncpus = 2 };
	uint64_t t = waits(&g, 1000, 64, 100);
	unsigned yes = 0;

	(void)state;
	/* Waits are long: of SPIN_PROBE_EVERY waits, one is polled for
	 * anyway, for the whole window and no longer. */
	for (unsigned i = 0; i < 4 * SPIN_PROBE_EVERY; i++) {
		t += 200;
		if (!spin_worth(&g, 50, t))
			continue;
		yes++;
		assert_true(spin_worth(&g, 50, t + 49));
		assert_false(spin_worth(&g, 50, t + 50));
	}
	assert_int_equal(yes, 4);
	/* What the probes find teaches the poller: a client that answers
	 * in 3 us once polled for is polled for again. */
	t = waits(&g, t, 32, 3);
	assert_true(spin_worth(&g, 50, t));
}

static void test_real_guard(void **state)
{
	struct spin_guard g;
	int r;

	(void)state;
	r = spin_guard_init(&g);
	if (r < 0)
		skip(); /* no /proc here */
	assert_true(g.ncpus >= 1);
	assert_true(g.loadavg_fd >= 0);
	/* Whatever the machine does, the first look never decides. */
	assert_false(spin_contended(&g, spin_now_us()));
	spin_guard_free(&g);
	assert_int_equal(g.loadavg_fd, -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_quiet_machine),
		cmocka_unit_test(test_contended_machine),
		cmocka_unit_test(test_spike_is_forgiven),
		cmocka_unit_test(test_wider_machine),
		cmocka_unit_test(test_unreadable),
		cmocka_unit_test(test_stolen_slice),
		cmocka_unit_test(test_waits_learned),
		cmocka_unit_test(test_probes),
		cmocka_unit_test(test_real_guard),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
