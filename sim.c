/*
 * sim.c - a simulated network (SPEC section 6). On one machine loopback
 * multicast hands every datagram to every node in the same order, so the
 * divergence kvmc exists to show never happens by itself. A node can be
 * told to lose received messages, or to hold them for a while, per sender.
 *
 * Held messages wait, as the datagrams they came in, in a binary heap
 * ordered by due time and then by arrival, so equal due times keep their
 * order. The random source is splitmix64 under SIM_SEED, used for nothing
 * else: the same seed and the same arrivals give the same run anywhere.
 */
#include <stdlib.h>
#include <string.h>

#include "kvmc.h"

struct held {
	uint64_t	due;	/* monotonic ms */
	uint64_t	seq;	/* arrival, to break ties */
	size_t		len;
	char		wire[];
};

static uint64_t
splitmix64(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* The rule naming sender exactly (or "*" itself), or NULL. */
static const struct sim_rule *
find_rule(const struct sim *s, const char *sender)
{
	size_t i;

	for (i = 0; i < s->nrules; i++)
		if (strcmp(s->rules[i].sender, sender) == 0)
			return &s->rules[i];
	return NULL;
}

/* Starts the random source; after the settings, before any message. */
void
sim_start(struct sim *s)
{
	s->state = s->seed;
}

int
sim_active(const struct sim *s)
{
	return s->nrules > 0 || s->loss > 0;
}

/* ---- the queue ---- */

static int
earlier(const struct held *a, const struct held *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void
swap(struct held **heap, size_t i, size_t j)
{
	struct held *t = heap[i];

	heap[i] = heap[j];
	heap[j] = t;
}

static void
sift_up(struct held **heap, size_t i)
{
	for (; i > 0 && earlier(heap[i], heap[(i - 1) / 2]); i = (i - 1) / 2)
		swap(heap, i, (i - 1) / 2);
}

static void
sift_down(struct held **heap, size_t n, size_t i)
{
	size_t least, child;

	for (;;) {
		least = i;
		for (child = 2 * i + 1; child <= 2 * i + 2 && child < n;
		    child++)
			if (earlier(heap[child], heap[least]))
				least = child;
		if (least == i)
			return;
		swap(heap, i, least);
		i = least;
	}
}

static void
hold(struct sim *s, const char *wire, size_t len, uint64_t due)
{
	struct held *h;

	if (s->held == s->cap) {
		s->cap = s->cap ? 2 * s->cap : 64;
		s->heap = xrealloc(s->heap, s->cap * sizeof(*s->heap));
	}
	h = xmalloc(sizeof(*h) + len);
	h->due = due;
	h->seq = s->arrivals++;
	h->len = len;
	memcpy(h->wire, wire, len);
	s->heap[s->held] = h;
	sift_up(s->heap, s->held++);
}

/*
 * Decides the fate of one received message from sender: SIM_PASS (process
 * it now), SIM_DROP (lost), SIM_HOLD (queued for *delay_ms), or
 * SIM_OVERFLOW (the queue is full; dropped). *delay_ms is set, or -1,
 * when a delay rule applies.
 */
enum sim_fate
sim_receive(struct sim *s, const char *sender, const char *wire,
    size_t len, uint64_t now_ms, long *delay_ms)
{
	const struct sim_rule *r;
	uint64_t delay;

	*delay_ms = -1;
	if (s->loss > 0 &&
	    (double)(splitmix64(&s->state) >> 11) * 0x1.0p-53 < s->loss)
		return SIM_DROP;
	if ((r = find_rule(s, sender)) == NULL &&
	    (r = find_rule(s, "*")) == NULL)
		return SIM_PASS;
	delay = r->min;
	if (r->is_range)
		delay += splitmix64(&s->state) % ((uint64_t)r->max - r->min + 1);
	*delay_ms = (long)delay;
	if (s->held == SIM_HELD_MAX)
		return SIM_OVERFLOW;
	hold(s, wire, len, now_ms + delay);
	return SIM_HOLD;
}

/* Returns 1 and sets *due when a message is held, else 0. */
int
sim_next_due(const struct sim *s, uint64_t *due)
{
	if (s->held == 0)
		return 0;
	*due = s->heap[0]->due;
	return 1;
}

/*
 * Takes the earliest held message if it is due by now_ms: copies it into
 * buf (WIRE_MAX bytes) and returns its length; returns 0 when none is due.
 */
size_t
sim_pop_due(struct sim *s, uint64_t now_ms, char *buf)
{
	struct held *h;
	size_t len;

	if (s->held == 0 || s->heap[0]->due > now_ms)
		return 0;
	h = s->heap[0];
	s->heap[0] = s->heap[--s->held];
	sift_down(s->heap, s->held, 0);
	len = h->len;
	memcpy(buf, h->wire, len);
	free(h);
	return len;
}

/* Frees the rules and every held message: they are discarded. */
void
sim_free(struct sim *s)
{
	while (s->held > 0)
		free(s->heap[--s->held]);
	free(s->heap);
	free(s->rules);
	memset(s, 0, sizeof(*s));
}
