/*
 * log.c - one line per event on stderr (SPEC section 5), in one of two
 * forms:
 *   logfmt:  ts=... level=... node=... event=... fields
 *   short:   21:52:12.494 node3 apply #1 SET x=1 from node1 (56087082)
 * The short form is for people: on a terminal by default (LOG_FORMAT
 * auto), coloured by level unless NO_COLOR is set; LOG_FORMAT=text gives
 * it uncoloured wherever stderr goes. Callers pass fields already escaped
 * (msg_escape, msg_describe) or known to be safe (numbers, validated ids),
 * so both forms show them as they are: no byte from the network reaches
 * the terminal as a control byte; the colours are the only ones we add.
 *
 * Lines are held here until log_flush() hands them to out.c, which the
 * console calls when it is about to wait: a burst costs one write, and
 * the console can erase its prompt before the lines and redraw it after.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "kvmc.h"

#define LINE_MAX_LOG	20480	/* the longest line: an apply of a GET */
#define FIELDS_MAX_LOG	64	/* fields the short form looks at */
#define SHORT_ID	8	/* a message id, cut for people */

static const char *const level_names[] = { "debug", "info", "warn", "error" };
static const char *const format_names[] = { "auto", "logfmt", "text" };

/* ANSI colours by level, for the short form on a terminal. */
static const char *const level_colours[] = {
	"\033[2m", "\033[36m", "\033[33m", "\033[1;31m"
};
#define DIM	"\033[2m"
#define RESET	"\033[0m"

static const char	*log_node = "-";
static enum log_level	 log_threshold = LOG_INFO;
static int		 log_short;	/* the short form */
static int		 log_colour;	/* with ANSI colours */
static char		 hold[LOG_HOLD];
static size_t		 held;		/* bytes in hold */
static size_t		 held_lines;
static void		(*log_spill)(void);

/* A bounded text being built: bytes past cap are cut, len stays true. */
struct text {
	char	*buf;
	size_t	 cap;
	size_t	 len;
};

/* One name=value of the fields, pointing into them. */
struct field {
	const char	*name;
	size_t		 name_len;
	const char	*value;
	size_t		 value_len;
	int		 used;		/* already shown by the short form */
};

struct fields {
	struct field	f[FIELDS_MAX_LOG];
	size_t		n;
};

/*
 * node_id must outlive every later log call. The short form is used when
 * asked for (text), or by default on a terminal; colours only then, and
 * not when NO_COLOR is set to anything (no-color.org).
 */
void
log_init(const char *node_id, enum log_level threshold, enum log_format f)
{
	const char *no_colour = getenv("NO_COLOR");
	int tty = isatty(STDERR_FILENO);

	log_node = node_id;
	log_threshold = threshold;
	log_short = f == LOG_FORMAT_TEXT || (f == LOG_FORMAT_AUTO && tty);
	log_colour = f == LOG_FORMAT_AUTO && tty &&
	    (no_colour == NULL || no_colour[0] == '\0');
	out_init();
}

const char *
log_level_name(enum log_level level)
{
	return level_names[level];
}

const char *
log_format_name(enum log_format f)
{
	return format_names[f];
}

int
log_enabled(enum log_level level)
{
	return level >= log_threshold;
}

/*
 * fn is called instead of log_flush() when the held lines must go out
 * before the loop's own flush (more than LOG_HOLD bytes in one wakeup):
 * the console erases its prompt around them.
 */
void
log_set_spill(void (*fn)(void))
{
	log_spill = fn;
}

/* ---- building a line ---- */

static void
put(struct text *t, const char *s, size_t len)
{
	if (t->len < t->cap)
		memcpy(t->buf + t->len, s, len < t->cap - t->len ? len :
		    t->cap - t->len);
	t->len += len;
}

static void
puts_text(struct text *t, const char *s)
{
	put(t, s, strlen(s));
}

static void
put_field(struct text *t, const struct field *f, size_t value_len)
{
	put(t, " ", 1);
	put(t, f->name, f->name_len);
	put(t, "=", 1);
	put(t, f->value, value_len);
}

/*
 * Splits "a=1 b=2" into fields. A word without a name= of its own belongs
 * to the value before it: a quoted reason with spaces stays one value.
 */
