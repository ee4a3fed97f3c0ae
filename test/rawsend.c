/*
 * rawsend - send stdin as one raw UDP datagram to a multicast group.
 *
 * The Bats suite uses it to put crafted datagrams on the wire (bad ones,
 * duplicates, forged senders) that kvmc itself would never send.
 *
 *     test/rawsend [-n COUNT] GROUP PORT < datagram
 *     test/rawsend -l GROUP PORT < lines
 *
 * All of stdin (binary-safe, at most 65507 bytes) becomes exactly one
 * datagram, sent COUNT times (default 1). With -l, each line of stdin,
 * its newline included, is one datagram, sent at once after the one
 * before (for datagrams that must arrive close together). It always leaves through
 * 127.0.0.1 with TTL 0, so no test traffic can reach a real network.
 * Exits 0 on success, 1 with a message on stderr on any failure.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testnet.h"

#define MAX_DATAGRAM 65507 /* largest UDP payload over IPv4 */

const char *prog = "rawsend";

static int
usage(void)
{
	fprintf(stderr, "usage: rawsend [-n COUNT] GROUP PORT < datagram\n"
	    "       rawsend -l GROUP PORT < lines\n");
	return 1;
}

int
main(int argc, char **argv)
{
	static char buf[MAX_DATAGRAM + 1]; /* one extra byte detects too much */
	struct sockaddr_in dst;
	size_t len = 0, start, end;
	const char *nl;
	ssize_t n;
	long count = 1, i;
	int s, lines = 0;

	if (argc == 4 && strcmp(argv[1], "-l") == 0) {
		lines = 1;
		argv++;
		argc--;
	}
	if (argc == 5 && strcmp(argv[1], "-n") == 0) {
		if ((count = number(argv[2], 1, 1000000000)) < 0)
			return usage();
		argv += 2;
		argc -= 2;
	}
	if (argc != 3 || group_address(argv[1], argv[2], &dst) == -1)
		return usage();

	while (len < sizeof(buf)) {
		n = read(STDIN_FILENO, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail("read");
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > MAX_DATAGRAM) {
		fprintf(stderr, "rawsend: stdin is over %d bytes\n", MAX_DATAGRAM);
		return 1;
	}

	if ((s = open_sender()) == -1)
		return 1;

	for (i = 0; i < count && !lines; i++) {
		if (sendto(s, buf, len, 0, (struct sockaddr *)&dst,
		    sizeof(dst)) != (ssize_t)len)
			return fail("sendto");
	}
	for (start = 0; lines && start < len; start = end) {
		nl = memchr(buf + start, '\n', len - start);
		end = nl != NULL ? (size_t)(nl - buf) + 1 : len;
		if (sendto(s, buf + start, end - start, 0,
		    (struct sockaddr *)&dst, sizeof(dst)) != (ssize_t)(end - start))
			return fail("sendto");
	}
	close(s);
	return 0;
}
