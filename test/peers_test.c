/*
 * peers_test.c - the peer list on its own, for test/robust.bats: random
 * hearings of 3000 ids (more than the list holds) and silence checks,
 * with the clock going forward, against a plain model of SPEC section 8
 * — at most PEERS_MAX peers, a new one replacing the one heard least
 * recently, silent after silent_after ms without a message. After every
 * step the list must hold the same peers as the model, with the same
 * times and states, sorted by id, and report the same next deadline.
 * Prints the first broken expectation and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kvmc.h"

#define EXPECT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "peers_test.c:%d: step %lu: expected %s\n", \
		    __LINE__, step, #cond);				\
		exit(1);						\
	}								\
} while (0)

#define IDS		3000
#define INTERVAL	100	/* ms: silent after 300 */

struct model {
	int		known;
	uint64_t	last;
	uint64_t	heard;	/* order of hearing, for the eviction */
	int		alive;
};

static struct model model[IDS];
static unsigned long step;
static uint64_t rng = 88172645463325252ULL;

static uint64_t
next_random(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void
name(char *buf, size_t cap, int i)
{
	snprintf(buf, cap, "id%d", i);
}

static void
model_heard(int i, uint64_t now)
{
	static uint64_t heard;
	static size_t n;
	int j, oldest = -1;

	if (!model[i].known && n == PEERS_MAX) {
		for (j = 0; j < IDS; j++)
			if (model[j].known && (oldest == -1 ||
			    model[j].heard < model[oldest].heard))
				oldest = j;
		model[oldest].known = 0;
		n--;
	}
	if (!model[i].known)
		n++;
	model[i].known = 1;
	model[i].last = now;
	model[i].heard = ++heard;
	model[i].alive = 1;
}

static void
model_check(uint64_t now)
{
	int j;

	for (j = 0; j < IDS; j++)
		if (model[j].known && model[j].alive &&
		    now - model[j].last >= 3 * INTERVAL)
			model[j].alive = 0;
}

/* The list and the model agree, and the list is sorted by id. */
static void
compare(const struct peers *p)
{
	const struct peer *peer;
	uint64_t due = 0, got;
	char id[32];
	size_t i, n = 0;
	int j, any = 0;

	for (i = 0; i < p->n; i++) {
		peer = &p->slot[p->sorted[i]];
		if (i > 0)
			EXPECT(strcmp(p->slot[p->sorted[i - 1]].id, peer->id) < 0);
		EXPECT(sscanf(peer->id, "id%d", &j) == 1 && j >= 0 && j < IDS);
		name(id, sizeof(id), j);
		EXPECT(strcmp(id, peer->id) == 0);
		EXPECT(model[j].known);
		EXPECT(model[j].last == peer->last);
		EXPECT(model[j].alive == peer->alive);
	}
	for (j = 0; j < IDS; j++) {
		if (!model[j].known)
			continue;
		n++;
		if (model[j].alive && (!any || model[j].last + 3 * INTERVAL < due)) {
			due = model[j].last + 3 * INTERVAL;
			any = 1;
		}
	}
	EXPECT(n == p->n);
	EXPECT(peers_next_due(p, &got) == any);
	if (any)
		EXPECT(got == due);
}

int
main(void)
{
	struct peers p;
	uint64_t now = 1000;
	char id[32];
	int i;

	log_init("test", LOG_WARN, LOG_FORMAT_LOGFMT);	/* no peer_up lines */
	peers_init(&p, INTERVAL);
	compare(&p);
	for (step = 0; step < 30000; step++) {
		now += next_random() % 4;	/* often the same ms */
		if (next_random() % 8 == 0) {
			peers_check(&p, now);
			model_check(now);
		} else {
			/* Mostly a few real peers, sometimes a flood of others. */
			if (next_random() % 2)
				i = (int)(next_random() % 20);
			else
				i = (int)(next_random() % IDS);
			name(id, sizeof(id), i);
			peers_heard(&p, id, now);
			model_heard(i, now);
		}
		if (step % 5 == 0)
			compare(&p);
		/* Now and then, a long silence: everyone goes silent. */
		if (step % 10000 == 9999) {
			now += 10 * INTERVAL;
			peers_check(&p, now);
			model_check(now);
			compare(&p);
			EXPECT(!peers_next_due(&p, &now));
		}
	}
	peers_free(&p);
	printf("peers: all expectations held\n");
	return 0;
}