static void
split_fields(const char *s, struct fields *fs)
{
	const char *word = s, *end, *eq;
	struct field *f;

	fs->n = 0;
	while (*word != '\0') {
		end = strchr(word, ' ');
		if (end == NULL)
			end = word + strlen(word);
		eq = memchr(word, '=', (size_t)(end - word));
		if (eq != NULL && eq > word &&
		    strspn(word, "abcdefghijklmnopqrstuvwxyz_0123456789") ==
		    (size_t)(eq - word) && fs->n < FIELDS_MAX_LOG) {
			f = &fs->f[fs->n++];
			f->name = word;
			f->name_len = (size_t)(eq - word);
			f->value = eq + 1;
			f->value_len = (size_t)(end - eq - 1);
			f->used = 0;
		} else if (fs->n > 0)
			fs->f[fs->n - 1].value_len = (size_t)(end -
			    fs->f[fs->n - 1].value);
		word = *end == ' ' ? end + 1 : end;
	}
}

/* The first field of that name, now marked shown; NULL when none. */
static struct field *
take(struct fields *fs, const char *name)
{
	size_t i, len = strlen(name);

	for (i = 0; i < fs->n; i++) {
		if (!fs->f[i].used && fs->f[i].name_len == len &&
		    memcmp(fs->f[i].name, name, len) == 0) {
			fs->f[i].used = 1;
			return &fs->f[i];
		}
	}
	return NULL;
}

static int
value_is(const struct field *f, const char *s)
{
	return f != NULL && f->value_len == strlen(s) &&
	    memcmp(f->value, s, f->value_len) == 0;
}

/* " value" of a field, when there is one. */
static void
put_value(struct text *t, const struct field *f)
{
	if (f == NULL)
		return;
	put(t, " ", 1);
	put(t, f->value, f->value_len);
}

/* A message id (or a CHECK's, in re=), cut for people. */
static size_t
shown_len(const struct field *f)
{
	if ((f->name_len == 2 && (memcmp(f->name, "id", 2) == 0 ||
	    memcmp(f->name, "re", 2) == 0)) && f->value_len == UUID_LEN)
		return SHORT_ID;
	return f->value_len;
}

/* Every field the short form has not shown yet, ids cut. */
static void
put_rest(struct text *t, struct fields *fs)
{
	size_t i;

	for (i = 0; i < fs->n; i++) {
		if (!fs->f[i].used)
			put_field(t, &fs->f[i], shown_len(&fs->f[i]));
		fs->f[i].used = 1;
	}
}

/* The fields left are for tools: the short form leaves them out. */
static void
drop_rest(struct fields *fs)
{
	size_t i;

	for (i = 0; i < fs->n; i++)
		fs->f[i].used = 1;
}

/* " (56087082)": the message id, cut. */
static void
put_id(struct text *t, const struct field *id)
{
	if (id == NULL)
		return;
	put(t, " (", 2);
	put(t, id->value, shown_len(id));
	put(t, ")", 1);
}

/*
 * A message: [#order] TYPE [key[=value | = found | (not set)]], the other
 * fields, [from NODE] (id). The sender is left out of a send line: it is
 * the node at the start of the line.
 */
/*
 * A DIGEST: from whom, and what. It comes once per node and CHECK, and
 * the ids would take it past 80 columns: the CHECK's rows and its
 * check_result line say which CHECK it answered.
 */
static void
short_digest(struct text *t, struct fields *fs, struct field *from)
{
	struct field *digest = take(fs, "digest");

	(void)take(fs, "re");
	puts_text(t, " DIGEST");
	if (from != NULL) {
		puts_text(t, " from");
		put_value(t, from);
	}
	put_value(t, digest);
	put_rest(t, fs);
}

static void
short_message(struct text *t, struct fields *fs, int with_from)
{
	struct field *id = take(fs, "id"), *from = take(fs, "from");
	struct field *type = take(fs, "type"), *order = NULL, *key, *found;
	struct field *value, *digest;

	if (value_is(type, "DIGEST")) {
		short_digest(t, fs, with_from ? from : NULL);
		return;
	}
	if (value_is(type, "SET") || value_is(type, "GET") ||
	    value_is(type, "PRINT"))
		order = take(fs, "order");
	if (order != NULL) {
		put(t, " #", 2);
		put(t, order->value, order->value_len);
	}
	put_value(t, type);
	if ((key = take(fs, "key")) != NULL)
		put_value(t, key);
	found = take(fs, "found");
	value = take(fs, "value");
	if (value_is(found, "no"))
		puts_text(t, " (not set)");
	else if (found != NULL && value != NULL) {
		put(t, " = ", 3);
		put(t, value->value, value->value_len);
	} else if (value != NULL) {
		put(t, "=", 1);
		put(t, value->value, value->value_len);
	}
	digest = take(fs, "digest");	/* a PRINT's: 16 hex digits say it */
	put_rest(t, fs);
	put_value(t, digest);
	if (from != NULL && with_from) {
		puts_text(t, " from");
		put_value(t, from);
	}
	put_id(t, id);
}

