/* SPDX-License-Identifier: MIT */
/*
 * replay_main.c - a main() for the libFuzzer harnesses without libFuzzer,
 * so that `make check` (gcc, and check-asan with its sanitizers) runs
 * each harness over its committed corpus: `replay_HARNESS DIR|FILE...`
 * calls LLVMFuzzerInitialize() when the harness has one, then
 * LLVMFuzzerTestOneInput() once for every regular file given or found in
 * a directory given (in name order), each in a buffer of exactly its
 * size so that a read past the input trips ASan.  Prints how many inputs
 * it replayed from where.
 *
 * Exit status: 0; 1 when a directory is missing or holds no input, or a
 * file cannot be read.  A harness that finds a bug aborts, which is the
 * verdict.  Must never skip an input, and never pass with nothing
 * replayed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *prog = "replay";

/* Replay one file; 0, or -1 with a message. */
static int replay_file(const char *path)
{
	struct stat st;
	uint8_t *buf;
	size_t done = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);

	if (fd < 0 || fstat(fd, &st) < 0) {
		fprintf(stderr, "%s: %s: %s\n", prog, path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	/* At least one byte to allocate; the harness sees st_size. */
	buf = malloc(st.st_size ? (size_t)st.st_size : 1);
	if (!buf) {
		close(fd);
		fprintf(stderr, "%s: %s: out of memory\n", prog, path);
		return -1;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, (size_t)st.st_size - done);

		if (n <= 0) {
			fprintf(stderr, "%s: %s: short read\n", prog, path);
			free(buf);
			close(fd);
			return -1;
		}
		done += (size_t)n;
	}
	close(fd);
	LLVMFuzzerTestOneInput(buf, done);
	free(buf);
	return 0;
}

static int regular_file(const struct dirent *e)
{
	return e->d_name[0] != '.';
}

int main(int argc, char **argv)
{
	unsigned long total = 0;
	int status = 0;

	prog = strrchr(argv[0], '/') ? strrchr(argv[0], '/') + 1 : argv[0];
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	if (argc < 2) {
		fprintf(stderr, "usage: %s DIR|FILE...\n", prog);
		return 1;
	}
	for (int i = 1; i < argc; i++) {
		struct dirent **names;
		struct stat st;
		unsigned long n = 0;
		int count;

		if (stat(argv[i], &st) < 0) {
			fprintf(stderr, "%s: %s: %s\n", prog, argv[i],
				strerror(errno));
			status = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			if (replay_file(argv[i]) < 0)
				status = 1;
			else
				total++;
			continue;
		}
		count = scandir(argv[i], &names, regular_file, alphasort);
		if (count < 0) {
			fprintf(stderr, "%s: %s: %s\n", prog, argv[i],
				strerror(errno));
			status = 1;
			continue;
		}
		for (int k = 0; k < count; k++) {
			char path[4096];

			snprintf(path, sizeof(path), "%s/%s", argv[i],
				 names[k]->d_name);
			free(names[k]);
			if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
				continue;
			if (replay_file(path) < 0)
				status = 1;
			else
				n++;
		}
		free(names);
		if (!n) {
			fprintf(stderr, "%s: %s holds no input\n", prog, argv[i]);
			status = 1;
		}
		printf("%s: replayed %lu inputs from %s\n", prog, n, argv[i]);
		total += n;
	}
	if (!total)
		status = 1;
	printf("%s: %lu inputs replayed%s\n", prog, total,
	       status ? ", with errors" : "");
	return status;
}
