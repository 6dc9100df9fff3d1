#ifndef MCPX_CSUPPORT_H
#define MCPX_CSUPPORT_H
// C library settings Swift's Glibc module does not expose.
#include <stdlib.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <sys/socket.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <netdb.h>

/// Socket constants the HTTP door needs, as plain ints (Swift's Glibc module leaves some out).
static inline int mcpx_sock_stream(void) { return SOCK_STREAM; }
static inline int mcpx_msg_nosignal(void) {
#ifdef MSG_NOSIGNAL
    return MSG_NOSIGNAL;
#else
    return 0;
#endif
}

/// Allocations of at least `bytes` get their own mapping, returned to the system when freed
/// (glibc's M_MMAP_THRESHOLD; fixing it also stops glibc from raising it on its own). No-op
/// elsewhere. Returns whether it was applied.
static inline int mcpx_set_mmap_threshold(int bytes) {
#if defined(__GLIBC__)
    return mallopt(M_MMAP_THRESHOLD, bytes);
#else
    (void)bytes;
    return 0;
#endif
}

/// libc's memmem (a GNU extension the Glibc module leaves out): where `needle` first occurs in
/// `haystack`, or NULL.
const void *mcpx_memmem(const void *haystack, size_t haystack_len, const void *needle, size_t needle_len);

/// Hands free heap memory back to the system (glibc's malloc_trim); after a large transient
/// allocation, such as a list a backend sent too much of. Returns 1 if memory was released.
int mcpx_trim_heap(void);

/// Lets the system drop the resident pages wholly inside [p, p+len) of read-only data mapped from
/// the binary (madvise MADV_DONTNEED): for a large constant read once, such as the search
/// table's base64 text after decoding. Touching them again reads them back from the file.
/// Returns 0 on success.
int mcpx_release_pages(const void *p, size_t len);

/// Starts `path` with `argv` and `envp` (NULL-terminated) in `cwd` (NULL: mcpx's), in a process
/// group of its own, with pipes for its stdin, stdout and stderr (mcpx's ends, close-on-exec, in
/// `fds[0..2]`). On Linux the child is killed when mcpx dies (PR_SET_PDEATHSIG), even by SIGKILL.
/// Signal dispositions and the mask are reset in the child. Returns 0, or the errno of what
/// failed (exec's comes back through a pipe). `*pid` is set whenever a child was forked, so the
/// caller reaps it even when exec failed.
/// Installs a handler for each of `sigs` that writes the signal's number (one byte) to a pipe;
/// `*read_fd` is the pipe's non-blocking read end. Returns 0, or -1 with errno set.
int mcpx_signal_pipe(const int *sigs, int count, int *read_fd);

/// Whether `sig` is ignored now (inherited from the parent: `nohup` ignores SIGHUP).
int mcpx_signal_ignored(int sig);

int mcpx_spawn(const char *path, char *const argv[], char *const envp[], const char *cwd, int fds[3], int *pid);
#endif
