/*
 * out.c - every byte kvmc writes to stdout and stderr (SPEC section 1,
 * "Output never stops the node"). Each stream has a bounded queue; a
 * whole line that does not fit is dropped and counted; the queue is
 * written only as fast as its reader takes it, and the loop never waits
 * on it.
 *
 * How a write is kept from blocking depends on what the descriptor is:
 * - A regular file (or a block device) is written directly: such a write
 *   does not wait for a reader. It is never reopened: its offset, or its
 *   O_APPEND, belongs to the description the shell opened.
 * - A socket: send(MSG_DONTWAIT), non-blocking for that one call, without
 *   touching the description's flags.
 * - A pipe, a FIFO, a terminal or another character device: a private
 *   description opened through /proc/self/fd/N with O_NONBLOCK. fd 1 and
 *   fd 2 share their open file description, and so its O_NONBLOCK flag,
 *   with the shell and the rest of a pipeline: set there, it would make
 *   the shell's own reads and writes fail with EAGAIN after we exit. A new
 *   description of the same pipe or terminal has status flags of its own.
 *   A description that is already non-blocking is used as it is.
 * - The same without /proc (a chroot), or when the reopen is refused:
 *   poll() says writable, then one write of at most PIPE_BUF bytes, again
 *   while it still says so. Into a pipe that only this node writes, that
 *   cannot block on Linux: a pipe is writable when it has a free slot (a
 *   page), and a write of at most PIPE_BUF bytes is atomic and fits in one.
 *   A terminal promises less (writable when any room is left), and another
 *   writer may take the slot first, so such a write runs under a guard
 *   timer: a SIGALRM every GUARD_MS interrupts it, and it returns what it
 *   wrote, or EINTR.
 *
 * When fd 1 and fd 2 lead to the same pipe, terminal or socket (a
 * terminal, `2>&1 | less`), both streams share one queue, so what reaches
 * the reader keeps the order in which it was handed over: the console's
 * prompt, erased before log lines and redrawn after them, depends on it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>

#include "kvmc.h"

#define GUARD_MS	20	/* the longest a fallback write may block */
#define EAGER_BYTES	65536	/* queued bytes that are written at once */

enum sink_kind {
	SINK_GONE,	/* closed, read-only, or failed: bytes are discarded */
	SINK_FILE,	/* write(2): never waits for a reader */
	SINK_SOCKET,	/* send(MSG_DONTWAIT) */
	SINK_NONBLOCK,	/* write(2) on a non-blocking description */
	SINK_POLL	/* poll, then at most PIPE_BUF under the guard */
};

/* Where bytes go, and those that wait: buf[head .. head + len). */
struct sink {
	enum sink_kind	 kind;
	int		 fd;
	int		 own_fd;	/* opened here: closed by out_close */
	char		*buf;
	size_t		 head;
	size_t		 len;
	size_t		 cap;		/* allocated, up to OUT_QUEUE_MAX */
	uint64_t	 moved;		/* monotonic ms: the reader last took some */
	int		 blocked;	/* it took nothing: wait for the loop */
};

struct stream {
	struct sink	*sink;
	const char	*name;
	uint64_t	 lost;		/* lines since the last output_dropped */
	uint64_t	 total;		/* lines since the start */
};

static struct sink	sinks[2];
static struct stream	streams[2] = {
	{ &sinks[0], "stdout", 0, 0 },
	{ &sinks[1], "stderr", 0, 0 },
};
static int		initialized;

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static void
on_guard(int sig)
{
	(void)sig;	/* only here to interrupt a write */
}

/* Every ms until disarmed (0): one that fires early is followed by more. */
static void
guard(long ms)
{
	struct itimerval it;

	it.it_interval.tv_sec = 0;
	it.it_interval.tv_usec = ms * 1000;
	it.it_value = it.it_interval;
	/* Cannot fail with these values. */
	(void)setitimer(ITIMER_REAL, &it, NULL);
}

static void
install_guard(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_guard;	/* no SA_RESTART: the write must end */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGALRM, &sa, NULL);
}

/*
 * A private non-blocking description of what fd leads to, or -1. Never
 * on fd 0-2: with stdin closed it would take fd 0 and pass for stdin.
 */
