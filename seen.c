/*
 * seen.c - a window of the last message ids, to spot duplicates (the ids
 * a node processed) and to recognise its own messages (the ids it sent).
 *
 * A ring of ids with a chained index over it, allocated once at its full
 * size by seen_init: remembering an id costs no allocation, however fast
 * the network sends. When the ring is full the oldest id is forgotten.
 *
 * Links are stored as slot + 1, so that 0 means "none" and a fresh
 * window is all zeros: calloc's pages are then only made resident as ids
 * fill them, and a window of 65536 sends costs little until it is used.
 */
#include <stdlib.h>
#include <string.h>

#include "kvmc.h"

static size_t
bucket_of(const struct seen *s, const unsigned char id[16])
{
	return siphash(s->hash_key, id, 16) & (s->nbuckets - 1);
}

/*
 * Prepares a window of the last `window` ids (1 to UINT32_MAX - 1);
 * free it with seen_free.
 */
void
seen_init(struct seen *s, size_t window, const uint64_t hash_key[2])
{
	memset(s, 0, sizeof(*s));
	s->window = window;
	/* At most one id per bucket on average: chains stay short. */
	for (s->nbuckets = 1; s->nbuckets < window; s->nbuckets *= 2)
		;
	s->ids = xcalloc(window, sizeof(*s->ids));
	s->next = xcalloc(window, sizeof(*s->next));
	s->head = xcalloc(s->nbuckets, sizeof(*s->head));
	s->hash_key[0] = hash_key[0];
	s->hash_key[1] = hash_key[1];
}

void
seen_free(struct seen *s)
{
	free(s->ids);
	free(s->next);
	free(s->head);
	memset(s, 0, sizeof(*s));
}

static int
find(const struct seen *s, const unsigned char id[16])
{
	uint32_t link;

	for (link = s->head[bucket_of(s, id)]; link != 0;
	    link = s->next[link - 1])
		if (memcmp(s->ids[link - 1], id, 16) == 0)
			return 1;
	return 0;
}

/* Returns 1 when uuid is one of the remembered ids. */
int
seen_has(const struct seen *s, const char *uuid)
{
	unsigned char id[16];

	msg_id_bytes(uuid, id);
	return find(s, id);
}

static void
unlink_slot(struct seen *s, size_t slot)
{
	uint32_t *link = &s->head[bucket_of(s, s->ids[slot])];

	while (*link != slot + 1)
		link = &s->next[*link - 1];
	*link = s->next[slot];
}

/* Remembers uuid, forgetting the oldest id when the window is full. */
void
seen_add(struct seen *s, const char *uuid)
{
	size_t slot = s->oldest, b;

	if (s->used == s->window)
		unlink_slot(s, slot);
	else
		s->used++;
	msg_id_bytes(uuid, s->ids[slot]);
	b = bucket_of(s, s->ids[slot]);
	s->next[slot] = s->head[b];
	s->head[b] = (uint32_t)(slot + 1);
	s->oldest = (s->oldest + 1) % s->window;
}
