/*
 * mcast.c - the benchmark's baseline: the least a program can do with
 * kvmc's traffic. It sends valid kvmc SET datagrams, paced or flat out,
 * and receives them doing nothing but counting, so that kvmc's figures
 * can be read as a ratio to what the kernel alone delivers here.
 *
 *   mcast send PORT COUNT RATE   COUNT SETs at RATE per second (0: flat
 *                                out), value = send time in us, then END;
 *                                prints sent=N rate=R, the rate reached
 *   mcast end PORT               only the END marker
 *   mcast recv PORT              count datagrams until END; prints
 *                                received=N end_ms=T kernel_drops=D
 *                                p50_us=L p99_us=L (send to receive)
 *                                cpu_us=C (its own CPU time)
 *
 * END is a malformed datagram on purpose: every kvmc log level shows its
 * reject line, so it marks "everything before me is processed".
 * With GROUP_KEY set, each SET carries its tag (SPEC section 12), as a
 * keyed kvmc node would send it; END stays untagged, still a reject.
 * Always on 239.0.0.1 through 127.0.0.1, TTL 0: nothing leaves the host.
 */
#define _GNU_SOURCE	/* memmem */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include "../kvmc.h"

#define GROUP	"239.0.0.1"
#define END	"END\n"

static void
die(const char *what)
{
	fprintf(stderr, "mcast: %s: %s\n", what, strerror(errno));
	exit(1);
}

static uint64_t
now_us(clockid_t clock)
{
	struct timespec ts;

	clock_gettime(clock, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

static int
sender(struct sockaddr_in *to)
{
	struct in_addr lo = { htonl(INADDR_LOOPBACK) };
	int fd = socket(AF_INET, SOCK_DGRAM, 0), ttl = 0;

	to->sin_family = AF_INET;
	inet_pton(AF_INET, GROUP, &to->sin_addr);
	if (fd == -1 ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_IF, &lo, sizeof(lo)) == -1 ||
	    setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof(ttl)) == -1)
		die("sender socket");
	return fd;
}

static void
send_one(int fd, const struct sockaddr_in *to, const char *buf, size_t len)
{
	/* A full socket buffer on send: wait for room, lose nothing here. */
	while (sendto(fd, buf, len, 0, (const struct sockaddr *)to,
	    sizeof(*to)) == -1) {
		if (errno != ENOBUFS && errno != EAGAIN && errno != EINTR)
			die("sendto");
	}
}

/* GROUP_KEY's 32 hex digits as SipHash's k0, k1; 0 when unset. */
static int
group_key(uint64_t key[2])
{
	const char *hex = getenv("GROUP_KEY");
	unsigned byte;
	size_t i;

	if (hex == NULL || strlen(hex) != 32)
		return 0;
	key[0] = key[1] = 0;
	for (i = 0; i < 16; i++) {
		if (sscanf(hex + 2 * i, "%2x", &byte) != 1)
			return 0;
		key[i / 8] |= (uint64_t)byte << (8 * (i % 8));
	}
	return 1;
}

