/*
 * order.c - the ordering layer (SPEC section 10): it decides *when* a
 * received command is applied; the node decides *what* applying does.
 *
 * Where it sits. The node decodes a datagram, asks order_fits() whether
 * it suits the mode (else: reject ordering_mismatch), lets the simulated
 * network delay or drop it, checks its id against the ids already
 * processed, and then hands it to order_receive(). That returns
 *   ORDER_PASS    not the layer's business (CHECK, DIGEST, HELLO, and
 *                 everything in mode none): process it as before;
 *   ORDER_DONE    taken: applied now, held for later, or dropped;
 *   ORDER_FORGET  discarded for want of room (hold_overflow): the node
 *                 must not remember its id, so that a resend is taken.
 * Commands are applied through io.apply(); the layer sends its own
 * messages (ORDER, NACK) through io.send() and resends kept datagrams,
 * byte for byte, through io.resend(). Its only clock is the `now` it is
 * given; its timers are order_next_due() and order_on_timer(), which the
 * node's loop folds into the select timeout like its other timers.
 *
 * Streams. Every sender's run (its id, and `inc`, the run's start time)
 * numbers its commands seq = 1, 2, 3 ... A stream keeps `done`, the last
 * number applied (in total, at the sequencer: sequenced), `known`, the
 * highest number known to exist (a held later command, or a HELLO), and
 * the commands that wait, sorted by seq. Numbers more than ORDER_KEPT
 * below `known` are given up (gap_lost), so a stream never waits on more
 * than ORDER_KEPT numbers, however large a seq the network sends.
 *
 *   fifo    a command is applied when seq = done + 1;
 *   causal  ... and every other entry of its vc is <= that sender's done;
 *   total   the sequencer runs the fifo stage above, and instead of
 *           applying it "sequences": multicasts ORDER re=<id> gseq=<n>.
 *           Every node (the sequencer too) keeps commands by id in a
 *           pool until their ORDER comes, and applies gseq n once it
 *           holds ORDER n and its command and has applied n - 1. The
 *           gseq numbers are one more stream, the sequencer's.
 *
 * Asking again. A stream with a missing number arms a timer: after
 * NACK_FIRST_MS, then every NACK_EVERY_MS while something is missing, it
 * multicasts one NACK per run of missing numbers (pieces of NACK_PIECE).
 * The node asked resends from its history: its last ORDER_KEPT commands
 * (the sequencer also its last ORDER_KEPT ORDERs and the commands they
 * name), each number at most once per RESEND_GAP_MS, and at most
 * RESEND_BUDGET datagrams in any second.
 *
 * Bounds: ORDER_HELD_MAX commands held in all, STREAMS_MAX streams (the
 * least recently heard one gives its place to a new sender), the
 * histories above, and ORDER_KEPT ORDERs waiting in total mode.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kvmc.h"

#define STREAMS_MAX	1024	/* senders tracked */
#define NACK_FIRST_MS	20	/* a gap open this long is asked for */
#define NACK_EVERY_MS	200	/* and again this often while it stays */
#define NACK_PIECE	256	/* numbers in one NACK */
#define NACK_ROUND_MAX	16	/* NACKs per stream and round */
#define RESEND_GAP_MS	50	/* one number is resent at most this often */
#define RESEND_BUDGET	1024	/* datagrams resent in any one second */
#define POOL_BUCKETS	16384	/* hash buckets of the total-mode pool */
/*
 * total: own commands sent and not yet applied here. A writer flat out
 * would bury the sequencer, which hears two datagrams per command (the
 * command and its ORDER back): the kernel drops what its buffer cannot
 * hold, and NACKs win it back at most RESEND_BUDGET a second. Waiting
 * for its own ORDERs paces a writer at the sequencer's speed instead.
 */
#define SEND_WINDOW	256
#define PROBE_MS	1000	/* a stopped writer still sends one this often */
/*
 * total: a node that misses gseqs falls behind as fast as writers write,
 * but NACKs bring them back at most 1024 resends a second, and at
 * ORDER_KEPT behind the newest it loses them for good (gap_lost). Its
 * NACKs are multicast: every writer sees the lowest gseq asked for, and
 * sends nothing while the newest it knows is LAG_MAX or more above it.
 * A gap is asked for again every NACK_EVERY_MS while it stays open, so a
 * lowest one not asked for LAG_HOLD_MS is filled.
 */
#define LAG_MAX		1024
#define LAG_HOLD_MS	(NACK_EVERY_MS + 100)

/* A command waiting, as the datagram it came in. */
struct held {
	uint64_t	seq;
	size_t		len;
	char		wire[];
};

/* One datagram kept to be sent again. */
struct kept {
	uint64_t	 n;		/* its seq or gseq; 0: empty */
	uint64_t	 resent;	/* ms of the last resend; 0: never */
	size_t		 len;
	char		*wire;
	size_t		 named_len;	/* sequencer: the command ORDER n names */
	char		*named;
};

struct stream {
	char		 id[NODE_ID_MAX + 1];
	uint64_t	 inc;		/* the run; 0: none seen yet */
	uint64_t	 done;		/* last seq applied (or sequenced) */
	uint64_t	 known;		/* highest seq known to exist */
	struct held	**held;		/* waiting, sorted by seq */
	size_t		 nheld;
	size_t		 cap;
	uint64_t	 nack_due;	/* monotonic ms; 0: no timer */
	uint64_t	 heard;		/* the order clock when last heard */
};

/* Total mode: a command by id, with the gseq of its ORDER once known. */
struct pending {
	unsigned char	 id[16];
	uint64_t	 gseq;		/* 0: no ORDER in hand */
	struct held	*cmd;		/* NULL: only the ORDER is in hand */
	int		 hold_logged;
	struct pending	*next;		/* hash chain */
};

