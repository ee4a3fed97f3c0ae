/*
 * trace.c - `kvmc trace [--shiviz] FILE...`: reads the logs of a run
 * (SPEC section 5: files, or - for stdin) and writes on stdout the
 * picture every distributed-systems course draws by hand: a space-time
 * diagram in SVG, one lane per node and an arrow per message from its
 * send to each apply. With --shiviz it writes the run in ShiViz's log
 * format instead, with vector clocks. It reads files only: no network.
 *
 * Three passes. Reading turns each line into at most one event in a flat
 * array (lines are bounded; what is not a kvmc line is counted, never
 * guessed at). Linking sorts the events by lane and connects them: an
 * apply, drop or hold to its send, a hold to its apply, a resend to the
 * NACK it answers, and marks the commands two nodes applied in opposite
 * orders. Writing walks the array once more. Output depends on nothing
 * but the logs' contents: lanes are sorted by node id, each lane's
 * events keep their order in its log, and no float reaches the output.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvmc.h"

#define TRACE_LINE_MAX	16384		/* longer lines are skipped */
#define TRACE_READ_BUF	(1 << 16)	/* holds a whole line and more */
#define TRACE_FIELDS	48		/* name=value fields in one line */
#define TRACE_LANES	256		/* nodes drawn */
#define TRACE_EVENTS	(1u << 22)	/* events drawn: labels fit 32 bits */
#define LABEL_RAW	32	/* bytes of a key or value shown in a label */
#define SHOWN_KEYS	5	/* final values listed at a lane's end */
#define CAPTIONS	6	/* CHECK verdicts shown */
#define NONE		UINT32_MAX

/* Geometry, in px; x is kept in tenths of a px. */
#define PLOT_X		150u
#define PLOT_W		1000u
#define PANEL_X		(PLOT_X + PLOT_W + 40u)
#define WIDTH		(PANEL_X + 270u)
#define LANE_Y0		110u
#define LANE_GAP	120u
#define TENTHS(px)	((uint64_t)(px) * 10)

#define COLOR_CMD	"#1f5fbf"
#define COLOR_WARN	"#d62728"
#define COLOR_CTL	"#a8a8a8"
#define COLOR_HOLD	"#f2a93b"
#define COLOR_INK	"#222222"

/* What a log line says happened, for the events the trace draws. */
enum kind {
	K_SEND, K_APPLY, K_DROP, K_HOLD, K_SEQUENCE, K_NACK, K_RESEND,
	K_GAP_LOST, K_CHECK
};

static const char *const kind_names[] = {
	"send", "apply", "sim_drop", "hold", "sequence", "nack", "resend",
	"gap_lost", "check_result"
};

/* Commands are drawn in full colour, the protocol's own traffic lighter. */
enum klass { C_OTHER, C_COMMAND, C_CONTROL };

#define F_CROSSED	1u	/* another node applied it in another order */
#define F_NOT_STORED	2u	/* store_full: processed, not stored */
#define F_OF_GSEQ	4u	/* nack, resend: of=gseq */

struct ev {
	uint64_t	ts;		/* ms since the epoch */
	uint64_t	num;		/* apply: order; nack, resend, gap: first */
	uint64_t	last;		/* nack, resend, gap_lost: last */
	unsigned char	id[16];		/* the message; sequence: the command */
	uint32_t	lane;
	uint32_t	seq;		/* its line's place in its lane's log */
	uint32_t	rank;		/* command apply: place among its lane's */
	uint32_t	label;		/* its text, an offset in the arena */
	uint32_t	peer_name;	/* nack, resend: to=, in the arena */
	uint32_t	peer;		/* ... and its lane, or NONE */
	uint32_t	cause;		/* the event whose message this receives */
	uint32_t	until;		/* hold: the apply that ended it */
	unsigned char	kind;
	unsigned char	klass;
	unsigned char	flags;
};

struct lane {
	char		 id[NODE_ID_MAX + 1];
	struct kv	*store;		/* rebuilt from its applies */
	uint32_t	 lines;		/* events so far: the next one's seq */
	uint32_t	 was;		/* its index before sorting */
	uint32_t	 first, end;	/* its events, once sorted */
	int		 minority;	/* its digest is not the majority's */
};

/* An event that carries a message id, as a sortable key. */
struct ref {
	unsigned char	id[16];
	uint32_t	kind;
	uint32_t	lane;
	uint32_t	seq;
	uint32_t	ev;
};

struct trace {
	struct ev	*ev;
	size_t		 nev, evcap;
	struct lane	*lane;
	size_t		 nlanes;
	size_t		 recent;	/* the lane of the previous line */
	char		*text;		/* labels, each NUL-terminated */
	size_t		 ntext, textcap;
	struct kv	*keys;		/* every key a SET wrote */
	struct ref	*refs;
	size_t		 nrefs;
	uint64_t	 skipped;	/* lines that are not kvmc lines */
	uint64_t	 left_out;	/* past TRACE_LANES or TRACE_EVENTS */
	uint64_t	 t0, t1, span;	/* the time drawn, ms; span >= 1 */
};

/* One line's name=value fields; the first four are SPEC's prefix. */
struct field {
	const char	*name;
	size_t		 name_len;
	const char	*val;
	size_t		 len;
};

struct line {
	struct field	f[TRACE_FIELDS];
	size_t		n;
	uint64_t	ts;
};

struct reader {
	FILE	*f;
	char	*buf;
	size_t	 start, end;	/* the bytes not returned yet */
	int	 eof;
	int	 skipping;	/* inside a line that is too long */
	int	 error;		/* errno of a failed read, or 0 */
};

static const uint64_t hash_key[2] = { 0x6b766d63u, 0x7472616365u };

/* ---- small helpers ---- */

static int
is_name_char(char c)
{
	return (c >= 'a' && c <= 'z') || c == '_';
}

static int
span_eq(const char *p, size_t len, const char *text)
{
	return len == strlen(text) && memcmp(p, text, len) == 0;
}

/* Appends len bytes and a NUL to the arena; returns their offset. */
static uint32_t
text_add(struct trace *t, const char *s, size_t len)
{
	size_t at = t->ntext;

	if (t->ntext + len + 1 > t->textcap) {
		t->textcap = 2 * (t->ntext + len + 1);
		t->text = xrealloc(t->text, t->textcap);
	}
	memcpy(t->text + at, s, len);
	t->text[at + len] = '\0';
	t->ntext += len + 1;
	return (uint32_t)at;
}

static const char *
text_of(const struct trace *t, uint32_t off)
{
	return t->text + off;
}

/*
 * Writes the bytes of an escaped value (as in the logs) for a person:
 * decoded, at most LABEL_RAW of them, then shown with msg_display, so
 * control bytes and broken UTF-8 come out as %HH. Returns -1 when an
 * escape is broken.
 */
static int
shown(char *dst, size_t cap, const char *val, size_t len)
{
	char raw[TRACE_LINE_MAX + 1];
	size_t n, used;

	if (msg_unescape(raw, val, len, &n) == -1)
		return -1;
	used = msg_display(dst, cap - 4, raw, n < LABEL_RAW ? n : LABEL_RAW);
	if (n > LABEL_RAW)
		memcpy(dst + used, "...", 4);
	return 0;
}

/* ---- reading lines ---- */

static void
refill(struct reader *r)
{
	size_t n;

	memmove(r->buf, r->buf + r->start, r->end - r->start);
	r->end -= r->start;
	r->start = 0;
	n = fread(r->buf + r->end, 1, TRACE_READ_BUF - 1 - r->end, r->f);
	r->end += n;
	if (n == 0) {
		r->eof = 1;
		r->error = ferror(r->f) ? errno : 0;
	}
}

/*
 * Returns the next line, NUL-terminated in place without its newline
 * (the last line may lack one) and its length in *len, or NULL at the
 * end. Of a line longer than TRACE_LINE_MAX only its end comes back, with
 * *too_long set: memory per line stays bounded.
 */
