/* SPDX-License-Identifier: MIT */
/*
 * test_evloop_epoll.c - end-to-end: a plain epoll(7) loop drives a
 * saferring echo server (evloop_echo.h) beside a timerfd, and never
 * blocks anywhere but in epoll_wait: sr_fd is one more descriptor in
 * the set, level-triggered, and each wake-up dispatches what is ready
 * through the completion callbacks.  Every byte the client sends must
 * come back unchanged, the saferring TIMEOUT must keep completing with
 * -ETIME, and before every epoll_wait a ready completion must show as
 * sr_fd readable (else the loop would sleep on it).  A second case does
 * the same with EPOLLET, reaping until sr_dispatch finds nothing.
 */
#include "evloop_echo.h"

#include <sys/epoll.h>
#include <sys/timerfd.h>

static void run_epoll(bool edge)
{
	struct ee_server s;
	struct itimerspec its = {
		.it_interval.tv_nsec = (long)EE_TIMER_NS,
		.it_value.tv_nsec = (long)EE_TIMER_NS,
	};
	struct epoll_event ev;
	int ep, tfd, sfd;

	ee_start(&s);
	ep = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	assert_true(ep >= 0 && tfd >= 0);
	assert_int_equal(timerfd_settime(tfd, 0, &its, NULL), 0);
	sfd = sr_fd(s.c);
	assert_true(sfd >= 0);
	ev = (struct epoll_event){ .events = EPOLLIN | (edge ? EPOLLET : 0),
				   .data.fd = sfd };
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, sfd, &ev), 0);
	ev = (struct epoll_event){ .events = EPOLLIN, .data.fd = tfd };
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev), 0);

	while (!ee_finished(&s)) {
		struct epoll_event got[4];
		int n;

		ee_check_level(&s);
		n = epoll_wait(ep, got, 4, -1);
		if (n < 0 && errno == EINTR)
			continue;
		assert_true(n > 0);
		for (int i = 0; i < n; i++) {
			if (got[i].data.fd == tfd) {
				uint64_t ticks;

				if (read(tfd, &ticks, sizeof(ticks)) ==
				    sizeof(ticks))
					s.loop_ticks += (unsigned)ticks;
				continue;
			}
			if (!edge) {
				/* Level-triggered: a few at a time is
				 * enough, the rest wakes us again. */
				ee_on_fd(&s, 2);
				continue;
			}
			/* Edge-triggered: reap until nothing is left,
			 * as sr_fd(3) says. */
			do
				ee_on_fd(&s, 0);
			while (sr_cq_ready(s.c) > 0);
		}
	}
	close(tfd);
	close(ep);
	ee_finish(&s);
}

static void test_epoll_level(void **state)
{
	(void)state;
	run_epoll(false);
}

static void test_epoll_edge(void **state)
{
	(void)state;
	run_epoll(true);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_epoll_level),
		cmocka_unit_test(test_epoll_edge),
	};

	return HD_RUN(tests, 120);
}