struct total {
	uint64_t	 done;		/* last gseq applied */
	uint64_t	 known;		/* highest gseq known to exist */
	uint64_t	 nack_due;
	struct pending	*window[ORDER_KEPT];	/* by gseq % ORDER_KEPT */
	struct pending	*bucket[POOL_BUCKETS];
	struct seen	 applied;	/* ids named by applied ORDERs */
	uint64_t	 last_gseq;	/* sequencer: the last ORDER sent */
	struct kept	 orders[ORDER_KEPT];	/* sequencer: by gseq */
};

struct order {
	enum order_mode	 mode;
	char		 self[NODE_ID_MAX + 1];
	char		 sequencer[NODE_ID_MAX + 1];
	uint64_t	 inc;		/* this node's run */
	uint64_t	 sent;		/* last seq this node sent */
	uint64_t	 own_applied;	/* total: last own seq applied here */
	int		 paused;	/* total: order_may_send() said no */
	uint64_t	 probe_due;	/* total: then one goes out anyway */
	uint64_t	 lag_first;	/* total: the lowest gseq asked for */
	uint64_t	 lag_asked_at;	/* and when it was last asked for */
	struct order_io	 io;
	struct stream	*streams[STREAMS_MAX];
	size_t		 nstreams;
	uint64_t	 clock;		/* counts messages, for eviction */
	size_t		 held;		/* commands held, in all */
	struct kept	 own[ORDER_KEPT];	/* this node's commands, by seq */
	uint64_t	 resent_at[RESEND_BUDGET];	/* ring of resend times */
	size_t		 resent_next;	/* its oldest slot */
	uint64_t	 hash_key[2];
	int		 keyed;		/* held datagrams carry a tag */
	uint64_t	 group_key[2];
	struct total	*total;		/* total mode only */
};


/* ---- the mode check ---- */

/*
 * Returns MSG_OK when m suits the mode, MSG_ORDERING_MISMATCH when it
 * comes from a node that runs another mode (SPEC section 10's list).
 */
enum msg_reason
order_fits(enum order_mode mode, const char *sequencer, const struct msg *m)
{
	const unsigned stream = MSG_HAS_INC | MSG_HAS_SEQ;
	int numbered = msg_is_command(m) || m->type == MSG_HELLO;
	int fits;

	if (mode == ORDER_NONE)
		fits = !(m->has & (stream | MSG_HAS_VC | MSG_HAS_GSEQ)) &&
		    m->type != MSG_ORDER && m->type != MSG_NACK;
	else if (numbered && (m->has & stream) != stream)
		fits = 0;
	else if (mode == ORDER_CAUSAL)
		fits = !msg_is_command(m) || (m->has & MSG_HAS_VC);
	else
		fits = !(m->has & MSG_HAS_VC);
	if (fits && mode != ORDER_NONE && mode != ORDER_TOTAL)
		fits = m->type != MSG_ORDER && !(m->has & MSG_HAS_GSEQ) &&
		    m->of != MSG_OF_GSEQ;
	if (fits && mode == ORDER_TOTAL &&
	    (m->type == MSG_ORDER || (m->has & MSG_HAS_GSEQ)))
		fits = strcmp(m->from, sequencer) == 0;
	return fits ? MSG_OK : MSG_ORDERING_MISMATCH;
}

/* ---- small pieces ---- */

static int
is_sequencer(const struct order *o)
{
	return o->mode == ORDER_TOTAL && strcmp(o->self, o->sequencer) == 0;
}

/* HELLO, ORDER and NACK are background chatter: debug. */
static enum log_level
chatter(const struct msg *m)
{
	return msg_is_command(m) ? LOG_INFO : LOG_DEBUG;
}

static void
log_duplicate(const struct msg *m)
{
	log_event(chatter(m), "duplicate", "id=%s from=%s type=%s", m->id,
	    m->from, msg_type_name(m->type));
}

/* ORDER and NACK are never applied as commands; their apply line is this. */
static void
log_unordered(const struct msg *m)
{
	char fields[2 * WIRE_MAX];

	if (!log_enabled(LOG_DEBUG))
		return;
	msg_describe(m, fields, sizeof(fields));
	log_event(LOG_DEBUG, "apply", "%s", fields);
}

static void
log_hold(const struct msg *m, const char *reason)
{
	log_event(LOG_INFO, "hold", "id=%s from=%s type=%s seq=%llu reason=%s",
	    m->id, m->from, msg_type_name(m->type),
	    (unsigned long long)m->seq, reason);
}

static void
log_gap_lost(const char *from, uint64_t first, uint64_t last)
{
	log_event(LOG_WARN, "gap_lost", "from=%s first=%llu last=%llu", from,
	    (unsigned long long)first, (unsigned long long)last);
}

static struct held *
held_new(uint64_t seq, const char *wire, size_t len)
{
	struct held *h = xmalloc(sizeof(*h) + len);

	h->seq = seq;
	h->len = len;
	memcpy(h->wire, wire, len);
	return h;
}

/* A held datagram was accepted once: decoding it again cannot fail. */
static void
held_decode(const struct order *o, const struct held *h, struct msg *m)
{
	if (msg_decode(h->wire, h->len, o->keyed ? o->group_key : NULL, m) !=
	    MSG_OK)
		abort();
}

static void
kept_set(struct kept *k, uint64_t n, const char *wire, size_t len)
{
	free(k->wire);
	free(k->named);
	k->n = n;
	k->resent = 0;
	k->wire = xmalloc(len);
	memcpy(k->wire, wire, len);
	k->len = len;
	k->named = NULL;
	k->named_len = 0;
}

