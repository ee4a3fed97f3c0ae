/*
 * fuzz_encode.c - libFuzzer: any message built from the input. Whatever
 * the encoder writes must decode to the same message: decode(encode(m))
 * == m. Key and value may hold any byte but NUL.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../kvmc.h"

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size);

/* Takes a length (of width bytes), then that many bytes, NUL made 1. */
static size_t
take(const unsigned char **data, size_t *size, size_t width, char *out,
    size_t max)
{
	size_t n = 0, i;

	for (i = 0; i < width && *size > 0; i++, (*data)++, (*size)--)
		n = n << 8 | **data;
	if (n > max)
		n = max;
	if (n > *size)
		n = *size;
	for (i = 0; i < n; i++)
		out[i] = (*data)[i] ? (char)(*data)[i] : 1;
	out[n] = '\0';
	*data += n;
	*size -= n;
	return n;
}

int
LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
	static const unsigned char rnd[16];
	static char wire[WIRE_MAX + 1];
	struct msg m, back;
	size_t len;

	if (size < 2)
		return 0;
	memset(&m, 0, sizeof(m));
	/* Section 3's types, whose fields this harness fills; ORDER and
	   NACK need section 10's fields, which fuzz_decode's round trip
	   covers. */
	m.type = (enum msg_type)(data[0] % (MSG_HELLO + 1));
	msg_format_id(m.id, rnd);
	memcpy(m.re, m.id, sizeof(m.re));
	snprintf(m.from, sizeof(m.from), "n%u", data[1]);
	data += 2;
	size -= 2;
	m.key_len = take(&data, &size, 1, m.key, KEY_MAX);
	if (m.key_len == 0 && (m.type == MSG_SET || m.type == MSG_GET))
		m.key[m.key_len++] = 'k';
	m.value_len = take(&data, &size, 2, m.value, WIRE_MAX - 1);
	if (size >= 8)
		memcpy(&m.digest, data, 8);
	m.entries = size;
	m.order = m.digest >> 3;
	len = msg_encode(&m, wire, sizeof(wire));
	if (len == 0)
		return 0;	/* too big for a datagram: refused, fine */
	if (msg_decode(wire, len, NULL, &back) != MSG_OK || back.type != m.type)
		abort();
	if (m.type == MSG_SET && (back.value_len != m.value_len ||
	    memcmp(back.value, m.value, m.value_len) != 0))
		abort();
	if ((m.type == MSG_SET || m.type == MSG_GET) &&
	    (back.key_len != m.key_len ||
	    memcmp(back.key, m.key, m.key_len) != 0))
		abort();
	if (m.type == MSG_DIGEST && (back.digest != m.digest ||
	    back.entries != m.entries || back.order != m.order ||
	    strcmp(back.re, m.re) != 0))
		abort();
	return 0;
}
