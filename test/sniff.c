/*
 * sniff - capture datagrams sent to a multicast group, as a member of it.
 *
 * The Bats suite uses it to record what a node really sends (a keyed
 * datagram, say), so that a test can send it again, changed or not.
 *
 *     test/sniff GROUP PORT COUNT > capture
 *
 * Joins GROUP on 127.0.0.1, says "ready" on stderr once it has joined,
 * then writes the first COUNT datagrams to stdout, each exactly as
 * received (kvmc's datagrams are lines, so the capture is one per line),
 * and exits 0. Exits 1 with a message on stderr on any failure.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_DATAGRAM 65507 /* largest UDP payload over IPv4 */

static int
fail(const char *what)
{
	fprintf(stderr, "sniff: %s: %s\n", what, strerror(errno));
	return 1;
}

/* Parse a decimal number in [min, max]; -1 when it is not one. */
static long
number(const char *s, long min, long max)
{
	char *end;
	long n;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	n = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || n < min || n > max)
		return -1;
	return n;
}

/* Writes all of buf to stdout, at once: the test reads it as it comes. */
static int
write_all(const char *buf, size_t len)
{
	ssize_t n;

	while (len > 0) {
		n = write(STDOUT_FILENO, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static char buf[MAX_DATAGRAM];
	struct sockaddr_in at;
	struct ip_mreqn mreq;
	long port, count, i;
	ssize_t n;
	int s, one = 1, zero = 0;

	if (argc != 4 || (port = number(argv[2], 1, 65535)) < 0 ||
	    (count = number(argv[3], 1, 1000000)) < 0) {
		fprintf(stderr, "usage: sniff GROUP PORT COUNT > capture\n");
		return 1;
	}
	memset(&at, 0, sizeof(at));
	at.sin_family = AF_INET;
	at.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, argv[1], &at.sin_addr) != 1) {
		fprintf(stderr, "sniff: bad group '%s'\n", argv[1]);
		return 1;
	}
	memset(&mreq, 0, sizeof(mreq));
	mreq.imr_multiaddr = at.sin_addr;
	mreq.imr_address.s_addr = htonl(INADDR_LOOPBACK);

	if ((s = socket(AF_INET, SOCK_DGRAM, 0)) < 0)
		return fail("socket");
	if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0)
		return fail("SO_REUSEADDR");
	if (bind(s, (struct sockaddr *)&at, sizeof(at)) < 0)
		return fail("bind");
	if (setsockopt(s, IPPROTO_IP, IP_MULTICAST_ALL, &zero,
	    sizeof(zero)) < 0)
		return fail("IP_MULTICAST_ALL");
	if (setsockopt(s, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq,
	    sizeof(mreq)) < 0)
		return fail("IP_ADD_MEMBERSHIP");
	fprintf(stderr, "ready\n");

	for (i = 0; i < count; i++) {
		n = recv(s, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR) {
			i--;
			continue;
		}
		if (n < 0)
			return fail("recv");
		if (write_all(buf, (size_t)n) < 0)
			return fail("write");
	}
	close(s);
	return 0;
}
