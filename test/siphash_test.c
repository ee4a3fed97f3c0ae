/*
 * siphash_test.c - the keyed hash and the tag it gives the wire, for
 * test/key.bats.
 *
 *     test/siphash_test          check the 64 published SipHash-2-4
 *                                vectors and the tag codec; exits 1 at
 *                                the first broken expectation
 *     test/siphash_test -p       print SipHash-2-4 under the reference
 *                                key of 00, 00 01, ... 00..3e (64 lines,
 *                                %016x), for an independent cross-check
 *
 * The vectors are the reference implementation's (key 00 01 .. 0f,
 * message 00 01 .. n-1 for n = 0..63), as 64-bit results; the one for
 * n = 15 is the example in the appendix of the SipHash paper.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../kvmc.h"

#define EXPECT(cond) do {						\
	if (!(cond)) {							\
		fprintf(stderr, "siphash_test.c:%d: expected %s\n",	\
		    __LINE__, #cond);					\
		exit(1);						\
	}								\
} while (0)

static const uint64_t vectors[64] = {
	0x726fdb47dd0e0e31ULL, 0x74f839c593dc67fdULL, 0x0d6c8009d9a94f5aULL,
	0x85676696d7fb7e2dULL, 0xcf2794e0277187b7ULL, 0x18765564cd99a68dULL,
	0xcbc9466e58fee3ceULL, 0xab0200f58b01d137ULL, 0x93f5f5799a932462ULL,
	0x9e0082df0ba9e4b0ULL, 0x7a5dbbc594ddb9f3ULL, 0xf4b32f46226bada7ULL,
	0x751e8fbc860ee5fbULL, 0x14ea5627c0843d90ULL, 0xf723ca908e7af2eeULL,
	0xa129ca6149be45e5ULL, 0x3f2acc7f57c29bdbULL, 0x699ae9f52cbe4794ULL,
	0x4bc1b3f0968dd39cULL, 0xbb6dc91da77961bdULL, 0xbed65cf21aa2ee98ULL,
	0xd0f2cbb02e3b67c7ULL, 0x93536795e3a33e88ULL, 0xa80c038ccd5ccec8ULL,
	0xb8ad50c6f649af94ULL, 0xbce192de8a85b8eaULL, 0x17d835b85bbb15f3ULL,
	0x2f2e6163076bcfadULL, 0xde4daaaca71dc9a5ULL, 0xa6a2506687956571ULL,
	0xad87a3535c49ef28ULL, 0x32d892fad841c342ULL, 0x7127512f72f27cceULL,
	0xa7f32346f95978e3ULL, 0x12e0b01abb051238ULL, 0x15e034d40fa197aeULL,
	0x314dffbe0815a3b4ULL, 0x027990f029623981ULL, 0xcadcd4e59ef40c4dULL,
	0x9abfd8766a33735cULL, 0x0e3ea96b5304a7d0ULL, 0xad0c42d6fc585992ULL,
	0x187306c89bc215a9ULL, 0xd4a60abcf3792b95ULL, 0xf935451de4f21df2ULL,
	0xa9538f0419755787ULL, 0xdb9acddff56ca510ULL, 0xd06c98cd5c0975ebULL,
	0xe612a3cb9ecba951ULL, 0xc766e62cfcadaf96ULL, 0xee64435a9752fe72ULL,
	0xa192d576b245165aULL, 0x0a8787bf8ecb74b2ULL, 0x81b3e73d20b49b6fULL,
	0x7fa8220ba3b2eceaULL, 0x245731c13ca42499ULL, 0xb78dbfaf3a8d83bdULL,
	0xea1ad565322a1a0bULL, 0x60e61c23a3795013ULL, 0x6606d7e446282b93ULL,
	0x6ca4ecb15c5f91e1ULL, 0x9f626da15c9625f3ULL, 0xe51b38608ef25f57ULL,
	0x958a324ceb064572ULL,
};

/* Key bytes 00..0f as the reference loads them: little-endian words. */
static const uint64_t ref_key[2] = {
	0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL
};

static const char set_line[] =
    "v=1 type=SET id=0f8e2c1a-5b7d-4e3f-9a21-6c4d2b1e0f37 from=n1 key=x "
    "value=1\n";

static void
test_vectors(int print)
{
	unsigned char msg[64];
	size_t n;

	for (n = 0; n < 64; n++)
		msg[n] = (unsigned char)n;
	for (n = 0; n < 64; n++) {
		uint64_t h = siphash(ref_key, msg, n);

		if (print)
			printf("%016llx\n", (unsigned long long)h);
		else if (h != vectors[n]) {
			fprintf(stderr, "siphash_test: length %zu: got %016llx,"
			    " expected %016llx\n", n, (unsigned long long)h,
			    (unsigned long long)vectors[n]);
			exit(1);
		}
	}
}

/* Seals set_line under key into wire; returns its length. */
static size_t
sealed(char wire[WIRE_MAX + 1], const uint64_t key[2])
{
	size_t len = strlen(set_line);

	memcpy(wire, set_line, len + 1);
	len = msg_seal(wire, len, WIRE_MAX + 1, key);
	EXPECT(len == strlen(set_line) + MAC_LEN);
	return len;
}