static void
kept_free(struct kept *k)
{
	free(k->wire);
	free(k->named);
	memset(k, 0, sizeof(*k));
}

/* ---- streams ---- */

static void
stream_drop_held(struct order *o, struct stream *s)
{
	o->held -= s->nheld;
	while (s->nheld > 0)
		free(s->held[--s->nheld]);
	free(s->held);
	s->held = NULL;
	s->cap = 0;
}

static void
stream_free(struct order *o, struct stream *s)
{
	stream_drop_held(o, s);
	free(s);
}

/*
 * The least recently heard stream that may go: not this node's, not the
 * sequencer's, which every node needs.
 */
static size_t
stream_victim(const struct order *o)
{
	size_t i, victim = 0;
	uint64_t oldest = UINT64_MAX;

	for (i = 0; i < o->nstreams; i++) {
		const struct stream *s = o->streams[i];

		if (strcmp(s->id, o->self) == 0 ||
		    (o->mode == ORDER_TOTAL &&
		    strcmp(s->id, o->sequencer) == 0))
			continue;
		if (s->heard < oldest) {
			oldest = s->heard;
			victim = i;
		}
	}
	return victim;
}

static struct stream *
stream_find(const struct order *o, const char *id)
{
	size_t i;

	for (i = 0; i < o->nstreams; i++)
		if (strcmp(o->streams[i]->id, id) == 0)
			return o->streams[i];
	return NULL;
}

/* The stream of sender id, made (evicting one when full) if new. */
static struct stream *
stream_of(struct order *o, const char *id)
{
	struct stream *s = stream_find(o, id);
	size_t slot = o->nstreams;

	if (s == NULL) {
		if (o->nstreams == STREAMS_MAX) {
			slot = stream_victim(o);
			stream_free(o, o->streams[slot]);
		} else
			o->nstreams++;
		s = xcalloc(1, sizeof(*s));
		memcpy(s->id, id, strlen(id) + 1);
		o->streams[slot] = s;
	}
	s->heard = ++o->clock;
	return s;
}

