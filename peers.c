/*
 * peers.c - the nodes this node has heard from (SPEC section 8), for the
 * first question of every multicast user: do my nodes hear each other?
 * A peer is heard when any of its messages is processed; it turns silent
 * after three HELLO intervals without one.
 *
 * Ids come from the network, so the list is bounded (PEERS_MAX) and,
 * once full, a newly heard peer takes the place of the one heard least
 * recently: a flood of made-up ids can push a real node out, but never
 * keep it out once it is heard again.
 *
 * The peers live in a fixed array of slots, threaded twice:
 *   - `sorted`, slot numbers in order of id: every processed message
 *     finds its sender by binary search, and PEERS lists in this order;
 *   - a doubly linked list in order of last heard (oldest first): hearing
 *     a peer moves it to the end, eviction takes the first, both O(1).
 * Since the clock only goes forward, `last` grows along that list, so the
 * silent peers are a prefix of it and the next to turn silent is the
 * first alive one (`first_alive`): the timers cost O(1) too, however
 * many peers a flood made. A new peer costs a memmove of at most
 * PEERS_MAX slot numbers (2 KiB) in `sorted`, nothing else.
 */
#include <stdlib.h>
#include <string.h>

#include "kvmc.h"

#define NONE	UINT16_MAX	/* no slot: the ends of the heard list */

void
peers_init(struct peers *p, uint32_t hello_interval)
{
	memset(p, 0, sizeof(*p));
	p->oldest = p->newest = p->first_alive = NONE;
	/* With HELLO off, 2000 ms: the silence rule still needs a clock. */
	p->silent_after = 3 * (uint64_t)(hello_interval ? hello_interval :
	    2000);
}

/* The index in `sorted` of id, or where it would go. */
static size_t
position(const struct peers *p, const char *id, int *found)
{
	size_t lo = 0, hi = p->n, mid;
	int c;

	*found = 0;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(p->slot[p->sorted[mid]].id, id);
		if (c == 0) {
			*found = 1;
			return mid;
		}
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Takes slot s out of the heard list. */
static void
unlink_heard(struct peers *p, uint16_t s)
{
	struct peer *peer = &p->slot[s];

	if (p->first_alive == s)
		p->first_alive = peer->newer;
	if (peer->older != NONE)
		p->slot[peer->older].newer = peer->newer;
	else
		p->oldest = peer->newer;
	if (peer->newer != NONE)
		p->slot[peer->newer].older = peer->older;
	else
		p->newest = peer->older;
}

/* Puts slot s at the end of the heard list: heard just now. */
static void
append_heard(struct peers *p, uint16_t s)
{
	struct peer *peer = &p->slot[s];

	peer->older = p->newest;
	peer->newer = NONE;
	if (p->newest != NONE)
		p->slot[p->newest].newer = s;
	else
		p->oldest = s;
	p->newest = s;
	if (p->first_alive == NONE)
		p->first_alive = s;
}

/*
 * Returns a free slot for a new peer: an unused one while there are, else
 * the one of the peer heard least recently, which is forgotten.
 */
static uint16_t
free_slot(struct peers *p)
{
	uint16_t s;
	size_t at;
	int found;

	if (p->slot == NULL) {
		p->slot = xcalloc(PEERS_MAX, sizeof(*p->slot));
		p->sorted = xcalloc(PEERS_MAX, sizeof(*p->sorted));
	}
	if (p->n < PEERS_MAX)
		return (uint16_t)p->n;
	s = p->oldest;
	unlink_heard(p, s);
	at = position(p, p->slot[s].id, &found);
	memmove(&p->sorted[at], &p->sorted[at + 1],
	    (p->n - at - 1) * sizeof(*p->sorted));
	p->n--;
	return s;
}

/* A new peer id, in slot s and in `sorted` at index at. */
static void
add_peer(struct peers *p, uint16_t s, size_t at, const char *id)
{
	size_t len = strnlen(id, NODE_ID_MAX);

	memset(&p->slot[s], 0, sizeof(p->slot[s]));
	memcpy(p->slot[s].id, id, len);
	memmove(&p->sorted[at + 1], &p->sorted[at],
	    (p->n - at) * sizeof(*p->sorted));
	p->sorted[at] = s;
	p->n++;
}

/*
 * A message of peer id (a valid node id) was processed at now (monotonic
 * ms, never less than the previous call's).
 */
void
peers_heard(struct peers *p, const char *id, uint64_t now)
{
	struct peer *peer;
	size_t at;
	uint16_t s;
	int found;

	at = position(p, id, &found);
	if (found) {
		s = p->sorted[at];
		unlink_heard(p, s);
	} else {
		s = free_slot(p);
		/* An eviction shifted `sorted`: look again. */
		at = position(p, id, &found);
		add_peer(p, s, at, id);
	}
	peer = &p->slot[s];
	peer->last = now;
	append_heard(p, s);
	if (!peer->alive) {
		peer->alive = 1;
		log_event(LOG_INFO, "peer_up", "peer=%s", id);
	}
}

/* Marks, and logs once, every peer that has been quiet too long. */
void
peers_check(struct peers *p, uint64_t now)
{
	struct peer *peer;

	while (p->first_alive != NONE) {
		peer = &p->slot[p->first_alive];
		if (now - peer->last < p->silent_after)
			break;
		peer->alive = 0;
		log_event(LOG_INFO, "peer_silent", "peer=%s silent_ms=%llu",
		    peer->id, (unsigned long long)(now - peer->last));
		p->first_alive = peer->newer;
	}
}

/* Returns 1 and sets *due to when the next live peer turns silent. */
int
peers_next_due(const struct peers *p, uint64_t *due)
{
	if (p->first_alive == NONE)
		return 0;
	*due = p->slot[p->first_alive].last + p->silent_after;
	return 1;
}

/* The i-th peer in order of id, i below p->n: for PEERS. */
const struct peer *
peers_sorted(const struct peers *p, size_t i)
{
	return &p->slot[p->sorted[i]];
}

void
peers_free(struct peers *p)
{
	free(p->slot);
	free(p->sorted);
	p->slot = NULL;
	p->sorted = NULL;
	p->n = 0;
	p->oldest = p->newest = p->first_alive = NONE;
}
