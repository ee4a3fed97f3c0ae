/*
 * order_test.c - the ordering layer on its own, for test/order_unit.bats:
 * order.c is driven with decoded messages and a fake node that records
 * what it is asked to apply, send and resend. fifo hold and apply, the
 * NACK pieces of a long gap, gap_lost on a huge seq, total's gseq order,
 * the resend budget, the mode check. Prints the first broken
 * expectation and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kvmc.h"

#define EXPECT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "order_test.c:%d: expected %s\n",	\
		    __LINE__, #cond);					\
		exit(1);						\
	}								\
} while (0)

/* What the fake node was asked to do. */
static struct {
	char		applied[64][KEY_MAX + 1];	/* keys, in order */
	size_t		napplied;
	struct msg	sent[64];
	size_t		nsent;
	size_t		resent;
} seen_by;

static size_t
fake_send(void *ctx, struct msg *m, char wire[WIRE_MAX + 1])
{
	static unsigned n;
	unsigned char rnd[16] = { 0 };

	(void)ctx;
	memcpy(rnd, &n, sizeof(n));
	n++;
	msg_format_id(m->id, rnd);
	memcpy(m->from, "me", 3);
	if (seen_by.nsent < 64)
		seen_by.sent[seen_by.nsent++] = *m;
	return msg_encode(m, wire, WIRE_MAX + 1);
}

static void
fake_resend(void *ctx, const char *wire, size_t len)
{
	(void)ctx;
	(void)wire;
	(void)len;
	seen_by.resent++;
}

static void
fake_apply(void *ctx, const struct msg *m, uint64_t gseq)
{
	(void)ctx;
	(void)gseq;
	if (seen_by.napplied < 64)
		memcpy(seen_by.applied[seen_by.napplied++], m->key,
		    m->key_len + 1);
}

static struct order *
new_order(enum order_mode mode, const char *sequencer)
{
	struct order_config cfg = { .mode = mode, .inc = 1 };
	struct order_io io = { NULL, fake_send, fake_resend, fake_apply };

	memset(&seen_by, 0, sizeof(seen_by));
	memcpy(cfg.self, "me", 3);
	memcpy(cfg.sequencer, sequencer, strlen(sequencer) + 1);
	return order_new(&cfg, &io);
}

/* Decodes text (a datagram without its newline) and hands it over. */
static enum order_verdict
receive(struct order *o, const char *text, uint64_t now)
{
	char wire[WIRE_MAX + 1];
	struct msg m;
	int len;

	len = snprintf(wire, sizeof(wire), "%s\n", text);
	EXPECT(len > 0 && msg_decode(wire, (size_t)len, NULL, &m) == MSG_OK);
	return order_receive(o, &m, wire, (size_t)len, now);
}

/* A SET k<seq> from peer, run 5, with the id uuid(n). */
static void
peer_set(struct order *o, unsigned long long seq, unsigned n, uint64_t now)
{
	char text[256];

	snprintf(text, sizeof(text), "v=1 type=SET id=%08x-0000-4000-8000-"
	    "%012x from=peer key=k%llu value=v inc=5 seq=%llu", n, n, seq,
	    seq);
	receive(o, text, now);
}

static void
test_fifo_hold_then_apply(void)
{
	struct order *o = new_order(ORDER_FIFO, "");
	uint64_t due;

	peer_set(o, 2, 2, 1000);
	EXPECT(seen_by.napplied == 0);
	EXPECT(order_next_due(o, &due) && due == 1020);
	peer_set(o, 1, 1, 1005);
	EXPECT(seen_by.napplied == 2);
	EXPECT(strcmp(seen_by.applied[0], "k1") == 0);
	EXPECT(strcmp(seen_by.applied[1], "k2") == 0);
	order_on_timer(o, 1020);	/* nothing is missing any more */
	EXPECT(seen_by.nsent == 0);
	EXPECT(!order_next_due(o, &due));
	order_free(o);
}

static void
test_nack_pieces(void)
{
	struct order *o = new_order(ORDER_FIFO, "");
	uint64_t due;

	peer_set(o, 600, 1, 1000);
	order_on_timer(o, 1019);
	EXPECT(seen_by.nsent == 0);		/* not before 20 ms */
	order_on_timer(o, 1020);
	EXPECT(seen_by.nsent == 3);
	EXPECT(seen_by.sent[0].type == MSG_NACK);
	EXPECT(strcmp(seen_by.sent[0].to, "peer") == 0);
	EXPECT(seen_by.sent[0].of == MSG_OF_SEQ && seen_by.sent[0].inc == 1);
	EXPECT(seen_by.sent[0].first == 1 && seen_by.sent[0].last == 256);
	EXPECT(seen_by.sent[1].first == 257 && seen_by.sent[1].last == 512);
	EXPECT(seen_by.sent[2].first == 513 && seen_by.sent[2].last == 599);
	EXPECT(order_next_due(o, &due) && due == 1220);
	order_free(o);
}

