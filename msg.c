/*
 * msg.c - the wire format, version 1 (SPEC section 3): one line of
 * "name=value" fields. The decoder is strict and checks the rules in the
 * SPEC's order, so a broken datagram gets exactly the reason the SPEC
 * names; it fills the caller's struct and allocates nothing. The same
 * escaping serves the wire and the logs, so one decoder reads both.
 * With a group key (SPEC section 12) the last field is a SipHash-2-4 tag
 * of the rest of the line, checked before any field is parsed.
 */
#include <errno.h>
#include <string.h>

#include "kvmc.h"

/* In the order their values are checked: section 3's, then section 10's. */
enum field {
	F_V, F_TYPE, F_ID, F_FROM, F_KEY, F_VALUE, F_RE, F_DIGEST, F_ENTRIES,
	F_ORDER, F_INC, F_SEQ, F_VC, F_GSEQ, F_TO, F_OF, F_FIRST, F_LAST,
	NFIELDS
};

#define BIT(f)	(1u << (f))
#define BASE	(BIT(F_V) | BIT(F_TYPE) | BIT(F_ID) | BIT(F_FROM))
#define STREAM	(BIT(F_INC) | BIT(F_SEQ))	/* ordered modes, optional */

/* Names with their lengths: every token of every datagram is looked up. */
#define NAME(s)	{ s, sizeof(s) - 1 }
static const struct field_name {
	const char	*s;
	size_t		 len;
} field_names[NFIELDS] = {
	NAME("v"), NAME("type"), NAME("id"), NAME("from"), NAME("key"),
	NAME("value"), NAME("re"), NAME("digest"), NAME("entries"),
	NAME("order"), NAME("inc"), NAME("seq"), NAME("vc"), NAME("gseq"),
	NAME("to"), NAME("of"), NAME("first"), NAME("last")
};
#undef NAME

static const char *const type_names[MSG_NTYPES] = {
	"SET", "GET", "PRINT", "CHECK", "DIGEST", "HELLO", "ORDER", "NACK"
};

/* Each type's required fields. */
static const unsigned type_fields[MSG_NTYPES] = {
	[MSG_SET]	= BASE | BIT(F_KEY) | BIT(F_VALUE),
	[MSG_GET]	= BASE | BIT(F_KEY),
	[MSG_PRINT]	= BASE,
	[MSG_CHECK]	= BASE,
	[MSG_DIGEST]	= BASE | BIT(F_RE) | BIT(F_DIGEST) | BIT(F_ENTRIES) |
			  BIT(F_ORDER),
	[MSG_HELLO]	= BASE,
	[MSG_ORDER]	= BASE | BIT(F_INC) | BIT(F_RE) | BIT(F_GSEQ),
	[MSG_NACK]	= BASE | BIT(F_INC) | BIT(F_TO) | BIT(F_OF) |
			  BIT(F_FIRST) | BIT(F_LAST),
};

/*
 * The fields a type may carry besides those it requires: the ordered
 * modes' stream fields, which the mode check (not the codec) demands.
 */
static const unsigned type_optional[MSG_NTYPES] = {
	[MSG_SET]	= STREAM | BIT(F_VC),
	[MSG_GET]	= STREAM | BIT(F_VC),
	[MSG_PRINT]	= STREAM | BIT(F_VC),
	[MSG_HELLO]	= STREAM | BIT(F_GSEQ),
};

/* The MSG_HAS_* bit of each optional field of section 10. */
static const struct {
	enum field	f;
	unsigned	has;
} has_bits[] = {
	{ F_INC, MSG_HAS_INC }, { F_SEQ, MSG_HAS_SEQ }, { F_VC, MSG_HAS_VC },
	{ F_GSEQ, MSG_HAS_GSEQ },
};

