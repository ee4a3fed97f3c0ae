/*
 * peers.c - the nodes this node has heard from (SPEC section 8), for the
 * first question of every multicast user: do my nodes hear each other?
 * A peer is heard when any of its messages is processed; it turns silent
 * after three HELLO intervals without one. The list is bounded: ids come
 * from the network, and a flood of made-up ones must not grow memory.
 */
#include <stdlib.h>
#include <string.h>

#include "kvmc.h"

void
peers_init(struct peers *p, uint32_t hello_interval)
{
	memset(p, 0, sizeof(*p));
	/* With HELLO off, 2000 ms: the silence rule still needs a clock. */
	p->silent_after = 3 * (uint64_t)(hello_interval ? hello_interval :
	    2000);
}

/*
 * The index of id in the list, kept sorted by id, or where it would go:
 * every processed message looks its sender up, so this is a binary
 * search, and PEERS prints the list as it is.
 */
static size_t
position(const struct peers *p, const char *id, int *found)
{
	size_t lo = 0, hi = p->n, mid;
	int c;

	*found = 0;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		c = strcmp(p->list[mid].id, id);
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

/* A message of peer id was processed at now (monotonic ms). */
void
peers_heard(struct peers *p, const char *id, uint64_t now)
{
	struct peer *peer;
	size_t at;
	int found;

	at = position(p, id, &found);
	if (!found) {
		if (p->n == PEERS_MAX)
			return;
		if (p->list == NULL)
			p->list = xcalloc(PEERS_MAX, sizeof(*p->list));
		memmove(&p->list[at + 1], &p->list[at],
		    (p->n - at) * sizeof(*p->list));
		p->n++;
		memset(&p->list[at], 0, sizeof(*p->list));
		memcpy(p->list[at].id, id, sizeof(p->list[at].id));
	}
	peer = &p->list[at];
	peer->last = now;
	if (!peer->alive) {
		peer->alive = 1;
		log_event(LOG_INFO, "peer_up", "peer=%s", id);
	}
}

/* Marks, and logs once, every peer that has been quiet too long. */
void
peers_check(struct peers *p, uint64_t now)
{
	size_t i;

	for (i = 0; i < p->n; i++) {
		if (p->list[i].alive &&
		    now - p->list[i].last >= p->silent_after) {
			p->list[i].alive = 0;
			log_event(LOG_INFO, "peer_silent", "peer=%s silent_ms=%llu",
			    p->list[i].id,
			    (unsigned long long)(now - p->list[i].last));
		}
	}
}

/* Returns 1 and sets *due to when the next live peer turns silent. */
int
peers_next_due(const struct peers *p, uint64_t *due)
{
	size_t i;
	int any = 0;

	for (i = 0; i < p->n; i++) {
		uint64_t at = p->list[i].last + p->silent_after;

		if (p->list[i].alive && (!any || at < *due)) {
			*due = at;
			any = 1;
		}
	}
	return any;
}

void
peers_free(struct peers *p)
{
	free(p->list);
	p->list = NULL;
	p->n = 0;
}
