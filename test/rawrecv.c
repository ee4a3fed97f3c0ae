/*
 * rawrecv - write every datagram sent to a multicast group to stdout,
 * exactly as it came, until killed.
 *
 * The Bats suite uses it to see the bytes nodes put on the wire (a
 * resend must be byte for byte the datagram first sent).
 *
 *     test/rawrecv GROUP PORT > datagrams
 *
 * It joins GROUP on 127.0.0.1 only. Each datagram is written with one
 * write(2), so a reader sees whole datagrams. Exits 1 with a message on
 * stderr on a failure to set up.
 */
#include <errno.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testnet.h"

const char *prog = "rawrecv";

int
main(int argc, char **argv)
{
	static char buf[65536];
	struct sockaddr_in at;
	ssize_t n;
	int s;

	if (argc != 3) {
		fprintf(stderr, "usage: rawrecv GROUP PORT\n");
		return 1;
	}
	if (group_address(argv[1], argv[2], &at) == -1 ||
	    (s = open_member(&at)) == -1)
		return 1;
	for (;;) {
		n = recv(s, buf, sizeof(buf), 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return fail("recv");
		if (write(STDOUT_FILENO, buf, (size_t)n) != n)
			return fail("write");
	}
}
