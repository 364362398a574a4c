/* SPDX-License-Identifier: MIT */
/*
 * child.h - forking a child from inside a cmocka test.
 *
 * cmocka catches SIGSEGV, SIGILL, SIGFPE, SIGBUS and SIGSYS and longjmps
 * back into its runner; the harness's watchdog has a SIGALRM handler.  A
 * child that inherited those handlers and then crashed (or failed a
 * cmocka assertion) would not die: it would go on running the rest of the
 * suite beside its parent, and both would tear down the same daemon.  So
 * every test child comes from test_fork(), which puts each caught signal
 * back to its default action, and leaves with _exit(), never by
 * returning into the runner.  Dispositions set to SIG_IGN stay ignored,
 * as they would across execve.
 *
 * Must never be used for anything but forking test children.
 */
#ifndef SAFERRING_TEST_CHILD_H
#define SAFERRING_TEST_CHILD_H

#include <signal.h>
#include <stdio.h>
#include <unistd.h>

/* fork(2) with stdio flushed first; in the child, every signal handler
 * is back to SIG_DFL, nothing is blocked and no alarm is pending. */
static inline pid_t test_fork(void)
{
	pid_t pid;

	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		sigset_t none;

		alarm(0);
		for (int sig = 1; sig < NSIG; sig++) {
			struct sigaction old, dfl = { .sa_handler = SIG_DFL };

			if (sigaction(sig, NULL, &old) < 0)
				continue; /* SIGKILL, SIGSTOP, glibc's own */
			if (!(old.sa_flags & SA_SIGINFO) &&
			    (old.sa_handler == SIG_DFL || old.sa_handler == SIG_IGN))
				continue;
			sigemptyset(&dfl.sa_mask);
			sigaction(sig, &dfl, NULL);
		}
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
	}
	return pid;
}

#endif
