/*
 * kvmc.c - one node of a replicated key-value store over IP multicast,
 * with no ordering protocol: every node applies messages in the order
 * they reach it, and so replicas can diverge.
 *
 * This file only starts, waits and dispatches: main reads the settings
 * and runs one pselect() loop over the socket, stdin and the nearest
 * timer. What a message does lives in node.c; what a typed line does, and
 * everything written to stdout, in console.c.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/select.h>
#include <time.h>

#include "kvmc.h"

static volatile sig_atomic_t got_signal;

static void
on_signal(int sig)
{
	got_signal = sig;
}

static void
stop_signals(sigset_t *set)
{
	sigemptyset(set);
	sigaddset(set, SIGINT);
	sigaddset(set, SIGTERM);
	sigaddset(set, SIGHUP);
}

/*
 * The stop signals stay blocked except inside pselect(), so one that
 * arrives while a batch is being handled ends the next wait at once.
 */
static void
setup_signals(sigset_t *wait_mask)
{
	struct sigaction sa;
	sigset_t block;

	stop_signals(&block);
	sigprocmask(SIG_BLOCK, &block, wait_mask);
	sigdelset(wait_mask, SIGINT);
	sigdelset(wait_mask, SIGTERM);
	sigdelset(wait_mask, SIGHUP);

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;	/* no SA_RESTART: pselect must end */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
}

/*
 * When a descriptor is ready, pselect() returns without delivering a
 * pending signal, so under a flood a SIGTERM could wait for the flood to
 * end. After a batch the loop takes a pending stop signal itself, at most
 * once a millisecond: when datagrams come a few at a time, the system
 * call cost more than the batch.
 */
static int
take_pending_signal(void)
{
	static const struct timespec no_wait = { 0, 0 };
	static uint64_t asked_at;
	uint64_t now;
	sigset_t stop;
	int sig;

	if (got_signal)
		return got_signal;
	if ((now = node_now()) == asked_at)
		return 0;
	asked_at = now;
	stop_signals(&stop);
	sig = sigtimedwait(&stop, NULL, &no_wait);
	return sig > 0 ? sig : 0;
}

/* The wait until the nearest deadline; NULL (forever) when none. */
static struct timespec *
next_timeout(const struct node *nd, struct timespec *ts)
{
	uint64_t due = 0, now = node_now(), wait;

	if (!node_next_due(nd, &due))
		return NULL;
	wait = due > now ? due - now : 0;
	ts->tv_sec = (time_t)(wait / 1000);
	ts->tv_nsec = (long)(wait % 1000) * 1000000;
	return ts;
}

/* Returns 1 when a stop signal has come: the node then stops at once. */
static int
stopped_by_signal(struct node *nd)
{
	int sig = take_pending_signal();

	if (sig == 0)
		return 0;
	nd->stop_reason = "signal";
	nd->stop_signal = sig;
	return 1;
}

/*
 * Waits for the socket, stdin, the nearest timer, or a reader that takes
 * waiting output (out.c); writes to that reader. Returns -1 on error.
 */
static int
wait_events(struct node *nd, fd_set *readable, const sigset_t *wait_mask)
{
	struct timespec ts;
	fd_set writable;
	char err[256];
	int fd = nd->net.fd, maxfd = fd;

	FD_ZERO(readable);
	FD_SET(fd, readable);
	if (console_wants_stdin(nd))
		FD_SET(STDIN_FILENO, readable);
	node_flush(nd);
	console_flush(nd);
	out_flush();
	FD_ZERO(&writable);
	out_watch(&writable, &maxfd);
	if (pselect(maxfd + 1, readable, &writable, NULL,
	    next_timeout(nd, &ts), wait_mask) == -1) {
		FD_ZERO(readable);
		if (errno != EINTR) {
			log_event(LOG_ERROR, "select_error", "err=%s",
			    log_err(errno, err, sizeof(err)));
			return -1;
		}
		return 0;
	}
	out_on_writable(&writable);
	return 0;
}

/* Timers, then the socket, then stdin: a signal wins over all of them. */
static int
run(struct node *nd, const sigset_t *wait_mask)
{
	fd_set readable;

	while (nd->stop_reason == NULL) {
		node_on_timer(nd, node_now());
		console_resume(nd);
		if (nd->stop_reason != NULL)
			break;
		if (wait_events(nd, &readable, wait_mask) == -1)
			return 1;
		if (got_signal && stopped_by_signal(nd))
			break;
		if (FD_ISSET(nd->net.fd, &readable))
			node_on_socket(nd);
		if (stopped_by_signal(nd))
			break;
		if (console_wants_stdin(nd) && FD_ISSET(STDIN_FILENO, &readable))
			console_on_stdin(nd);
	}
	return 0;
}

/* Exits as SPEC says: 0 after --help or --version, 2 on a bad setting. */
static void
load_settings(struct settings *set, int argc, char **argv)
{
	char error[4 * LINE_MAX_IN];

	settings_defaults(set);
	node_random_settings(set);
	switch (settings_load(set, argc, argv, error, sizeof(error))) {
	case SETTINGS_RUN:
		return;
	case SETTINGS_HELP:
		fputs(settings_help(), stdout);
		exit(0);
	case SETTINGS_VERSION:
		printf("kvmc %s\n", KVMC_VERSION);
		exit(0);
	case SETTINGS_BAD:
		fprintf(stderr, "kvmc: %s\n", error);
		exit(2);
	}
}

int
main(int argc, char **argv)
{
	struct settings set;
	struct node *nd;
	sigset_t wait_mask;
	int status = 1;

	if (argc > 1 && strcmp(argv[1], "trace") == 0)
		return trace_main(argc - 1, argv + 1);
	load_settings(&set, argc, argv);
	out_init();
	log_init(set.node_id, set.log_level, set.log_format);
	setup_signals(&wait_mask);
	nd = node_new(&set);
	if (node_start(nd) == 0) {
		status = run(nd, &wait_mask);
		node_flush(nd);
		console_close(nd);
		node_log_stop(nd);
		log_flush();
	} else
		console_close(nd);
	out_close();
	node_free(nd);
	return status;
}
