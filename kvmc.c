/*
 * kvmc.c - one node of a replicated key-value store over IP multicast,
 * with no ordering protocol: every node applies messages in the order
 * they reach it, and so replicas can diverge. This file holds the one
 * select() loop over stdin, the socket and the timers, what each stdin
 * command does, and the processing of messages.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/random.h>
#include <sys/select.h>
#include <sys/stat.h>
#include <time.h>

#include "kvmc.h"

#define RECV_BATCH	256	/* datagrams per wakeup, then the rest */
#define FIELDS_MAX	8192	/* an escaped message's fields for a log line */

struct node {
	struct settings	 set;
	struct net	 net;
	struct kv	*kv;
	struct seen	 processed;	/* ids already processed */
	struct seen	 sent;		/* ids this node sent */
	uint64_t	 order;		/* the local order: SET, GET, PRINT */
	struct check	 check;
	struct peers	 peers;
	uint64_t	 next_hello;	/* monotonic ms */
	uint32_t	 kernel_drops_logged;
	uint64_t	 received;	/* datagrams, whatever became of them */
	uint64_t	 rejected;
	int		 reads_stdin;
	int		 interactive;	/* stdin is a terminal */
	int		 prompt_open;	/* "> " shown, nothing typed since */
	char		 line[LINE_MAX_IN + 1];
	size_t		 line_len;
	int		 discarding;	/* the rest of an over-long line */
	const char	*stop_reason;	/* set: the loop ends */
	const char	*stop_pending;	/* set: ends when the CHECK is over */
	int		 stop_signal;
};

static volatile sig_atomic_t got_signal;

/* ---- randomness ---- */

/* getrandom(2): no file needed, so it works in an empty container. */
static void
random_bytes(void *buf, size_t len)
{
	unsigned char *p = buf;
	ssize_t n;

	while (len > 0) {
		n = getrandom(p, len, 0);
		if (n == -1) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "kvmc: getrandom: %s\n",
			    strerror(errno));
			exit(1);
		}
		p += n;
		len -= (size_t)n;
	}
}

static void
new_id(char id[UUID_LEN + 1])
{
	unsigned char rnd[16];

	random_bytes(rnd, sizeof(rnd));
	msg_format_id(id, rnd);
}

/* Milliseconds on the monotonic clock: for timers, never for logs. */
static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- sending ---- */

