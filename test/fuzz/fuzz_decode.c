/*
 * fuzz_decode.c - libFuzzer: any bytes as a datagram. The decoder must
 * never crash, and whatever it accepts must encode and decode again to
 * the same message (a canonical form exists for every valid datagram).
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

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static char wire[WIRE_MAX + 1], fields[16384];
	struct msg m, again;
	size_t len;

	if (msg_decode((const char *)data, size, &m) != MSG_OK)
		return 0;
	len = msg_encode(&m, wire, sizeof(wire));
	/* Canonical form is never longer: upper-case hex, same escapes. */
	if (len == 0 || len > size)
		abort();
	if (msg_decode(wire, len, &again) != MSG_OK || !same_msg(&m, &again))
		abort();
	msg_describe(&m, fields, sizeof(fields));
	if (strchr(fields, '\n') != NULL)
		abort();
	return 0;
}
