/*
 * kv_test.c - the store on its own, for test/kv.bats: set, replace, get,
 * delete, growth past many doublings, sorted listing, and the digest's
 * promise that equal stores have equal digests whatever the order of the
 * writes. Prints the first broken expectation and exits 1.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kvmc.h"

#define EXPECT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "kv_test.c:%d: expected %s\n", __LINE__,	\
		    #cond);						\
		exit(1);						\
	}								\
} while (0)

static const uint64_t key_a[2] = { 1, 2 }, key_b[2] = { 3, 4 };

static void
set_str(struct kv *kv, const char *k, const char *v)
{
	kv_set(kv, k, strlen(k), v, strlen(v));
}

static int
value_is(struct kv *kv, const char *k, const char *v)
{
	size_t len;
	const char *got = kv_get(kv, k, strlen(k), &len);

	return got != NULL && len == strlen(v) && memcmp(got, v, len) == 0;
}

static void
test_set_get_replace_delete(void)
{
	struct kv *kv = kv_new(key_a);
	size_t len;

	EXPECT(kv_count(kv) == 0 && kv_digest(kv) == 0);
	EXPECT(kv_get(kv, "x", 1, &len) == NULL);
	set_str(kv, "x", "1");
	EXPECT(value_is(kv, "x", "1") && kv_count(kv) == 1);
	set_str(kv, "x", "a longer value than before");
	EXPECT(value_is(kv, "x", "a longer value than before"));
	EXPECT(kv_count(kv) == 1);
	kv_set(kv, "bin\xff", 4, "", 0);
	EXPECT(value_is(kv, "bin\xff", "") && kv_count(kv) == 2);
	EXPECT(kv_del(kv, "x", 1) == 1 && kv_del(kv, "x", 1) == 0);
	EXPECT(kv_get(kv, "x", 1, &len) == NULL && kv_count(kv) == 1);
	EXPECT(kv_del(kv, "bin\xff", 4) == 1);
	/* Everything deleted: back to the empty store's digest. */
	EXPECT(kv_count(kv) == 0 && kv_digest(kv) == 0);
	kv_free(kv);
}

static void
test_growth(void)
{
	struct kv *kv = kv_new(key_a);
	char k[32], v[32];
	int i;

	for (i = 0; i < 100000; i++) {
		snprintf(k, sizeof(k), "key%d", i);
		snprintf(v, sizeof(v), "value%d", i);
		set_str(kv, k, v);
	}
	EXPECT(kv_count(kv) == 100000);
	for (i = 0; i < 100000; i += 997) {
		snprintf(k, sizeof(k), "key%d", i);
		snprintf(v, sizeof(v), "value%d", i);
		EXPECT(value_is(kv, k, v));
	}
	kv_free(kv);
}

/* The digest depends on the entries only: not on order, nor hash key. */
static void
test_digest_is_order_free(void)
{
	struct kv *a = kv_new(key_a), *b = kv_new(key_b);

	set_str(a, "x", "1");
	set_str(a, "y", "2");
	set_str(a, "x", "3");
	set_str(b, "y", "2");
	set_str(b, "x", "3");
	EXPECT(kv_digest(a) == kv_digest(b));
	EXPECT(kv_digest(a) == kv_entry_fnv("x", 1, "3", 1) +
	    kv_entry_fnv("y", 1, "2", 1));
	/* FNV-1a-64 of "a\0b", computed apart from this code (in Python). */
	EXPECT(kv_entry_fnv("a", 1, "b", 1) == 0xe5d29919042666b2ULL);
	set_str(b, "x", "4");
	EXPECT(kv_digest(a) != kv_digest(b));
	kv_free(a);
	kv_free(b);
}

static void
test_sorted_bytewise(void)
{
	struct kv *kv = kv_new(key_a);
	struct kv_entry **all;
	const char *want[] = { "B", "a", "ab", "b", "\xc3\xa9" };
	const char *k;
	size_t i, len;

	set_str(kv, "b", "");
	set_str(kv, "\xc3\xa9", "");
	set_str(kv, "ab", "");
	set_str(kv, "a", "");
	set_str(kv, "B", "");
	all = kv_sorted_new(kv);
	for (i = 0; i < 5; i++) {
		k = kv_entry_key(all[i], &len);
		EXPECT(len == strlen(want[i]) && memcmp(k, want[i], len) == 0);
	}
	EXPECT(all[5] == NULL);
	free(all);
	kv_free(kv);
}

/* The size counts key and value bytes; the limit refuses, never evicts. */
static void
test_limit(void)
{
	struct kv *kv = kv_new(key_a);
	uint64_t digest;
	size_t len;

	EXPECT(kv_bytes(kv) == 0);
	set_str(kv, "ab", "cde");
	EXPECT(kv_bytes(kv) == 5);
	kv_set_limit(kv, 10);
	/* 5 + 5 = 10: exactly the limit fits. */
	EXPECT(kv_set(kv, "fg", 2, "hij", 3) == 0 && kv_bytes(kv) == 10);
	digest = kv_digest(kv);
	errno = 0;
	EXPECT(kv_set(kv, "k", 1, "", 0) == -1 && errno == ENOSPC);
	EXPECT(kv_get(kv, "k", 1, &len) == NULL);
	/* Longer: refused, the old value stays. */
	EXPECT(kv_set(kv, "ab", 2, "cdef", 4) == -1 && value_is(kv, "ab", "cde"));
	EXPECT(kv_digest(kv) == digest && kv_count(kv) == 2);
	/* Shorter, or as long: always fits. */
	EXPECT(kv_set(kv, "ab", 2, "x", 1) == 0 && kv_bytes(kv) == 8);
	EXPECT(kv_set(kv, "ab", 2, "xy", 2) == 0 && kv_bytes(kv) == 9);
	EXPECT(kv_set(kv, "k", 1, "", 0) == 0 && kv_bytes(kv) == 10);
	EXPECT(kv_del(kv, "fg", 2) == 1 && kv_bytes(kv) == 5);
	EXPECT(kv_set(kv, "lmn", 3, "op", 2) == 0 && kv_bytes(kv) == 10);
	/* A limit below what is held keeps it, and only lets it shrink. */
	kv_set_limit(kv, 4);
	EXPECT(kv_count(kv) == 3 && kv_set(kv, "ab", 2, "xyz", 3) == -1);
	EXPECT(kv_set(kv, "ab", 2, "", 0) == 0 && kv_bytes(kv) == 8);
	kv_free(kv);
}

int
main(void)
{
	test_set_get_replace_delete();
	test_growth();
	test_digest_is_order_free();
	test_sorted_bytewise();
	test_limit();
	printf("kv: all expectations held\n");
	return 0;
}
