/* SPDX-License-Identifier: MIT */
/*
 * test_evloop_uv.c - end-to-end: a libuv loop drives a saferring echo
 * server (evloop_echo.h): a uv_poll_t on sr_fd, a repeating uv_timer_t,
 * and the saferring TIMEOUT operation, all on one thread that blocks
 * only in uv_run.  Each wake-up of the poll handle dispatches a single
 * completion, so the loop keeps going only if sr_fd stays readable while
 * completions are queued in the library (level-triggered, as libuv
 * expects); a uv_check_t asserts exactly that after every iteration.
 * Every byte must come back unchanged and the TIMEOUT must keep
 * completing with -ETIME while the echo runs.
 */
#include "evloop_echo.h"

#include <uv.h>

struct uv_test {
	struct ee_server s;
	uv_poll_t poll;
	uv_timer_t timer;
	uv_check_t check;
};

static void on_close_handle(uv_handle_t *h)
{
	(void)h;
}

static void stop_if_finished(struct uv_test *t)
{
	if (!ee_finished(&t->s))
		return;
	uv_poll_stop(&t->poll);
	uv_timer_stop(&t->timer);
	uv_check_stop(&t->check);
	uv_close((uv_handle_t *)&t->poll, on_close_handle);
	uv_close((uv_handle_t *)&t->timer, on_close_handle);
	uv_close((uv_handle_t *)&t->check, on_close_handle);
}

static void on_poll(uv_poll_t *h, int status, int events)
{
	struct uv_test *t = h->data;

	if (status < 0)
		fail_msg("uv_poll: %s", uv_strerror(status));
	assert_true(events & UV_READABLE);
	ee_on_fd(&t->s, 1);
	stop_if_finished(t);
}

static void on_timer(uv_timer_t *h)
{
	struct uv_test *t = h->data;

	t->s.loop_ticks++;
	stop_if_finished(t);
}

static void on_check(uv_check_t *h)
{
	struct uv_test *t = h->data;

	ee_check_level(&t->s);
}

static void test_uv_echo(void **state)
{
	struct uv_test t;
	uv_loop_t loop;
	int fd;

	(void)state;
	ee_start(&t.s);
	assert_int_equal(uv_loop_init(&loop), 0);
	fd = sr_fd(t.s.c);
	assert_true(fd >= 0);
	assert_int_equal(uv_poll_init(&loop, &t.poll, fd), 0);
	assert_int_equal(uv_timer_init(&loop, &t.timer), 0);
	assert_int_equal(uv_check_init(&loop, &t.check), 0);
	t.poll.data = t.timer.data = t.check.data = &t;
	assert_int_equal(uv_poll_start(&t.poll, UV_READABLE, on_poll), 0);
	assert_int_equal(uv_timer_start(&t.timer, on_timer, 2, 2), 0);
	assert_int_equal(uv_check_start(&t.check, on_check), 0);

	assert_int_equal(uv_run(&loop, UV_RUN_DEFAULT), 0);
	assert_int_equal(uv_loop_close(&loop), 0);
	ee_finish(&t.s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_uv_echo),
	};

	return HD_RUN(tests, 120);
}
