/*
 * seen.c - the last SEEN_WINDOW message ids, to spot duplicates.
 *
 * A ring of ids with a small chained index over it, all inside the
 * struct: remembering an id costs no allocation, however fast the network
 * sends. When the ring is full the oldest id is forgotten.
 */
#include <string.h>

#include "kvmc.h"

#define NO_SLOT		UINT16_MAX
#define SEEN_BUCKETS	(sizeof(((struct seen *)0)->head) / sizeof(uint16_t))

static size_t
bucket_of(const struct seen *s, const unsigned char id[16])
{
	return siphash(s->hash_key, id, 16) & (SEEN_BUCKETS - 1);
}

void
seen_init(struct seen *s, const uint64_t hash_key[2])
{
	memset(s, 0, sizeof(*s));
	memset(s->head, 0xff, sizeof(s->head));
	s->hash_key[0] = hash_key[0];
	s->hash_key[1] = hash_key[1];
}

static int
find(const struct seen *s, const unsigned char id[16])
{
	uint16_t slot;

	for (slot = s->head[bucket_of(s, id)]; slot != NO_SLOT;
	    slot = s->next[slot])
		if (memcmp(s->ids[slot], id, 16) == 0)
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
unlink_slot(struct seen *s, uint16_t slot)
{
	uint16_t *link = &s->head[bucket_of(s, s->ids[slot])];

	while (*link != slot)
		link = &s->next[*link];
	*link = s->next[slot];
}

/* Remembers uuid, forgetting the oldest id when the window is full. */
void
seen_add(struct seen *s, const char *uuid)
{
	uint16_t slot = (uint16_t)s->oldest;
	size_t b;

	if (s->used == SEEN_WINDOW)
		unlink_slot(s, slot);
	else
		s->used++;
	msg_id_bytes(uuid, s->ids[slot]);
	b = bucket_of(s, s->ids[slot]);
	s->next[slot] = s->head[b];
	s->head[b] = slot;
	s->oldest = (s->oldest + 1) % SEEN_WINDOW;
}
