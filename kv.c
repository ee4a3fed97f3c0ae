/*
 * kv.c - the replicated store: a chained hash table with power-of-two
 * buckets that doubles when it holds as many entries as buckets.
 *
 * Keys come from the network, so buckets are chosen with SipHash under a
 * per-process random key: nobody can aim their keys at one chain. The
 * state digest (SPEC section 4) is kept up to date on every change, so
 * reporting it costs nothing; so is the store's size, the sum of its key
 * and value lengths, which a limit bounds (SPEC section 4, STORE_LIMIT).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kvmc.h"

/* One allocation per entry: the header, then "key\0value\0". */
struct kv_entry {
	struct kv_entry	*next;
	uint32_t	 key_len;
	uint32_t	 value_len;
	char		 data[];
};

struct kv {
	struct kv_entry	**buckets;
	size_t		  size;		/* a power of two */
	size_t		  used;
	uint64_t	  bytes;	/* keys and values */
	uint64_t	  limit;	/* of bytes */
	uint64_t	  digest;
	uint64_t	  hash_key[2];
};

#define KV_INITIAL_SIZE	16

static uint64_t
fnv1a_update(uint64_t h, const char *p, size_t len)
{
	while (len--) {
		h ^= (unsigned char)*p++;
		h *= 0x100000001b3ULL;
	}
	return h;
}

/* FNV-1a-64 of key, one NUL, value: one entry's share of the digest. */
uint64_t
kv_entry_fnv(const char *key, size_t key_len, const char *value,
    size_t value_len)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	h = fnv1a_update(h, key, key_len);
	h = fnv1a_update(h, "", 1);
	return fnv1a_update(h, value, value_len);
}

static uint64_t
entry_fnv(const struct kv_entry *e)
{
	return kv_entry_fnv(e->data, e->key_len, e->data + e->key_len + 1,
	    e->value_len);
}

/* Returns a new entry holding copies of key and value; the caller links it. */
static struct kv_entry *
entry_new(const char *key, size_t key_len, const char *value,
    size_t value_len)
{
	struct kv_entry *e;

	e = xmalloc(sizeof(*e) + key_len + value_len + 2);
	e->next = NULL;
	e->key_len = (uint32_t)key_len;
	e->value_len = (uint32_t)value_len;
	memcpy(e->data, key, key_len);
	e->data[key_len] = '\0';
	memcpy(e->data + key_len + 1, value, value_len);
	e->data[key_len + 1 + value_len] = '\0';
	return e;
}

/* Returns an empty store with no limit; free it with kv_free. */
struct kv *
kv_new(const uint64_t hash_key[2])
{
	struct kv *kv;

	kv = xmalloc(sizeof(*kv));
	kv->size = KV_INITIAL_SIZE;
	kv->buckets = xcalloc(kv->size, sizeof(*kv->buckets));
	kv->used = 0;
	kv->bytes = 0;
	kv->limit = UINT64_MAX;
	kv->digest = 0;
	kv->hash_key[0] = hash_key[0];
	kv->hash_key[1] = hash_key[1];
	return kv;
}

