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
/* recvmmsg(2), sendmmsg(2): Linux, in glibc and musl. */
#define _GNU_SOURCE	/* NOLINT(bugprone-reserved-identifier,cert-dcl37-c,cert-dcl51-cpp) */
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

/*
 * Queues one datagram (at most WIRE_MAX bytes) for the group. Returns its
 * place in the queue; once that is NET_BATCH - 1 the queue is full, and
 * the caller sends it with net_flush() before queueing more.
 */
int
net_queue(struct net *n, const char *buf, size_t len)
{
	struct net_datagram *d = &n->out[n->nout];

	memcpy(d->data, buf, len);
	d->len = len;
	return n->nout++;
}

/*
 * Sends the queue to the group, with one system call where sendto(2)
 * would take one each. A datagram the kernel refuses is skipped: returns
 * its place in the queue, with errno set, and the next call goes on after
 * it. Returns -1 once all are sent; the queue is then empty.
 */
int
net_flush(struct net *n)
{
	struct mmsghdr mm[NET_BATCH];
	struct iovec iov[NET_BATCH];
	int i, sent;

	memset(mm, 0, sizeof(mm));
	for (i = n->out_next; i < n->nout; i++) {
		iov[i].iov_base = n->out[i].data;
		iov[i].iov_len = n->out[i].len;
		mm[i].msg_hdr.msg_name = &n->group;
		mm[i].msg_hdr.msg_namelen = sizeof(n->group);
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	while (n->out_next < n->nout) {
		sent = sendmmsg(n->fd, mm + n->out_next, (unsigned)(n->nout -
		    n->out_next), 0);
		if (sent == -1 && errno == EINTR)
			continue;
		if (sent == -1)
			return n->out_next++;
		n->out_next += sent;
	}
	n->nout = n->out_next = 0;
	return -1;
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
 * Receives up to NET_BATCH datagrams into n->in, with one system call
 * where recvmsg(2) would take one each. Returns how many (fewer than
 * NET_BATCH: none are left waiting), or -1 with errno set (EAGAIN: none
 * was waiting). Each len is the datagram's full length, which may exceed
 * its buffer (the rest is cut off). Updates n->kernel_drops.
 */
int
net_recv(struct net *n)
{
	/* CMSG_SPACE keeps each row aligned like the first. */
	_Alignas(struct cmsghdr) char
	    control[NET_BATCH][CMSG_SPACE(sizeof(uint32_t))];
	struct mmsghdr mm[NET_BATCH];
	struct iovec iov[NET_BATCH];
	int i, got;

	memset(mm, 0, sizeof(mm));
	for (i = 0; i < NET_BATCH; i++) {
		iov[i].iov_base = n->in[i].data;
		iov[i].iov_len = sizeof(n->in[i].data);
		mm[i].msg_hdr.msg_name = &n->in[i].src;
		mm[i].msg_hdr.msg_namelen = sizeof(n->in[i].src);
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_control = control[i];
		mm[i].msg_hdr.msg_controllen = sizeof(control[i]);
	}
	do
		got = recvmmsg(n->fd, mm, NET_BATCH, MSG_TRUNC, NULL);
	while (got == -1 && errno == EINTR);
	for (i = 0; i < got; i++) {
		n->in[i].len = mm[i].msg_len;
		read_drops(n, &mm[i].msg_hdr);
	}
	return got;
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
