/*
 * node.c - what a message does. A datagram is decoded (a broken one is
 * rejected), passed through the simulated network, checked against the
 * ids already processed, and applied: SET, GET and PRINT in the local
 * order, CHECK answered with a DIGEST, a DIGEST kept for the open CHECK.
 * This file also sends: every message of this node is encoded, remembered
 * and multicast here, and logged as it goes.
 *
 * The path of a datagram:
 *   node_on_socket -> on_datagram -> msg_decode -> order_fits (the mode)
 *   -> simulate (sim.c) -> process (duplicate? id_conflict?)
 *   -> order_receive (order.c: now, later, never?) -> apply -> kv.c ...
 * order.c decides when a command is applied; this file, what applying
 * does. In mode none order.c lets every message through at once.
 */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <net/if.h>
#include <sys/random.h>
#include <time.h>

#include "kvmc.h"

#define RECV_BATCH	256	/* datagrams per wakeup, then the rest */
#define FIELDS_MAX	8192	/* an escaped message's fields for a log line */

/* ---- clock and randomness ---- */

/* Milliseconds on the monotonic clock: for timers, never for logs. */
uint64_t
node_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

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
			/* Without randomness no id can be made: nothing to run. */
			fprintf(stderr, "kvmc: getrandom: %s\n",
			    strerror(errno));
			exit(1);
		}
		p += n;
		len -= (size_t)n;
	}
}

/*
 * Ids take their randomness 256 at a time: one getrandom(2) per id was a
 * system call per datagram sent, the sequencer's ORDERs included.
 */
static void
new_id(char id[UUID_LEN + 1])
{
	static unsigned char pool[256 * 16];
	static size_t used = sizeof(pool);

	if (used == sizeof(pool)) {
		random_bytes(pool, sizeof(pool));
		used = 0;
	}
	msg_format_id(id, pool + used);
	used += 16;
}

/* Before the settings are read: a random node id and seed, as defaults. */
void
node_random_settings(struct settings *set)
{
	unsigned char rnd[4];
	size_t i;

	random_bytes(rnd, sizeof(rnd));
	for (i = 0; i < sizeof(rnd); i++)
		snprintf(set->node_id + 2 * i, 3, "%02x", rnd[i]);
	random_bytes(&set->sim.seed, sizeof(set->sim.seed));
}

/* ---- sending ---- */

/*
 * HELLO, ORDER and NACK are background chatter: logged at debug only,
 * whatever happens.
 */
static enum log_level
chatter_level(const struct msg *m)
{
	return m->type == MSG_HELLO || m->type == MSG_ORDER ||
	    m->type == MSG_NACK ? LOG_DEBUG : LOG_INFO;
}

/* The group key, or NULL: what msg_decode checks tags against. */
static const uint64_t *
group_key(const struct node *nd)
{
	return nd->set.keyed ? nd->set.group_key : NULL;
}

/*
 * The one place where the bytes this node sends are made: encoded, then
 * sealed with the group key's tag, if any, which counts against the
 * datagram's size. Returns the length, or 0 when it would not fit.
 */
static size_t
encode_sealed(const struct node *nd, const struct msg *m, char *wire,
    size_t cap)
{
	size_t len = msg_encode(m, wire, cap);

	if (len > 0 && nd->set.keyed)
		len = msg_seal(wire, len, cap, nd->set.group_key);
	return len;
}

/*
 * Sends what was queued. A failed send is logged, not returned: the
 * message is gone like one lost on the way.
 */
void
node_flush(struct node *nd)
{
	char err[256];
	int bad;

	while ((bad = net_flush(&nd->net)) != -1) {
		if (nd->sending[bad][0] != '\0')
			log_event(LOG_WARN, "send_error", "id=%s err=%s",
			    nd->sending[bad], log_err(errno, err, sizeof(err)));
		else
			log_event(LOG_WARN, "send_error", "resend err=%s",
			    log_err(errno, err, sizeof(err)));
	}
}

/*
 * Datagrams leave in batches, one system call each, when the loop is
 * about to wait or the batch is full: a writer, or the sequencer sending
 * ORDERs, paid a system call per datagram. id names the message for a
 * failed send's line; "" is a resend.
 */
