/*
 * fuzz_decode.c - libFuzzer: any bytes as a datagram. The decoder must
 * never crash, and whatever it accepts must encode and decode again to
 * the same message (a canonical form exists for every valid datagram).
 *
 * The first byte picks the receiver: 'K', a node with a group key, given
 * the rest as it is (the tag check must turn away whatever it cannot
 * verify); 'S', the same node given the rest sealed with the right tag,
 * so the field parser behind the check is fuzzed too; any other byte, a
 * node without a key given all the input.
 */
#include <stdlib.h>
#include <string.h>

#include "../../kvmc.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/* Section 10's fields: the same ones present, with the same values. */
static int
same_order_fields(const struct msg *a, const struct msg *b)
{
	return a->has == b->has && a->inc == b->inc && a->seq == b->seq &&
	    a->gseq == b->gseq && a->vc_len == b->vc_len &&
	    memcmp(a->vc, b->vc, a->vc_len) == 0 && strcmp(a->to, b->to) == 0 &&
	    a->of == b->of && a->first == b->first && a->last == b->last;
}
static const uint64_t group_key[2] = {
	0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL
};

static int
same_msg(const struct msg *a, const struct msg *b)
{
	return a->type == b->type && strcmp(a->id, b->id) == 0 &&
	    strcmp(a->from, b->from) == 0 && a->key_len == b->key_len &&
	    memcmp(a->key, b->key, a->key_len) == 0 &&
	    a->value_len == b->value_len &&
	    memcmp(a->value, b->value, a->value_len) == 0 &&
	    strcmp(a->re, b->re) == 0 && a->digest == b->digest &&
	    a->entries == b->entries && a->order == b->order &&
	    same_order_fields(a, b);
}

/* The input as the 'S' receiver gets it: a line, then its tag. */
static size_t
sealed_input(const unsigned char *data, size_t size, char *out, size_t cap)
{
	if (size + 1 >= cap)
		return 0;
	memcpy(out, data, size);
	if (size == 0 || out[size - 1] != '\n')
		out[size++] = '\n';
	return msg_seal(out, size, cap, group_key);
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static char wire[WIRE_MAX + 1], input[WIRE_MAX + 1], fields[16384];
	const uint64_t *key = NULL;
	struct msg m, again;
	size_t len;

	if (size > 0 && (data[0] == 'K' || data[0] == 'S')) {
		key = group_key;
		if (data[0] == 'S') {
			size = sealed_input(data + 1, size - 1, input,
			    sizeof(input));
			if (size == 0)
				return 0;
			data = (const unsigned char *)input;
		} else {
			data++;
			size--;
		}
	}
	if (msg_decode((const char *)data, size, key, &m) != MSG_OK)
		return 0;
	len = msg_encode(&m, wire, sizeof(wire));
	if (len > 0 && key != NULL)
		len = msg_seal(wire, len, sizeof(wire), key);
	/* Canonical form is never longer: upper-case hex, same escapes. */
	if (len == 0 || len > size)
		abort();
	if (msg_decode(wire, len, key, &again) != MSG_OK ||
	    !same_msg(&m, &again))
		abort();
	/* Under no key, or another, a sealed datagram is refused. */
	if (key != NULL && msg_decode(wire, len, NULL, &again) !=
	    MSG_KEY_MISMATCH)
		abort();
	msg_describe(&m, fields, sizeof(fields));
	if (strchr(fields, '\n') != NULL)
		abort();
	return 0;
}