void
kv_free(struct kv *kv)
{
	struct kv_entry *e, *next;
	size_t i;

	if (kv == NULL)
		return;
	for (i = 0; i < kv->size; i++) {
		for (e = kv->buckets[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(kv->buckets);
	free(kv);
}

static size_t
bucket_of(const struct kv *kv, const char *key, size_t key_len)
{
	return siphash(kv->hash_key, key, key_len) & (kv->size - 1);
}

/*
 * Returns the link that points at the entry for key, or the empty link at
 * the end of its chain: the one place both lookup and update start from.
 */
static struct kv_entry **
find_link(const struct kv *kv, const char *key, size_t key_len)
{
	struct kv_entry **link;

	link = &kv->buckets[bucket_of(kv, key, key_len)];
	for (; *link != NULL; link = &(*link)->next) {
		if ((*link)->key_len == key_len &&
		    memcmp((*link)->data, key, key_len) == 0)
			break;
	}
	return link;
}

static void
grow(struct kv *kv)
{
	struct kv_entry **old = kv->buckets, *e, *next;
	size_t old_size = kv->size, i, b;

	kv->size *= 2;
	kv->buckets = xcalloc(kv->size, sizeof(*kv->buckets));
	for (i = 0; i < old_size; i++) {
		for (e = old[i]; e != NULL; e = next) {
			next = e->next;
			b = bucket_of(kv, e->data, e->key_len);
			e->next = kv->buckets[b];
			kv->buckets[b] = e;
		}
	}
	free(old);
}

/*
 * From now on, kv_set refuses what would take the store's size (key and
 * value bytes) past limit bytes. What it holds already stays.
 */
void
kv_set_limit(struct kv *kv, uint64_t limit)
{
	kv->limit = limit;
}

/*
 * Whether the store may set key (old: its entry, or NULL) to a value of
 * value_len bytes: the size after it stays within the limit, or the value
 * only gets shorter, which always fits.
 */
static int
fits(const struct kv *kv, const struct kv_entry *old, size_t key_len,
    size_t value_len)
{
	uint64_t after = kv->bytes + value_len;

	if (old != NULL) {
		if (value_len <= old->value_len)
			return 1;
		after -= old->value_len;
	} else
		after += key_len;
	return after <= kv->limit;
}

/*
 * Stores a copy of value under a copy of key, replacing any old value.
 * Key and value may hold any bytes; both must be under 4 GiB. Returns 0,
 * or -1 with errno ENOSPC, storing nothing, when that would take the
 * store past its limit (kv_set_limit).
 */
int
kv_set(struct kv *kv, const char *key, size_t key_len, const char *value,
    size_t value_len)
{
	struct kv_entry **link, *old, *e;

	link = find_link(kv, key, key_len);
	old = *link;
	if (!fits(kv, old, key_len, value_len)) {
		errno = ENOSPC;
		return -1;
	}
	if (old == NULL && kv->used >= kv->size) {
		grow(kv);
		link = find_link(kv, key, key_len);
	}
	e = entry_new(key, key_len, value, value_len);
	kv->digest += entry_fnv(e);
	if (old != NULL) {
		/* Link the new entry in before the old one goes. */
		e->next = old->next;
		*link = e;
		kv->digest -= entry_fnv(old);
		kv->bytes = kv->bytes - old->value_len + value_len;
		free(old);
		return 0;
	}
	/* New keys go at the head: recently written keys are found first. */
	link = &kv->buckets[bucket_of(kv, key, key_len)];
	e->next = *link;
	*link = e;
	kv->used++;
	kv->bytes += key_len + value_len;
	return 0;
}

/* Returns the value stored under key (NUL-terminated) or NULL. */
const char *
kv_get(const struct kv *kv, const char *key, size_t key_len,
    size_t *value_len)
{
	struct kv_entry *e = *find_link(kv, key, key_len);

	if (e == NULL)
		return NULL;
	*value_len = e->value_len;
	return e->data + e->key_len + 1;
}

/* Removes key; returns 1 when it was there, 0 when not. */
int
kv_del(struct kv *kv, const char *key, size_t key_len)
{
	struct kv_entry **link = find_link(kv, key, key_len), *e = *link;

	if (e == NULL)
		return 0;
	*link = e->next;
	kv->digest -= entry_fnv(e);
	kv->used--;
	kv->bytes -= e->key_len + e->value_len;
	free(e);
	return 1;
}

size_t
kv_count(const struct kv *kv)
{
	return kv->used;
}

/* The store's size: the sum of its key and value lengths. */
uint64_t
kv_bytes(const struct kv *kv)
{
	return kv->bytes;
}

uint64_t
kv_digest(const struct kv *kv)
{
	return kv->digest;
}

static int
cmp_entries(const void *a, const void *b)
{
	const struct kv_entry *x = *(struct kv_entry *const *)a;
	const struct kv_entry *y = *(struct kv_entry *const *)b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = memcmp(x->data, y->data, n);

	if (c != 0)
		return c;
	return (x->key_len > y->key_len) - (x->key_len < y->key_len);
}

/*
 * Returns a new array of kv_count() entries sorted by key, bytewise; the
 * caller frees the array (not the entries) before the next kv_set or kv_del.
 */
struct kv_entry **
kv_sorted_new(const struct kv *kv)
{
	struct kv_entry **all, *e;
	size_t i, n = 0;

	all = xcalloc(kv->used + 1, sizeof(*all));
	for (i = 0; i < kv->size; i++)
		for (e = kv->buckets[i]; e != NULL; e = e->next)
			all[n++] = e;
	qsort(all, n, sizeof(*all), cmp_entries);
	return all;
}

const char *
kv_entry_key(const struct kv_entry *e, size_t *len)
{
	*len = e->key_len;
	return e->data;
}

const char *
kv_entry_value(const struct kv_entry *e, size_t *len)
{
	*len = e->value_len;
	return e->data + e->key_len + 1;
}