static int
cmd_send(int port, long count, long rate)
{
	struct sockaddr_in to = { .sin_port = htons((uint16_t)port) };
	int fd = sender(&to);
	uint64_t start = now_us(CLOCK_MONOTONIC), due, took;
	unsigned run = (unsigned)getpid();
	uint64_t key[2];
	int keyed = group_key(key), len;
	char buf[256];
	long i;

	for (i = 0; i < count; i++) {
		if (rate > 0) {
			due = start + (uint64_t)i * 1000000 / (uint64_t)rate;
			while (now_us(CLOCK_MONOTONIC) < due)
				;	/* pacing to the microsecond */
		}
		len = snprintf(buf, sizeof(buf), "v=1 type=SET "
		    "id=%08x-0000-4000-8000-%012lx from=bench key=k%ld "
		    "value=%llu\n", run, i, i % 1000,
		    (unsigned long long)now_us(CLOCK_REALTIME));
		if (keyed)
			len = (int)msg_seal(buf, (size_t)len, sizeof(buf), key);
		send_one(fd, &to, buf, (size_t)len);
	}
	/* What the sender reached: a paced step asked for more than that. */
	took = now_us(CLOCK_MONOTONIC) - start;
	if (count > 0)
		printf("sent=%ld rate=%.0f\n", count,
		    took > 0 ? (double)count * 1e6 / (double)took : 0.0);
	fflush(stdout);
	/* Three times, apart: one END lost to a full buffer must not hang. */
	for (i = 0; i < 3; i++) {
		send_one(fd, &to, END, strlen(END));
		usleep(10000);
	}
	return 0;
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/* Send-to-receive latency from the send time the value carries. */
static void
note_latency(const char *buf, size_t n, uint64_t **lat, size_t *nlat,
    size_t *cap)
{
	const char *v = memmem(buf, n, "value=", 6);
	uint64_t sent;

	if (v == NULL)
		return;
	sent = strtoull(v + 6, NULL, 10);
	if (*nlat == *cap) {
		*cap = *cap ? 2 * *cap : 4096;
		*lat = realloc(*lat, *cap * sizeof(**lat));
		if (*lat == NULL)
			die("realloc");
	}
	(*lat)[(*nlat)++] = now_us(CLOCK_REALTIME) - sent;
}

static int
cmd_recv(int port)
{
	struct sockaddr_in at = { .sin_family = AF_INET,
	    .sin_port = htons((uint16_t)port) };
	struct ip_mreq mreq;
	int fd = socket(AF_INET, SOCK_DGRAM, 0), one = 1, size = 4 << 20;
	uint32_t drops = 0;
	char buf[2048], control[64];
	struct iovec iov = { buf, sizeof(buf) };
	struct msghdr mh;
	struct cmsghdr *c;
	long received = 0;
	uint64_t *lat = NULL;
	size_t nlat = 0, cap = 0;
	struct rusage ru;
	ssize_t n;

	inet_pton(AF_INET, GROUP, &at.sin_addr);
	mreq.imr_multiaddr = at.sin_addr;
	mreq.imr_interface.s_addr = htonl(INADDR_LOOPBACK);
	/* The same socket options as kvmc: the comparison is the program. */
	if (fd == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size)) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) == -1 ||
	    bind(fd, (struct sockaddr *)&at, sizeof(at)) == -1 ||
	    setsockopt(fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq,
	    sizeof(mreq)) == -1)
		die("receiver socket");
	printf("ready\n");
	fflush(stdout);
	for (;;) {
		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = control;
		mh.msg_controllen = sizeof(control);
		n = recvmsg(fd, &mh, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			die("recvmsg");
		}
		for (c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c))
			if (c->cmsg_type == SO_RXQ_OVFL)
				memcpy(&drops, CMSG_DATA(c), sizeof(drops));
		if ((size_t)n == strlen(END) && memcmp(buf, END, (size_t)n) == 0)
			break;
		received++;
		note_latency(buf, (size_t)n, &lat, &nlat, &cap);
	}
	printf("received=%ld end_ms=%llu kernel_drops=%u", received,
	    (unsigned long long)(now_us(CLOCK_REALTIME) / 1000), drops);
	if (nlat > 0) {
		qsort(lat, nlat, sizeof(*lat), cmp_u64);
		printf(" p50_us=%llu p99_us=%llu",
		    (unsigned long long)lat[nlat / 2],
		    (unsigned long long)lat[nlat * 99 / 100]);
	}
	getrusage(RUSAGE_SELF, &ru);
	printf(" cpu_us=%lld\n", (long long)(ru.ru_utime.tv_sec +
	    ru.ru_stime.tv_sec) * 1000000 + ru.ru_utime.tv_usec +
	    ru.ru_stime.tv_usec);
	free(lat);
	return 0;
}

int
main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "send") == 0)
		return cmd_send(atoi(argv[2]), atol(argv[3]), atol(argv[4]));
	if (argc == 3 && strcmp(argv[1], "end") == 0)
		return cmd_send(atoi(argv[2]), 0, 0);
	if (argc == 3 && strcmp(argv[1], "recv") == 0)
		return cmd_recv(atoi(argv[2]));
	fprintf(stderr, "usage: mcast send PORT COUNT RATE | end PORT | "
	    "recv PORT\n");
	return 2;
}