static int
reopen_nonblocking(int fd)
{
	char path[64];
	int new, high;

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	new = open(path, O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (new == -1 || new > STDERR_FILENO)
		return new;
	high = fcntl(new, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
	close(new);
	return high;
}

static void
open_sink(struct sink *k, int fd, const struct stat *st)
{
	int flags;

	k->fd = fd;
	k->kind = SINK_GONE;
	if (st == NULL || (flags = fcntl(fd, F_GETFL)) == -1 ||
	    (flags & O_ACCMODE) == O_RDONLY)
		return;
	if (S_ISREG(st->st_mode) || S_ISBLK(st->st_mode))
		k->kind = SINK_FILE;
	else if (S_ISSOCK(st->st_mode))
		k->kind = SINK_SOCKET;
	else if (flags & O_NONBLOCK)
		k->kind = SINK_NONBLOCK;
	else if ((k->fd = reopen_nonblocking(fd)) != -1) {
		k->kind = SINK_NONBLOCK;
		k->own_fd = 1;
	} else {
		k->fd = fd;
		k->kind = SINK_POLL;
		install_guard();
	}
}

/* fd 1 and fd 2 lead to the same pipe, terminal or socket. */
static int
same_place(const struct stat *a, const struct stat *b)
{
	if (S_ISREG(a->st_mode) || (a->st_mode & S_IFMT) != (b->st_mode & S_IFMT))
		return 0;
	if (S_ISCHR(a->st_mode))
		return a->st_rdev == b->st_rdev;
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino;
}

/* Looks at fd 1 and fd 2 once; call before anything is written. */
void
out_init(void)
{
	struct stat st[2];
	int ok[2], i;

	if (initialized)
		return;
	initialized = 1;
	for (i = 0; i < 2; i++) {
		sinks[i].fd = -1;
		ok[i] = fstat(i + 1, &st[i]) == 0;
	}
	open_sink(&sinks[0], STDOUT_FILENO, ok[0] ? &st[0] : NULL);
	if (ok[0] && ok[1] && sinks[0].kind != SINK_GONE &&
	    same_place(&st[0], &st[1]))
		streams[OUT_STDERR].sink = &sinks[0];
	else
		open_sink(&sinks[1], STDERR_FILENO, ok[1] ? &st[1] : NULL);
}

/* A SINK_POLL write: only when poll says so, at most PIPE_BUF, guarded. */
static ssize_t
write_polled(struct sink *k, const char *p, size_t len)
{
	struct pollfd pfd = { k->fd, POLLOUT, 0 };
	ssize_t n;

	if (poll(&pfd, 1, 0) != 1) {
		errno = EAGAIN;
		return -1;
	}
	if (len > PIPE_BUF)
		len = PIPE_BUF;
	guard(GUARD_MS);
	n = write(k->fd, p, len);
	guard(0);
	if (n == -1 && errno == EINTR)
		errno = EAGAIN;
	return n;
}

static ssize_t
write_some(struct sink *k, const char *p, size_t len)
{
	switch (k->kind) {
	case SINK_SOCKET:
		return send(k->fd, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
	case SINK_POLL:
		return write_polled(k, p, len);
	default:
		return write(k->fd, p, len);
	}
}

/* Once a queue is empty: how many lines its streams lost meanwhile. */
static void
report_drained(const struct sink *k)
{
	uint64_t lost;
	size_t i;

	for (i = 0; i < 2; i++) {
		if (streams[i].sink != k || streams[i].lost == 0)
			continue;
		/* Reset first: the line below is output too. */
		lost = streams[i].lost;
		streams[i].lost = 0;
		log_event(LOG_WARN, "output_dropped", "stream=%s lines=%llu",
		    streams[i].name, (unsigned long long)lost);
	}
}

/*
 * Writes as much of the queue as the reader takes now. A descriptor that
 * fails otherwise (EPIPE: the reader is gone; EIO; ENOSPC) is given up:
 * what waits and all that follows is discarded, as SPEC section 1 says
 * of a reply that cannot be written.
 */
static void
drain(struct sink *k)
{
	ssize_t n;

	while (k->len > 0 && k->kind != SINK_GONE) {
		n = write_some(k, k->buf + k->head, k->len);
		if (n > 0) {
			k->head += (size_t)n;
			k->len -= (size_t)n;
			k->moved = mono_ms();
			continue;
		}
		if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
		    errno == EINTR)) {
			k->blocked = 1;
			return;
		}
		k->kind = SINK_GONE;
		k->len = 0;
	}
	k->head = 0;
	if (k->kind != SINK_GONE)
		report_drained(k);
}

/* Room for len more bytes, up to the bound; 0 when there is none. */
static int
make_room(struct sink *k, size_t len)
{
	size_t cap;
	char *p;

	if (len > OUT_QUEUE_MAX - k->len)
		return 0;
	if (k->head + k->len + len <= k->cap)
		return 1;
	if (k->head > 0) {
		memmove(k->buf, k->buf + k->head, k->len);
		k->head = 0;
	}
	if (k->len + len <= k->cap)
		return 1;
	for (cap = k->cap ? k->cap : EAGER_BYTES; cap < k->len + len; cap *= 2)
		;
	if (cap > OUT_QUEUE_MAX)
		cap = OUT_QUEUE_MAX;
	/* Not xrealloc: its failure logs, and logging comes back here. */
	if ((p = realloc(k->buf, cap)) == NULL)
		return 0;
	k->buf = p;
	k->cap = cap;
	return 1;
}

/* Queues len bytes; returns 0, or -1 when they were dropped. */
static int
queue(struct sink *k, const char *buf, size_t len)
{
	if (k->kind == SINK_GONE)
		return 0;
	if (k->len == 0)
		k->moved = mono_ms();	/* the wait for the reader starts */
	if (!make_room(k, len)) {
		if (!k->blocked)
			drain(k);
		if (k->kind == SINK_GONE)
			return 0;
		if (!make_room(k, len))
			return -1;
	}
	memcpy(k->buf + k->head + k->len, buf, len);
	k->len += len;
	/*
	 * A burst reaches a reader that keeps up without waiting for the
	 * loop; one that has just taken nothing is not asked again before
	 * the loop's next flush.
	 */
	if (k->len >= EAGER_BYTES && !k->blocked)
		drain(k);
	return 0;
}

/*
 * Hands over one whole line (its newline included): queued whole, or
 * dropped whole and counted. Written by out_flush or once writable.
 */
void
out_line(enum out_stream s, const char *buf, size_t len)
{
	out_init();
	if (queue(streams[s].sink, buf, len) == -1) {
		streams[s].lost++;
		streams[s].total++;
	}
}

/* Bytes that are not a line (the prompt and its redraw): never counted. */
void
out_bytes(enum out_stream s, const char *buf, size_t len)
{
	out_init();
	/* Dropped when full, like a line: a prompt is not worth a wait. */
	(void)queue(streams[s].sink, buf, len);
}

/* Writes what the readers take now, without waiting. */
void
out_flush(void)
{
	size_t i;

	for (i = 0; i < 2; i++) {
		sinks[i].blocked = 0;
		drain(&sinks[i]);
	}
}

/* Adds the descriptors that have bytes waiting to the loop's write set. */
void
out_watch(fd_set *writable, int *maxfd)
{
	size_t i;

	for (i = 0; i < 2; i++) {
		if (sinks[i].len == 0 || sinks[i].kind == SINK_GONE)
			continue;
		FD_SET(sinks[i].fd, writable);
		if (sinks[i].fd > *maxfd)
			*maxfd = sinks[i].fd;
	}
}

/* After the loop's wait: writes to the descriptors it found writable. */
void
out_on_writable(const fd_set *writable)
{
	size_t i;

	for (i = 0; i < 2; i++)
		if (sinks[i].len > 0 && sinks[i].kind != SINK_GONE &&
		    FD_ISSET(sinks[i].fd, writable)) {
			sinks[i].blocked = 0;
			drain(&sinks[i]);
		}
}

/* Lines dropped on both streams since the start: for the stop line. */
uint64_t
out_dropped_lines(void)
{
	return streams[0].total + streams[1].total;
}

/* Bytes wait, and the reader took some within the last OUT_CLOSE_MS. */
static int
worth_waiting(const struct sink *k, uint64_t now)
{
	return k->len > 0 && k->kind != SINK_GONE &&
	    now - k->moved < OUT_CLOSE_MS;
}

/*
 * The last flush: waits at most OUT_CLOSE_MS for readers that are
 * reading (one that took nothing for as long is not waited for at all),
 * so that a stop stays immediate; then lets go of everything. Output
 * after this is discarded.
 */
void
out_close(void)
{
	uint64_t end = mono_ms() + OUT_CLOSE_MS, now;
	struct pollfd pfd[2];
	nfds_t n;
	size_t i;

	for (;;) {
		out_flush();
		now = mono_ms();
		n = 0;
		for (i = 0; i < 2; i++)
			if (worth_waiting(&sinks[i], now))
				pfd[n++] = (struct pollfd){ sinks[i].fd, POLLOUT, 0 };
		if (n == 0 || now >= end)
			break;
		/* EINTR, a timeout: the deadline decides. */
		(void)poll(pfd, n, (int)(end - now));
	}
	for (i = 0; i < 2; i++) {
		if (sinks[i].own_fd)
			close(sinks[i].fd);
		free(sinks[i].buf);
		memset(&sinks[i], 0, sizeof(sinks[i]));
		sinks[i].kind = SINK_GONE;
		sinks[i].fd = -1;
	}
}