static char *
next_line(struct reader *r, size_t *len, int *too_long)
{
	char *p, *nl;

	for (;;) {
		p = r->buf + r->start;
		nl = memchr(p, '\n', r->end - r->start);
		if (nl == NULL && r->eof && r->start < r->end)
			nl = r->buf + r->end;	/* refill left room */
		if (nl != NULL) {
			*nl = '\0';
			*len = (size_t)(nl - p);
			r->start = (size_t)(nl - r->buf) + (nl < r->buf + r->end);
			*too_long = r->skipping;
			r->skipping = 0;
			return p;
		}
		if (r->eof) {
			*too_long = r->skipping;
			r->skipping = 0;
			r->buf[0] = '\0';
			*len = 0;
			return *too_long ? r->buf : NULL;
		}
		if (r->end - r->start > TRACE_LINE_MAX) {
			r->skipping = 1;
			r->start = r->end = 0;
		}
		refill(r);
	}
}

/* ---- cleaning a line: docker compose prefixes, prompts, escapes ---- */

/* Returns the index just past the terminal escape sequence at s[i]. */
static size_t
skip_escape(const char *s, size_t len, size_t i)
{
	if (i + 1 >= len)
		return len;
	if (s[i + 1] == '[') {		/* CSI: ends with a byte @ to ~ */
		for (i += 2; i < len; i++)
			if (s[i] >= 0x40 && s[i] <= 0x7e)
				return i + 1;
		return len;
	}
	if (s[i + 1] == ']' || s[i + 1] == 'P' || s[i + 1] == '_') {
		for (i += 2; i < len; i++) {	/* strings end BEL or ESC \ */
			if (s[i] == '\a')
				return i + 1;
			if (s[i] == '\033' && i + 1 < len && s[i + 1] == '\\')
				return i + 2;
		}
		return len;
	}
	return i + 2;
}

/* Removes escape sequences and control bytes, in place; returns the length. */
static size_t
strip_controls(char *s, size_t len)
{
	size_t i = 0, n = 0;

	while (i < len) {
		if (s[i] == '\033')
			i = skip_escape(s, len, i);
		else if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			i++;
		else
			s[n++] = s[i++];
	}
	s[n] = '\0';
	return n;
}

/*
 * Where the kvmc line starts: at the first "ts=" that begins the line or
 * follows what cannot end a field name (`kv_node1  | `, a prompt `> `).
 */
static char *
find_start(char *s)
{
	char *p = s;

	while ((p = strstr(p, "ts=")) != NULL) {
		if (p == s || !is_name_char(p[-1]))
			return p;
		p++;
	}
	return NULL;
}

/* A line with nothing but a container's name, prompts and blanks. */
static int
is_blank(const char *s)
{
	const char *bar = strchr(s, '|');
	size_t name = strcspn(s, " |");

	if (bar != NULL && name > 0 && s + name + strspn(s + name, " ") == bar)
		s = bar + 1;
	s += strspn(s, " >");
	return *s == '\0';
}

/* ---- parsing a kvmc line ---- */

/* Splits "name=value ..." at single spaces; -1 unless every token is one. */
static int
split_fields(char *s, struct line *l)
{
	char *tok = s, *end, *eq, *p;

	l->n = 0;
	for (;;) {
		end = strchr(tok, ' ');
		if (end != NULL)
			*end = '\0';
		eq = strchr(tok, '=');
		if (eq == NULL || eq == tok || l->n == TRACE_FIELDS)
			return -1;
		for (p = tok; p < eq; p++)
			if (!is_name_char(*p))
				return -1;
		for (p = eq + 1; *p != '\0'; p++)
			if (*p < 0x21 || *p > 0x7e || *p == '=')
				return -1;
		l->f[l->n++] = (struct field){ tok, (size_t)(eq - tok),
		    eq + 1, (size_t)(p - eq - 1) };
		if (end == NULL)
			return 0;
		tok = end + 1;
	}
}

static const struct field *
get(const struct line *l, const char *name)
{
	size_t i;

	for (i = 4; i < l->n; i++)
		if (span_eq(l->f[i].name, l->f[i].name_len, name))
			return &l->f[i];
	return NULL;
}