/* reject bad_field from 127.0.0.1:4000 (12 bytes) */
static void
short_reject(struct text *t, struct fields *fs)
{
	struct field *src, *bytes;

	put_value(t, take(fs, "reason"));
	if ((src = take(fs, "src")) != NULL) {
		puts_text(t, " from");
		put_value(t, src);
	}
	bytes = take(fs, "bytes");
	put_rest(t, fs);
	if (bytes != NULL) {
		put(t, " (", 2);
		put(t, bytes->value, bytes->value_len);
		puts_text(t, " bytes)");
	}
}

/* start kvmc 0.1.0 239.0.0.1:5007 if 127.0.0.1, and what it simulates. */
static void
short_start(struct text *t, struct fields *fs)
{
	struct field *group = take(fs, "group"), *port = take(fs, "port");
	struct field *f;

	puts_text(t, " kvmc");
	put_value(t, take(fs, "version"));
	if (group != NULL && port != NULL) {
		put_value(t, group);
		put(t, ":", 1);
		put(t, port->value, port->value_len);
	}
	if ((f = take(fs, "interface")) != NULL) {
		puts_text(t, " if");
		put_value(t, f);
	}
	if ((f = take(fs, "sim_delay")) != NULL && f->value_len > 0)
		put_field(t, f, f->value_len);
	if ((f = take(fs, "sim_loss")) != NULL && !value_is(f, "0"))
		put_field(t, f, f->value_len);
	drop_rest(fs);
}

/* stop SIGTERM received=10 order=5, and the other counters when not 0. */
static void
short_stop(struct text *t, struct fields *fs)
{
	struct field *reason = take(fs, "reason"), *sig = take(fs, "signal");
	struct field *f;
	size_t i;

	put_value(t, sig != NULL ? sig : reason);
	for (i = 0; i < fs->n; i++) {
		f = &fs->f[i];
		if (!f->used && (!value_is(f, "0") ||
		    (f->name_len == 5 && memcmp(f->name, "order", 5) == 0)))
			put_field(t, f, f->value_len);
		f->used = 1;
	}
}

/* check_result CONSISTENT nodes=2 (56087082) */
static void
short_check_result(struct text *t, struct fields *fs)
{
	struct field *id = take(fs, "id");

	put_value(t, take(fs, "verdict"));
	put_rest(t, fs);
	put_id(t, id);
}

/* The event's own short form; any other event: its fields, ids cut. */
static void
short_fields(struct text *t, const char *event, struct fields *fs)
{
	if (strcmp(event, "apply") == 0 || strcmp(event, "duplicate") == 0 ||
	    strcmp(event, "id_conflict") == 0 || strcmp(event, "recv") == 0 ||
	    strcmp(event, "sim_drop") == 0 || strcmp(event, "sim_overflow") == 0)
		short_message(t, fs, 1);
	else if (strcmp(event, "send") == 0)
		short_message(t, fs, 0);
	else if (strcmp(event, "reject") == 0)
		short_reject(t, fs);
	else if (strcmp(event, "start") == 0)
		short_start(t, fs);
	else if (strcmp(event, "ready") == 0)
		drop_rest(fs);	/* rcvbuf: for tools */
	else if (strcmp(event, "stop") == 0)
		short_stop(t, fs);
	else if (strcmp(event, "check_result") == 0)
		short_check_result(t, fs);
	else if (strcmp(event, "peer_up") == 0 ||
	    strcmp(event, "peer_silent") == 0)
		put_value(t, take(fs, "peer"));
	else if (strcmp(event, "entry") == 0) {
		struct field *key = take(fs, "key"), *value = take(fs, "value");

		put_value(t, key);
		if (value != NULL) {
			put(t, "=", 1);
			put(t, value->value, value->value_len);
		}
	}
	put_rest(t, fs);
}

/* The wall clock, the seconds formatted once per second: bursts are big. */
static void
stamp(char *out, size_t cap, long *ms)
{
	static time_t stamped = -1;
	static char ts[32];
	struct timespec now;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &now);
	if (now.tv_sec != stamped) {
		gmtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		stamped = now.tv_sec;
	}
	/* The short form shows the time of day only: from the 'T' on. */
	snprintf(out, cap, "%s", log_short ? ts + 11 : ts);
	*ms = now.tv_nsec / 1000000;
}