/* The position of seq among s's held commands (where it would go). */
static size_t
held_index(const struct stream *s, uint64_t seq)
{
	size_t lo = 0, hi = s->nheld, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (s->held[mid]->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int
stream_holds(const struct stream *s, uint64_t seq)
{
	size_t i = held_index(s, seq);

	return i < s->nheld && s->held[i]->seq == seq;
}

static void
stream_insert(struct order *o, struct stream *s, struct held *h)
{
	size_t i = held_index(s, h->seq);

	if (s->nheld == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 16;
		s->held = xrealloc(s->held, s->cap * sizeof(*s->held));
	}
	memmove(s->held + i + 1, s->held + i,
	    (s->nheld - i) * sizeof(*s->held));
	s->held[i] = h;
	s->nheld++;
	o->held++;
}

static struct held *
stream_pop(struct order *o, struct stream *s)
{
	struct held *h = s->held[0];

	memmove(s->held, s->held + 1, --s->nheld * sizeof(*s->held));
	o->held--;
	if (s->nheld == 0) {	/* an idle stream keeps no array */
		free(s->held);
		s->held = NULL;
		s->cap = 0;
	}
	return h;
}

/* A new run of the sender: forget the old one (what waits of it too). */
static void
stream_restart(struct order *o, struct stream *s, uint64_t inc)
{
	if (s->inc != 0) {
		log_event(LOG_INFO, "peer_restart", "peer=%s inc=%llu", s->id,
		    (unsigned long long)inc);
		stream_drop_held(o, s);
		s->done = s->known = 0;
		s->nack_due = 0;
	}
	s->inc = inc;
}

/* ---- the resend budget and the histories ---- */

/* Whether n more datagrams fit in the last second's RESEND_BUDGET. */
static int
budget_allows(const struct order *o, uint64_t now, size_t n)
{
	size_t i, slot;

	for (i = 0; i < n; i++) {
		slot = (o->resent_next + i) % RESEND_BUDGET;
		if (o->resent_at[slot] != 0 &&
		    o->resent_at[slot] + 1000 > now)
			return 0;
	}
	return 1;
}

static void
resend(struct order *o, uint64_t now, const char *wire, size_t len)
{
	o->resent_at[o->resent_next] = now;
	o->resent_next = (o->resent_next + 1) % RESEND_BUDGET;
	o->io.resend(o->io.ctx, wire, len);
}

/* The kept entry for number n, when it is still kept and may go again. */
static struct kept *
kept_ready(struct kept *ring, uint64_t n, uint64_t now)
{
	struct kept *k = &ring[n % ORDER_KEPT];

	if (k->n != n || k->wire == NULL)
		return NULL;
	if (k->resent != 0 && now < k->resent + RESEND_GAP_MS)
		return NULL;
	return k;
}

/*
 * Answers a NACK for first..last of the numbers up to newest, lowest
 * first, from ring: only what is still kept, within the budget.
 */
static void
answer(struct order *o, const struct msg *nack, struct kept *ring,
    uint64_t newest, uint64_t now)
{
	uint64_t n, lo = nack->first, hi = nack->last, count = 0;
	size_t per = nack->of == MSG_OF_GSEQ ? 2 : 1;
	struct kept *k;

	if (newest >= ORDER_KEPT && lo <= newest - ORDER_KEPT)
		lo = newest - ORDER_KEPT + 1;
	if (hi > newest)
		hi = newest;
	for (n = lo; n <= hi && newest > 0; n++) {
		if ((k = kept_ready(ring, n, now)) == NULL)
			continue;
		if (!budget_allows(o, now, per))
			break;
		if (k->named != NULL)	/* the command before its ORDER */
			resend(o, now, k->named, k->named_len);
		resend(o, now, k->wire, k->len);
		k->resent = now;
		count += k->named != NULL ? 2 : 1;
	}
	if (count > 0)
		log_event(LOG_INFO, "resend", "to=%s of=%s first=%llu "
		    "last=%llu count=%llu", nack->from,
		    nack->of == MSG_OF_GSEQ ? "gseq" : "seq",
		    (unsigned long long)nack->first,
		    (unsigned long long)nack->last, (unsigned long long)count);
}

/*
 * A NACK, to anyone, of=gseq: how far behind the slowest node is. A
 * node's NACKs come in rounds, lowest first; a round without the lowest
 * number seen before (half a round later) says it was filled.
 */
static void
note_lag(struct order *o, const struct msg *m, uint64_t now)
{
	if (o->total == NULL || m->of != MSG_OF_GSEQ)
		return;
	if (m->first <= o->lag_first ||
	    now >= o->lag_asked_at + NACK_EVERY_MS / 2) {
		o->lag_first = m->first;
		o->lag_asked_at = now;
	}
}

/* The lowest gseq asked for is LAG_MAX or more below the newest known. */
static int
far_behind(const struct order *o)
{
	return o->total != NULL && o->lag_asked_at != 0 &&
	    o->total->known >= o->lag_first + LAG_MAX;
}

/* Whether a node is so far behind that writers wait for it. */
static int
lagging(const struct order *o, uint64_t now)
{
	return now < o->lag_asked_at + LAG_HOLD_MS && far_behind(o);
}

static void
on_nack(struct order *o, const struct msg *m, uint64_t now)
{
	log_unordered(m);
	note_lag(o, m, now);
	if (strcmp(m->to, o->self) != 0)
		return;		/* another node's business */
	if (m->of == MSG_OF_SEQ)
		answer(o, m, o->own, o->sent, now);
	else if (is_sequencer(o))
		answer(o, m, o->total->orders, o->total->last_gseq, now);
}

/* ---- asking again ---- */

static void
send_nack(struct order *o, const char *to, enum msg_of of, uint64_t first,
    uint64_t last)
{
	struct msg m = { .type = MSG_NACK, .has = MSG_HAS_INC, .of = of,
	    .first = first, .last = last };
	char wire[WIRE_MAX + 1];

	m.inc = o->inc;
	memcpy(m.to, to, strlen(to) + 1);
	log_event(LOG_INFO, "nack", "to=%s of=%s first=%llu last=%llu", to,
	    of == MSG_OF_GSEQ ? "gseq" : "seq", (unsigned long long)first,
	    (unsigned long long)last);
	o->io.send(o->io.ctx, &m, wire);
}

/* Which numbers of a range are missing: a stream's, or the gseq's. */
typedef int	(*missing_fn)(const struct order *, const void *, uint64_t);

static int
stream_misses(const struct order *o, const void *arg, uint64_t n)
{
	(void)o;
	return !stream_holds(arg, n);
}

/* One NACK per run of missing numbers, in pieces, lowest first. */
static int
ask_missing(struct order *o, const char *to, enum msg_of of, uint64_t from,
    uint64_t upto, missing_fn missing, const void *arg)
{
	uint64_t n, first = 0;
	int pieces = 0, any = 0;

	for (n = from; n <= upto && pieces < NACK_ROUND_MAX; n++) {
		if (missing(o, arg, n)) {
			any = 1;
			if (first == 0)
				first = n;
			if (n - first + 1 < NACK_PIECE && n != upto)
				continue;
			send_nack(o, to, of, first, n);
			pieces++;
		} else if (first != 0) {
			send_nack(o, to, of, first, n - 1);
			pieces++;
		}
		first = 0;
		if (n == upto)
			break;
	}
	return any;
}

/* A stream that may miss something asks for it, now and then again. */
static void
arm(uint64_t *due, uint64_t now)
{
	if (*due == 0)
		*due = now + NACK_FIRST_MS;
}

static void
stream_timer(struct order *o, struct stream *s, uint64_t now)
{
	if (s->known > s->done &&
	    ask_missing(o, s->id, MSG_OF_SEQ, s->done + 1, s->known,
	    stream_misses, s))
		s->nack_due = now + NACK_EVERY_MS;
	else
		s->nack_due = 0;
}

/* ---- applying: fifo and causal, and the sequencer's fifo stage ---- */

static void
sequence(struct order *o, struct stream *s, const struct msg *m,
    const char *wire, size_t len, int was_held, uint64_t now);

/*
 * The command is next in its stream: apply it, or (sequencer) order it.
 * was_held: it waited, and its one hold line is written.
 */
static void
deliver(struct order *o, struct stream *s, const struct msg *m,
    const char *wire, size_t len, int was_held, uint64_t now)
{
	s->done = m->seq;
	if (o->mode == ORDER_TOTAL)
		sequence(o, s, m, wire, len, was_held, now);
	else
		o->io.apply(o->io.ctx, m, 0);
}

/* The count of sender id's commands applied in its current stream. */
static uint64_t
applied_of(const struct order *o, const char *id)
{
	const struct stream *s = stream_find(o, id);

	return s != NULL ? s->done : 0;
}

/* causal: everything m's sender had applied from others is applied here. */
static int
deps_met(const struct order *o, const struct msg *m)
{
	char id[NODE_ID_MAX + 1];
	uint64_t count;
	size_t pos = 0;

	if (o->mode != ORDER_CAUSAL)
		return 1;
	while (msg_vc_next(m, &pos, id, &count))
		if (strcmp(id, m->from) != 0 && count > applied_of(o, id))
			return 0;
	return 1;
}

/* Applies the waiting head of s while it may be; returns how many. */
static size_t
drain_stream(struct order *o, struct stream *s, uint64_t now)
{
	struct held *h;
	struct msg m;
	size_t n = 0;

	while (s->nheld > 0 && s->held[0]->seq == s->done + 1) {
		held_decode(o, s->held[0], &m);
		if (!deps_met(o, &m))
			break;
		h = stream_pop(o, s);
		deliver(o, s, &m, h->wire, h->len, 1, now);
		free(h);
		n++;
	}
	return n;
}

/* Applies whatever may be; in causal one stream can free another. */
static void
drain_at(struct order *o, uint64_t now)
{
	size_t i, applied;

	do {
		applied = 0;
		for (i = 0; i < o->nstreams; i++)
			applied += drain_stream(o, o->streams[i], now);
	} while (applied > 0 && o->mode == ORDER_CAUSAL);
}

/*
 * Numbers up to upto are gone: held commands among them are applied in
 * order, and each run without one is logged as gap_lost.
 */
static void
stream_skip(struct order *o, struct stream *s, uint64_t upto, uint64_t now)
{
	uint64_t next = s->done + 1;
	struct held *h;
	struct msg m;

	while (s->nheld > 0 && s->held[0]->seq <= upto) {
		h = stream_pop(o, s);
		if (h->seq > next)
			log_gap_lost(s->id, next, h->seq - 1);
		held_decode(o, h, &m);
		deliver(o, s, &m, h->wire, h->len, 1, now);
		next = h->seq + 1;
		free(h);
	}
	if (next <= upto)
		log_gap_lost(s->id, next, upto);
	s->done = upto;
}

/* Number n of s exists: give up what is too old, ask for what is missing. */
static void
stream_known(struct order *o, struct stream *s, uint64_t n, uint64_t now)
{
	if (n > s->known)
		s->known = n;
	if (s->known >= ORDER_KEPT && s->known - ORDER_KEPT > s->done)
		stream_skip(o, s, s->known - ORDER_KEPT, now);
	if (s->known > s->done)
		arm(&s->nack_due, now);
}

static int
held_full(const struct order *o, const struct msg *m)
{
	if (o->held < ORDER_HELD_MAX)
		return 0;
	log_event(LOG_WARN, "hold_overflow", "id=%s from=%s type=%s seq=%llu "
	    "held=%d", m->id, m->from, msg_type_name(m->type),
	    (unsigned long long)m->seq, ORDER_HELD_MAX);
	return 1;
}

/* fifo, causal, and the sequencer's stage before sequencing. */
static enum order_verdict
stream_command(struct order *o, struct stream *s, const struct msg *m,
    const char *wire, size_t len, uint64_t now)
{
	if (m->seq <= s->done || stream_holds(s, m->seq)) {
		log_duplicate(m);
		return ORDER_DONE;
	}
	if (m->seq == s->done + 1 && deps_met(o, m))
		deliver(o, s, m, wire, len, 0, now);
	else {
		if (held_full(o, m))
			return ORDER_FORGET;
		stream_insert(o, s, held_new(m->seq, wire, len));
		log_hold(m, m->seq == s->done + 1 ? "causal" : "fifo");
	}
	stream_known(o, s, m->seq, now);
	drain_at(o, now);
	return ORDER_DONE;
}

/* ---- total order ---- */

static size_t
bucket_of(const struct order *o, const unsigned char id[16])
{
	return siphash(o->hash_key, id, 16) & (POOL_BUCKETS - 1);
}

static struct pending *
pool_find(const struct order *o, const unsigned char id[16])
{
	struct pending *p;

	for (p = o->total->bucket[bucket_of(o, id)]; p != NULL; p = p->next)
		if (memcmp(p->id, id, 16) == 0)
			return p;
	return NULL;
}

static struct pending *
pool_add(struct order *o, const unsigned char id[16])
{
	struct pending *p = xcalloc(1, sizeof(*p));
	size_t b = bucket_of(o, id);

	memcpy(p->id, id, 16);
	p->next = o->total->bucket[b];
	o->total->bucket[b] = p;
	return p;
}

/* Takes p out of the pool and frees it, with its command if any. */
static void
pool_remove(struct order *o, struct pending *p)
{
	struct pending **link = &o->total->bucket[bucket_of(o, p->id)];

	while (*link != p)
		link = &(*link)->next;
	*link = p->next;
	if (p->cmd != NULL) {
		o->held--;
		free(p->cmd);
	}
	free(p);
}

/* ORDER n, if it is in hand. */
static struct pending *
window_at(const struct order *o, uint64_t n)
{
	struct pending *p = o->total->window[n % ORDER_KEPT];

	return p != NULL && p->gseq == n ? p : NULL;
}

/* ORDER n is done with: out of the window, and out of the pool. */
static void
window_clear(struct order *o, uint64_t n)
{
	struct pending *p = window_at(o, n);

	if (p == NULL)
		return;
	o->total->window[n % ORDER_KEPT] = NULL;
	pool_remove(o, p);
}

static int
already_applied(const struct order *o, const struct pending *p)
{
	char uuid[UUID_LEN + 1];

	msg_format_id(uuid, p->id);
	return seen_has(&o->total->applied, uuid);
}

/* gseq n is missing while its ORDER or its command is not in hand. */
static int
gseq_misses(const struct order *o, const void *arg, uint64_t n)
{
	const struct pending *p = window_at(o, n);

	(void)arg;
	return p == NULL || (p->cmd == NULL && !already_applied(o, p));
}

/* Applies ORDER n's command; the ORDER is then done with. */
static void
total_apply(struct order *o, struct pending *p, uint64_t n)
{
	struct msg m;

	held_decode(o, p->cmd, &m);
	o->total->done = n;
	seen_add(&o->total->applied, m.id);
	/* The sequencer takes a stream in seq order: all before it are in. */
	if (m.inc == o->inc && m.seq > o->own_applied &&
	    strcmp(m.from, o->self) == 0)
		o->own_applied = m.seq;
	o->io.apply(o->io.ctx, &m, n);
	window_clear(o, n);
}

/* gseq n can go: its ORDER and command are in hand, or it was applied. */
static int
total_whole(const struct order *o, uint64_t n)
{
	const struct pending *p = window_at(o, n);

	return p != NULL && (p->cmd != NULL || already_applied(o, p));
}

/*
 * Takes gseq n, the next one, when whole: applies its command, or, when
 * that was applied already, counts it as applied. Returns 0 if not whole.
 */
static int
total_take(struct order *o, uint64_t n)
{
	struct pending *p = window_at(o, n);

	if (p == NULL)
		return 0;
	/* A command in the pool is not applied: one that was is refused. */
	if (p->cmd != NULL) {
		total_apply(o, p, n);
		return 1;
	}
	if (already_applied(o, p)) {
		o->total->done = n;	/* nothing is ever applied twice */
		window_clear(o, n);
		return 1;
	}
	return 0;
}

/* Applies gseq done + 1, done + 2 ... while both halves are in hand. */
static void
total_drain(struct order *o, uint64_t now)
{
	struct total *t = o->total;

	while (total_take(o, t->done + 1))
		;	/* each takes the next one */
	if (t->known > t->done)
		arm(&t->nack_due, now);
}

/* gseq up to upto are gone: apply what is whole among them, in order. */
static void
total_skip(struct order *o, uint64_t upto)
{
	struct total *t = o->total;
	uint64_t n, first = 0, end = upto;

	if (end - t->done > ORDER_KEPT)	/* nothing is held beyond that */
		end = t->done + ORDER_KEPT;
	for (n = t->done + 1; n <= end; n++) {
		if (total_whole(o, n)) {
			if (first != 0)
				log_gap_lost(o->sequencer, first, n - 1);
			first = 0;
			t->done = n - 1;
			total_take(o, n);
			continue;
		}
		if (first == 0)
			first = n;
		window_clear(o, n);
	}
	if (first == 0 && end < upto)
		first = end + 1;
	if (first != 0)
		log_gap_lost(o->sequencer, first, upto);
	t->done = upto;
}

static void
total_known(struct order *o, uint64_t n, uint64_t now)
{
	struct total *t = o->total;

	if (n > t->known)
		t->known = n;
	if (t->known >= ORDER_KEPT && t->known - ORDER_KEPT > t->done)
		total_skip(o, t->known - ORDER_KEPT);
	if (t->known > t->done)
		arm(&t->nack_due, now);
}

/* A command that waits for its ORDER, or that its ORDER waited for. */
static enum order_verdict
pool_command(struct order *o, const struct msg *m, const char *wire,
    size_t len, int was_held, uint64_t now)
{
	unsigned char id[16];
	struct pending *p;

	msg_id_bytes(m->id, id);
	p = pool_find(o, id);
	if (seen_has(&o->total->applied, m->id) ||
	    (p != NULL && p->cmd != NULL)) {
		log_duplicate(m);
		return ORDER_DONE;
	}
	/* One that can be applied at once is never discarded. */
	if ((p == NULL || p->gseq != o->total->done + 1) && held_full(o, m))
		return ORDER_FORGET;
	if (p == NULL)
		p = pool_add(o, id);
	p->cmd = held_new(m->seq, wire, len);
	p->hold_logged |= was_held;	/* one hold line per command */
	o->held++;
	if (p->gseq > o->total->done + 1 && !p->hold_logged) {
		p->hold_logged = 1;
		log_hold(m, "total");
	}
	total_drain(o, now);
	return ORDER_DONE;
}

/*
 * The sequencer orders a command: ORDER re=<id> gseq=<n>, kept with the
 * command to be sent again; the command then waits for its ORDER to come
 * back, like at every node.
 */
static void
sequence(struct order *o, struct stream *s, const struct msg *m,
    const char *wire, size_t len, int was_held, uint64_t now)
{
	struct total *t = o->total;
	struct msg order = { .type = MSG_ORDER,
	    .has = MSG_HAS_INC | MSG_HAS_GSEQ };
	char out[WIRE_MAX + 1];
	size_t out_len;
	struct kept *k;

	order.inc = o->inc;
	order.gseq = ++t->last_gseq;
	memcpy(order.re, m->id, sizeof(order.re));
	log_event(LOG_INFO, "sequence", "re=%s from=%s seq=%llu gseq=%llu",
	    m->id, s->id, (unsigned long long)m->seq,
	    (unsigned long long)order.gseq);
	out_len = o->io.send(o->io.ctx, &order, out);
	k = &t->orders[order.gseq % ORDER_KEPT];
	kept_set(k, order.gseq, out, out_len);
	k->named = xmalloc(len);
	memcpy(k->named, wire, len);
	k->named_len = len;
	pool_command(o, m, wire, len, was_held, now);
}

static void
on_order(struct order *o, const struct msg *m, uint64_t now)
{
	struct total *t = o->total;
	unsigned char id[16];
	struct pending *p;

	if (m->gseq <= t->done || window_at(o, m->gseq) != NULL) {
		log_duplicate(m);
		return;
	}
	log_unordered(m);
	total_known(o, m->gseq, now);
	msg_id_bytes(m->re, id);
	if ((p = pool_find(o, id)) == NULL)
		p = pool_add(o, id);
	else if (p->gseq != 0) {
		log_duplicate(m);	/* that command has its ORDER */
		return;
	}
	p->gseq = m->gseq;
	t->window[m->gseq % ORDER_KEPT] = p;
	if (p->cmd != NULL && m->gseq > t->done + 1 && !p->hold_logged) {
		struct msg cmd;

		p->hold_logged = 1;
		held_decode(o, p->cmd, &cmd);
		log_hold(&cmd, "total");
	}
	total_drain(o, now);
}

/*
 * The sequencer restarted: gseq starts again at 1. ORDERs of its old run
 * are dropped; the commands they named wait for new ones.
 */
static void
total_restart(struct order *o)
{
	struct total *t = o->total;
	struct pending *p;
	size_t i;

	for (i = 0; i < ORDER_KEPT; i++) {
		if ((p = t->window[i]) == NULL)
			continue;
		t->window[i] = NULL;
		p->gseq = 0;
		if (p->cmd == NULL)
			pool_remove(o, p);
	}
	t->done = t->known = 0;
	t->nack_due = 0;
}

static void
total_timer(struct order *o, uint64_t now)
{
	struct total *t = o->total;

	if (t->known > t->done &&
	    ask_missing(o, o->sequencer, MSG_OF_GSEQ, t->done + 1, t->known,
	    gseq_misses, NULL))
		t->nack_due = now + NACK_EVERY_MS;
	else
		t->nack_due = 0;
}

/* ---- receiving ---- */

/* peer_restart and stale: the run a message comes from. 0: stale. */
static int
check_inc(struct order *o, struct stream *s, const struct msg *m)
{
	if (m->inc < s->inc) {
		log_event(LOG_DEBUG, "stale", "id=%s from=%s type=%s inc=%llu",
		    m->id, m->from, msg_type_name(m->type),
		    (unsigned long long)m->inc);
		return 0;
	}
	if (m->inc > s->inc) {
		if (s->inc != 0 && o->mode == ORDER_TOTAL &&
		    strcmp(s->id, o->sequencer) == 0)
			total_restart(o);
		stream_restart(o, s, m->inc);
	}
	return 1;
}

/* A HELLO tells the last seq (and the sequencer's last gseq) sent. */
static void
on_hello(struct order *o, struct stream *s, const struct msg *m,
    uint64_t now)
{
	if (o->mode != ORDER_TOTAL || is_sequencer(o)) {
		if (m->seq > 0)
			stream_known(o, s, m->seq, now);
	}
	if (o->mode == ORDER_TOTAL && (m->has & MSG_HAS_GSEQ) && m->gseq > 0)
		total_known(o, m->gseq, now);
}

/*
 * A message the node has not processed before (by id). See the top of
 * the file for what the verdict asks of the node.
 */
enum order_verdict
order_receive(struct order *o, const struct msg *m, const char *wire,
    size_t len, uint64_t now)
{
	struct stream *s;

	if (o->mode == ORDER_NONE || !(m->has & MSG_HAS_INC))
		return ORDER_PASS;
	s = stream_of(o, m->from);
	if (!check_inc(o, s, m))
		return ORDER_DONE;
	switch (m->type) {
	case MSG_HELLO:
		on_hello(o, s, m, now);
		return ORDER_PASS;
	case MSG_ORDER:
		on_order(o, m, now);
		return ORDER_DONE;
	case MSG_NACK:
		on_nack(o, m, now);
		return ORDER_DONE;
	default:
		break;
	}
	if (o->mode != ORDER_TOTAL || (is_sequencer(o) && m->seq > s->done))
		return stream_command(o, s, m, wire, len, now);
	return pool_command(o, m, wire, len, 0, now);
}

/* ---- sending ---- */

static int
by_id(const void *a, const void *b)
{
	const struct stream *const *x = a, *const *y = b;

	return strcmp((*x)->id, (*y)->id);
}

/* Appends "id:count" to m's vc; returns -1 when it would not fit. */
static int
vc_put(struct msg *m, const char *id, uint64_t count)
{
	char pair[NODE_ID_MAX + 24];
	int n;

	n = snprintf(pair, sizeof(pair), "%s%s:%llu", m->vc_len ? "," : "",
	    id, (unsigned long long)count);
	if (n < 0 || (size_t)n >= sizeof(m->vc) - m->vc_len)
		return -1;
	memcpy(m->vc + m->vc_len, pair, (size_t)n + 1);
	m->vc_len += (size_t)n;
	return 0;
}

/*
 * causal: the count of every other sender this node has applied
 * anything from, and its own seq, sorted by id.
 */
static int
stamp_vc(struct order *o, struct msg *m)
{
	struct stream *sorted[STREAMS_MAX + 1], self = { .done = m->seq };
	size_t i, n = 0;

	memcpy(self.id, o->self, sizeof(self.id));
	sorted[n++] = &self;
	for (i = 0; i < o->nstreams; i++)
		if (o->streams[i]->done > 0 &&
		    strcmp(o->streams[i]->id, o->self) != 0)
			sorted[n++] = o->streams[i];
	qsort(sorted, n, sizeof(sorted[0]), by_id);
	m->vc_len = 0;
	m->vc[0] = '\0';
	for (i = 0; i < n; i++)
		if (vc_put(m, sorted[i]->id, sorted[i]->done) == -1)
			return -1;
	m->has |= MSG_HAS_VC;
	return 0;
}

/* The fields of section 10 on one of this node's messages. */
static int
stamp(struct order *o, struct msg *m)
{
	if (o->mode == ORDER_NONE)
		return 0;
	if (msg_is_command(m)) {
		m->has |= MSG_HAS_INC | MSG_HAS_SEQ;
		m->inc = o->inc;
		m->seq = o->sent + 1;
		if (o->mode == ORDER_CAUSAL)
			return stamp_vc(o, m);
	} else if (m->type == MSG_HELLO) {
		m->has |= MSG_HAS_INC | MSG_HAS_SEQ;
		m->inc = o->inc;
		m->seq = o->sent;
		if (is_sequencer(o)) {
			m->has |= MSG_HAS_GSEQ;
			m->gseq = o->total->last_gseq;
		}
	}
	return 0;
}

/*
 * Sends one of this node's own messages (a command or a HELLO) with the
 * fields its mode wants; a command is kept to be sent again. Returns 0,
 * or -1 when it would not fit in a datagram (nothing is sent then).
 */
int
order_send(struct order *o, struct msg *m)
{
	char wire[WIRE_MAX + 1];
	size_t len;

	if (stamp(o, m) == -1)
		return -1;
	len = o->io.send(o->io.ctx, m, wire);
	if (len == 0)
		return -1;
	if (o->mode != ORDER_NONE && msg_is_command(m)) {
		o->sent = m->seq;
		kept_set(&o->own[m->seq % ORDER_KEPT], m->seq, wire, len);
	}
	return 0;
}

/*
 * Whether another command may go out now. In total mode a writer stops
 * when SEND_WINDOW of its commands wait for their ORDER and goes on when
 * half of them are applied: then many go out together, not one per ORDER
 * that comes back. A silent sequencer stops it there; one command a
 * PROBE_MS still goes, since without HELLOs only a next command tells a
 * sequencer that comes back of those it missed. It also waits while a
 * node is far behind (note_lag).
 */
int
order_may_send(struct order *o, uint64_t now)
{
	uint64_t waiting = o->sent - o->own_applied;

	if (o->mode != ORDER_TOTAL)
		return 1;
	if (lagging(o, now))
		return 0;
	if (waiting <= SEND_WINDOW / 2)
		o->paused = 0;
	else if (waiting >= SEND_WINDOW && !o->paused) {
		o->paused = 1;
		o->probe_due = 0;	/* armed below, for the line that asks */
	}
	if (!o->paused)
		return 1;
	/*
	 * The probe's clock runs only while a line waits for it: once one
	 * went, a writer with nothing more to send sleeps (a deadline left
	 * in the past would make every wait return at once).
	 */
	if (o->probe_due == 0)
		o->probe_due = now + PROBE_MS;
	else if (now >= o->probe_due) {
		o->probe_due = 0;
		return 1;
	}
	return 0;
}

/* ---- timers ---- */

static void
keep_earliest(uint64_t *due, int *any, uint64_t at)
{
	if (at == 0)
		return;
	if (!*any || at < *due)
		*due = at;
	*any = 1;
}

/* Returns 1 and sets *due when a NACK timer runs, else 0. */
int
order_next_due(const struct order *o, uint64_t *due)
{
	int any = 0;
	size_t i;

	for (i = 0; i < o->nstreams; i++)
		keep_earliest(due, &any, o->streams[i]->nack_due);
	if (o->total != NULL)
		keep_earliest(due, &any, o->total->nack_due);
	if (o->paused && o->sent - o->own_applied > SEND_WINDOW / 2)
		keep_earliest(due, &any, o->probe_due);
	if (far_behind(o))
		keep_earliest(due, &any, o->lag_asked_at + LAG_HOLD_MS);
	return any;
}

/* Every NACK that is due by now goes out. */
void
order_on_timer(struct order *o, uint64_t now)
{
	size_t i;

	if (o->lag_asked_at + LAG_HOLD_MS <= now)
		o->lag_first = o->lag_asked_at = 0;	/* its wakeup is done */
	for (i = 0; i < o->nstreams; i++) {
		struct stream *s = o->streams[i];

		if (s->nack_due != 0 && s->nack_due <= now)
			stream_timer(o, s, now);
	}
	if (o->total != NULL && o->total->nack_due != 0 &&
	    o->total->nack_due <= now)
		total_timer(o, now);
}

/* ---- life ---- */

struct order *
order_new(const struct order_config *cfg, const struct order_io *io)
{
	struct order *o = xcalloc(1, sizeof(*o));

	o->mode = cfg->mode;
	memcpy(o->self, cfg->self, sizeof(o->self));
	memcpy(o->sequencer, cfg->sequencer, sizeof(o->sequencer));
	o->inc = cfg->inc;
	o->io = *io;
	o->hash_key[0] = cfg->hash_key[0];
	o->hash_key[1] = cfg->hash_key[1];
	if (cfg->group_key != NULL) {
		o->keyed = 1;
		o->group_key[0] = cfg->group_key[0];
		o->group_key[1] = cfg->group_key[1];
	}
	if (o->mode == ORDER_TOTAL) {
		o->total = xcalloc(1, sizeof(*o->total));
		seen_init(&o->total->applied, ORDER_KEPT, cfg->hash_key);
	}
	return o;
}

static void
total_free(struct order *o)
{
	struct total *t = o->total;
	struct pending *p, *next;
	size_t i;

	for (i = 0; i < POOL_BUCKETS; i++) {
		for (p = t->bucket[i]; p != NULL; p = next) {
			next = p->next;
			free(p->cmd);
			free(p);
		}
	}
	for (i = 0; i < ORDER_KEPT; i++)
		kept_free(&t->orders[i]);
	seen_free(&t->applied);
	free(t);
}

void
order_free(struct order *o)
{
	size_t i;

	if (o == NULL)
		return;
	if (o->total != NULL)
		total_free(o);
	for (i = 0; i < o->nstreams; i++)
		stream_free(o, o->streams[i]);
	for (i = 0; i < ORDER_KEPT; i++)
		kept_free(&o->own[i]);
	free(o);
}
