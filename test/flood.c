/*
 * flood - many datagrams to a multicast group, fast, for the tests that
 * need more than test/rawsend's one datagram: a shell loop around it is a
 * thousand times too slow.
 *
 *   flood GROUP PORT valid FROM FIRST COUNT [BYTES]
 *	for i = FIRST .. FIRST+COUNT-1, in order,
 *	    v=1 type=SET id=<uuid i> from=FROM key=k<i> value=<i>
 *	pausing 1 ms after every 256, so that a node reading batches of 256
 *	is not simply overrun by the kernel (test/sim.bats: the queue bound).
 *	With BYTES (at most 1300), each value is <i> padded with '.' to
 *	BYTES bytes (test/robust.bats: the store limit).
 *   flood GROUP PORT hello FROM FIRST COUNT
 *	for i = FIRST .. FIRST+COUNT-1, in order, paced the same way,
 *	    v=1 type=HELLO id=<uuid i> from=FROM<i>
 *	so many made-up peers (test/robust.bats: the peer list).
 *   flood GROUP PORT fifo FROM FIRST COUNT
 *	the SETs of "valid", paced the same way, with "inc=1 seq=<i>" added:
 *	one stream of a sender in the ordered modes, numbered from FIRST
 *	(test/order_fifo.bats: the hold-back bound).
 *   flood GROUP PORT mix COUNT FIRST SEED
 *	COUNT datagrams as fast as the kernel takes them; datagram i has the
 *	id FIRST+i and is of kind i % 32: ten valid SETs (keys k0-k49, so the
 *	store stays small), a valid 1400-byte SET, a valid GET, a SET whose id
 *	is always the same (a duplicate), one datagram for each of the 15
 *	reject reasons (1401- and 65000-byte ones for too_long), a lone
 *	newline, and random bytes of 1-1400 and 1401-65000 bytes (xorshift64
 *	seeded with SEED, so a run replays) (test/flood.bats).
 *
 * Ids are written as uuid() in helpers.bash writes them. Like rawsend it
 * always leaves through 127.0.0.1 with TTL 0. Exits 0, or 1 on an error.
 */
#include <errno.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "testnet.h"

#define BIG 65000

const char *prog = "flood";

static char buf[BIG + 1];
static uint64_t rng;


static uint64_t
next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

/* Pads buf, now len bytes, with c up to size - 1, then a newline. */
static size_t
pad(size_t len, size_t size, char c)
{
	memset(buf + len, c, size - 1 - len);
	buf[size - 1] = '\n';
	return size;
}

/* Formats into buf; returns the length. */
static size_t
put(const char *fmt, ...)
{
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	return len < 0 ? 0 : (size_t)len;
}

static size_t
random_bytes(size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (char)(next_random() >> 56);
	return len;
}

/* Datagram number i, of kind i % 32, with id number n, into buf. */
static size_t
make(long i, unsigned long n)
{
	char id[40], set[128];

	snprintf(id, sizeof(id), "%08lx-0000-4000-8000-%012lx", n, n);
	snprintf(set, sizeof(set), "v=1 type=SET id=%s from=flood", id);
	switch (i % 32) {
	case 0:		/* 1400 bytes, valid */
		return pad(put("%s key=big value=", set), 1400, 'x');
	case 1:		/* valid GET */
		return put("v=1 type=GET id=%s from=flood "
		    "key=k1\n", id);
	case 2:		/* the same id every time: duplicates */
		return put("v=1 type=SET id=ffffffff-ffff-"
		    "4fff-bfff-ffffffffffff from=flood key=dup value=1\n");
	case 3:		/* too_long: 1401 bytes */
		return pad(put("%s key=long value=", set), 1401, 'x');
	case 4:		/* too_long: 65000 bytes */
		return pad(0, BIG, 'x');
	case 5:
		return put("%s key=a value=b", set);
	case 6:
		return put("%s key=a value=b\rc\n", set);
	case 7:
		return put("v=1  type=SET id=%s from=flood "
		    "key=a value=b\n", id);
	case 8:
		return put("v=2 type=SET id=%s from=flood "
		    "key=a value=b\n", id);
	case 9:
		return put("%s key=a value=b color=red\n", set);
	case 10:
		return put("%s key=a key=b value=c\n", set);
	case 11:
		return put("%s key=a value=%%zz\n", set);
	case 12:
		return put("v=1 type=PUT id=%s from=flood "
		    "key=a value=b\n", id);
	case 13:
		return put("v=1 type=SET id=not-a-uuid "
		    "from=flood key=a value=b\n");
	case 14:
		return put("v=1 type=SET id=%s from=no! "
		    "key=a value=b\n", id);
	case 15:	/* bad_key: 256 bytes */
		return put("%s key=%0256d value=b\n", set, 0);
	case 16:
		return put("v=1 type=DIGEST id=%s from=flood "
		    "re=%s digest=xyz entries=1 order=1\n", id, id);
	case 17:
		return put("%s key=a\n", set);
	case 18:
		return put("v=1 type=GET id=%s from=flood "
		    "key=a value=b\n", id);
	case 19:	/* random, 1-1400 bytes */
		return random_bytes(1 + next_random() % 1400);
	case 20:	/* random, 1401-65000 bytes */
		return random_bytes(1401 + next_random() % (BIG - 1400));
	case 21:	/* only a newline: bad_field */
		buf[0] = '\n';
		return 1;
	default:	/* 22-31: valid SETs */
		return put("%s key=k%ld value=%ld\n", set,
		    i % 50, i);
	}
}

