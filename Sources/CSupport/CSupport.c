// The few C library calls Swift's Glibc module does not expose (see CSupport.h).
#define _GNU_SOURCE
#include <string.h>
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>
#include <stdint.h>
#include <sys/mman.h>
#if defined(__linux__)
#include <sys/prctl.h>
#endif
#include "CSupport.h"

const void *mcpx_memmem(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len) {
    return memmem(haystack, haystack_len, needle, needle_len);
}

int mcpx_trim_heap(void) {
#if defined(__GLIBC__)
    return malloc_trim(0);
#else
    return 0;
#endif
}

int mcpx_release_pages(const void *p, size_t len) {
    long page = sysconf(_SC_PAGESIZE);
    if (page <= 0 || p == NULL) return -1;
    uintptr_t start = ((uintptr_t)p + (uintptr_t)page - 1) & ~((uintptr_t)page - 1);
    uintptr_t end = ((uintptr_t)p + len) & ~((uintptr_t)page - 1);
    if (end <= start) return 0;
    return madvise((void *)start, end - start, MADV_DONTNEED);
}

static int pipe_cloexec(int p[2]) {
#if defined(__linux__)
    return pipe2(p, O_CLOEXEC);
#else
    if (pipe(p) != 0) return -1;
    fcntl(p[0], F_SETFD, FD_CLOEXEC);
    fcntl(p[1], F_SETFD, FD_CLOEXEC);
    return 0;
#endif
}

int mcpx_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd, int fds[3], int *pid_out) {
    *pid_out = -1;
    int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1}, report[2] = {-1, -1};
    if (pipe_cloexec(in) || pipe_cloexec(out) || pipe_cloexec(err) || pipe_cloexec(report)) {
        int e = errno;
        int all[8] = {in[0], in[1], out[0], out[1], err[0], err[1], report[0], report[1]};
        for (int i = 0; i < 8; i++) if (all[i] >= 0) close(all[i]);
        return e;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        int e = errno;
        int all[8] = {in[0], in[1], out[0], out[1], err[0], err[1], report[0], report[1]};
        for (int i = 0; i < 8; i++) close(all[i]);
        return e;
    }
    if (pid == 0) {
        // The child: only async-signal-safe calls from here to exec.
        setpgid(0, 0);
#if defined(__linux__)
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) _exit(127);  // mcpx died before the line above took effect
#endif
        // Default dispositions first, then unmask: no handler of mcpx's runs in the child.
        for (int s = 1; s < 32; s++) {
            if (s != SIGKILL && s != SIGSTOP) signal(s, SIG_DFL);
        }
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        // dup2 onto the same number keeps close-on-exec (mcpx started with 0, 1 or 2 closed).
        int ends[3] = {in[0], out[1], err[1]};
        for (int target = 0; target < 3; target++) {
            if (ends[target] == target) fcntl(target, F_SETFD, 0);
            else dup2(ends[target], target);
        }
        if (cwd != NULL && chdir(cwd) != 0) {
            int e = errno;
            (void)!write(report[1], &e, sizeof e);
            _exit(127);
        }
        execve(path, argv, envp);
        int e = errno;
        (void)!write(report[1], &e, sizeof e);
        _exit(127);
    }
    *pid_out = pid;
    setpgid(pid, pid);  // also from here, so the group exists whichever runs first
    close(in[0]);
    close(out[1]);
    close(err[1]);
    close(report[1]);
    int child_errno = 0;
    ssize_t n;
    do {
        n = read(report[0], &child_errno, sizeof child_errno);
    } while (n < 0 && errno == EINTR);
    close(report[0]);
    if (n == sizeof child_errno) {
        close(in[1]);
        close(out[0]);
        close(err[0]);
        return child_errno;  // the caller reaps the child
    }
    fds[0] = in[1];
    fds[1] = out[0];
    fds[2] = err[0];
    return 0;
}

// Termination signals become bytes on a pipe the event loop watches: the handler is in place the
// moment this returns (no window in which a signal is lost), and it only calls write(2).
static volatile int signal_write_fd = -1;

static void on_signal(int sig) {
    int saved = errno;
    unsigned char b = (unsigned char)sig;
    if (signal_write_fd >= 0) {
        ssize_t r = write(signal_write_fd, &b, 1);
        (void)r;
    }
    errno = saved;
}

int mcpx_signal_pipe(const int *sigs, int count, int *read_fd) {
    int p[2];
    if (pipe_cloexec(p) != 0) return -1;
    fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
    fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK);
    signal_write_fd = p[1];
    for (int i = 0; i < count; i++) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_signal;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = SA_RESTART;
        if (sigaction(sigs[i], &sa, NULL) != 0) return -1;
    }
    *read_fd = p[0];
    return 0;
}

int mcpx_signal_ignored(int sig) {
    struct sigaction old;
    if (sigaction(sig, NULL, &old) != 0) return 0;
    return old.sa_handler == SIG_IGN;
}