static const char *const reason_names[] = {
	[MSG_OK]		= "ok",
	[MSG_TOO_LONG]		= "too_long",
	[MSG_NO_NEWLINE]	= "no_newline",
	[MSG_BAD_BYTE]		= "bad_byte",
	[MSG_KEY_MISMATCH]	= "key_mismatch",
	[MSG_BAD_FIELD]		= "bad_field",
	[MSG_BAD_VERSION]	= "bad_version",
	[MSG_UNKNOWN_FIELD]	= "unknown_field",
	[MSG_DUPLICATE_FIELD]	= "duplicate_field",
	[MSG_BAD_ESCAPE]	= "bad_escape",
	[MSG_BAD_TYPE]		= "bad_type",
	[MSG_BAD_ID]		= "bad_id",
	[MSG_BAD_FROM]		= "bad_from",
	[MSG_BAD_KEY]		= "bad_key",
	[MSG_BAD_VALUE]		= "bad_value",
	[MSG_MISSING_FIELD]	= "missing_field",
	[MSG_UNEXPECTED_FIELD]	= "unexpected_field",
	[MSG_ORDERING_MISMATCH]	= "ordering_mismatch",
};

static const char hex_upper[] = "0123456789ABCDEF";
static const char hex_lower[] = "0123456789abcdef";

struct span {
	const char	*p;
	size_t		 len;
};

const char *
msg_type_name(enum msg_type t)
{
	return type_names[t];
}

const char *
msg_reason_name(enum msg_reason r)
{
	return reason_names[r];
}

/* SET, GET and PRINT: the commands, which the ordered modes number. */
int
msg_is_command(const struct msg *m)
{
	return m->type == MSG_SET || m->type == MSG_GET ||
	    m->type == MSG_PRINT;
}

/* ---- decoding ---- */

static int
is_lower_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
}

/*
 * A version 4 UUID, xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx (x a lower-case
 * hex digit, y one of 8 9 a b): the classes a byte is in, and the class
 * each place asks for. Ids are checked on every datagram, so without a
 * branch per byte.
 */
enum { U_HEX = 1, U_DASH = 2, U_FOUR = 4, U_Y = 8 };
static const unsigned char uuid_class[256] = {
	['0'] = U_HEX, ['1'] = U_HEX, ['2'] = U_HEX, ['3'] = U_HEX,
	['4'] = U_HEX | U_FOUR, ['5'] = U_HEX, ['6'] = U_HEX, ['7'] = U_HEX,
	['8'] = U_HEX | U_Y, ['9'] = U_HEX | U_Y, ['a'] = U_HEX | U_Y,
	['b'] = U_HEX | U_Y, ['c'] = U_HEX, ['d'] = U_HEX, ['e'] = U_HEX,
	['f'] = U_HEX, ['-'] = U_DASH,
};
#define X	U_HEX
#define D	U_DASH
static const unsigned char uuid_place[UUID_LEN] = {
	X, X, X, X, X, X, X, X, D, X, X, X, X, D, U_FOUR, X, X, X, D,
	U_Y, X, X, X, D, X, X, X, X, X, X, X, X, X, X, X, X
};
#undef X
#undef D

/* A hex digit's value plus one, 0 for any other byte: one load per digit
 * (ids are turned into bytes at least twice per datagram). */