/* A reply on stdout, at once; one that cannot be written is dropped. */
static void
reply(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
reply(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fflush(stdout);
}

/* A message for the person at the keyboard, not a log event. */
static void
user_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
user_error(const char *fmt, ...)
{
	va_list ap;

	fputs("error: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* HELLO is background chatter: logged at debug only, whatever happens. */
static enum log_level
chatter_level(const struct msg *m)
{
	return m->type == MSG_HELLO ? LOG_DEBUG : LOG_INFO;
}

/*
 * Multicasts one message of this node. Returns 0, or -1 when it would not
 * fit in a datagram (nothing is sent then).
 */
static int
send_msg(struct node *nd, struct msg *m)
{
	char wire[WIRE_MAX + 1], fields[FIELDS_MAX];
	size_t len;

	new_id(m->id);
	memcpy(m->from, nd->set.node_id, sizeof(m->from));
	len = msg_encode(m, wire, sizeof(wire));
	if (len == 0)
		return -1;
	/* Remember it first: the loopback copy may be read right after. */
	seen_add(&nd->sent, m->id);
	if (log_enabled(chatter_level(m))) {
		msg_describe(m, fields, sizeof(fields));
		log_event(chatter_level(m), "send", "%s", fields);
	}
	if (net_send(&nd->net, wire, len) == -1)
		log_event(LOG_WARN, "send_error", "id=%s errno=%d", m->id,
		    errno);
	return 0;
}

/*
 * EOF and EXIT: stop reading stdin, and stop once the open CHECK, if
 * any, has printed its verdict.
 */
static void
request_stop(struct node *nd, const char *reason)
{
	nd->reads_stdin = 0;
	if (nd->check.open)
		nd->stop_pending = reason;
	else
		nd->stop_reason = reason;
}

static int
stopping(const struct node *nd)
{
	return nd->stop_reason != NULL || nd->stop_pending != NULL;
}

/* ---- stdin commands ---- */

static void
print_local(struct node *nd, const char *key, size_t key_len)
{
	char shown_key[3 * KEY_MAX + 1], shown_value[3 * WIRE_MAX + 1];
	const char *value;
	size_t value_len;

	msg_display(shown_key, sizeof(shown_key), key, key_len);
	value = kv_get(nd->kv, key, key_len, &value_len);
	if (value == NULL) {
		reply("%s (not set)\n", shown_key);
		return;
	}
	msg_display(shown_value, sizeof(shown_value), value, value_len);
	reply("%s = %s\n", shown_key, shown_value);
}

static void
print_help(void)
{
	reply("SET <key> <value>  store value under key on every node\n"
	    "GET <key>          print the local value; every node logs its own\n"
	    "PRINT              every node logs its whole store\n"
	    "CHECK              ask every node for its digest: do they agree?\n"
	    "PEERS              the nodes this node hears, and how long ago\n"
	    "HELP               this text\n"
	    "EXIT               leave the group and stop\n");
}

/* SET and GET go out as messages; GET also answers from here at once. */
static void
command_send(struct node *nd, enum msg_type type, const struct cmd *c)
{
	static const char too_big[] = "message would not fit in one datagram";
	struct msg m = { .type = type };

	if (c->value_len >= sizeof(m.value)) {
		user_error("%s", too_big);
		return;
	}
	memcpy(m.key, c->key, c->key_len);
	m.key_len = c->key_len;
	memcpy(m.value, c->value, c->value_len);
	m.value_len = c->value_len;
	if (send_msg(nd, &m) == -1) {
		user_error("%s", too_big);
		return;
	}
	if (type == MSG_GET)
		print_local(nd, m.key, m.key_len);
}

static void
command_check(struct node *nd)
{
	struct msg m = { .type = MSG_CHECK };

	if (nd->check.open) {
		user_error("a CHECK is still waiting for replies");
		return;
	}
	send_msg(nd, &m);
	check_open(&nd->check, m.id, now_ms() + nd->set.check_window);
}

/* One line from stdin, newline removed. */
static void
on_line(struct node *nd, const char *line, size_t len)
{
	struct msg print = { .type = MSG_PRINT };
	char shown[3 * 64 + 1];
	const char *error;
	struct cmd c;

	if ((error = cmd_parse(line, len, &c)) != NULL) {
		/* The verb as typed, cut short and safe for the terminal. */
		msg_display(shown, sizeof(shown), c.word, c.word_len < 64 ?
		    c.word_len : 64);
		if (c.verb == CMD_UNKNOWN)
			user_error("unknown command '%s' (try HELP)", shown);
		else
			user_error("%s", error);
		return;
	}
	switch (c.verb) {
	case CMD_NONE:
	case CMD_UNKNOWN:
		break;
	case CMD_SET:
		command_send(nd, MSG_SET, &c);
		break;
	case CMD_GET:
		command_send(nd, MSG_GET, &c);
		break;
	case CMD_PRINT:
		send_msg(nd, &print);
		break;
	case CMD_CHECK:
		command_check(nd);
		break;
	case CMD_PEERS:
		peers_print(&nd->peers, now_ms());
		break;
	case CMD_HELP:
		print_help();
		break;
	case CMD_EXIT:
		request_stop(nd, "exit");
		break;
	}
}

/* After the log lines of the last command: the prompt is the last thing shown. */
static void
prompt(struct node *nd)
{
	if (nd->interactive && !stopping(nd)) {
		log_flush();
		reply("> ");
		nd->prompt_open = 1;
	}
}

/*
 * Log lines that arrive while the prompt waits (another node's SET, say)
 * are written over it, from the start of its line, and a fresh prompt
 * follows them: the terminal stays readable.
 */
static void
flush_logs(struct node *nd)
{
	int redraw = nd->prompt_open && log_pending() && !stopping(nd);

	if (redraw)
		reply("\r");
	log_flush();
	if (redraw)
		reply("> ");
}

/* Collects bytes into lines; an over-long line is dropped whole. */
static void
feed_stdin(struct node *nd, const char *p, size_t len)
{
	size_t i;

	for (i = 0; i < len && !stopping(nd); i++) {
		if (p[i] == '\n') {
			if (!nd->discarding) {
				on_line(nd, nd->line, nd->line_len);
				prompt(nd);
			}
			nd->discarding = 0;
			nd->line_len = 0;
		} else if (nd->discarding)
			continue;
		else if (nd->line_len == LINE_MAX_IN) {
			user_error("line longer than %d bytes, discarded",
			    LINE_MAX_IN);
			nd->discarding = 1;
		} else
			nd->line[nd->line_len++] = p[i];
	}
}

/*
 * One read(2) per wakeup: fd 0 stays blocking (it is shared with the
 * shell), and select() said there is something to read.
 */
static void
on_stdin(struct node *nd)
{
	char chunk[4096];
	ssize_t n;

	n = read(STDIN_FILENO, chunk, sizeof(chunk));
	nd->prompt_open = 0;	/* the line typed after it ended its line */
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* A last line without a newline is still a command. */
		if (nd->line_len > 0 && !nd->discarding)
			on_line(nd, nd->line, nd->line_len);
		if (!stopping(nd))
			request_stop(nd, "eof");
		return;
	}
	feed_stdin(nd, chunk, (size_t)n);
}

/* ---- processing ---- */

static void
log_apply(struct node *nd, const struct msg *m, const char *extra_fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The apply line: order, the message's fields, then what applying found. */
static void
log_apply(struct node *nd, const struct msg *m, const char *extra_fmt, ...)
{
	char fields[FIELDS_MAX], extra[FIELDS_MAX];
	va_list ap;

	if (!log_enabled(LOG_INFO))
		return;
	msg_describe(m, fields, sizeof(fields));
	va_start(ap, extra_fmt);
	vsnprintf(extra, sizeof(extra), extra_fmt, ap);
	va_end(ap);
	log_event(LOG_INFO, "apply", "order=%llu %s%s",
	    (unsigned long long)nd->order, fields, extra);
}

/* CHECK, DIGEST, HELLO: processed, but not counted in the local order. */
static void
log_apply_unordered(const struct msg *m)
{
	char fields[FIELDS_MAX];

	if (!log_enabled(chatter_level(m)))
		return;
	msg_describe(m, fields, sizeof(fields));
	log_event(chatter_level(m), "apply", "%s", fields);
}

static void
answer_check(struct node *nd, const struct msg *check)
{
	struct msg m = { .type = MSG_DIGEST };

	memcpy(m.re, check->id, sizeof(m.re));
	m.digest = kv_digest(nd->kv);
	m.entries = kv_count(nd->kv);
	m.order = nd->order;
	send_msg(nd, &m);
}

static void
apply_get(struct node *nd, const struct msg *m)
{
	char escaped[ESCAPED_MAX];
	const char *value;
	size_t value_len;

	value = kv_get(nd->kv, m->key, m->key_len, &value_len);
	if (value == NULL) {
		log_apply(nd, m, " found=no");
		return;
	}
	msg_escape(escaped, sizeof(escaped), value, value_len);
	log_apply(nd, m, " found=yes value=%s", escaped);
}

static void
apply_print(struct node *nd, const struct msg *m)
{
	char key[3 * KEY_MAX + 1], value[ESCAPED_MAX];
	struct kv_entry **all;
	const char *p;
	size_t i, len;

	log_apply(nd, m, " entries=%zu digest=%016llx", kv_count(nd->kv),
	    (unsigned long long)kv_digest(nd->kv));
	if (!log_enabled(LOG_INFO))
		return;
	all = kv_sorted_new(nd->kv);
	for (i = 0; all[i] != NULL; i++) {
		p = kv_entry_key(all[i], &len);
		msg_escape(key, sizeof(key), p, len);
		p = kv_entry_value(all[i], &len);
		msg_escape(value, sizeof(value), p, len);
		log_event(LOG_INFO, "entry", "key=%s value=%s", key, value);
	}
	free(all);
}

/* A peer is heard; this node's own id on a message it never sent is not. */
static void
note_sender(struct node *nd, const struct msg *m)
{
	if (strcmp(m->from, nd->set.node_id) != 0)
		peers_heard(&nd->peers, m->from, now_ms());
	else if (!seen_has(&nd->sent, m->id))
		log_event(LOG_WARN, "id_conflict", "id=%s from=%s type=%s",
		    m->id, m->from, msg_type_name(m->type));
}

static void
apply(struct node *nd, const struct msg *m)
{
	switch (m->type) {
	case MSG_HELLO:
		log_apply_unordered(m);
		break;
	case MSG_CHECK:
		log_apply_unordered(m);
		answer_check(nd, m);
		break;
	case MSG_DIGEST:
		log_apply_unordered(m);
		check_record(&nd->check, m);
		break;
	case MSG_SET:
		nd->order++;
		kv_set(nd->kv, m->key, m->key_len, m->value, m->value_len);
		log_apply(nd, m, "%s", "");
		break;
	case MSG_GET:
		nd->order++;
		apply_get(nd, m);
		break;
	case MSG_PRINT:
		nd->order++;
		apply_print(nd, m);
		break;
	}
}

/* Processes m once: a message already processed is only logged. */
static void
process(struct node *nd, const struct msg *m)
{
	if (seen_has(&nd->processed, m->id)) {
		log_event(LOG_INFO, "duplicate", "id=%s from=%s type=%s",
		    m->id, m->from, msg_type_name(m->type));
		return;
	}
	seen_add(&nd->processed, m->id);
	note_sender(nd, m);
	apply(nd, m);
}

/* The simulated network decides when, or whether, m is processed. */
static void
simulate(struct node *nd, const struct msg *m, const char *wire, size_t len)
{
	enum sim_fate fate;
	long delay;

	fate = sim_receive(&nd->set.sim, m->from, wire, len, now_ms(), &delay);
	if (delay >= 0)
		log_event(chatter_level(m), "recv", "id=%s from=%s type=%s "
		    "delay_ms=%ld", m->id, m->from, msg_type_name(m->type), delay);
	switch (fate) {
	case SIM_PASS:
		process(nd, m);
		break;
	case SIM_DROP:
		log_event(chatter_level(m), "sim_drop", "id=%s from=%s type=%s",
		    m->id, m->from, msg_type_name(m->type));
		break;
	case SIM_OVERFLOW:
		log_event(LOG_WARN, "sim_overflow", "id=%s from=%s type=%s "
		    "held=%d", m->id, m->from, msg_type_name(m->type),
		    SIM_HELD_MAX);
		break;
	case SIM_HOLD:
		break;
	}
}

static void
on_datagram(struct node *nd, const char *buf, size_t len,
    const struct sockaddr_in *src)
{
	enum msg_reason reason;
	struct msg m;
	char addr[INET_ADDRSTRLEN];

	nd->received++;
	reason = msg_decode(buf, len, &m);
	if (reason == MSG_OK) {
		if (sim_active(&nd->set.sim))
			simulate(nd, &m, buf, len);
		else
			process(nd, &m);
		return;
	}
	nd->rejected++;
	if (!log_enabled(LOG_WARN))
		return;
	inet_ntop(AF_INET, &src->sin_addr, addr, sizeof(addr));
	log_event(LOG_WARN, "reject", "reason=%s src=%s:%u bytes=%zu",
	    msg_reason_name(reason), addr, ntohs(src->sin_port), len);
}

/*
 * Loss in the kernel (a full receive buffer) is not a reject: say so
 * apart, with the running count. The kernel reports it with the next
 * datagram that it does queue, so this line can come late.
 */
static void
report_kernel_drops(struct node *nd)
{
	uint32_t total = nd->net.kernel_drops;

	if (total == nd->kernel_drops_logged)
		return;
	log_event(LOG_WARN, "kernel_drop", "dropped=%u total=%u",
	    (unsigned)(total - nd->kernel_drops_logged), (unsigned)total);
	nd->kernel_drops_logged = total;
}

/* A bounded batch, so that a flood cannot starve stdin or a signal. */
static void
on_socket(struct node *nd)
{
	char buf[WIRE_MAX + 1];
	struct sockaddr_in src;
	long len;
	int i;

	for (i = 0; i < RECV_BATCH; i++) {
		len = net_recv(&nd->net, buf, sizeof(buf), &src);
		if (len == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_event(LOG_WARN, "recv_error", "errno=%d",
				    errno);
			break;
		}
		on_datagram(nd, buf, (size_t)len, &src);
	}
	report_kernel_drops(nd);
}

/* The heartbeat: one HELLO per interval, on time even after a late wakeup. */
static void
send_hello(struct node *nd, uint64_t now)
{
	struct msg m = { .type = MSG_HELLO };

	send_msg(nd, &m);
	nd->next_hello += nd->set.hello_interval;
	if (nd->next_hello <= now)
		nd->next_hello = now + nd->set.hello_interval;
}

/* Held messages that are due, the heartbeat, peers, the CHECK window. */
static void
on_timer(struct node *nd)
{
	char wire[WIRE_MAX];
	struct msg m;
	uint64_t now = now_ms();
	size_t len;

	if (nd->set.hello_interval > 0 && now >= nd->next_hello)
		send_hello(nd, now);
	peers_check(&nd->peers, now);
	while ((len = sim_pop_due(&nd->set.sim, now, wire)) > 0) {
		/* It was accepted once: decoding again cannot fail. */
		if (msg_decode(wire, len, &m) == MSG_OK)
			process(nd, &m);
	}
	if (nd->check.open && now >= nd->check.deadline) {
		check_report(&nd->check);
		if (nd->stop_pending != NULL)
			nd->stop_reason = nd->stop_pending;
	}
}

static void
keep_earliest(uint64_t *due, int *any, uint64_t at)
{
	if (!*any || at < *due)
		*due = at;
	*any = 1;
}

/* The wait until the nearest deadline; NULL (forever) when none. */
static struct timespec *
next_timeout(const struct node *nd, struct timespec *ts)
{
	uint64_t due = 0, at, now = now_ms(), wait;
	int any = 0;

	if (sim_next_due(&nd->set.sim, &at))
		keep_earliest(&due, &any, at);
	if (peers_next_due(&nd->peers, &at))
		keep_earliest(&due, &any, at);
	if (nd->check.open)
		keep_earliest(&due, &any, nd->check.deadline);
	if (nd->set.hello_interval > 0)
		keep_earliest(&due, &any, nd->next_hello);
	if (!any)
		return NULL;
	wait = due > now ? due - now : 0;
	ts->tv_sec = (time_t)(wait / 1000);
	ts->tv_nsec = (long)(wait % 1000) * 1000000;
	return ts;
}

/* ---- the loop ---- */

static void
on_signal(int sig)
{
	got_signal = sig;
}

static const char *
signal_name(int sig)
{
	switch (sig) {
	case SIGINT:
		return "SIGINT";
	case SIGTERM:
		return "SIGTERM";
	default:
		return "SIGHUP";
	}
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

	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
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

static int
run(struct node *nd, const sigset_t *wait_mask)
{
	struct timespec ts;
	fd_set readable;
	int fd = nd->net.fd, n;

	prompt(nd);
	while (nd->stop_reason == NULL) {
		on_timer(nd);
		if (nd->stop_reason != NULL)
			break;
		FD_ZERO(&readable);
		FD_SET(fd, &readable);
		if (nd->reads_stdin)
			FD_SET(STDIN_FILENO, &readable);
		flush_logs(nd);
		n = pselect(fd + 1, &readable, NULL, NULL, next_timeout(nd, &ts),
		    wait_mask);
		if (got_signal) {
			nd->stop_reason = "signal";
			nd->stop_signal = got_signal;
			break;
		}
		if (n == -1) {
			if (errno == EINTR)
				continue;
			log_event(LOG_ERROR, "select_error", "errno=%d", errno);
			return 1;
		}
		if (FD_ISSET(fd, &readable))
			on_socket(nd);
		if (nd->reads_stdin && FD_ISSET(STDIN_FILENO, &readable))
			on_stdin(nd);
	}
	return 0;
}

/* A character device that is not a terminal (/dev/null) means no input. */
static void
choose_input(struct node *nd)
{
	struct stat st;

	nd->interactive = !nd->set.no_input && isatty(STDIN_FILENO);
	nd->reads_stdin = !nd->set.no_input &&
	    fstat(STDIN_FILENO, &st) == 0 &&
	    (!S_ISCHR(st.st_mode) || nd->interactive);
}

static void
log_start(const struct node *nd)
{
	char group[INET_ADDRSTRLEN], iface[3 * IF_NAMESIZE + 1];
	char delay[ESCAPED_MAX], loss[ESCAPED_MAX];
	const char *d = nd->set.sim_delay ? nd->set.sim_delay : "";
	const char *l = nd->set.sim_loss ? nd->set.sim_loss : "0";

	inet_ntop(AF_INET, &nd->set.net.group, group, sizeof(group));
	if (nd->set.interface != NULL)
		msg_escape(iface, sizeof(iface), nd->set.interface,
		    strlen(nd->set.interface));
	else
		snprintf(iface, sizeof(iface), "default");
	msg_escape(delay, sizeof(delay), d, strlen(d));
	msg_escape(loss, sizeof(loss), l, strlen(l));
	log_always("start", "version=%s group=%s port=%u ttl=%d interface=%s "
	    "log_level=%s input=%s hello_interval=%u check_window=%u "
	    "sim_delay=%s sim_loss=%s sim_seed=%llu", KVMC_VERSION, group,
	    nd->set.net.port, nd->set.net.ttl, iface,
	    log_level_name(nd->set.log_level), nd->reads_stdin ? "yes" : "no",
	    nd->set.hello_interval, nd->set.check_window, delay, loss,
	    (unsigned long long)nd->set.sim.seed);
}

/* Before the settings: a random node id and seed, unless they are given. */
static void
random_defaults(struct settings *set)
{
	unsigned char rnd[4];
	size_t i;

	random_bytes(rnd, sizeof(rnd));
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(set->node_id + 2 * i, 3, "%02x", rnd[i]);
	random_bytes(&set->sim.seed, sizeof(set->sim.seed));
}

static struct node *
node_new(int argc, char **argv)
{
	struct node *nd = xcalloc(1, sizeof(*nd));
	uint64_t hash_key[2];

	settings_defaults(&nd->set);
	random_defaults(&nd->set);
	settings_load(&nd->set, argc, argv);
	random_bytes(hash_key, sizeof(hash_key));
	nd->kv = kv_new(hash_key);
	seen_init(&nd->processed, hash_key);
	seen_init(&nd->sent, hash_key);
	nd->net.fd = -1;
	sim_start(&nd->set.sim);
	peers_init(&nd->peers, nd->set.hello_interval);
	choose_input(nd);
	return nd;
}

static void
node_free(struct node *nd)
{
	net_close(&nd->net);
	kv_free(nd->kv);
	sim_free(&nd->set.sim);
	check_free(&nd->check);
	peers_free(&nd->peers);
	free(nd);
}

/* Which step failed, on what, and the system's reason: for exit 1. */
static void
net_failed(const struct node *nd)
{
	char group[INET_ADDRSTRLEN];
	int saved = errno;

	inet_ntop(AF_INET, &nd->set.net.group, group, sizeof(group));
	fprintf(stderr, "kvmc: %s failed (group %s, port %u, interface %s): "
	    "%s\n", nd->net.failed, group, nd->set.net.port,
	    nd->set.interface ? nd->set.interface : "the kernel's choice",
	    strerror(saved));
}

/* The last line: why, and what this node went through. */
static void
log_stop(const struct node *nd)
{
	char why[64];

	if (nd->stop_signal != 0)
		snprintf(why, sizeof(why), "reason=signal signal=%s",
		    signal_name(nd->stop_signal));
	else
		snprintf(why, sizeof(why), "reason=%s",
		    nd->stop_reason ? nd->stop_reason : "error");
	log_always("stop", "%s received=%llu rejected=%llu order=%llu "
	    "kernel_drops=%u", why, (unsigned long long)nd->received,
	    (unsigned long long)nd->rejected, (unsigned long long)nd->order,
	    (unsigned)nd->net.kernel_drops);
}

int
main(int argc, char **argv)
{
	struct node *nd;
	sigset_t wait_mask;
	int status;

	nd = node_new(argc, argv);
	log_init(nd->set.node_id, nd->set.log_level);
	setup_signals(&wait_mask);
	log_start(nd);
	if (net_open(&nd->net, &nd->set.net) == -1) {
		net_failed(nd);
		node_free(nd);
		return 1;
	}
	log_always("ready", "rcvbuf=%d", nd->net.rcvbuf);
	nd->next_hello = now_ms();	/* the first HELLO goes out at once */
	status = run(nd, &wait_mask);
	log_stop(nd);
	log_flush();
	node_free(nd);
	return status;
}