static void
queue_datagram(struct node *nd, const char *wire, size_t len, const char *id)
{
	int i = net_queue(&nd->net, wire, len);

	memcpy(nd->sending[i], id, strlen(id) + 1);
	if (i == NET_BATCH - 1)
		node_flush(nd);
}

/*
 * Multicasts one message of this node, with a fresh id and this node as
 * its sender; its bytes go to wire. Returns their length, or 0 when it
 * would not fit in a datagram (nothing is sent then).
 */
static size_t
send_wire(struct node *nd, struct msg *m, char wire[WIRE_MAX + 1])
{
	char fields[FIELDS_MAX];
	size_t len;

	new_id(m->id);
	memcpy(m->from, nd->set.node_id, sizeof(m->from));
	len = encode_sealed(nd, m, wire, WIRE_MAX + 1);
	if (len == 0)
		return 0;
	/* Remember it first: the loopback copy may be read right after. */
	seen_add(&nd->sent, m->id);
	if (log_enabled(chatter_level(m))) {
		msg_describe(m, fields, sizeof(fields));
		log_event(chatter_level(m), "send", "%s", fields);
	}
	queue_datagram(nd, wire, len, m->id);
	return len;
}

/* A message the ordering layer has no business with: CHECK, DIGEST. */
static void
send_msg(struct node *nd, struct msg *m)
{
	char wire[WIRE_MAX + 1];

	(void)send_wire(nd, m, wire);
}

/*
 * SET, GET or PRINT typed by the person. Returns -1 when the message
 * would not fit in one datagram.
 */
int
node_send_command(struct node *nd, enum msg_type type, const char *key,
    size_t key_len, const char *value, size_t value_len)
{
	struct msg m = { .type = type };

	if (key_len > KEY_MAX || value_len >= sizeof(m.value))
		return -1;
	memcpy(m.key, key, key_len);
	m.key_len = key_len;
	memcpy(m.value, value, value_len);
	m.value_len = value_len;
	return order_send(nd->ordering, &m);
}

/* CHECK: ask every node, open the window. -1 while one is still open. */
int
node_check(struct node *nd)
{
	struct msg m = { .type = MSG_CHECK };

	if (nd->check.open)
		return -1;
	send_msg(nd, &m);
	check_open(&nd->check, m.id, node_now() + nd->set.check_window);
	return 0;
}

/* ---- stopping ---- */

/*
 * EOF and EXIT: stop reading stdin, and stop once the open CHECK, if
 * any, has printed its verdict.
 */
void
node_request_stop(struct node *nd, const char *reason)
{
	nd->console.reads_stdin = 0;
	if (nd->check.open)
		nd->stop_pending = reason;
	else
		nd->stop_reason = reason;
}

int
node_stopping(const struct node *nd)
{
	return nd->stop_reason != NULL || nd->stop_pending != NULL;
}

/* Whether the ordering layer takes another command now (total's window). */
int
node_may_send(struct node *nd)
{
	/* The clock only where it is needed: this runs for every line. */
	return nd->set.ordering != ORDER_TOTAL ||
	    order_may_send(nd->ordering, node_now());
}

/* ---- processing ---- */

