/* SPDX-License-Identifier: MIT */
/*
 * test_sandbox_compat.c - the client sandbox holds through the i386
 * system call ABI too: on x86-64 a program can enter the kernel with
 * `int $0x80`, where io_uring_setup has another number (425), and a
 * filter keyed on the native numbers alone would let it through.
 *
 * Kernels built without IA32 emulation have no such path: `int $0x80`
 * then raises SIGSEGV.  A throwaway child probes for the path first, and
 * the program skips (77) with the reason where there is none.  Needs no
 * daemon.
 */
#include "../lib/harness.h"
#include "../lib/child.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#if defined(__x86_64__)
#define I386_NR_GETPID 20L
#define I386_NR_IO_URING_SETUP 425L

static long int80(long nr, long a, long b)
{
	long ret;

	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b)
			 : "memory");
	return ret;
}

/* Run @fn in a child with default signal actions: its exit status, or
 * 128 + the signal that killed it. */
static int in_child(int (*fn)(void))
{
	int status;
	pid_t pid = test_fork();

	if (pid < 0)
		return -errno;
	if (pid == 0)
		_exit(fn());
	if (waitpid(pid, &status, 0) != pid)
		return -errno;
	return WIFEXITED(status) ? WEXITSTATUS(status) :
				   128 + WTERMSIG(status);
}

static int probe_int80(void)
{
	return int80(I386_NR_GETPID, 0, 0) == getpid() ? 0 : 1;
}

static int child_compat(void)
{
	long before = int80(I386_NR_IO_URING_SETUP, 2, 0), after;

	/* Without the filter: -EFAULT (NULL params), or -ENOSYS where the
	 * i386 table lacks io_uring. */
	if (before != -EFAULT && before != -ENOSYS) {
		fprintf(stderr, "int 0x80 io_uring_setup before: %ld\n", before);
		return 50;
	}
	if (sr_sandbox_deny_io_uring() != 0)
		return 51;
	after = int80(I386_NR_IO_URING_SETUP, 2, 0);
	if (after != -EPERM) {
		fprintf(stderr, "int 0x80 io_uring_setup after: %ld\n", after);
		return 53;
	}
	return 0;
}

static void test_compat_abi(void **state)
{
	(void)state;
	assert_int_equal(in_child(child_compat), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_compat_abi),
	};
	int probe = in_child(probe_int80);

	if (probe == 128 + SIGSEGV) {
		printf("SKIP: this kernel has no 32-bit system call path "
		       "(int $0x80 raises SIGSEGV: built without "
		       "CONFIG_IA32_EMULATION, or ia32_emulation=0)\n");
		return 77;
	}
	if (probe != 0) {
		fprintf(stderr, "probe of int $0x80 failed: %d\n", probe);
		return 1;
	}
	hd_watchdog(30);
	return _cmocka_run_group_tests("test_sandbox_compat", tests, 1,
				       NULL, NULL) ? 1 : 0;
}
#else
int main(void)
{
	printf("SKIP: the i386 system call ABI exists only on x86-64\n");
	return 77;
}
#endif
