// SPDX-License-Identifier: GPL-2.0
/* Host-side unit tests of the library pieces that need no KVM (make check). */
#define _GNU_SOURCE
#include <dirent.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "knobs.h"
#include "kvm_util.h"
#include "ucall.h"
#include "unit.h"

/*
 * The library objects linked in here (stats.c, dirty_log.c, ucall_guest.c)
 * also hold code that talks to a VM.  None of it runs in these tests; these
 * definitions only satisfy the linker and fail loudly if that ever changes.
 */
static void __noret no_vm(const char *fn)
{
	TEST_FAIL("%s() called from a unit test: it needs a real VM", fn);
}
int __vm_ioctl(struct kvm_vm *vm, unsigned long cmd, void *arg) { no_vm(__func__); }
int kvm_check_cap(long cap) { no_vm(__func__); }
int vm_enable_cap(struct kvm_vm *vm, uint32_t cap, uint64_t arg0) { no_vm(__func__); }
struct vm_memslot *vm_memslot(struct kvm_vm *vm, uint32_t slot) { no_vm(__func__); }
void vm_memslot_set_flags(struct kvm_vm *vm, uint32_t slot, uint32_t flags) { no_vm(__func__); }
void arch_ucall_trigger(struct ucall *uc) { no_vm(__func__); }

/*
 * The knob code's own SIGSEGV/SIGABRT handlers are under test: keep the
 * sanitizer from taking those signals over.
 */
const char *__asan_default_options(void);
const char *__asan_default_options(void)
{
	return "handle_segv=0:handle_sigbus=0:handle_abort=0:handle_sigfpe=0:"
	       "handle_sigill=0:allow_user_segv_handler=1";
}

bool unit_ok;

