#ifndef CHORUS_CLINUX_SHIM_H
#define CHORUS_CLINUX_SHIM_H
// Linux's epoll for the HTTP server's event loops. `struct epoll_event` is packed on x86-64,
// which Swift does not import faithfully, so Swift calls these helpers with plain arrays.
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

static const unsigned chorus_epoll_in = EPOLLIN;
static const unsigned chorus_epoll_exclusive = EPOLLEXCLUSIVE;
static const unsigned chorus_epoll_out = EPOLLOUT;

static inline int chorus_epoll_create(void) { return epoll_create1(EPOLL_CLOEXEC); }

static inline int chorus_epoll_add(int epoll, int fd, unsigned events) {
    struct epoll_event event = { .events = events, .data = { .fd = fd } };
    return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
}

static inline int chorus_epoll_modify(int epoll, int fd, unsigned events) {
    struct epoll_event event = { .events = events, .data = { .fd = fd } };
    return epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &event);
}

static inline int chorus_epoll_delete(int epoll, int fd) {
    struct epoll_event unused = { 0 };
    return epoll_ctl(epoll, EPOLL_CTL_DEL, fd, &unused);
}

/// Waits up to `timeout` milliseconds; fills `fds` with at most `max` (at most 64) ready descriptors.
static inline int chorus_epoll_wait(int epoll, int *fds, int max, int timeout) {
    struct epoll_event events[64];
    if (max > 64) max = 64;
    int count = epoll_wait(epoll, events, max, timeout);
    for (int i = 0; i < count; i++) fds[i] = events[i].data.fd;
    return count;
}

static inline int chorus_eventfd(void) { return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK); }

// Gives the C heap's free memory back to the system (glibc keeps what a thread freed in that
// thread's arena): after work on a thread of its own that allocated and freed much at once.
#include <malloc.h>
static inline void chorus_release_free_heap(void) { (void)malloc_trim(0); }
// A pseudo-terminal's controlling side, unlocked, and the number of its other side
// (`/dev/pts/NUMBER`); -1 when there is none. glibc declares posix_openpt only under
// _XOPEN_SOURCE, which the headers above were read without: this is what it does. For the tests
// of questions a command asks only at a terminal.
#include <fcntl.h>
#include <sys/ioctl.h>
static inline int chorus_open_pseudo_terminal(int *number) {
    int fd = open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (fd < 0) return -1;
    int unlock = 0;
    if (ioctl(fd, TIOCSPTLCK, &unlock) != 0 || ioctl(fd, TIOCGPTN, number) != 0) { close(fd); return -1; }
    return fd;
}
#endif