static void
test_tag(void)
{
	static const uint64_t other[2] = { 1, 0 };
	char wire[WIRE_MAX + 1], tag[17];
	size_t len = sealed(wire, ref_key), i;
	struct msg m;

	/* The tag covers every byte before " mac=", newline excluded. */
	snprintf(tag, sizeof(tag), "%016llx", (unsigned long long)siphash(
	    ref_key, set_line, strlen(set_line) - 1));
	EXPECT(memcmp(wire + len - 1 - MAC_LEN, " mac=", 5) == 0);
	EXPECT(memcmp(wire + len - 17, tag, 16) == 0 && wire[len - 1] == '\n');
	EXPECT(msg_decode(wire, len, ref_key, &m) == MSG_OK);
	EXPECT(m.type == MSG_SET && strcmp(m.value, "1") == 0);
	EXPECT(msg_decode(wire, len, other, &m) == MSG_KEY_MISMATCH);
	EXPECT(msg_decode(wire, len, NULL, &m) == MSG_KEY_MISMATCH);
	EXPECT(msg_decode(set_line, strlen(set_line), ref_key, &m) ==
	    MSG_KEY_MISMATCH);
	/* Any byte changed, the newline aside, makes another reason. */
	for (i = 0; i + 1 < len; i++) {
		char copy[WIRE_MAX + 1];

		memcpy(copy, wire, len);
		copy[i] = copy[i] == 'a' ? 'b' : 'a';
		EXPECT(msg_decode(copy, len, ref_key, &m) == MSG_KEY_MISMATCH);
	}
	/* Upper-case digits are not the tag. */
	for (i = len - 17; i < len - 1 && wire[i] <= '9'; i++)
		;
	if (i < len - 1) {
		wire[i] = (char)(wire[i] - 'a' + 'A');
		EXPECT(msg_decode(wire, len, ref_key, &m) == MSG_KEY_MISMATCH);
	}
}

/* The framing reasons come first; a keyless node refuses any mac= token. */
static void
test_precedence(void)
{
	static const char *const with_mac[] = {
		"mac=0000000000000000 v=1 type=HELLO id=x from=n\n",
		"v=1 type=HELLO mac=1 id=x from=n\n",
		"v=1 type=HELLO id=x from=n mac=\n",
	};
	char big[WIRE_MAX + 2];
	struct msg m;
	size_t i;

	memset(big, 'a', sizeof(big));
	big[WIRE_MAX] = '\n';
	EXPECT(msg_decode(big, WIRE_MAX + 1, ref_key, &m) == MSG_TOO_LONG);
	EXPECT(msg_decode("v=1", 3, ref_key, &m) == MSG_NO_NEWLINE);
	EXPECT(msg_decode("v=1\t\n", 5, ref_key, &m) == MSG_BAD_BYTE);
	EXPECT(msg_decode(" \n", 2, ref_key, &m) == MSG_KEY_MISMATCH);
	EXPECT(msg_decode(" \n", 2, NULL, &m) == MSG_BAD_FIELD);
	for (i = 0; i < sizeof(with_mac) / sizeof(with_mac[0]); i++)
		EXPECT(msg_decode(with_mac[i], strlen(with_mac[i]), NULL, &m) ==
		    MSG_KEY_MISMATCH);
	/* "macx=" is no mac token: the field parser says what is wrong. */
	EXPECT(msg_decode("v=1 macx=1\n", 11, NULL, &m) == MSG_UNKNOWN_FIELD);
}

/* The tag counts against the 1400 bytes: a line that fits may not. */
static void
test_size(void)
{
	char wire[WIRE_MAX + 1];
	struct msg m = { .type = MSG_SET, .key = "k", .key_len = 1 }, back;
	size_t len;

	memcpy(m.id, "0f8e2c1a-5b7d-4e3f-9a21-6c4d2b1e0f37", UUID_LEN + 1);
	memcpy(m.from, "n1", 3);
	/* 74 bytes besides the value, 21 more for the tag. */
	m.value_len = WIRE_MAX - 74 - MAC_LEN;
	memset(m.value, 'v', m.value_len + 1);	/* one more for below */
	len = msg_encode(&m, wire, sizeof(wire));
	EXPECT(len == WIRE_MAX - MAC_LEN);
	EXPECT(msg_seal(wire, len, sizeof(wire), ref_key) == WIRE_MAX);
	EXPECT(msg_decode(wire, WIRE_MAX, ref_key, &back) == MSG_OK);
	m.value_len++;
	len = msg_encode(&m, wire, sizeof(wire));
	EXPECT(len == WIRE_MAX - MAC_LEN + 1);
	EXPECT(msg_seal(wire, len, sizeof(wire), ref_key) == 0);
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "-p") == 0) {
		test_vectors(1);
		return 0;
	}
	test_vectors(0);
	test_tag();
	test_precedence();
	test_size();
	printf("siphash: 64 published vectors and the tag codec held\n");
	return 0;
}
