/*
 * kvbench.c - the store alone: SET and GET per second, and the memory
 * each entry costs beyond its key and value bytes, at 10^4, 10^5 and
 * 10^6 keys. The cost per operation should stay flat as the store grows.
 *
 *   kvbench          prints one row per size
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../kvmc.h"

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t
heap_in_use(void)
{
	return mallinfo2().uordblks;
}

static void
run(size_t n)
{
	const uint64_t hash_key[2] = { 0x0123456789abcdefULL, 42 };
	char key[32], value[16];
	size_t i, key_len, payload = 0, base, rounds, r;
	const char *got;
	size_t got_len, found = 0;
	double t0, set_ns, get_ns;
	struct kv *kv;

	base = heap_in_use();
	kv = kv_new(hash_key);
	t0 = now_s();
	for (i = 0; i < n; i++) {
		key_len = (size_t)snprintf(key, sizeof(key), "key:%zu", i * 7919);
		snprintf(value, sizeof(value), "v%07zu", i);
		kv_set(kv, key, key_len, value, 8);
		payload += key_len + 8;
	}
	set_ns = (now_s() - t0) * 1e9 / (double)n;
	/* The same number of lookups at every size, in a scattered order. */
	rounds = 2000000 / n;
	t0 = now_s();
	for (r = 0; r < rounds; r++) {
		for (i = 0; i < n; i++) {
			size_t j = (i * 2654435761u + r) % n;

			key_len = (size_t)snprintf(key, sizeof(key), "key:%zu",
			    j * 7919);
			got = kv_get(kv, key, key_len, &got_len);
			found += got != NULL;
		}
	}
	get_ns = (now_s() - t0) * 1e9 / (double)(rounds * n);
	printf("store  %8zu keys  SET %6.0f ns/op %5.2f M/s  GET %6.0f ns/op "
	    "%5.2f M/s  overhead %5.1f B/entry  (found %zu/%zu)\n", n, set_ns,
	    1e3 / set_ns, get_ns, 1e3 / get_ns,
	    (double)(heap_in_use() - base - payload) / (double)n,
	    found / rounds, n);
	kv_free(kv);
}

int
main(void)
{
	run(10000);
	run(100000);
	run(1000000);
	return 0;
}