static void
log_apply(struct node *nd, const struct msg *m, uint64_t gseq,
    const char *extra_fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * The apply line: order, the message's fields, its gseq in total mode,
 * then what applying found.
 */
static void
log_apply(struct node *nd, const struct msg *m, uint64_t gseq,
    const char *extra_fmt, ...)
{
	char fields[FIELDS_MAX], extra[FIELDS_MAX], place[32] = "";
	va_list ap;

	if (!log_enabled(LOG_INFO))
		return;
	msg_describe(m, fields, sizeof(fields));
	if (gseq > 0)
		snprintf(place, sizeof(place), " gseq=%llu",
		    (unsigned long long)gseq);
	va_start(ap, extra_fmt);
	vsnprintf(extra, sizeof(extra), extra_fmt, ap);
	va_end(ap);
	log_event(LOG_INFO, "apply", "order=%llu %s%s%s",
	    (unsigned long long)nd->order, fields, place, extra);
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
apply_get(struct node *nd, const struct msg *m, uint64_t gseq)
{
	char escaped[ESCAPED_MAX];
	const char *value;
	size_t value_len;

	value = kv_get(nd->kv, m->key, m->key_len, &value_len);
	if (value == NULL) {
		log_apply(nd, m, gseq, " found=no");
		return;
	}
	msg_escape(escaped, sizeof(escaped), value, value_len);
	log_apply(nd, m, gseq, " found=yes value=%s", escaped);
}

static void
apply_print(struct node *nd, const struct msg *m, uint64_t gseq)
{
	char key[3 * KEY_MAX + 1], value[ESCAPED_MAX];
	struct kv_entry **all;
	const char *p;
	size_t i, len;

	log_apply(nd, m, gseq, " entries=%zu digest=%016llx", kv_count(nd->kv),
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

/*
 * A SET the store has no room for is processed all the same (it counts
 * in the local order) but not stored, and says so instead of apply.
 */
static void
apply_set(struct node *nd, const struct msg *m, uint64_t gseq)
{
	char key[3 * KEY_MAX + 1];

	if (kv_set(nd->kv, m->key, m->key_len, m->value, m->value_len) == 0) {
		log_apply(nd, m, gseq, "%s", "");
		return;
	}
	msg_escape(key, sizeof(key), m->key, m->key_len);
	log_event(LOG_WARN, "store_full", "order=%llu id=%s from=%s key=%s "
	    "bytes=%zu", (unsigned long long)nd->order, m->id, m->from, key,
	    m->key_len + m->value_len);
}

/* A peer is heard; this node's own id on a message it never sent is not. */
static void
note_sender(struct node *nd, const struct msg *m, uint64_t now)
{
	if (strcmp(m->from, nd->set.node_id) != 0)
		peers_heard(&nd->peers, m->from, now);
	else if (!seen_has(&nd->sent, m->id))
		log_event(LOG_WARN, "id_conflict", "id=%s from=%s type=%s",
		    m->id, m->from, msg_type_name(m->type));
}

/* Applies m; gseq is its place in total mode, else 0. */
static void
apply(struct node *nd, const struct msg *m, uint64_t gseq)
{
	switch (m->type) {
	case MSG_HELLO:
	case MSG_ORDER:		/* (order.c takes these in the ordered modes) */
	case MSG_NACK:
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
		apply_set(nd, m, gseq);
		break;
	case MSG_GET:
		nd->order++;
		apply_get(nd, m, gseq);
		break;
	case MSG_PRINT:
		nd->order++;
		apply_print(nd, m, gseq);
		break;
	}
}

/*
 * Processes m once: a message already processed is only logged. The
 * ordering layer decides when a command is applied; a command it had to
 * discard for want of room is not remembered, so that a resend is taken.
 */
static void
process(struct node *nd, const struct msg *m, const char *wire, size_t len,
    uint64_t now)
{
	enum order_verdict verdict;

	if (seen_has(&nd->processed, m->id)) {
		log_event(chatter_level(m), "duplicate", "id=%s from=%s type=%s",
		    m->id, m->from, msg_type_name(m->type));
		return;
	}
	note_sender(nd, m, now);
	verdict = order_receive(nd->ordering, m, wire, len, now);
	if (verdict != ORDER_FORGET)
		seen_add(&nd->processed, m->id);
	if (verdict == ORDER_PASS)
		apply(nd, m, 0);
}

/* ---- the ordering layer's hands: it says when, the node does ---- */

static size_t
io_send(void *ctx, struct msg *m, char wire[WIRE_MAX + 1])
{
	return send_wire(ctx, m, wire);
}

/* A resend is the datagram first sent, byte for byte: no log line. */
static void
io_resend(void *ctx, const char *wire, size_t len)
{
	queue_datagram(ctx, wire, len, "");
}

static void
io_apply(void *ctx, const struct msg *m, uint64_t gseq)
{
	apply(ctx, m, gseq);
}

/* The simulated network decides when, or whether, m is processed. */
static void
simulate(struct node *nd, const struct msg *m, const char *wire, size_t len,
    uint64_t now)
{
	enum sim_fate fate;
	long delay;

	fate = sim_receive(&nd->set.sim, m->from, wire, len, now, &delay);
	if (delay >= 0)
		log_event(chatter_level(m), "recv", "id=%s from=%s type=%s "
		    "delay_ms=%ld", m->id, m->from, msg_type_name(m->type), delay);
	switch (fate) {
	case SIM_PASS:
		process(nd, m, wire, len, now);
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
on_datagram(struct node *nd, const struct net_datagram *d, uint64_t now)
{
	const char *buf = d->data;
	size_t len = d->len;
	enum msg_reason reason;
	struct msg m;
	char addr[INET_ADDRSTRLEN];

	nd->received++;
	reason = msg_decode(buf, len, group_key(nd), &m);
	/* A peer in another mode: decided here, before the simulation. */
	if (reason == MSG_OK)
		reason = order_fits(nd->set.ordering, nd->set.sequencer, &m);
	if (reason == MSG_OK) {
		if (sim_active(&nd->set.sim))
			simulate(nd, &m, buf, len, now);
		else
			process(nd, &m, buf, len, now);
		return;
	}
	nd->rejected++;
	if (!log_enabled(LOG_WARN))
		return;
	inet_ntop(AF_INET, &d->src.sin_addr, addr, sizeof(addr));
	log_event(LOG_WARN, "reject", "reason=%s src=%s:%u bytes=%zu",
	    msg_reason_name(reason), addr, ntohs(d->src.sin_port), len);
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

/*
 * A bounded batch, so that a flood cannot starve stdin or a signal. The
 * clock is read once per recvmmsg: its datagrams arrived together.
 */
void
node_on_socket(struct node *nd)
{
	char err[256];
	int i, got, taken = 0;
	uint64_t now;

	do {
		got = net_recv(&nd->net);
		if (got == -1) {
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				log_event(LOG_WARN, "recv_error", "err=%s",
				    log_err(errno, err, sizeof(err)));
			break;
		}
		now = node_now();
		for (i = 0; i < got; i++)
			on_datagram(nd, &nd->net.in[i], now);
		taken += got;
	} while (got == NET_BATCH && taken < RECV_BATCH);
	report_kernel_drops(nd);
}

/* ---- timers ---- */

static int
hello_on(const struct node *nd)
{
	return nd->set.hello_interval > 0;
}

/* The heartbeat: one HELLO per interval, on time even after a late wakeup. */
static void
send_hello(struct node *nd, uint64_t now)
{
	struct msg m = { .type = MSG_HELLO };

	(void)order_send(nd->ordering, &m);	/* a HELLO always fits */
	nd->next_hello += nd->set.hello_interval;
	if (nd->next_hello <= now)
		nd->next_hello = now + nd->set.hello_interval;
}

/*
 * Held messages that are due, the heartbeat, peers, the ordering layer's
 * NACKs, the CHECK window.
 */
void
node_on_timer(struct node *nd, uint64_t now)
{
	char wire[WIRE_MAX];
	struct msg m;
	size_t len;

	if (hello_on(nd) && now >= nd->next_hello)
		send_hello(nd, now);
	peers_check(&nd->peers, now);
	while ((len = sim_pop_due(&nd->set.sim, now, wire)) > 0) {
		/* It was accepted once: decoding again cannot fail. */
		if (msg_decode(wire, len, group_key(nd), &m) == MSG_OK)
			process(nd, &m, wire, len, now);
	}
	order_on_timer(nd->ordering, now);
	if (nd->check.open && now >= nd->check.deadline) {
		console_check_result(nd, check_close(&nd->check));
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

/* Returns 1 and sets *due to the nearest deadline; 0 when none. */
int
node_next_due(const struct node *nd, uint64_t *due)
{
	uint64_t at;
	int any = 0;

	if (sim_next_due(&nd->set.sim, &at))
		keep_earliest(due, &any, at);
	if (peers_next_due(&nd->peers, &at))
		keep_earliest(due, &any, at);
	if (order_next_due(nd->ordering, &at))
		keep_earliest(due, &any, at);
	if (nd->check.open)
		keep_earliest(due, &any, nd->check.deadline);
	if (hello_on(nd))
		keep_earliest(due, &any, nd->next_hello);
	return any;
}

/* ---- life cycle ---- */

/* The run's inc: its start in ms since 1970, fixed for the run. */
static uint64_t
wall_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct order *
order_start(struct node *nd, const uint64_t hash_key[2])
{
	struct order_config cfg = { .mode = nd->set.ordering };
	struct order_io io = { nd, io_send, io_resend, io_apply };

	memcpy(cfg.self, nd->set.node_id, sizeof(cfg.self));
	memcpy(cfg.sequencer, nd->set.sequencer, sizeof(cfg.sequencer));
	cfg.inc = wall_ms();
	cfg.hash_key[0] = hash_key[0];
	cfg.hash_key[1] = hash_key[1];
	cfg.group_key = group_key(nd);
	return order_new(&cfg, &io);
}

struct node *
node_new(const struct settings *set)
{
	struct node *nd = xcalloc(1, sizeof(*nd));
	uint64_t hash_key[2];

	nd->set = *set;
	random_bytes(hash_key, sizeof(hash_key));
	nd->kv = kv_new(hash_key);
	kv_set_limit(nd->kv, nd->set.store_limit);
	seen_init(&nd->processed, SEEN_WINDOW, hash_key);
	seen_init(&nd->sent, SENT_WINDOW, hash_key);
	nd->net.fd = -1;
	sim_start(&nd->set.sim);
	peers_init(&nd->peers, nd->set.hello_interval);
	nd->ordering = order_start(nd, hash_key);
	console_init(nd);
	return nd;
}

void
node_free(struct node *nd)
{
	net_close(&nd->net);
	kv_free(nd->kv);
	seen_free(&nd->processed);
	seen_free(&nd->sent);
	sim_free(&nd->set.sim);
	check_free(&nd->check);
	peers_free(&nd->peers);
	order_free(nd->ordering);
	free(nd);
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
	    "store_limit=%llu log_format=%s "
	    "sim_delay=%s sim_loss=%s sim_seed=%llu ordering=%s%s%s key=%s",
	    KVMC_VERSION, group, nd->set.net.port, nd->set.net.ttl, iface,
	    log_level_name(nd->set.log_level),
	    nd->console.reads_stdin ? "yes" : "no",
	    nd->set.hello_interval, nd->set.check_window,
	    (unsigned long long)nd->set.store_limit,
	    log_format_name(nd->set.log_format), delay, loss,
	    (unsigned long long)nd->set.sim.seed,
	    settings_mode_name(nd->set.ordering),
	    nd->set.ordering == ORDER_TOTAL ? " sequencer=" : "",
	    nd->set.ordering == ORDER_TOTAL ? nd->set.sequencer : "",
	    nd->set.keyed ? "yes" : "no");
}

/* Which step failed, on what, and the system's reason: for exit 1. */
static void
net_failed(const struct node *nd)
{
	char group[INET_ADDRSTRLEN];
	int saved = errno;

	inet_ntop(AF_INET, &nd->set.net.group, group, sizeof(group));
	/* Held with the log lines, so that it comes after the start line. */
	log_text("kvmc: %s failed (group %s, port %u, interface %s): "
	    "%s", nd->net.failed, group, nd->set.net.port,
	    nd->set.interface ? nd->set.interface : "the kernel's choice",
	    strerror(saved));
}

/*
 * Logs start, opens the socket and joins the group, logs ready. Returns
 * 0, or -1 after saying why the network could not be set up.
 */
int
node_start(struct node *nd)
{
	log_start(nd);
	if (net_open(&nd->net, &nd->set.net) == -1) {
		net_failed(nd);
		log_flush();
		return -1;
	}
	log_always("ready", "rcvbuf=%d", nd->net.rcvbuf);
	nd->next_hello = node_now();	/* the first HELLO goes out at once */
	return 0;
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

/* The last line: why, and what this node went through. */
void
node_log_stop(const struct node *nd)
{
	char why[64];

	if (nd->stop_signal != 0)
		snprintf(why, sizeof(why), "reason=signal signal=%s",
		    signal_name(nd->stop_signal));
	else
		snprintf(why, sizeof(why), "reason=%s",
		    nd->stop_reason ? nd->stop_reason : "error");
	log_always("stop", "%s received=%llu rejected=%llu order=%llu "
	    "kernel_drops=%u dropped_lines=%llu", why,
	    (unsigned long long)nd->received, (unsigned long long)nd->rejected,
	    (unsigned long long)nd->order, (unsigned)nd->net.kernel_drops,
	    (unsigned long long)out_dropped_lines());
}