static const unsigned char hex_plus1[256] = {
	['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5,
	['5'] = 6, ['6'] = 7, ['7'] = 8, ['8'] = 9, ['9'] = 10,
	['a'] = 11, ['b'] = 12, ['c'] = 13, ['d'] = 14, ['e'] = 15, ['f'] = 16,
	['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
};

static int
hex_digit(char c)
{
	return hex_plus1[(unsigned char)c] - 1;
}

/* (strncmp stops at the first difference: no strlen of text first) */
static int
span_is(struct span s, const char *text)
{
	return strncmp(text, s.p, s.len) == 0 && text[s.len] == '\0';
}

/*
 * Whether the 8 bytes of w are all from 0x20 to 0x7e. A byte below 0x20
 * borrows into its top bit when 0x20 is taken from it, its own top bit
 * being clear; one above 0x7e has its top bit set, or gets it when 1 is
 * added. Borrows and carries into the next byte start only at a byte
 * that is out of range already, so the answer is exact.
 */
static int
word_printable(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101u, tops = ones * 0x80;
	uint64_t below = (w - ones * 0x20) & ~w & tops;
	uint64_t above = ((w + ones) | w) & tops;

	return (below | above) == 0;
}

/* Only printable ASCII and spaces; 8 bytes at a time, the rest one by one. */
static int
bytes_ok(const char *p, size_t len)
{
	size_t i = 0;
	uint64_t w;

	for (; i + 8 <= len; i += 8) {
		memcpy(&w, p + i, 8);
		if (!word_printable(w))
			return 0;
	}
	for (; i < len; i++)
		if (p[i] < 0x20 || p[i] > 0x7e)
			return 0;
	return 1;
}

/* Walks the space-separated tokens of a body; an empty body is one token. */
struct cursor {
	const char	*p;
	const char	*end;
	int		 done;
};

static int
next_token(struct cursor *c, struct span *tok)
{
	const char *space;

	if (c->done)
		return 0;
	space = memchr(c->p, ' ', (size_t)(c->end - c->p));
	if (space == NULL) {
		space = c->end;
		c->done = 1;
	}
	tok->p = c->p;
	tok->len = (size_t)(space - c->p);
	c->p = c->done ? space : space + 1;
	return 1;
}

/*
 * Splits name=value: a name of a-z, then no second '='. Returns 0 if not.
 * One pass over the bytes: tokens are short, and a call per search costs
 * more than the search.
 */
static int
split_field(struct span tok, struct span *name, struct span *value)
{
	size_t i = 0;

	while (i < tok.len && tok.p[i] >= 'a' && tok.p[i] <= 'z')
		i++;
	if (i == 0 || i == tok.len || tok.p[i] != '=')
		return 0;
	name->p = tok.p;
	name->len = i;
	value->p = tok.p + i + 1;
	value->len = tok.len - i - 1;
	for (i = 0; i < value->len; i++)
		if (value->p[i] == '=')
			return 0;
	return 1;
}

static int
field_index(struct span name)
{
	int f;

	for (f = 0; f < NFIELDS; f++)
		if (name.len == field_names[f].len &&
		    name.p[0] == field_names[f].s[0] &&
		    memcmp(name.p, field_names[f].s, name.len) == 0)
			return f;
	return -1;
}

/* Every '%' starts %HH, and no escape is %00. */
static int
escapes_ok(struct span s)
{
	size_t i;

	for (i = 0; i < s.len; i++) {
		if (s.p[i] != '%')
			continue;
		if (s.len - i < 3)
			return 0;
		if (hex_digit(s.p[i + 1]) < 0 || hex_digit(s.p[i + 2]) < 0)
			return 0;
		if (s.p[i + 1] == '0' && s.p[i + 2] == '0')
			return 0;
		i += 2;
	}
	return 1;
}

/* Decodes an escaped span that escapes_ok accepted; returns its length. */
static size_t
unescape(struct span s, char *out)
{
	size_t i, n = 0;

	for (i = 0; i < s.len; i++) {
		if (s.p[i] == '%') {
			out[n++] = (char)((unsigned)hex_digit(s.p[i + 1]) << 4 |
			    (unsigned)hex_digit(s.p[i + 2]));
			i += 2;
		} else
			out[n++] = s.p[i];
	}
	out[n] = '\0';
	return n;
}

/*
 * Decodes a field value as written on the wire and in the logs (%HH
 * escapes) into dst, which holds at least len + 1 bytes; NUL-terminated.
 * Returns 0 and the decoded length in *out, or -1 (EINVAL) when an escape
 * is broken or is %00.
 */
int
msg_unescape(char *dst, const char *src, size_t len, size_t *out)
{
	struct span s = { src, len };

	if (!escapes_ok(s)) {
		errno = EINVAL;
		return -1;
	}
	*out = unescape(s, dst);
	return 0;
}

/* The length of an escaped span (escapes_ok accepted it) once decoded. */
static size_t
unescaped_len(struct span s)
{
	size_t i, n = s.len;

	for (i = 0; i < s.len; i++)
		if (s.p[i] == '%')
			n -= 2;
	return n;
}

static int
uuid_ok(struct span s)
{
	size_t i;
	unsigned missing = 0;

	if (s.len != UUID_LEN)
		return 0;
	for (i = 0; i < UUID_LEN; i++)
		missing |= (uuid_class[(unsigned char)s.p[i]] &
		    uuid_place[i]) == 0;
	return !missing;
}

/* The NODE_ID rule: 1-32 of A-Z a-z 0-9 . _ - */
int
msg_valid_node_id(const char *p, size_t len)
{
	size_t i;

	if (len < 1 || len > NODE_ID_MAX)
		return 0;
	for (i = 0; i < len; i++) {
		char c = p[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

static int
digest_hex(struct span s, uint64_t *out)
{
	size_t i;

	if (s.len != 16)
		return 0;
	*out = 0;
	for (i = 0; i < 16; i++) {
		if (!is_lower_hex(s.p[i]))
			return 0;
		*out = *out << 4 | (uint64_t)hex_digit(s.p[i]);
	}
	return 1;
}

/* Decimal, no leading zero, below 2^64. */
static int
decimal_u64(struct span s, uint64_t *out)
{
	size_t i;

	if (s.len == 0 || (s.p[0] == '0' && s.len > 1))
		return 0;
	*out = 0;
	for (i = 0; i < s.len; i++) {
		unsigned d = (unsigned)(s.p[i] - '0');

		if (s.p[i] < '0' || s.p[i] > '9' ||
		    *out > (UINT64_MAX - d) / 10)
			return 0;
		*out = *out * 10 + d;
	}
	return 1;
}

static int
parse_type(struct span s, enum msg_type *t)
{
	int i;

	for (i = 0; i < MSG_NTYPES; i++) {
		if (span_is(s, type_names[i])) {
			*t = (enum msg_type)i;
			return 1;
		}
	}
	return 0;
}

static void
copy_span(char *dst, struct span s)
{
	memcpy(dst, s.p, s.len);
	dst[s.len] = '\0';
}

/* The number at s, from min to UINT64_MAX. */
static int
decimal_min(struct span s, uint64_t min, uint64_t *out)
{
	return decimal_u64(s, out) && *out >= min;
}

/* Compares two node ids bytewise, the shorter first on a common prefix. */
static int
id_cmp(struct span a, struct span b)
{
	int c = memcmp(a.p, b.p, a.len < b.len ? a.len : b.len);

	if (c != 0)
		return c;
	return (a.len > b.len) - (a.len < b.len);
}

/* One "id:count" of a vc: a node id, then 1 to 2^64-1. */
static int
vc_pair(struct span pair, struct span *id, uint64_t *count)
{
	const char *colon = memchr(pair.p, ':', pair.len);
	struct span n;

	if (colon == NULL)
		return 0;
	id->p = pair.p;
	id->len = (size_t)(colon - pair.p);
	n.p = colon + 1;
	n.len = pair.len - id->len - 1;
	return msg_valid_node_id(id->p, id->len) && decimal_min(n, 1, count);
}

/*
 * A vector clock: pairs joined by ',', sorted by id, each id once; it
 * names from (when there is a from) with the count seq (when there is a
 * seq). Written with a ',' after the last pair to walk it as tokens.
 */
static int
vc_ok(struct span s, const struct msg *m, unsigned present)
{
	struct span pair, id, prev = { NULL, 0 };
	struct span from = { m->from, strlen(m->from) };
	const char *p = s.p, *end = s.p + s.len, *comma;
	uint64_t count;
	int named = 0;

	for (; p <= end; p = comma + 1) {
		comma = memchr(p, ',', (size_t)(end - p));
		if (comma == NULL)
			comma = end;
		pair.p = p;
		pair.len = (size_t)(comma - p);
		if (!vc_pair(pair, &id, &count))
			return 0;
		if (prev.p != NULL && id_cmp(prev, id) >= 0)
			return 0;
		if (id_cmp(id, from) == 0) {
			named = 1;
			if ((present & BIT(F_SEQ)) && count != m->seq)
				return 0;
		}
		prev = id;
	}
	return named || !(present & BIT(F_FROM));
}

/*
 * Section 10's field rules, in its order inc seq vc gseq to of first
 * last. A command's seq and an ORDER's gseq start at 1; a HELLO's may be
 * 0 (nothing sent yet).
 */
static enum msg_reason
check_order_values(const struct span v[NFIELDS], unsigned present,
    int typed, struct msg *m)
{
	uint64_t seq_min = typed && msg_is_command(m) ? 1 : 0;
	uint64_t gseq_min = typed && m->type == MSG_ORDER ? 1 : 0;
	size_t i;

	if ((present & BIT(F_INC)) && !decimal_min(v[F_INC], 1, &m->inc))
		return MSG_BAD_VALUE;
	if ((present & BIT(F_SEQ)) && !decimal_min(v[F_SEQ], seq_min, &m->seq))
		return MSG_BAD_VALUE;
	if (present & BIT(F_VC)) {
		if (!vc_ok(v[F_VC], m, present))
			return MSG_BAD_VALUE;
		copy_span(m->vc, v[F_VC]);
		m->vc_len = v[F_VC].len;
	}
	if ((present & BIT(F_GSEQ)) &&
	    !decimal_min(v[F_GSEQ], gseq_min, &m->gseq))
		return MSG_BAD_VALUE;
	if (present & BIT(F_TO)) {
		if (!msg_valid_node_id(v[F_TO].p, v[F_TO].len))
			return MSG_BAD_VALUE;
		copy_span(m->to, v[F_TO]);
	}
	if (present & BIT(F_OF)) {
		if (span_is(v[F_OF], "seq"))
			m->of = MSG_OF_SEQ;
		else if (span_is(v[F_OF], "gseq"))
			m->of = MSG_OF_GSEQ;
		else
			return MSG_BAD_VALUE;
	}
	if ((present & BIT(F_FIRST)) && !decimal_min(v[F_FIRST], 1, &m->first))
		return MSG_BAD_VALUE;
	if ((present & BIT(F_LAST)) && (!decimal_min(v[F_LAST], 1, &m->last) ||
	    ((present & BIT(F_FIRST)) && m->first > m->last)))
		return MSG_BAD_VALUE;
	for (i = 0; i < sizeof(has_bits) / sizeof(has_bits[0]); i++)
		if (present & BIT(has_bits[i].f))
			m->has |= has_bits[i].has;
	return MSG_OK;
}

/* The fields of section 10, empty: what a message without them holds. */
static void
clear_order_fields(struct msg *m)
{
	m->has = 0;
	m->inc = m->seq = m->gseq = m->first = m->last = 0;
	m->vc[0] = m->to[0] = '\0';
	m->vc_len = 0;
	m->of = MSG_OF_NONE;
}

/* The field rules, in the SPEC's order id, from, key, value, re, ... */
static enum msg_reason
check_values(const struct span v[NFIELDS], unsigned present, struct msg *m)
{
	m->id[0] = m->from[0] = m->key[0] = m->value[0] = m->re[0] = '\0';
	m->key_len = m->value_len = 0;
	m->digest = m->entries = m->order = 0;
	clear_order_fields(m);
	if (present & BIT(F_ID)) {
		if (!uuid_ok(v[F_ID]))
			return MSG_BAD_ID;
		copy_span(m->id, v[F_ID]);
	}
	if (present & BIT(F_FROM)) {
		if (!msg_valid_node_id(v[F_FROM].p, v[F_FROM].len))
			return MSG_BAD_FROM;
		copy_span(m->from, v[F_FROM]);
	}
	if (present & BIT(F_KEY)) {
		size_t n = unescaped_len(v[F_KEY]);

		if (n < 1 || n > KEY_MAX)
			return MSG_BAD_KEY;
		m->key_len = unescape(v[F_KEY], m->key);
	}
	if (present & BIT(F_VALUE))
		m->value_len = unescape(v[F_VALUE], m->value);
	if (present & BIT(F_RE)) {
		if (!uuid_ok(v[F_RE]))
			return MSG_BAD_VALUE;
		copy_span(m->re, v[F_RE]);
	}
	if ((present & BIT(F_DIGEST)) && !digest_hex(v[F_DIGEST], &m->digest))
		return MSG_BAD_VALUE;
	if ((present & BIT(F_ENTRIES)) &&
	    !decimal_u64(v[F_ENTRIES], &m->entries))
		return MSG_BAD_VALUE;
	if ((present & BIT(F_ORDER)) && !decimal_u64(v[F_ORDER], &m->order))
		return MSG_BAD_VALUE;
	return check_order_values(v, present, (present & BIT(F_TYPE)) != 0, m);
}

/*
 * The tag at the end of a keyed line (newline removed): it must end with
 * " mac=" and 16 lower-case hex digits that are SipHash-2-4 of every
 * byte before them; *len is then cut to those bytes, the message proper.
 * (That " mac=" is nowhere else is seen with the tokens: mac_token.)
 * Only the received digits are looked at one by one; the tags are
 * compared as one 64-bit word, so the time taken does not depend on
 * where they differ.
 */
static enum msg_reason
check_tag(const char *p, size_t *len, const uint64_t *key)
{
	struct span digits;
	uint64_t got;
	size_t body;

	if (*len < MAC_LEN)
		return MSG_KEY_MISMATCH;
	body = *len - MAC_LEN;
	digits = (struct span){ p + body + 5, 16 };
	if (memcmp(p + body, " mac=", 5) != 0 || !digest_hex(digits, &got))
		return MSG_KEY_MISMATCH;
	if ((got ^ siphash(key, p, body)) != 0)
		return MSG_KEY_MISMATCH;
	*len = body;
	return MSG_OK;
}

/*
 * A token that begins "mac=" where none may be: anywhere without a key;
 * with one, after a space (" mac=") before the tag, which is cut off.
 */
static int
mac_token(struct span tok, const char *line, const uint64_t *key)
{
	return tok.len >= 4 && memcmp(tok.p, "mac=", 4) == 0 &&
	    (key == NULL || tok.p != line);
}

/*
 * Decodes one datagram of len bytes (len may exceed what buf holds when
 * it is over WIRE_MAX: only the length is looked at then), under the
 * group key (k0, k1), or NULL when the node has none. Returns MSG_OK and
 * fills m, or the reason the datagram is rejected; m is then partly
 * filled and meaningless.
 */
enum msg_reason
msg_decode(const char *buf, size_t len, const uint64_t *key, struct msg *m)
{
	struct span v[NFIELDS], tok, name, value;
	struct cursor c;
	unsigned present = 0, required;
	enum msg_reason r;
	int f, mac = 0, bad_field = 0, unknown = 0, duplicate = 0;

	if (len > WIRE_MAX)
		return MSG_TOO_LONG;
	if (len == 0 || buf[len - 1] != '\n')
		return MSG_NO_NEWLINE;
	len--;
	if (!bytes_ok(buf, len))
		return MSG_BAD_BYTE;
	if (key != NULL && (r = check_tag(buf, &len, key)) != MSG_OK)
		return r;

	/* One pass; what it found is judged in the SPEC's order after it. */
	c = (struct cursor){ buf, buf + len, 0 };
	while (next_token(&c, &tok)) {
		if (mac_token(tok, buf, key))
			mac = 1;
		if (!split_field(tok, &name, &value))
			bad_field = 1;
		else if ((f = field_index(name)) < 0)
			unknown = 1;
		else if (present & BIT(f))
			duplicate = 1;
		else {
			present |= BIT(f);
			v[f] = value;
		}
	}
	if (mac)
		return MSG_KEY_MISMATCH;
	if (bad_field)
		return MSG_BAD_FIELD;
	if (len < 3 || memcmp(buf, "v=1", 3) != 0 || (len > 3 && buf[3] != ' '))
		return MSG_BAD_VERSION;
	if (unknown)
		return MSG_UNKNOWN_FIELD;
	if (duplicate)
		return MSG_DUPLICATE_FIELD;
	if (((present & BIT(F_KEY)) && !escapes_ok(v[F_KEY])) ||
	    ((present & BIT(F_VALUE)) && !escapes_ok(v[F_VALUE])))
		return MSG_BAD_ESCAPE;
	if ((present & BIT(F_TYPE)) && !parse_type(v[F_TYPE], &m->type))
		return MSG_BAD_TYPE;
	if ((r = check_values(v, present, m)) != MSG_OK)
		return r;
	if (!(present & BIT(F_TYPE)))
		return MSG_MISSING_FIELD;
	required = type_fields[m->type];
	if (required & ~present)
		return MSG_MISSING_FIELD;
	if (present & ~(required | type_optional[m->type]))
		return MSG_UNEXPECTED_FIELD;
	return MSG_OK;
}

/*
 * Walks the vc of a decoded message: *pos starts at 0. Returns 1 and sets
 * id and count for the next pair, 0 after the last one.
 */
int
msg_vc_next(const struct msg *m, size_t *pos, char id[NODE_ID_MAX + 1],
    uint64_t *count)
{
	const char *p = m->vc + *pos, *end = m->vc + m->vc_len, *colon;
	size_t len;

	if (*pos >= m->vc_len)
		return 0;
	colon = memchr(p, ':', (size_t)(end - p));
	len = (size_t)(colon - p);
	memcpy(id, p, len);
	id[len] = '\0';
	*count = 0;
	for (p = colon + 1; p < end && *p != ','; p++)
		*count = *count * 10 + (uint64_t)(*p - '0');
	*pos = (size_t)(p - m->vc) + 1;
	return 1;
}

/* ---- encoding ---- */

/* A bounded writer: stops at cap - 1 and remembers that it did. */
struct out {
	char	*buf;
	size_t	 cap;
	size_t	 len;
	int	 full;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->full || n >= o->cap - o->len) {
		o->full = 1;
		return;
	}
	memcpy(o->buf + o->len, s, n);
	o->len += n;
	o->buf[o->len] = '\0';
}

static void
put_hex(struct out *o, unsigned char c)
{
	char esc[3] = { '%', hex_upper[c >> 4], hex_upper[c & 15] };

	put(o, esc, 3);
}

static void
put_escaped(struct out *o, const char *s, size_t n)
{
	size_t i, run;

	for (i = 0; i < n; i += run) {
		for (run = 0; i + run < n; run++) {
			unsigned char c = (unsigned char)s[i + run];

			if (c < 0x21 || c > 0x7e || c == '%' || c == '=')
				break;
		}
		put(o, s + i, run);
		if (i + run < n) {
			put_hex(o, (unsigned char)s[i + run]);
			run++;
		}
	}
}

static void
put_field(struct out *o, const char *name, const char *value, size_t n)
{
	if (o->len > 0)
		put(o, " ", 1);
	put(o, name, strlen(name));
	put(o, "=", 1);
	put_escaped(o, value, n);
}

static void
put_str(struct out *o, const char *name, const char *value)
{
	put_field(o, name, value, strlen(value));
}

static void
put_u64(struct out *o, const char *name, uint64_t v, int as_hex)
{
	char digits[21], *p = digits + sizeof(digits);
	size_t i;

	if (as_hex) {
		for (i = 0; i < 16; i++, v >>= 4)
			*--p = hex_lower[v & 15];
	} else {
		do
			*--p = (char)('0' + v % 10);
		while ((v /= 10) != 0);
	}
	put_field(o, name, p, (size_t)(digits + sizeof(digits) - p));
}

/* Section 10's fields, when the message carries them. */
static void
put_order_fields(struct out *o, const struct msg *m)
{
	if (m->has & MSG_HAS_INC)
		put_u64(o, "inc", m->inc, 0);
	if (m->has & MSG_HAS_SEQ)
		put_u64(o, "seq", m->seq, 0);
	if (m->has & MSG_HAS_VC)
		put_field(o, "vc", m->vc, m->vc_len);
	if (m->has & MSG_HAS_GSEQ)
		put_u64(o, "gseq", m->gseq, 0);
	if (m->type != MSG_NACK)
		return;
	put_str(o, "to", m->to);
	put_str(o, "of", m->of == MSG_OF_GSEQ ? "gseq" : "seq");
	put_u64(o, "first", m->first, 0);
	put_u64(o, "last", m->last, 0);
}

/* The fields that follow id, from and type: what a type carries. */
static void
put_params(struct out *o, const struct msg *m)
{
	unsigned fields = type_fields[m->type];

	if (fields & BIT(F_KEY))
		put_field(o, "key", m->key, m->key_len);
	if (fields & BIT(F_VALUE))
		put_field(o, "value", m->value, m->value_len);
	if (fields & BIT(F_RE))
		put_str(o, "re", m->re);
	if (fields & BIT(F_DIGEST))
		put_u64(o, "digest", m->digest, 1);
	if (fields & BIT(F_ENTRIES))
		put_u64(o, "entries", m->entries, 0);
	if (fields & BIT(F_ORDER))
		put_u64(o, "order", m->order, 0);
	put_order_fields(o, m);
}

/*
 * Writes m in canonical wire form, "\n" included. Returns its length, or 0
 * when it would not fit in cap or in one datagram.
 */
size_t
msg_encode(const struct msg *m, char *buf, size_t cap)
{
	struct out o = { buf, cap, 0, 0 };

	put_str(&o, "v", "1");
	put_str(&o, "type", type_names[m->type]);
	put_str(&o, "id", m->id);
	put_str(&o, "from", m->from);
	put_params(&o, m);
	put(&o, "\n", 1);
	if (o.full || o.len > WIRE_MAX)
		return 0;
	return o.len;
}

/*
 * Appends the field mac= to an encoded line of len bytes (newline
 * included): SipHash-2-4, under the group key (k0, k1), of every byte
 * before " mac=". Returns the new length, or 0 when the sealed line would
 * not fit in cap or in one datagram (buf is then not a line any more).
 */
size_t
msg_seal(char *buf, size_t len, size_t cap, const uint64_t key[2])
{
	struct out o = { buf, cap, 0, 0 };

	if (len == 0 || len > cap || buf[len - 1] != '\n')
		return 0;
	o.len = len - 1;	/* the newline goes after the tag */
	put_u64(&o, "mac", siphash(key, buf, len - 1), 1);
	put(&o, "\n", 1);
	if (o.full || o.len > WIRE_MAX)
		return 0;
	return o.len;
}

/*
 * Writes m's fields for a log line, "id=... from=... type=..." and its
 * parameters, NUL-terminated, truncated to cap. Returns the length.
 */
size_t
msg_describe(const struct msg *m, char *buf, size_t cap)
{
	struct out o = { buf, cap, 0, 0 };

	buf[0] = '\0';
	put_str(&o, "id", m->id);
	put_str(&o, "from", m->from);
	put_str(&o, "type", type_names[m->type]);
	put_params(&o, m);
	return o.len;
}

/* Writes src escaped as a field value, NUL-terminated. Returns the length. */
size_t
msg_escape(char *dst, size_t cap, const char *src, size_t len)
{
	struct out o = { dst, cap, 0, 0 };

	dst[0] = '\0';
	put_escaped(&o, src, len);
	return o.len;
}

/*
 * Returns the length of the valid UTF-8 sequence at p (RFC 3629), or 0
 * when the bytes there are not one.
 */
static size_t
utf8_len(const unsigned char *p, size_t left)
{
	unsigned char lo = 0x80, hi = 0xbf;
	size_t n, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		if (p[0] == 0xe0)
			lo = 0xa0;	/* overlong */
		if (p[0] == 0xed)
			hi = 0x9f;	/* surrogates */
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		if (p[0] == 0xf0)
			lo = 0x90;	/* overlong */
		if (p[0] == 0xf4)
			hi = 0x8f;	/* above U+10FFFF */
	} else
		return 0;
	if (left < n || p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xbf)
			return 0;
	return n;
}

/*
 * Writes src for a person's terminal: control characters (C0, DEL, C1)
 * and bytes that are not valid UTF-8 as %HH, the rest as it is.
 * NUL-terminated, truncated to cap. Returns the length.
 */
size_t
msg_display(char *dst, size_t cap, const char *src, size_t len)
{
	const unsigned char *s = (const unsigned char *)src;
	struct out o = { dst, cap, 0, 0 };
	size_t i, n;

	dst[0] = '\0';
	for (i = 0; i < len; i += n) {
		n = 1;
		if (s[i] >= 0x20 && s[i] < 0x7f) {
			put(&o, src + i, 1);
			continue;
		}
		if (s[i] >= 0x80)
			n = utf8_len(s + i, len - i);
		if (n > 1 && !(s[i] == 0xc2 && s[i + 1] < 0xa0)) {
			put(&o, src + i, n);
			continue;
		}
		if (n == 0)
			n = 1;
		for (size_t j = 0; j < n; j++)
			put_hex(&o, s[i + j]);
	}
	return o.len;
}

/* The 16 bytes of a UUID that the decoder accepted (or msg_format_id made). */
void
msg_id_bytes(const char *uuid, unsigned char out[16])
{
	size_t i, n = 0;

	for (i = 0; i < UUID_LEN; i += 2) {
		if (uuid[i] == '-')
			i++;
		out[n++] = (unsigned char)((unsigned)hex_digit(uuid[i]) << 4 |
		    (unsigned)hex_digit(uuid[i + 1]));
	}
}

/* Formats 16 random bytes as a version 4 UUID, lower case. */
void
msg_format_id(char id[UUID_LEN + 1], const unsigned char rnd[16])
{
	unsigned char b[16];
	size_t i, n = 0;

	memcpy(b, rnd, 16);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	for (i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			id[n++] = '-';
		id[n++] = hex_lower[b[i] >> 4];
		id[n++] = hex_lower[b[i] & 15];
	}
	id[n] = '\0';
}
