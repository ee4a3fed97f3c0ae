/*
 * net.c - the node's one multicast socket.
 *
 * Bound to the group address itself (not the wildcard) and with
 * IP_MULTICAST_ALL off, so that only datagrams for this group and port
 * arrive: not unicast to the port, not other groups joined on the host.
 * SO_REUSEADDR lets several nodes share a port on one host, and loopback
 * is on so that a node hears itself: it applies its own commands only
 * when they come back, like everyone else. Never exits: returns -1 with
 * errno set and leaves the decision to the caller.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/socket.h>

#include "kvmc.h"

/* Ask for room for bursts; the kernel caps it at net.core.rmem_max. */
#define RCVBUF_WANTED	(4 << 20)

static int
set_int(int fd, int level, int name, int value)
{
	return setsockopt(fd, level, name, &value, sizeof(value));
}

static int
set_options(struct net *n, const struct net_config *cfg)
{
	socklen_t len = sizeof(n->rcvbuf);

	n->failed = "SO_REUSEADDR";
	if (set_int(n->fd, SOL_SOCKET, SO_REUSEADDR, 1) == -1)
		return -1;
	/* A smaller buffer than asked for is fine: we log what we got. */
	(void)set_int(n->fd, SOL_SOCKET, SO_RCVBUF, RCVBUF_WANTED);
	if (getsockopt(n->fd, SOL_SOCKET, SO_RCVBUF, &n->rcvbuf, &len) == -1)
		n->rcvbuf = -1;
	/* Where the kernel counts the datagrams it drops for want of room. */
	(void)set_int(n->fd, SOL_SOCKET, SO_RXQ_OVFL, 1);
	n->failed = "IP_MULTICAST_ALL";
	if (set_int(n->fd, IPPROTO_IP, IP_MULTICAST_ALL, 0) == -1)
		return -1;
	n->failed = "IP_MULTICAST_LOOP";
	if (set_int(n->fd, IPPROTO_IP, IP_MULTICAST_LOOP, 1) == -1)
		return -1;
	n->failed = "IP_MULTICAST_TTL";
	if (set_int(n->fd, IPPROTO_IP, IP_MULTICAST_TTL, cfg->ttl) == -1)
		return -1;
	n->failed = "IP_MULTICAST_IF";
	return setsockopt(n->fd, IPPROTO_IP, IP_MULTICAST_IF, &n->mreq,
	    sizeof(n->mreq));
}

/*
 * Opens, binds and joins. Returns 0, or -1 with errno set and n->failed
 * naming the step; nothing is left open then.
 */
int
net_open(struct net *n, const struct net_config *cfg)
{
	int saved;

	memset(n, 0, sizeof(*n));
	n->group.sin_family = AF_INET;
	n->group.sin_addr = cfg->group;
	n->group.sin_port = htons(cfg->port);
	n->mreq.imr_multiaddr = cfg->group;
	n->mreq.imr_address = cfg->if_addr;
	n->mreq.imr_ifindex = (int)cfg->if_index;

	n->failed = "socket";
	n->fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (n->fd == -1)
		return -1;
	if (set_options(n, cfg) == -1)
		goto err;
	n->failed = "bind";
	if (bind(n->fd, (struct sockaddr *)&n->group, sizeof(n->group)) == -1)
		goto err;
	n->failed = "join";
	if (setsockopt(n->fd, IPPROTO_IP, IP_ADD_MEMBERSHIP, &n->mreq,
	    sizeof(n->mreq)) == -1)
		goto err;
	/* Only the socket: fd 0 is shared with the shell and stays blocking. */
	n->failed = "O_NONBLOCK";
	if (fcntl(n->fd, F_SETFL, fcntl(n->fd, F_GETFL) | O_NONBLOCK) == -1)
		goto err;
	n->failed = NULL;
	return 0;
err:
	saved = errno;
	close(n->fd);
	n->fd = -1;
	errno = saved;
	return -1;
}

/* Sends one datagram to the group. Returns 0, or -1 with errno set. */
int
net_send(struct net *n, const char *buf, size_t len)
{
	ssize_t sent;

	do
		sent = sendto(n->fd, buf, len, 0,
		    (struct sockaddr *)&n->group, sizeof(n->group));
	while (sent == -1 && errno == EINTR);
	return sent == -1 ? -1 : 0;
}

/* The kernel's running count of drops rides along with a datagram. */
static void
read_drops(struct net *n, struct msghdr *mh)
{
	struct cmsghdr *c;

	for (c = CMSG_FIRSTHDR(mh); c != NULL; c = CMSG_NXTHDR(mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL)
			memcpy(&n->kernel_drops, CMSG_DATA(c),
			    sizeof(n->kernel_drops));
}

/*
 * Receives one datagram into buf. Returns its full length, which may be
 * more than cap (the rest is cut off), or -1 with errno set (EAGAIN: none
 * waiting). Updates n->kernel_drops.
 */
long
net_recv(struct net *n, char *buf, size_t cap, struct sockaddr_in *src)
{
	union {
		char		c[CMSG_SPACE(sizeof(uint32_t))];
		struct cmsghdr	align;
	} control;
	struct iovec iov = { buf, cap };
	struct msghdr mh;
	ssize_t len;

	memset(&mh, 0, sizeof(mh));
	mh.msg_name = src;
	mh.msg_namelen = sizeof(*src);
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = control.c;
	mh.msg_controllen = sizeof(control.c);
	do
		len = recvmsg(n->fd, &mh, MSG_TRUNC);
	while (len == -1 && errno == EINTR);
	if (len >= 0)
		read_drops(n, &mh);
	return (long)len;
}

/* Leaves the group and closes; safe on a net that never opened. */
void
net_close(struct net *n)
{
	if (n->fd < 0)
		return;
	/* Closing leaves the group anyway; this only says so at once. */
	(void)setsockopt(n->fd, IPPROTO_IP, IP_DROP_MEMBERSHIP, &n->mreq,
	    sizeof(n->mreq));
	close(n->fd);
	n->fd = -1;
}
