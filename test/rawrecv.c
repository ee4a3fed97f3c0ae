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
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int
fail(const char *what)
{
	fprintf(stderr, "rawrecv: %s: %s\n", what, strerror(errno));
	return 1;
}

int
main(int argc, char **argv)
{
	static char buf[65536];
	struct sockaddr_in addr;
	struct ip_mreq mreq;
	int s, one = 1;
	ssize_t n;
	char *end;
	long port;

	if (argc != 3) {
		fprintf(stderr, "usage: rawrecv GROUP PORT\n");
		return 1;
	}
	port = strtol(argv[2], &end, 10);
	if (*end != '\0' || port < 1 || port > 65535) {
		fprintf(stderr, "rawrecv: bad port '%s'\n", argv[2]);
		return 1;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short)port);
	if (inet_pton(AF_INET, argv[1], &addr.sin_addr) != 1)
		return fail("group");
	mreq.imr_multiaddr = addr.sin_addr;
	mreq.imr_interface.s_addr = htonl(INADDR_LOOPBACK);
	if ((s = socket(AF_INET, SOCK_DGRAM, 0)) < 0 ||
	    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s, (struct sockaddr *)&addr, sizeof(addr)) < 0 ||
	    setsockopt(s, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq,
	    sizeof(mreq)) < 0)
		return fail("socket");
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
