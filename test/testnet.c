/* testnet.c - see testnet.h. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "testnet.h"

int
fail(const char *what)
{
	fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
	return 1;
}

long
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

int
group_address(const char *group, const char *port, struct sockaddr_in *at)
{
	long n = number(port, 1, 65535);

	memset(at, 0, sizeof(*at));
	at->sin_family = AF_INET;
	at->sin_port = htons((unsigned short)n);
	if (n < 0 || inet_pton(AF_INET, group, &at->sin_addr) != 1) {
		fprintf(stderr, "%s: bad group or port '%s' '%s'\n", prog,
		    group, port);
		return -1;
	}
	return 0;
}

int
open_sender(void)
{
	struct in_addr ifaddr = { htonl(INADDR_LOOPBACK) };
	unsigned char ttl = 0;
	int s;

	if ((s = socket(AF_INET, SOCK_DGRAM, 0)) < 0) {
		fail("socket");
		return -1;
	}
	if (setsockopt(s, IPPROTO_IP, IP_MULTICAST_IF, &ifaddr,
	    sizeof(ifaddr)) < 0 ||
	    setsockopt(s, IPPROTO_IP, IP_MULTICAST_TTL, &ttl,
	    sizeof(ttl)) < 0) {
		fail("IP_MULTICAST_IF, IP_MULTICAST_TTL");
		close(s);
		return -1;
	}
	return s;
}

/* Only this group's datagrams (IP_MULTICAST_ALL off), from loopback. */
int
open_member(const struct sockaddr_in *at)
{
	struct ip_mreqn mreq;
	int s, one = 1, zero = 0;

	memset(&mreq, 0, sizeof(mreq));
	mreq.imr_multiaddr = at->sin_addr;
	mreq.imr_address.s_addr = htonl(INADDR_LOOPBACK);
	if ((s = socket(AF_INET, SOCK_DGRAM, 0)) < 0) {
		fail("socket");
		return -1;
	}
	if (setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(s, (const struct sockaddr *)at, sizeof(*at)) < 0 ||
	    setsockopt(s, IPPROTO_IP, IP_MULTICAST_ALL, &zero,
	    sizeof(zero)) < 0 ||
	    setsockopt(s, IPPROTO_IP, IP_ADD_MEMBERSHIP, &mreq,
	    sizeof(mreq)) < 0) {
		fail("bind and join");
		close(s);
		return -1;
	}
	return s;
}