void unit_check(bool ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	if (ok)
		return;
	unit_ok = false;
	printf("# %s:%d: ", file, line);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

char unit_dir[] = "/tmp/kvm-unit-XXXXXX";
static pid_t unit_owner;	/* forked children inherit the atexit handler */
static bool unit_mounted;

const char *fake_path(const char *path)
{
	static char bufs[8][512];
	static unsigned int n;
	char *buf = bufs[n++ % ARRAY_SIZE(bufs)];

	snprintf(buf, sizeof(bufs[0]), "%s/root%s", unit_dir, path);
	return buf;
}

static void mkdir_parents(const char *path)
{
	char buf[512], *p;

	snprintf(buf, sizeof(buf), "%s", path);
	for (p = buf + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(buf, 0755);
		*p = '/';
	}
}

const char *fake_file(const char *path, const char *val)
{
	const char *real = fake_path(path);
	int fd;

	mkdir_parents(real);
	fd = open(real, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	TEST_ASSERT(fd >= 0, "creating %s", real);
	TEST_ASSERT(dprintf(fd, "%s\n", val) == (int)strlen(val) + 1, "writing %s", real);
	close(fd);
	return real;
}

void fake_remove(const char *path)
{
	unlink(fake_path(path));
}

const char *file_value(const char *path)
{
	static char bufs[4][160];
	static unsigned int n;
	char *buf = bufs[n++ % ARRAY_SIZE(bufs)];
	ssize_t r = __file_read_str(path, buf, sizeof(bufs[0]));

	if (r < 0)
		snprintf(buf, sizeof(bufs[0]), "<unreadable: %s>", strerror((int)-r));
	return buf;
}

static const char *journal_path(void)
{
	static char buf[256];

	snprintf(buf, sizeof(buf), "%s/journal", unit_dir);
	return buf;
}

int journal_entries(void)
{
	DIR *d = opendir(journal_path());
	struct dirent *de;
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

void journal_reset(void)
{
	char path[512];
	DIR *d = opendir(journal_path());
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		snprintf(path, sizeof(path), "%s/%s", journal_path(), de->d_name);
		unlink(path);
	}
	closedir(d);
}

pid_t fork_ready(void (*fn)(void *arg), void *arg)
{
	int pipefd[2], null;
	pid_t pid;
	char c;

	TEST_ASSERT(!pipe(pipefd), "pipe");
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	TEST_ASSERT(pid >= 0, "fork");
	if (!pid) {
		close(pipefd[0]);
		null = open("/dev/null", O_WRONLY);
		dup2(null, STDOUT_FILENO);
		dup2(null, STDERR_FILENO);
		fn(arg);
		if (write(pipefd[1], "r", 1) != 1)
			_exit(99);
		for (;;)
			pause();
	}
	close(pipefd[1]);
	if (read(pipefd[0], &c, 1) != 1) {
		/* The child exited before it was ready; waitpid() tells how. */
	}
	close(pipefd[0]);
	return pid;
}

int wait_status(pid_t pid)
{
	int status;

	while (waitpid(pid, &status, 0) != pid)
		TEST_ASSERT(errno == EINTR, "waitpid(%d)", (int)pid);
	return status;
}

static void unit_cleanup(void)
{
	char cmd[128];

	if (getpid() != unit_owner)
		return;
	if (unit_mounted)
		umount2(unit_dir, MNT_DETACH);
	/* Only the directory mkdtemp() made; the name has no shell specials. */
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", unit_dir);
	if (system(cmd)) {
		/* Leaving a few bytes in /tmp is not a test failure. */
	}
}

bool unit_private_mounts(void)
{
	return unit_mounted;
}

/*
 * Never the real system: a private mount namespace with a tmpfs over the
 * temporary directory when allowed (root), else the plain directory.
 * Either way the library is pointed at it before its first knob call.
 */
static void unit_sandbox(void)
{
	char path[300];

	TEST_ASSERT(mkdtemp(unit_dir), "mkdtemp");
	unit_owner = getpid();
	atexit(unit_cleanup);
	if (!unshare(CLONE_NEWNS) && !mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) &&
	    !mount("tmpfs", unit_dir, "tmpfs", 0, "size=16m,mode=0700")) {
		unit_mounted = true;
		ksft_print_msg("fake sysfs: tmpfs on %s in a private mount namespace\n", unit_dir);
	} else {
		ksft_print_msg("fake sysfs: %s (no private mount namespace: %s)\n", unit_dir,
			       strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/root", unit_dir);
	TEST_ASSERT(!mkdir(path, 0755), "mkdir %s", path);
	setenv(KNOBS_SYSROOT_ENV, path, 1);
	snprintf(path, sizeof(path), "%s/journal", unit_dir);
	setenv(KNOBS_JOURNAL_ENV, path, 1);
	snprintf(path, sizeof(path), "%s/scratch", unit_dir);
	TEST_ASSERT(!mkdir(path, 0755), "mkdir %s", path);
	/* Orphaned grandchildren (a variant child whose parent died) come back here. */
	TEST_ASSERT(!prctl(PR_SET_CHILD_SUBREAPER, 1), "PR_SET_CHILD_SUBREAPER");
}

/* A case that hangs (a child nobody ends) fails the run instead of stalling it. */
#define UNIT_TIMEOUT_S	60
static const char *volatile running;

static void unit_timeout(int sig)
{
	static const char msg[] = "# a unit test case hung for 60 s: ";

	if (write(STDOUT_FILENO, msg, sizeof(msg) - 1) < 0 ||
	    write(STDOUT_FILENO, running, strlen(running)) < 0 ||
	    write(STDOUT_FILENO, "\n", 1) < 0) {
		/* Exiting with a failure is all that is left. */
	}
	unit_cleanup();
	_exit(KSFT_FAIL);
}

int main(int argc, char **argv)
{
	static const struct unit_suite *const suites[] = {
		&unit_parse, &unit_backing, &unit_stats, &unit_guest_printf, &unit_bitmap,
		&unit_knobs, &unit_variant, &unit_leftovers, &unit_stats_corruption, &unit_model,
	};
	unsigned int s, i, plan = 0;

	ksft_print_header();
	unit_sandbox();
	signal(SIGALRM, unit_timeout);
	for (s = 0; s < ARRAY_SIZE(suites); s++)
		plan += suites[s]->nr;
	ksft_set_plan(plan);
	for (s = 0; s < ARRAY_SIZE(suites); s++) {
		for (i = 0; i < suites[s]->nr; i++) {
			unit_ok = true;
			journal_reset();
			running = suites[s]->name(i);
			alarm(UNIT_TIMEOUT_S);
			suites[s]->run(i);
			alarm(0);
			ksft_test_result(unit_ok, "%s\n", suites[s]->name(i));
		}
	}
	ksft_finished();
}
