/*
 * testnet - what the test programs that talk to a group directly share:
 * their messages, their numbers, and their two kinds of socket. A sender
 * always leaves through 127.0.0.1 with TTL 0, and a member joins on
 * 127.0.0.1 only, so no test traffic can reach a real network.
 */
#ifndef TESTNET_H
#define TESTNET_H

#include <netinet/in.h>

extern const char *prog;	/* the program's name, set by its main */

/* "prog: what: strerror(errno)" on stderr; returns 1, main's failure. */
int	fail(const char *what);
/* A decimal number in [min, max]; -1 when s is not one. */
long	number(const char *s, long min, long max);
/* GROUP and PORT as an address; -1 with a message when they are not. */
int	group_address(const char *group, const char *port,
	    struct sockaddr_in *at);
/* A socket that sends through 127.0.0.1 with TTL 0, or -1 (message). */
int	open_sender(void);
/* A socket bound to at that joined its group on 127.0.0.1, or -1. */
int	open_member(const struct sockaddr_in *at);

#endif
