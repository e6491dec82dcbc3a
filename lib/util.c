// SPDX-License-Identifier: GPL-2.0
/* Size parsing, time and small file helpers shared by all tests. */
#include <fcntl.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "test_util.h"

bool test_verbose;

int parse_uint(const char *str, uint64_t max, uint64_t *val)
{
	uint64_t v = 0;
	const char *p;

	if (!str || !*str)
		return -EINVAL;
	for (p = str; *p; p++) {
		uint64_t d = (uint64_t)(*p - '0');

		if (*p < '0' || *p > '9')
			return -EINVAL;
		/* v * 10 + d <= max, without overflowing on the way. */
		if (d > max || v > (max - d) / 10)
			return -EINVAL;
		v = v * 10 + d;
	}
	*val = v;
	return 0;
}

int parse_size(const char *str, uint64_t *size)
{
	static const char suffixes[] = "KMGT";
	char digits[32];
	const char *s;
	unsigned int shift = 0;
	size_t len;
	uint64_t v;

	if (!str)
		return -EINVAL;
	len = strlen(str);
	if (!len || len >= sizeof(digits))
		return -EINVAL;
	memcpy(digits, str, len + 1);

	s = strchr(suffixes, digits[len - 1] & ~0x20);
	if (digits[len - 1] != '\0' && s && *s) {
		shift = 10 * (unsigned int)(s - suffixes + 1);
		digits[--len] = '\0';
	}
	if (parse_uint(digits, PARSE_SIZE_MAX >> shift, &v))
		return -EINVAL;
	*size = v << shift;
	return 0;
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

ssize_t __file_read_str(const char *path, char *buf, size_t len)
{
	ssize_t n;
	int fd;

	if (!len)
		return -EINVAL;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	if (n < 0)
		n = -errno;
	else
		buf[n] = '\0';
	close(fd);
	/* Strip the trailing newline sysfs adds. */
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return n;
}

int __file_write_str(const char *path, const char *val)
{
	size_t len = strlen(val);
	ssize_t n;
	int fd, ret = 0;

	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = write(fd, val, len);
	if (n < 0)
		ret = -errno;
	else if ((size_t)n != len)
		ret = -EIO;
	close(fd);
	return ret;
}

void test_opt_common(int opt, void (*usage)(const char *prog, int code),
		     const char *prog)
{
	if (opt == 'V') {
		test_verbose = true;
		return;
	}
	usage(prog, opt == 'h' ? KSFT_PASS : KSFT_FAIL);
	exit(KSFT_FAIL);	/* usage() exits; never fall back into the test */
}

struct thread_call {
	void (*fn)(int i, void *arg);
	void *arg;
	int i;
};

static void *thread_call_fn(void *p)
{
	struct thread_call *c = p;

	c->fn(c->i, c->arg);
	return NULL;
}

void run_threads(int n, void (*fn)(int i, void *arg), void *arg)
{
	struct thread_call *calls = calloc((size_t)n, sizeof(*calls));
	pthread_t *tid = calloc((size_t)n, sizeof(*tid));
	int i, r;

	TEST_ASSERT(n > 0 && calls && tid, "run_threads: %d threads", n);
	for (i = 0; i < n - 1; i++) {
		calls[i] = (struct thread_call){ fn, arg, i };
		r = pthread_create(&tid[i], NULL, thread_call_fn, &calls[i]);
		TEST_ASSERT(!r, "pthread_create: %s", strerror(r));
	}
	/*
	 * The last call runs here: one thread fewer to create, wake and join
	 * (a single call needs none), which is time a timed phase would count.
	 */
	fn(n - 1, arg);
	for (i = 0; i < n - 1; i++)
		pthread_join(tid[i], NULL);
	free(tid);
	free(calls);
}