static int
usage(void)
{
	fprintf(stderr, "usage: flood GROUP PORT valid FROM FIRST COUNT [BYTES]\n"
	    "       flood GROUP PORT hello FROM FIRST COUNT\n"
	    "       flood GROUP PORT fifo FROM FIRST COUNT\n"
	    "       flood GROUP PORT mix COUNT FIRST SEED\n");
	return 1;
}

/* A full send buffer is back pressure, not an error. */
static int
send_buf(int s, const struct sockaddr_in *dst, size_t len)
{
	while (sendto(s, buf, len, 0, (const struct sockaddr *)dst,
	    sizeof(*dst)) < 0) {
		if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR) {
			fail("sendto");
			return -1;
		}
		sched_yield();
	}
	return 0;
}

/* Sends buf, now len bytes; a 1 ms pause after every 256th, the nth. */
static int
send_paced(int s, const struct sockaddr_in *dst, size_t len, long n)
{
	const struct timespec pause = { 0, 1000000 };

	if (send_buf(s, dst, len) == -1)
		return -1;
	if (n % 256 == 255)
		nanosleep(&pause, NULL);
	return 0;
}

static int
flood_valid(int s, const struct sockaddr_in *dst, const char *from,
    long first, long count, long bytes)
{
	size_t len;
	int n;
	long i;

	if (strlen(from) > 32 || bytes < 0 || bytes > 1300)
		return usage();
	for (i = first; i < first + count; i++) {
		len = put("v=1 type=SET id=%08lx-0000-4000-8000-%012lx "
		    "from=%s key=k%ld value=%n%ld\n", (unsigned long)i,
		    (unsigned long)i, from, i, &n, i);
		if (bytes > 0 && len - 1 - (size_t)n < (size_t)bytes)
			len = pad(len - 1, (size_t)n + (size_t)bytes + 1, '.');
		if (send_paced(s, dst, len, i - first) == -1)
			return 1;
	}
	return 0;
}

static int
flood_fifo(int s, const struct sockaddr_in *dst, const char *from,
    long first, long count)
{
	long i;

	if (strlen(from) > 32)
		return usage();
	for (i = first; i < first + count; i++) {
		if (send_paced(s, dst, put("v=1 type=SET "
		    "id=%08lx-0000-4000-8000-%012lx from=%s key=k%ld value=%ld "
		    "inc=1 seq=%ld\n", (unsigned long)i, (unsigned long)i, from,
		    i, i, i), i - first) == -1)
			return 1;
	}
	return 0;
}

static int
flood_hello(int s, const struct sockaddr_in *dst, const char *from,
    long first, long count)
{
	long i;

	if (strlen(from) > 20)
		return usage();
	for (i = first; i < first + count; i++) {
		if (send_paced(s, dst, put("v=1 type=HELLO "
		    "id=%08lx-0000-4000-8000-%012lx from=%s%ld\n",
		    (unsigned long)i, (unsigned long)i, from, i),
		    i - first) == -1)
			return 1;
	}
	return 0;
}

static int
flood_mix(int s, const struct sockaddr_in *dst, long count,
    unsigned long first)
{
	long i;

	for (i = 0; i < count; i++)
		if (send_buf(s, dst, make(i, first + (unsigned long)i)) == -1)
			return 1;
	return 0;
}

int
main(int argc, char **argv)
{
	struct sockaddr_in dst;
	int s;

	if (argc != 7 && !(argc == 8 && strcmp(argv[3], "valid") == 0))
		return usage();
	if (group_address(argv[1], argv[2], &dst) == -1 ||
	    (s = open_sender()) == -1)
		return 1;
	if (strcmp(argv[3], "valid") == 0)
		return flood_valid(s, &dst, argv[4], atol(argv[5]),
		    atol(argv[6]), argc == 8 ? atol(argv[7]) : 0);
	if (strcmp(argv[3], "fifo") == 0)
		return flood_fifo(s, &dst, argv[4], atol(argv[5]),
		    atol(argv[6]));
	if (strcmp(argv[3], "hello") == 0)
		return flood_hello(s, &dst, argv[4], atol(argv[5]),
		    atol(argv[6]));
	if (strcmp(argv[3], "mix") == 0) {
		rng = strtoull(argv[6], NULL, 10) | 1;
		return flood_mix(s, &dst, atol(argv[4]),
		    strtoul(argv[5], NULL, 10));
	}
	return usage();
}