static int
parse_u64(const struct field *f, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (f == NULL || f->len == 0 || f->len > 20)
		return -1;
	for (i = 0; i < f->len; i++) {
		if (f->val[i] < '0' || f->val[i] > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(f->val[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(f->val[i] - '0');
	}
	*out = v;
	return 0;
}

/* n digits at p, as a number; -1 when they are not all digits. */
static long
digits(const char *p, size_t n)
{
	long v = 0;

	while (n--) {
		if (*p < '0' || *p > '9')
			return -1;
		v = v * 10 + (*p++ - '0');
	}
	return v;
}

/* Days from 1970-01-01 to y-m-d, in the proleptic Gregorian calendar. */
static long
days_from_civil(long y, long m, long d)
{
	long era, yoe, doy;

	y -= m <= 2;
	era = y / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	return era * 146097 + yoe * 365 + yoe / 4 - yoe / 100 + doy - 719468;
}

/* "2026-11-26T21:49:57.123Z" as ms since the epoch. */
static int
parse_ts(const struct field *f, uint64_t *ms)
{
	const char *p = f->val;
	long y, mo, d, h, mi, s, milli;

	if (f->len != 24 || p[4] != '-' || p[7] != '-' || p[10] != 'T' ||
	    p[13] != ':' || p[16] != ':' || p[19] != '.' || p[23] != 'Z')
		return -1;
	y = digits(p, 4);
	mo = digits(p + 5, 2);
	d = digits(p + 8, 2);
	h = digits(p + 11, 2);
	mi = digits(p + 14, 2);
	s = digits(p + 17, 2);
	milli = digits(p + 20, 3);
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h < 0 ||
	    h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60 || milli < 0)
		return -1;
	*ms = (uint64_t)(((days_from_civil(y, mo, d) * 24 + h) * 60 + mi) *
	    60 + s) * 1000 + (uint64_t)milli;
	return 0;
}

/* SPEC's fixed prefix: ts, level, node, event, in that order. */
static int
parse_prefix(struct line *l)
{
	static const char *const names[] = { "ts", "level", "node", "event" };
	const struct field *lv = &l->f[1];
	size_t i;

	if (l->n < 4)
		return -1;
	for (i = 0; i < 4; i++)
		if (!span_eq(l->f[i].name, l->f[i].name_len, names[i]))
			return -1;
	if (!span_eq(lv->val, lv->len, "debug") &&
	    !span_eq(lv->val, lv->len, "info") &&
	    !span_eq(lv->val, lv->len, "warn") &&
	    !span_eq(lv->val, lv->len, "error"))
		return -1;
	if (!msg_valid_node_id(l->f[2].val, l->f[2].len) ||
	    l->f[3].len == 0)
		return -1;
	for (i = 0; i < l->f[3].len; i++)
		if (!is_name_char(l->f[3].val[i]))
			return -1;
	return parse_ts(&l->f[0], &l->ts);
}

/* A message id, 8-4-4-4-12 lower-case hex, as its 16 bytes. */
static int
parse_id(const struct field *f, unsigned char out[16])
{
	size_t i;

	if (f == NULL || f->len != UUID_LEN)
		return -1;
	for (i = 0; i < UUID_LEN; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (f->val[i] != '-')
				return -1;
		} else if (!((f->val[i] >= '0' && f->val[i] <= '9') ||
		    (f->val[i] >= 'a' && f->val[i] <= 'f')))
			return -1;
	}
	msg_id_bytes(f->val, out);
	return 0;
}

/* The lane of a node, added when new; NONE past TRACE_LANES. */
static uint32_t
lane_of(struct trace *t, const char *id, size_t len)
{
	size_t i;

	if (t->nlanes > 0 && span_eq(id, len, t->lane[t->recent].id))
		return (uint32_t)t->recent;
	for (i = 0; i < t->nlanes; i++)
		if (span_eq(id, len, t->lane[i].id))
			break;
	if (i == TRACE_LANES)
		return NONE;
	if (i == t->nlanes) {
		memcpy(t->lane[i].id, id, len);
		t->lane[i].id[len] = '\0';
		t->lane[i].store = kv_new(hash_key);
		t->nlanes++;
	}
	t->recent = i;
	return (uint32_t)i;
}

/* A type is upper-case letters, as the codec's are. */
static int
type_ok(const struct field *type)
{
	size_t i;

	if (type == NULL || type->len == 0 || type->len > 16)
		return 0;
	for (i = 0; i < type->len; i++)
		if (type->val[i] < 'A' || type->val[i] > 'Z')
			return 0;
	return 1;
}

static enum klass
klass_of(const struct field *type)
{
	if (span_eq(type->val, type->len, "SET") ||
	    span_eq(type->val, type->len, "GET") ||
	    span_eq(type->val, type->len, "PRINT"))
		return C_COMMAND;
	if (span_eq(type->val, type->len, "HELLO"))
		return C_OTHER;		/* chatter: not drawn */
	return C_CONTROL;
}

/* Writes a message's label: "SET x=1", "GET x", "PRINT", "ORDER g3". */
static int
message_label(const struct line *l, const struct field *type, char *buf,
    size_t cap)
{
	const struct field *key = get(l, "key"), *value = get(l, "value");
	char k[4 * LABEL_RAW + 8], v[4 * LABEL_RAW + 8];
	int is_set = span_eq(type->val, type->len, "SET");
	uint64_t gseq;

	if (key != NULL && shown(k, sizeof(k), key->val, key->len) == -1)
		return -1;
	if (is_set && value != NULL &&
	    shown(v, sizeof(v), value->val, value->len) == -1)
		return -1;
	if (is_set && key != NULL && value != NULL)
		snprintf(buf, cap, "SET %s=%s", k, v);
	else if (key != NULL)
		snprintf(buf, cap, "%.*s %s", (int)type->len, type->val, k);
	else if (parse_u64(get(l, "gseq"), &gseq) == 0)
		snprintf(buf, cap, "%.*s g%llu", (int)type->len, type->val,
		    (unsigned long long)gseq);
	else
		snprintf(buf, cap, "%.*s", (int)type->len, type->val);
	return 0;
}

/* An applied SET changes the node's store, as the node itself did. */
static int
apply_set(struct trace *t, struct lane *ln, const struct line *l)
{
	const struct field *key = get(l, "key"), *value = get(l, "value");
	char k[TRACE_LINE_MAX + 1], v[TRACE_LINE_MAX + 1];
	size_t klen, vlen;

	if (key == NULL || value == NULL ||
	    msg_unescape(k, key->val, key->len, &klen) == -1 ||
	    msg_unescape(v, value->val, value->len, &vlen) == -1 ||
	    klen == 0 || klen > KEY_MAX)
		return -1;
	kv_set(ln->store, k, klen, v, vlen);
	kv_set(t->keys, k, klen, "", 0);
	return 0;
}

/* send, apply, sim_drop, hold, store_full: one message's event. */
static int
parse_message(struct trace *t, const struct line *l, struct ev *e)
{
	static const struct field set = { "type", 4, "SET", 3 };
	const struct field *type = get(l, "type"), *order = get(l, "order");
	char label[16 * LABEL_RAW];

	if (span_eq(l->f[3].val, l->f[3].len, "store_full")) {
		type = &set;
		e->flags |= F_NOT_STORED;
	}
	if (!type_ok(type) || parse_id(get(l, "id"), e->id) == -1)
		return -1;
	e->klass = (unsigned char)klass_of(type);
	if (e->klass == C_OTHER)
		return 0;
	if (message_label(l, type, label, sizeof(label)) == -1)
		return -1;
	e->label = text_add(t, label, strlen(label));
	if (e->kind != K_APPLY || e->klass != C_COMMAND)
		return 1;
	if (parse_u64(order, &e->num) == -1)
		return -1;
	if (span_eq(type->val, type->len, "SET") &&
	    !(e->flags & F_NOT_STORED))
		return apply_set(t, &t->lane[e->lane], l) == -1 ? -1 : 1;
	return 1;
}

/* sequence re= gseq=: the sequencer ordered a command. */
static int
parse_sequence(struct trace *t, const struct line *l, struct ev *e)
{
	const struct field *gseq = get(l, "gseq");
	char label[32];

	if (parse_id(get(l, "re"), e->id) == -1 || parse_u64(gseq, &e->num))
		return -1;
	snprintf(label, sizeof(label), "g%llu", (unsigned long long)e->num);
	e->label = text_add(t, label, strlen(label));
	e->klass = C_CONTROL;
	return 1;
}

/* nack, resend (to= of= first= last=) and gap_lost (from= first= last=). */
static int
parse_gap(struct trace *t, const struct line *l, struct ev *e)
{
	const struct field *peer = get(l, e->kind == K_GAP_LOST ? "from" : "to");
	const struct field *of = get(l, "of");
	char label[2 * NODE_ID_MAX + 64];
	const char *what = of != NULL && span_eq(of->val, of->len, "gseq") ?
	    "gseq" : "seq";

	if (peer == NULL || !msg_valid_node_id(peer->val, peer->len) ||
	    parse_u64(get(l, "first"), &e->num) == -1 ||
	    parse_u64(get(l, "last"), &e->last) == -1)
		return -1;
	if (what[0] == 'g')
		e->flags |= F_OF_GSEQ;
	e->peer_name = text_add(t, peer->val, peer->len);
	snprintf(label, sizeof(label), "%s %s %llu-%llu",
	    text_of(t, e->peer_name), what, (unsigned long long)e->num,
	    (unsigned long long)e->last);
	e->label = text_add(t, label, strlen(label));
	e->klass = e->kind == K_GAP_LOST ? C_OTHER : C_CONTROL;
	return 1;
}

/* check_result verdict= nodes=: shown as a caption. */
static int
parse_check(struct trace *t, const struct line *l, struct ev *e)
{
	const struct field *verdict = get(l, "verdict");
	char label[2 * NODE_ID_MAX + 4 * LABEL_RAW + 64], v[4 * LABEL_RAW + 8];
	uint64_t nodes = 0;

	if (verdict == NULL || shown(v, sizeof(v), verdict->val,
	    verdict->len) == -1 || parse_u64(get(l, "nodes"), &nodes) == -1)
		return -1;
	snprintf(label, sizeof(label), "CHECK asked by %s: %s (%llu node%s)",
	    t->lane[e->lane].id, v, (unsigned long long)nodes,
	    nodes == 1 ? "" : "s");
	e->label = text_add(t, label, strlen(label));
	return 1;
}

/* A node started again: its store starts empty. */
static int
parse_start(struct trace *t, const struct line *l, struct ev *e)
{
	(void)l;
	kv_free(t->lane[e->lane].store);
	t->lane[e->lane].store = kv_new(hash_key);
	return 0;
}

static const struct {
	const char	*event;
	enum kind	 kind;
	int		(*parse)(struct trace *, const struct line *,
			    struct ev *);
} events[] = {
	{ "send",		K_SEND,		parse_message },
	{ "apply",		K_APPLY,	parse_message },
	{ "store_full",		K_APPLY,	parse_message },
	{ "sim_drop",		K_DROP,		parse_message },
	{ "hold",		K_HOLD,		parse_message },
	{ "sequence",		K_SEQUENCE,	parse_sequence },
	{ "nack",		K_NACK,		parse_gap },
	{ "resend",		K_RESEND,	parse_gap },
	{ "gap_lost",		K_GAP_LOST,	parse_gap },
	{ "check_result",	K_CHECK,	parse_check },
	{ "start",		K_SEND,		parse_start },
};

/* A blank event at the end of the array, kept only once t->nev counts it. */
static struct ev *
new_event(struct trace *t, const struct line *l, uint32_t lane,
    enum kind kind)
{
	struct ev *e;

	if (t->nev == t->evcap) {
		t->evcap = t->evcap ? 2 * t->evcap : 1024;
		t->ev = xrealloc(t->ev, t->evcap * sizeof(*t->ev));
	}
	e = &t->ev[t->nev];
	memset(e, 0, sizeof(*e));
	e->ts = l->ts;
	e->lane = lane;
	e->kind = (unsigned char)kind;
	e->peer = e->cause = e->until = NONE;
	return e;
}

/*
 * Turns one kvmc line into an event at the end of the array. Returns 1
 * (an event), 0 (a kvmc line with nothing to draw) or -1 (not a kvmc line).
 */
static int
parse_line(struct trace *t, char *s)
{
	const size_t nevents = sizeof(events) / sizeof(events[0]);
	struct line l;
	struct ev *e;
	uint32_t lane;
	size_t i;
	int r;

	if (split_fields(s, &l) == -1 || parse_prefix(&l) == -1)
		return -1;
	for (i = 0; i < nevents; i++)
		if (span_eq(l.f[3].val, l.f[3].len, events[i].event))
			break;
	lane = lane_of(t, l.f[2].val, l.f[2].len);
	if (lane == NONE || (i < nevents && t->nev == TRACE_EVENTS)) {
		t->left_out++;
		return 0;
	}
	if (i == nevents)
		return 0;
	e = new_event(t, &l, lane, events[i].kind);
	r = events[i].parse(t, &l, e);
	if (r == 1) {
		e->seq = t->lane[lane].lines++;
		t->nev++;
	}
	return r;
}

/* Reads one file (NULL: stdin). Returns -1 with errno when it cannot. */
static int
read_file(struct trace *t, const char *path, char *buf)
{
	struct reader r = { NULL, buf, 0, 0, 0, 0, 0 };
	char *s, *start;
	size_t len;
	int too_long, err;

	r.f = path == NULL ? stdin : fopen(path, "rb");
	if (r.f == NULL)
		return -1;
	while ((s = next_line(&r, &len, &too_long)) != NULL) {
		if (too_long || memchr(s, '\0', len) != NULL) {
			t->skipped++;
			continue;
		}
		strip_controls(s, len);
		start = find_start(s);
		if (start == NULL ? !is_blank(s) : parse_line(t, start) == -1)
			t->skipped++;
	}
	err = r.error != 0 ? r.error : ferror(r.f) ? EIO : 0;
	if (path != NULL)
		fclose(r.f);
	else
		clearerr(stdin);
	errno = err;
	return err ? -1 : 0;
}

/* ---- linking ---- */

static int
cmp_lanes(const void *a, const void *b)
{
	return strcmp(((const struct lane *)a)->id,
	    ((const struct lane *)b)->id);
}

static int
cmp_events(const void *a, const void *b)
{
	const struct ev *x = a, *y = b;

	if (x->lane != y->lane)
		return x->lane < y->lane ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static uint32_t
lane_named(const struct trace *t, const char *id)
{
	size_t lo = 0, hi = t->nlanes, mid;
	int c;

	while (lo < hi) {
		mid = (lo + hi) / 2;
		c = strcmp(t->lane[mid].id, id);
		if (c == 0)
			return (uint32_t)mid;
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NONE;
}

/* Lanes in node id order, and each lane's events together, in log order. */
static void
sort_lanes(struct trace *t)
{
	uint32_t map[TRACE_LANES] = { 0 };
	size_t i;

	for (i = 0; i < t->nlanes; i++)
		t->lane[i].was = (uint32_t)i;
	qsort(t->lane, t->nlanes, sizeof(*t->lane), cmp_lanes);
	for (i = 0; i < t->nlanes; i++)
		map[t->lane[i].was] = (uint32_t)i;
	for (i = 0; i < t->nev; i++) {
		t->ev[i].lane = map[t->ev[i].lane];
		if (t->ev[i].kind == K_NACK || t->ev[i].kind == K_RESEND)
			t->ev[i].peer = lane_named(t,
			    text_of(t, t->ev[i].peer_name));
	}
	qsort(t->ev, t->nev, sizeof(*t->ev), cmp_events);
	for (i = 0; i < t->nlanes; i++)
		t->lane[i].first = t->lane[i].end = 0;
	for (i = t->nev; i-- > 0;)
		t->lane[t->ev[i].lane].first = (uint32_t)i;
	for (i = 0; i < t->nev; i++)
		t->lane[t->ev[i].lane].end = (uint32_t)i + 1;
}

static int
cmp_refs(const void *a, const void *b)
{
	const struct ref *x = a, *y = b;
	int c = memcmp(x->id, y->id, 16);

	if (c != 0)
		return c;
	if (x->kind != y->kind)
		return x->kind < y->kind ? -1 : 1;
	if (x->lane != y->lane)
		return x->lane < y->lane ? -1 : 1;
	return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Every send, apply, drop and hold, sorted by message id. */
static void
index_messages(struct trace *t)
{
	const struct ev *e;
	size_t i;

	t->refs = xmalloc((t->nev + 1) * sizeof(*t->refs));
	t->nrefs = 0;
	for (i = 0; i < t->nev; i++) {
		e = &t->ev[i];
		if (e->kind > K_HOLD)
			continue;
		memcpy(t->refs[t->nrefs].id, e->id, 16);
		t->refs[t->nrefs].kind = e->kind;
		t->refs[t->nrefs].lane = e->lane;
		t->refs[t->nrefs].seq = e->seq;
		t->refs[t->nrefs].ev = (uint32_t)i;
		t->nrefs++;
	}
	qsort(t->refs, t->nrefs, sizeof(*t->refs), cmp_refs);
}

/* The first event of that message and kind (on that lane unless NONE). */
static uint32_t
find(const struct trace *t, const unsigned char id[16], enum kind kind,
    uint32_t lane)
{
	struct ref key;
	size_t lo = 0, hi = t->nrefs, mid;

	memcpy(key.id, id, 16);
	key.kind = kind;
	key.lane = lane == NONE ? 0 : lane;
	key.seq = 0;
	while (lo < hi) {
		mid = (lo + hi) / 2;
		if (cmp_refs(&t->refs[mid], &key) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == t->nrefs || memcmp(t->refs[lo].id, id, 16) != 0 ||
	    t->refs[lo].kind != (uint32_t)kind ||
	    (lane != NONE && t->refs[lo].lane != lane))
		return NONE;
	return t->refs[lo].ev;
}

/* Each apply, drop and hold to its send; a hold to the apply ending it. */
static void
link_messages(struct trace *t)
{
	struct ev *e;
	size_t i;

	for (i = 0; i < t->nev; i++) {
		e = &t->ev[i];
		if (e->kind == K_APPLY || e->kind == K_DROP ||
		    e->kind == K_HOLD)
			e->cause = find(t, e->id, K_SEND, NONE);
		if (e->kind == K_HOLD)
			e->until = find(t, e->id, K_APPLY, e->lane);
	}
}

/* A NACK or resend as (asker, asked, of, first, last, time). */
struct gap_ref {
	uint32_t	asker, asked, flags, is_resend, ev;
	uint64_t	first, last, ts;
};

static int
cmp_gaps(const void *a, const void *b)
{
	const struct gap_ref *x = a, *y = b;
	const uint64_t kx[] = { x->asker, x->asked, x->flags, x->first,
	    x->last, x->ts, x->is_resend, x->ev };
	const uint64_t ky[] = { y->asker, y->asked, y->flags, y->first,
	    y->last, y->ts, y->is_resend, y->ev };
	size_t i;

	for (i = 0; i < sizeof(kx) / sizeof(kx[0]); i++)
		if (kx[i] != ky[i])
			return kx[i] < ky[i] ? -1 : 1;
	return 0;
}

/* Each resend to the latest NACK, at or before it, that asked for it. */
static void
link_resends(struct trace *t)
{
	struct gap_ref *g = xmalloc((t->nev + 1) * sizeof(*g));
	size_t i, n = 0;
	uint32_t nack = NONE;

	for (i = 0; i < t->nev; i++) {
		const struct ev *e = &t->ev[i];
		int rs = e->kind == K_RESEND;

		if ((e->kind != K_NACK && !rs) || e->peer == NONE)
			continue;
		g[n++] = (struct gap_ref){ rs ? e->peer : e->lane,
		    rs ? e->lane : e->peer, e->flags & F_OF_GSEQ,
		    (uint32_t)rs, (uint32_t)i, e->num, e->last, e->ts };
	}
	qsort(g, n, sizeof(*g), cmp_gaps);
	for (i = 0; i < n; i++) {
		if (i > 0 && (g[i].asker != g[i - 1].asker ||
		    g[i].asked != g[i - 1].asked || g[i].flags != g[i - 1].flags ||
		    g[i].first != g[i - 1].first || g[i].last != g[i - 1].last))
			nack = NONE;
		if (!g[i].is_resend)
			nack = g[i].ev;
		else
			t->ev[g[i].ev].cause = nack;
	}
	free(g);
}

static int
is_command_apply(const struct ev *e)
{
	return e->kind == K_APPLY && e->klass == C_COMMAND;
}

/* Numbers each lane's command applies 1, 2, 3, ... in its log's order. */
static void
rank_applies(struct trace *t)
{
	uint32_t rank = 0, lane = NONE;
	size_t i;

	for (i = 0; i < t->nev; i++) {
		if (t->ev[i].lane != lane) {
			lane = t->ev[i].lane;
			rank = 0;
		}
		if (is_command_apply(&t->ev[i]))
			t->ev[i].rank = ++rank;
	}
}

/*
 * Marks the commands that lanes p and q both applied, but in opposite
 * orders with some other such command. In p's order, a command is in
 * such a pair when an earlier one came later on q (the running maximum
 * of q's ranks is above its own), or a later one earlier (the minimum
 * of what follows is below). Linear after the lookups.
 */
static void
mark_crossings(struct trace *t, uint32_t p, uint32_t q, uint32_t *on_p,
    uint32_t *on_q)
{
	uint32_t i, n = 0, f, high = 0, low = UINT32_MAX;

	for (i = t->lane[p].first; i < t->lane[p].end; i++) {
		if (!is_command_apply(&t->ev[i]))
			continue;
		f = find(t, t->ev[i].id, K_APPLY, q);
		if (f != NONE) {
			on_p[n] = i;
			on_q[n++] = f;
		}
	}
	for (i = 0; i < n; i++) {
		if (high > t->ev[on_q[i]].rank)
			t->ev[on_p[i]].flags |= F_CROSSED,
			t->ev[on_q[i]].flags |= F_CROSSED;
		if (t->ev[on_q[i]].rank > high)
			high = t->ev[on_q[i]].rank;
	}
	for (i = n; i-- > 0;) {
		if (low < t->ev[on_q[i]].rank)
			t->ev[on_p[i]].flags |= F_CROSSED,
			t->ev[on_q[i]].flags |= F_CROSSED;
		if (t->ev[on_q[i]].rank < low)
			low = t->ev[on_q[i]].rank;
	}
}

static void
find_crossings(struct trace *t)
{
	uint32_t *on_p = xmalloc((t->nev + 1) * sizeof(*on_p));
	uint32_t *on_q = xmalloc((t->nev + 1) * sizeof(*on_q));
	uint32_t p, q;

	rank_applies(t);
	for (p = 0; p < t->nlanes; p++)
		for (q = p + 1; q < t->nlanes; q++)
			mark_crossings(t, p, q, on_p, on_q);
	free(on_p);
	free(on_q);
}

/* Marks the lanes whose digest is not the one most lanes share. */
static void
mark_minority(struct trace *t)
{
	size_t i, j, best = 0, count, ties = 0;
	uint64_t major = 0, d;

	for (i = 0; i < t->nlanes; i++) {
		d = kv_digest(t->lane[i].store);
		for (count = 0, j = 0; j < t->nlanes; j++)
			count += kv_digest(t->lane[j].store) == d;
		if (count > best) {
			best = count;
			major = d;
			ties = 0;
		} else if (count == best && d != major)
			ties = 1;
	}
	/* No majority (a tie): every lane is marked. */
	for (i = 0; i < t->nlanes; i++)
		t->lane[i].minority = ties ||
		    kv_digest(t->lane[i].store) != major;
}

/* The time drawn: from the first event to the last, at least 1 ms. */
static void
find_span(struct trace *t)
{
	uint64_t lo = UINT64_MAX, hi = 0;
	size_t i;

	for (i = 0; i < t->nev; i++) {
		if (t->ev[i].kind == K_CHECK)
			continue;
		if (t->ev[i].ts < lo)
			lo = t->ev[i].ts;
		if (t->ev[i].ts > hi)
			hi = t->ev[i].ts;
	}
	if (lo > hi)
		lo = hi = 0;
	t->t0 = lo;
	t->t1 = hi;
	t->span = hi > lo ? hi - lo : 1;
}

static void
link_all(struct trace *t)
{
	sort_lanes(t);
	index_messages(t);
	link_messages(t);
	link_resends(t);
	find_crossings(t);
	mark_minority(t);
	find_span(t);
}

/* ---- SVG ---- */

/* Writes text for XML: markup escaped, and U+FFFE/U+FFFF (not XML) as %HH. */
static void
put_xml(FILE *f, const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	for (; *p != '\0'; p++) {
		if (*p == '&')
			fputs("&amp;", f);
		else if (*p == '<')
			fputs("&lt;", f);
		else if (*p == '>')
			fputs("&gt;", f);
		else if (*p == '"')
			fputs("&quot;", f);
		else if (*p == 0xef && p[1] == 0xbf && (p[2] & 0xfe) == 0xbe) {
			fprintf(f, "%%EF%%BF%%%02X", p[2]);
			p += 2;
		} else
			fputc(*p, f);
	}
}

/* The x of a time, in tenths of a px. */
static uint64_t
x_of(const struct trace *t, uint64_t ts)
{
	return TENTHS(PLOT_X) + (ts - t->t0) * TENTHS(PLOT_W) / t->span;
}

static unsigned
y_of(uint32_t lane)
{
	return LANE_Y0 + LANE_GAP * lane;
}

/* Prints a coordinate held in tenths: "123.4". */
static void
put_x(FILE *f, uint64_t tenths)
{
	fprintf(f, "%llu.%u", (unsigned long long)(tenths / 10),
	    (unsigned)(tenths % 10));
}

/* A text element; attrs (fixed markup, or "") follows its position. */
static void
put_text_with(FILE *f, const char *cls, const char *attrs, uint64_t x,
    unsigned y, const char *s)
{
	fprintf(f, "<text class=\"%s\" x=\"", cls);
	put_x(f, x);
	fprintf(f, "\" y=\"%u\"%s>", y, attrs);
	put_xml(f, s);
	fputs("</text>\n", f);
}

static void
put_text(FILE *f, const char *cls, uint64_t x, unsigned y, const char *s)
{
	put_text_with(f, cls, "", x, y, s);
}

static void
svg_head(FILE *f, const struct trace *t, unsigned height)
{
	static const char *const heads[][2] = {
		{ "cmd", COLOR_CMD }, { "warn", COLOR_WARN }, { "ctl", COLOR_CTL }
	};
	size_t i;

	fprintf(f, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
	    "width=\"%u\" height=\"%u\" viewBox=\"0 0 %u %u\" "
	    "font-family=\"sans-serif\" font-size=\"11\" fill=\"%s\">\n"
	    "<title>kvmc trace: %zu nodes</title>\n<defs>\n",
	    WIDTH, height, WIDTH, height, COLOR_INK, t->nlanes);
	for (i = 0; i < 3; i++)
		fprintf(f, "<marker id=\"head-%s\" viewBox=\"0 0 10 10\" "
		    "refX=\"10\" refY=\"5\" markerWidth=\"7\" "
		    "markerHeight=\"7\" orient=\"auto\"><path d=\"M0,0 L10,5 "
		    "L0,10 z\" fill=\"%s\"/></marker>\n", heads[i][0],
		    heads[i][1]);
	fprintf(f, "</defs>\n<rect width=\"%u\" height=\"%u\" "
	    "fill=\"#ffffff\"/>\n", WIDTH, height);
}

/* ms since the epoch as the logs write it: 2026-11-26T21:49:57.123Z. */
static const char *
iso_time(uint64_t ms, char *buf, size_t cap)
{
	time_t secs = (time_t)(ms / 1000);
	struct tm tm;
	char day[32];

	if (gmtime_r(&secs, &tm) == NULL ||
	    strftime(day, sizeof(day), "%Y-%m-%dT%H:%M:%S", &tm) == 0)
		day[0] = '\0';
	snprintf(buf, cap, "%s.%03uZ", day, (unsigned)(ms % 1000));
	return buf;
}

static void
svg_title(FILE *f, const struct trace *t)
{
	char ts[40];
	size_t i, commands = 0;

	for (i = 0; i < t->nev; i++)
		commands += t->ev[i].kind == K_SEND &&
		    t->ev[i].klass == C_COMMAND;
	fprintf(f, "<text class=\"title\" x=\"20\" y=\"28\" font-size=\"15\" "
	    "font-weight=\"bold\">kvmc trace: %zu node%s, %zu command%s "
	    "sent, %llu ms from %s</text>\n", t->nlanes,
	    t->nlanes == 1 ? "" : "s", commands, commands == 1 ? "" : "s",
	    (unsigned long long)(t->t1 - t->t0), iso_time(t->t0, ts, sizeof(ts)));
	fprintf(f, "<text x=\"20\" y=\"48\" fill=\"#666666\">Time runs left "
	    "to right. An arrow goes from a command's send to its apply on "
	    "each node; the number is that node's local order.</text>\n");
}

static void
svg_lanes(FILE *f, const struct trace *t)
{
	uint32_t l;

	for (l = 0; l < t->nlanes; l++) {
		fprintf(f, "<line class=\"lane\" x1=\"%u\" y1=\"%u\" x2=\"%u\" "
		    "y2=\"%u\" stroke=\"%s\" stroke-width=\"1.5\"/>\n",
		    PLOT_X - 10, y_of(l), PLOT_X + PLOT_W + 10, y_of(l),
		    COLOR_INK);
		put_text(f, "node", 200, y_of(l) + 4, t->lane[l].id);
	}
}

/*
 * An arrow from (x1, y1) to (x2, y2): straight between lanes; on one
 * lane (a node's own message coming back) a small loop above it.
 */
static void
put_arrow(FILE *f, const char *cls, const char *color, const char *head,
    uint64_t x1, unsigned y1, uint64_t x2, unsigned y2)
{
	fprintf(f, "<path class=\"%s\" fill=\"none\" stroke=\"%s\" d=\"M", cls,
	    color);
	put_x(f, x1);
	fprintf(f, ",%u ", y1);
	if (y1 == y2) {
		fputs("C", f);
		put_x(f, x1 > 120 ? x1 - 120 : 0);
		fprintf(f, ",%u ", y1 - 28);
		put_x(f, x2 + 120);
		fprintf(f, ",%u ", y2 - 28);
	} else
		fputs("L", f);
	put_x(f, x2);
	fprintf(f, ",%u\"", y2);
	if (head != NULL)
		fprintf(f, " marker-end=\"url(#head-%s)\"", head);
	else
		fputs(" stroke-dasharray=\"4,3\"", f);
	fputs("/>\n", f);
}

/* Holds: a bar on the lane from the hold to the apply (or the end). */
static void
svg_holds(FILE *f, const struct trace *t)
{
	const struct ev *e;
	uint64_t x, end;
	size_t i;

	for (i = 0; i < t->nev; i++) {
		e = &t->ev[i];
		if (e->kind != K_HOLD || e->klass == C_OTHER)
			continue;
		x = x_of(t, e->ts);
		end = e->until != NONE ? x_of(t, t->ev[e->until].ts) :
		    TENTHS(PLOT_X + PLOT_W);
		fprintf(f, "<rect class=\"hold\" x=\"");
		put_x(f, x);
		fprintf(f, "\" y=\"%u\" width=\"", y_of(e->lane) - 5);
		put_x(f, end > x + 20 ? end - x : 20);
		fprintf(f, "\" height=\"10\" fill=\"%s\" "
		    "fill-opacity=\"0.55\"/>\n", COLOR_HOLD);
	}
}

/*
 * Control traffic, drawn first and light: ORDER, NACK (to its resend),
 * CHECK, DIGEST; a dropped one dashed, without a head.
 */
static void
svg_control(FILE *f, const struct trace *t)
{
	const struct ev *e, *c;
	size_t i;
	int drop;

	for (i = 0; i < t->nev; i++) {
		e = &t->ev[i];
		drop = e->kind == K_DROP;
		if (e->klass != C_CONTROL || e->cause == NONE ||
		    (e->kind != K_APPLY && e->kind != K_RESEND && !drop))
			continue;
		c = &t->ev[e->cause];
		put_arrow(f, drop ? "arrow ctl dropped" : "arrow ctl",
		    COLOR_CTL, drop ? NULL : "ctl", x_of(t, c->ts),
		    y_of(c->lane), x_of(t, e->ts), y_of(e->lane));
	}
}

/* Command arrows: plain ones first, the crossed ones over them. */
static void
svg_commands(FILE *f, const struct trace *t, int crossed)
{
	const struct ev *e, *c;
	size_t i;

	for (i = 0; i < t->nev; i++) {
		e = &t->ev[i];
		if (e->klass != C_COMMAND || e->cause == NONE ||
		    (e->kind != K_APPLY && e->kind != K_DROP) ||
		    !(e->flags & F_CROSSED) != !crossed)
			continue;
		c = &t->ev[e->cause];
		if (e->kind == K_DROP)
			put_arrow(f, "arrow cmd dropped", COLOR_CMD, NULL,
			    x_of(t, c->ts), y_of(c->lane), x_of(t, e->ts),
			    y_of(e->lane));
		else
			put_arrow(f, crossed ? "arrow cmd crossed" :
			    "arrow cmd", crossed ? COLOR_WARN : COLOR_CMD,
			    crossed ? "warn" : "cmd", x_of(t, c->ts),
			    y_of(c->lane), x_of(t, e->ts), y_of(e->lane));
	}
}

/* A simulated drop ends its arrow in a cross. */
static void
put_cross(FILE *f, uint64_t x, unsigned y)
{
	fputs("<path class=\"drop\" stroke=\"" COLOR_WARN "\" "
	    "stroke-width=\"2\" d=\"M", f);
	put_x(f, x - 50);
	fprintf(f, ",%u L", y - 5);
	put_x(f, x + 50);
	fprintf(f, ",%u M", y + 5);
	put_x(f, x - 50);
	fprintf(f, ",%u L", y + 5);
	put_x(f, x + 50);
	fprintf(f, ",%u\"/>\n", y - 5);
}

/* Sequencing, NACKs, resends, lost numbers: a small note under the lane. */
static void
svg_mark(FILE *f, const struct ev *e, uint64_t x, unsigned y,
    const char *label)
{
	static const char *const words[] = {
		[K_SEQUENCE] = "", [K_NACK] = "NACK to ",
		[K_RESEND] = "resend to ", [K_GAP_LOST] = "lost from "
	};
	int lost = e->kind == K_GAP_LOST;

	fprintf(f, "<text class=\"%s\" x=\"", lost ? "lost" : "ctl");
	put_x(f, x);
	fprintf(f, "\" y=\"%u\" fill=\"%s\" font-size=\"9\">%s", y + 24 +
	    12 * lost, lost ? COLOR_WARN : COLOR_CTL, words[e->kind]);
	put_xml(f, label);
	fputs("</text>\n", f);
}

/* What sits on a lane: apply points and their numbers, labels, marks. */
static void
svg_point(FILE *f, const struct trace *t, const struct ev *e)
{
	uint64_t x = x_of(t, e->ts);
	unsigned y = y_of(e->lane);
	char num[24];
	const char *label = text_of(t, e->label);

	if (e->kind == K_SEND && e->klass == C_COMMAND)
		put_text(f, "label", x + 30, y - 30, label);
	else if (is_command_apply(e)) {
		fprintf(f, "<circle cx=\"");
		put_x(f, x);
		fprintf(f, "\" cy=\"%u\" r=\"3\" fill=\"%s\"/>\n", y,
		    e->flags & F_NOT_STORED ? "#ffffff" :
		    e->flags & F_CROSSED ? COLOR_WARN : COLOR_CMD);
		snprintf(num, sizeof(num), "%llu",
		    (unsigned long long)e->num);
		put_text(f, "order", x + 30, y + 15, num);
		if (e->cause == NONE)	/* its sender's log is not here */
			put_text(f, "label", x + 30, y + 27, label);
	} else if (e->kind == K_DROP && e->klass != C_OTHER)
		put_cross(f, x, y);
	else if (e->kind >= K_SEQUENCE && e->kind <= K_GAP_LOST)
		svg_mark(f, e, x, y, label);
}

static void
svg_points(FILE *f, const struct trace *t)
{
	size_t i;

	for (i = 0; i < t->nev; i++)
		svg_point(f, t, &t->ev[i]);
}

/* At a lane's end: its final value of each key written, and its digest. */
static void
svg_final(FILE *f, const struct trace *t, struct kv_entry **keys,
    uint32_t l)
{
	const struct lane *ln = &t->lane[l];
	char k[4 * LABEL_RAW + 8], v[4 * LABEL_RAW + 8], row[320];
	unsigned y = y_of(l) - 40;
	const char *key, *val;
	size_t i, klen, vlen;

	for (i = 0; i < SHOWN_KEYS && keys[i] != NULL; i++, y += 13) {
		key = kv_entry_key(keys[i], &klen);
		val = kv_get(ln->store, key, klen, &vlen);
		msg_display(k, sizeof(k), key, klen < LABEL_RAW ? klen : LABEL_RAW);
		if (val != NULL) {
			msg_display(v, sizeof(v), val,
			    vlen < LABEL_RAW ? vlen : LABEL_RAW);
			snprintf(row, sizeof(row), "%s = %s", k, v);
		} else
			snprintf(row, sizeof(row), "%s (not set)", k);
		put_text(f, "final", TENTHS(PANEL_X), y, row);
	}
	if (i == SHOWN_KEYS && kv_count(t->keys) > SHOWN_KEYS) {
		snprintf(row, sizeof(row), "and %zu more keys",
		    kv_count(t->keys) - SHOWN_KEYS);
		put_text(f, "final", TENTHS(PANEL_X), y, row);
		y += 13;
	}
	fprintf(f, "<text class=\"digest%s\" x=\"%u\" y=\"%u\" "
	    "font-family=\"monospace\" fill=\"%s\">digest %016llx%s</text>\n",
	    ln->minority ? " minority" : "", PANEL_X, y + 4,
	    ln->minority ? COLOR_WARN : COLOR_INK,
	    (unsigned long long)kv_digest(ln->store),
	    ln->minority ? " differs" : "");
}

static void
svg_finals(FILE *f, const struct trace *t)
{
	struct kv_entry **keys = kv_sorted_new(t->keys);
	uint32_t l;

	fprintf(f, "<text x=\"%u\" y=\"%u\" font-weight=\"bold\">At the end"
	    "</text>\n", PANEL_X, LANE_Y0 - 60);
	for (l = 0; l < t->nlanes; l++)
		svg_final(f, t, keys, l);
	free(keys);
}

/* A step of 1, 2 or 5 times a power of ten: ten ticks at most. */
static uint64_t
tick_step(uint64_t span)
{
	uint64_t step = 1;

	for (;;) {
		if (span / step <= 10)
			return step;
		if (span / (2 * step) <= 10)
			return 2 * step;
		if (span / (5 * step) <= 10)
			return 5 * step;
		step *= 10;
	}
}

static void
svg_axis(FILE *f, const struct trace *t, unsigned y)
{
	uint64_t step = tick_step(t->span), ms;
	char label[32];

	fprintf(f, "<line class=\"axis\" x1=\"%u\" y1=\"%u\" x2=\"%u\" "
	    "y2=\"%u\" stroke=\"#888888\"/>\n", PLOT_X, y, PLOT_X + PLOT_W, y);
	for (ms = 0; ms <= t->span; ms += step) {
		fprintf(f, "<line x1=\"");
		put_x(f, x_of(t, t->t0 + ms));
		fprintf(f, "\" y1=\"%u\" x2=\"", y);
		put_x(f, x_of(t, t->t0 + ms));
		fprintf(f, "\" y2=\"%u\" stroke=\"#888888\"/>\n", y + 5);
		snprintf(label, sizeof(label), "%llu ms",
		    (unsigned long long)ms);
		put_text(f, "tick", x_of(t, t->t0 + ms) - 40, y + 18, label);
	}
}

/* The CHECK verdicts found in the logs, then a legend. */
static void
svg_captions(FILE *f, const struct trace *t, unsigned y)
{
	size_t i, shown_n = 0;

	for (i = 0; i < t->nev; i++) {
		if (t->ev[i].kind != K_CHECK || shown_n++ == CAPTIONS)
			continue;
		fprintf(f, "<text class=\"caption\" x=\"20\" y=\"%u\" "
		    "font-size=\"13\" font-weight=\"bold\">", y);
		put_xml(f, text_of(t, t->ev[i].label));
		fputs("</text>\n", f);
		y += 18;
	}
	fprintf(f, "<text x=\"20\" y=\"%u\" fill=\"#666666\">"
	    "<tspan fill=\"%s\">blue</tspan>: a command; "
	    "<tspan fill=\"%s\">red</tspan>: applied in opposite orders by two "
	    "nodes; x: dropped by the simulated network; "
	    "<tspan fill=\"%s\">bar</tspan>: held back by the ordering; "
	    "<tspan fill=\"#888888\">grey</tspan>: ORDER, NACK, resend, "
	    "CHECK and DIGEST</text>\n", y + 6, COLOR_CMD, COLOR_WARN,
	    COLOR_HOLD);
}

static unsigned
captions_height(const struct trace *t)
{
	size_t i, n = 0;

	for (i = 0; i < t->nev; i++)
		n += t->ev[i].kind == K_CHECK;
	return (unsigned)(18 * (n < CAPTIONS ? n : CAPTIONS)) + 30;
}

static void
write_svg(FILE *f, const struct trace *t)
{
	unsigned axis_y = y_of((uint32_t)t->nlanes - 1) + 70;
	unsigned height = axis_y + 50 + captions_height(t);

	svg_head(f, t, height);
	svg_title(f, t);
	svg_lanes(f, t);
	svg_holds(f, t);
	svg_control(f, t);
	svg_commands(f, t, 0);
	svg_commands(f, t, 1);
	svg_points(f, t);
	svg_finals(f, t);
	svg_axis(f, t, axis_y);
	svg_captions(f, t, axis_y + 50);
	fputs("</svg>\n", f);
}

/* ---- ShiViz ---- */

#define SHIVIZ_REGEX	"(?<host>\\S+) (?<clock>\\{[^}]*\\}) (?<event>.*)"

static void
shiviz_line(FILE *f, const struct trace *t, const struct ev *e,
    const uint64_t *clock)
{
	const char *sep = "";
	size_t l;

	fprintf(f, "%s {", t->lane[e->lane].id);
	for (l = 0; l < t->nlanes; l++) {
		if (clock[l] == 0)
			continue;
		fprintf(f, "%s\"%s\":%llu", sep, t->lane[l].id,
		    (unsigned long long)clock[l]);
		sep = ",";
	}
	fprintf(f, "} %s", kind_names[e->kind]);
	if (e->kind == K_APPLY && e->klass == C_COMMAND)
		fprintf(f, " #%llu", (unsigned long long)e->num);
	fputc(' ', f);
	fputs(text_of(t, e->label), f);	/* one line, no control bytes */
	if (e->kind <= K_SEQUENCE)
		fprintf(f, " (%02x%02x%02x%02x)", e->id[0], e->id[1], e->id[2],
		    e->id[3]);
	fputc('\n', f);
}

/* The clocks being computed: one per lane, and a copy per cause. */
struct clocks {
	size_t		 n;		/* lanes */
	uint64_t	*now;		/* n per lane */
	uint64_t	*saved;		/* n per event that is a cause */
	uint32_t	*slot;		/* event -> its copy in saved, or NONE */
	unsigned char	*done;		/* event -> written */
};

/* Only an event some other event receives from needs its clock kept. */
static void
clocks_init(struct clocks *vc, const struct trace *t)
{
	size_t i, causes = 0;

	vc->n = t->nlanes;
	vc->slot = xmalloc((t->nev + 1) * sizeof(*vc->slot));
	vc->done = xcalloc(t->nev + 1, 1);
	for (i = 0; i < t->nev; i++)
		vc->slot[i] = NONE;
	for (i = 0; i < t->nev; i++)
		if (t->ev[i].cause != NONE && vc->slot[t->ev[i].cause] == NONE)
			vc->slot[t->ev[i].cause] = (uint32_t)causes++;
	vc->now = xcalloc(vc->n * vc->n + 1, sizeof(*vc->now));
	vc->saved = xcalloc(causes * vc->n + 1, sizeof(*vc->saved));
}

static void
clocks_free(struct clocks *vc)
{
	free(vc->now);
	free(vc->saved);
	free(vc->slot);
	free(vc->done);
}

/* Ticks event i on its lane, after receiving from its cause if any. */
static const uint64_t *
clocks_tick(struct clocks *vc, const struct trace *t, uint32_t i)
{
	const struct ev *e = &t->ev[i];
	uint64_t *c = vc->now + e->lane * vc->n;
	const uint64_t *from;
	size_t k;

	if (e->cause != NONE && vc->done[e->cause]) {
		from = vc->saved + vc->slot[e->cause] * vc->n;
		for (k = 0; k < vc->n; k++)
			if (from[k] > c[k])
				c[k] = from[k];
	}
	c[e->lane]++;
	if (vc->slot[i] != NONE)
		memcpy(vc->saved + vc->slot[i] * vc->n, c, vc->n * sizeof(*c));
	vc->done[i] = 1;
	return c;
}

/*
 * Vector clocks from the send -> apply edges: every event ticks its own
 * node's entry; an event that receives a message first takes the
 * entry-wise maximum with the clock of the message's send. Each lane is
 * walked in its log's order, and an event waits until its cause is done;
 * if every lane waits (logs that contradict themselves), the first
 * waiting event goes on without its edge.
 */
static void
write_shiviz(FILE *f, const struct trace *t)
{
	struct clocks vc;
	uint32_t *pos = xcalloc(t->nlanes + 1, sizeof(*pos));
	size_t l, done = 0;
	int moved, force = 0;

	clocks_init(&vc, t);
	fprintf(f, "# ShiViz parser regex: %s\n", SHIVIZ_REGEX);
	for (l = 0; l < t->nlanes; l++)
		pos[l] = t->lane[l].first;
	while (done < t->nev) {
		moved = 0;
		for (l = 0; l < t->nlanes; l++) {
			for (; pos[l] < t->lane[l].end; pos[l]++, done++) {
				uint32_t cause = t->ev[pos[l]].cause;

				if (cause != NONE && !vc.done[cause] && !force)
					break;
				force = 0;
				moved = 1;
				shiviz_line(f, t, &t->ev[pos[l]],
				    clocks_tick(&vc, t, pos[l]));
			}
		}
		force = !moved;
	}
	clocks_free(&vc);
	free(pos);
}

/* ---- main ---- */

static void
trace_free(struct trace *t)
{
	size_t i;

	for (i = 0; i < t->nlanes; i++)
		kv_free(t->lane[i].store);
	kv_free(t->keys);
	free(t->lane);
	free(t->ev);
	free(t->text);
	free(t->refs);
}

static int
usage_error(const char *what, const char *arg)
{
	char shown_arg[3 * 64 + 8];

	msg_display(shown_arg, sizeof(shown_arg), arg, strlen(arg));
	fprintf(stderr, "kvmc trace: %s%s%s%s (usage: kvmc trace [--shiviz] "
	    "FILE..., - for stdin)\n", what, arg[0] ? " '" : "", shown_arg,
	    arg[0] ? "'" : "");
	return 2;
}

/* Reads every file named; exits 2 naming the first it cannot read. */
static int
read_all(struct trace *t, int argc, char **argv)
{
	char *buf = xmalloc(TRACE_READ_BUF);
	char shown_path[3 * 256 + 8];
	int i;

	for (i = 0; i < argc; i++) {
		const char *path = strcmp(argv[i], "-") == 0 ? NULL : argv[i];

		if (read_file(t, path, buf) == -1) {
			msg_display(shown_path, sizeof(shown_path), argv[i],
			    strlen(argv[i]));
			fprintf(stderr, "kvmc trace: %s: %s\n", shown_path,
			    strerror(errno));
			free(buf);
			return -1;
		}
	}
	free(buf);
	return 0;
}

/* "skipped 3 lines that are not kvmc log lines", or "" when none was. */
static void
skipped_text(const struct trace *t, char *buf, size_t cap)
{
	buf[0] = '\0';
	if (t->skipped == 1)
		snprintf(buf, cap, "skipped 1 line that is not a kvmc log line");
	else if (t->skipped > 1)
		snprintf(buf, cap, "skipped %llu lines that are not kvmc log "
		    "lines", (unsigned long long)t->skipped);
}

/* What was left out, on stderr; with no events at all, one line and 2. */
static int
report_input(const struct trace *t)
{
	char skipped[96];

	skipped_text(t, skipped, sizeof(skipped));
	if (t->nev == 0) {
		fprintf(stderr, "kvmc trace: no kvmc events in the input%s%s%s\n",
		    skipped[0] ? " (" : "", skipped, skipped[0] ? ")" : "");
		return -1;
	}
	if (skipped[0] != '\0')
		fprintf(stderr, "kvmc trace: %s\n", skipped);
	if (t->left_out > 0)
		fprintf(stderr, "kvmc trace: %llu lines left out: more than %d "
		    "nodes or %u events\n", (unsigned long long)t->left_out,
		    TRACE_LANES, TRACE_EVENTS);
	return 0;
}

/*
 * kvmc trace [--shiviz] FILE...: argv[0] is "trace". Returns the exit
 * status: 0, 2 for bad usage, an unreadable file or no events, 1 when
 * stdout cannot be written.
 */
int
trace_main(int argc, char **argv)
{
	static char outbuf[1 << 16];
	struct trace t;
	int shiviz = 0, first = 1, status = 0;

	if (argc > 1 && strcmp(argv[1], "--shiviz") == 0) {
		shiviz = 1;
		first = 2;
	}
	if (first < argc && argv[first][0] == '-' && argv[first][1] != '\0')
		return usage_error("unknown option", argv[first]);
	if (first >= argc)
		return usage_error("no log file given", "");
	memset(&t, 0, sizeof(t));
	t.lane = xcalloc(TRACE_LANES, sizeof(*t.lane));
	t.keys = kv_new(hash_key);
	if (read_all(&t, argc - first, argv + first) == -1) {
		trace_free(&t);
		return 2;
	}
	if (report_input(&t) == -1) {
		trace_free(&t);
		return 2;
	}
	link_all(&t);
	/* Fails only if stdout was already used: then it stays as it is. */
	(void)setvbuf(stdout, outbuf, _IOFBF, sizeof(outbuf));
	if (shiviz)
		write_shiviz(stdout, &t);
	else
		write_svg(stdout, &t);
	if (fflush(stdout) == EOF || ferror(stdout)) {
		fprintf(stderr, "kvmc trace: stdout: %s\n", strerror(errno));
		status = 1;
	}
	trace_free(&t);
	return status;
}