static void
format_short(struct text *t, enum log_level level, const char *event,
    const char *ts, long ms, const char *fields)
{
	static struct fields fs;
	char head[64];

	split_fields(fields, &fs);
	snprintf(head, sizeof(head), "%s%s.%03ld%s ", log_colour ? DIM : "",
	    ts, ms, log_colour ? RESET : "");
	puts_text(t, head);
	puts_text(t, log_node);
	put(t, " ", 1);
	if (log_colour)
		puts_text(t, level_colours[level]);
	if (level != LOG_INFO) {
		puts_text(t, level_names[level]);
		put(t, " ", 1);
	}
	puts_text(t, event);
	/* Info: only the event is coloured; other levels: the whole line. */
	if (log_colour && level == LOG_INFO)
		puts_text(t, RESET);
	short_fields(t, event, &fs);
	if (log_colour && level != LOG_INFO)
		puts_text(t, RESET);
}

/* ---- holding and handing over ---- */

/* Hands the held lines to out.c, one by one, and writes what it can. */
void
log_flush(void)
{
	const char *p = hold, *nl;

	while (p < hold + held) {
		nl = memchr(p, '\n', (size_t)(hold + held - p));
		out_line(OUT_STDERR, p, (size_t)(nl - p) + 1);
		p = nl + 1;
	}
	held = 0;
	held_lines = 0;
	out_flush();
}

/* Returns the number of log lines held since the last flush. */
size_t
log_pending(void)
{
	return held_lines;
}

/* Holds one line, its newline ensured (a cut line keeps it). */
static void
hold_line(char *line, size_t len, size_t cap)
{
	if (len >= cap)
		len = cap - 1;
	line[len++] = '\n';
	if (held + len > sizeof(hold)) {
		if (log_spill != NULL)
			log_spill();
		if (held + len > sizeof(hold))
			log_flush();
	}
	memcpy(hold + held, line, len);
	held += len;
	held_lines++;
}

static void
log_line(enum log_level level, const char *event, const char *fmt,
    va_list ap)
{
	static char fields[LINE_MAX_LOG], line[LINE_MAX_LOG];
	struct text t = { line, sizeof(line) - 1, 0 };
	char ts[32];
	long ms;

	vsnprintf(fields, sizeof(fields), fmt, ap);
	stamp(ts, sizeof(ts), &ms);
	if (log_short)
		format_short(&t, level, event, ts, ms, fields);
	else {
		char head[128];

		snprintf(head, sizeof(head), "ts=%s.%03ldZ level=%s node=%s "
		    "event=%s", ts, ms, level_names[level], log_node, event);
		puts_text(&t, head);
		if (fields[0] != '\0') {
			put(&t, " ", 1);
			puts_text(&t, fields);
		}
	}
	hold_line(line, t.len, sizeof(line));
}

/* Logs an event when level passes the threshold; fmt may be "". */
void
log_event(enum log_level level, const char *event, const char *fmt, ...)
{
	va_list ap;

	if (!log_enabled(level))
		return;
	va_start(ap, fmt);
	log_line(level, event, fmt, ap);
	va_end(ap);
}

/* Logs at info whatever the threshold: start, ready and stop. */
void
log_always(const char *event, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	log_line(LOG_INFO, event, fmt, ap);
	va_end(ap);
}

/*
 * A line for the person on stderr that is no event (`error: ...`): held
 * with the log lines, so that it keeps its place among them.
 */
void
log_text(const char *fmt, ...)
{
	static char line[LINE_MAX_LOG];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	hold_line(line, (size_t)n, sizeof(line));
}

/* A system error's text, escaped as a log value: err=%s. */
const char *
log_err(int errnum, char *buf, size_t cap)
{
	const char *text = strerror(errnum);

	msg_escape(buf, cap, text, strlen(text));
	return buf;
}

/* The one out-of-memory policy: say so and stop. */
static void
out_of_memory(size_t size)
{
	log_always("fatal", "reason=out_of_memory bytes=%zu", size);
	log_flush();
	out_close();
	exit(1);
}

void *
xmalloc(size_t size)
{
	void *p = malloc(size);

	if (p == NULL)
		out_of_memory(size);
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n, size);

	if (p == NULL)
		out_of_memory(n * size);
	return p;
}

void *
xrealloc(void *old, size_t size)
{
	void *p = realloc(old, size);

	if (p == NULL)
		out_of_memory(size);
	return p;
}
