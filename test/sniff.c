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
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testnet.h"

#define MAX_DATAGRAM 65507 /* largest UDP payload over IPv4 */

const char *prog = "sniff";

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
	long count, i;
	ssize_t n;
	int s;

	if (argc != 4 || (count = number(argv[3], 1, 1000000)) < 0) {
		fprintf(stderr, "usage: sniff GROUP PORT COUNT > capture\n");
		return 1;
	}
	if (group_address(argv[1], argv[2], &at) == -1 ||
	    (s = open_member(&at)) == -1)
		return 1;
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