static void
test_huge_seq_is_bounded(void)
{
	struct order *o = new_order(ORDER_FIFO, "");

	peer_set(o, 3, 3, 1000);
	peer_set(o, 18446744073709551615ULL, 4, 1000);
	/* Everything up to 2^64-1 - 4096 is given up; 3 is applied. */
	EXPECT(seen_by.napplied == 1 && strcmp(seen_by.applied[0], "k3") == 0);
	order_on_timer(o, 1020);
	EXPECT(seen_by.nsent == 16);		/* one round: 16 pieces */
	EXPECT(seen_by.sent[0].first == 18446744073709547520ULL);
	order_free(o);
}

static void
test_total_gseq_order(void)
{
	struct order *o = new_order(ORDER_TOTAL, "sq");
	const char *order_fmt = "v=1 type=ORDER id=%08x-0000-4000-8000-"
	    "%012x from=sq inc=7 re=%08x-0000-4000-8000-%012x gseq=%u";
	char text[256];
	unsigned g;

	peer_set(o, 1, 1, 1000);
	peer_set(o, 2, 2, 1000);
	for (g = 2; g >= 1; g--) {	/* ORDER 2 first, then ORDER 1 */
		snprintf(text, sizeof(text), order_fmt, 100 + g, 100 + g,
		    g, g, g);
		EXPECT(receive(o, text, 1000) == ORDER_DONE);
		EXPECT(seen_by.napplied == (g == 2 ? 0 : 2));
	}
	EXPECT(strcmp(seen_by.applied[0], "k1") == 0);
	/* The same command named again: already applied, not again. */
	snprintf(text, sizeof(text), order_fmt, 103, 103, 1, 1, 3);
	receive(o, text, 1000);
	EXPECT(seen_by.napplied == 2);
	order_free(o);
}

static void
test_resend_budget(void)
{
	struct order *o = new_order(ORDER_FIFO, "");
	char text[256];
	struct msg m;
	int i;

	for (i = 0; i < 1100; i++) {
		memset(&m, 0, sizeof(m));
		m.type = MSG_SET;
		m.key_len = 1;
		memcpy(m.key, "k", 2);
		EXPECT(order_send(o, &m) == 0);
	}
	snprintf(text, sizeof(text), "v=1 type=NACK id=00000001-0000-4000-"
	    "8000-000000000001 from=peer inc=5 to=me of=seq first=1 "
	    "last=18446744073709551615");
	receive(o, text, 5000);
	EXPECT(seen_by.resent == 1024);
	order_free(o);
}

static void
test_mode_check(void)
{
	struct msg m = { .type = MSG_SET, .has = MSG_HAS_INC | MSG_HAS_SEQ };

	memcpy(m.from, "peer", 5);
	EXPECT(order_fits(ORDER_NONE, "", &m) == MSG_ORDERING_MISMATCH);
	EXPECT(order_fits(ORDER_FIFO, "", &m) == MSG_OK);
	EXPECT(order_fits(ORDER_CAUSAL, "", &m) == MSG_ORDERING_MISMATCH);
	m.has |= MSG_HAS_VC;
	EXPECT(order_fits(ORDER_CAUSAL, "", &m) == MSG_OK);
	EXPECT(order_fits(ORDER_TOTAL, "peer", &m) == MSG_ORDERING_MISMATCH);
	m.type = MSG_ORDER;
	m.has = MSG_HAS_INC | MSG_HAS_GSEQ;
	EXPECT(order_fits(ORDER_TOTAL, "peer", &m) == MSG_OK);
	EXPECT(order_fits(ORDER_TOTAL, "other", &m) == MSG_ORDERING_MISMATCH);
	EXPECT(order_fits(ORDER_FIFO, "peer", &m) == MSG_ORDERING_MISMATCH);
}

int
main(void)
{
	log_init("test", LOG_ERROR, LOG_FORMAT_LOGFMT);
	test_fifo_hold_then_apply();
	test_nack_pieces();
	test_huge_seq_is_bounded();
	test_total_gseq_order();
	test_resend_budget();
	test_mode_check();
	printf("order: all expectations held\n");
	return 0;
}
