/*
 * siphash.c - SipHash-2-4 (Aumasson and Bernstein), written from the
 * paper: the one keyed hash of the project. Tables whose keys come from
 * the network (the store, the id windows) hash with a secret random key,
 * so that nobody can choose keys that all land in one bucket.
 */
#include <string.h>

#include "kvmc.h"

#define ROTL(x, b)	(uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND do {							\
	v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);	\
	v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;				\
	v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;				\
	v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);	\
} while (0)

static uint64_t
load_le64(const unsigned char *p, size_t n)
{
	uint64_t v = 0;

	while (n--)
		v |= (uint64_t)p[n] << (8 * n);
	return v;
}

/*
 * A whole 8-byte block: one unaligned load where the host is little
 * endian (memcpy, which compilers turn into a single move), else the
 * byte loop. Every datagram is hashed at least twice, so this matters.
 */
static uint64_t
load_block(const unsigned char *p)
{
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
#else
	return load_le64(p, 8);
#endif
}

/*
 * The 64-bit SipHash-2-4 of data under key, where key[0] and key[1] are
 * the key's bytes 0-7 and 8-15 read little-endian, as the reference does.
 */
uint64_t
siphash(const uint64_t key[2], const void *data, size_t len)
{
	const unsigned char *p = data;
	uint64_t v0 = key[0] ^ 0x736f6d6570736575ULL;
	uint64_t v1 = key[1] ^ 0x646f72616e646f6dULL;
	uint64_t v2 = key[0] ^ 0x6c7967656e657261ULL;
	uint64_t v3 = key[1] ^ 0x7465646279746573ULL;
	uint64_t m;
	size_t left;

	for (left = len; left >= 8; left -= 8, p += 8) {
		m = load_block(p);
		v3 ^= m;
		SIPROUND;
		SIPROUND;
		v0 ^= m;
	}
	m = load_le64(p, left) | (uint64_t)len << 56;
	v3 ^= m;
	SIPROUND;
	SIPROUND;
	v0 ^= m;
	v2 ^= 0xff;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	SIPROUND;
	return v0 ^ v1 ^ v2 ^ v3;
}
