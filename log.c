/*
 * log.c - one line per event on stderr (SPEC section 5):
 *   ts=... level=... node=... event=... fields
 * Callers pass fields already escaped (msg_escape, msg_describe) or known
 * to be safe (numbers, validated ids). Lines are buffered and flushed when
 * the loop is about to wait, so a burst costs one write while a person at
 * a terminal still sees every line at once.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "kvmc.h"

static const char *const level_names[] = { "debug", "info", "warn", "error" };

static const char	*log_node = "-";
static enum log_level	 log_threshold = LOG_INFO;
static char		 log_buf[1 << 16];
static size_t		 log_unflushed;	/* lines written since the last flush */

/* node_id must outlive every later log call. */
void
log_init(const char *node_id, enum log_level threshold)
{
	log_node = node_id;
	log_threshold = threshold;
	/* Fails only if stderr was already written to: then it stays as is. */
	(void)setvbuf(stderr, log_buf, _IOFBF, sizeof(log_buf));
}

const char *
log_level_name(enum log_level level)
{
	return level_names[level];
}

int
log_enabled(enum log_level level)
{
	return level >= log_threshold;
}

static void
log_line(enum log_level level, const char *event, const char *fmt,
    va_list ap)
{
	static time_t stamped = -1;
	static char ts[32];
	struct timespec now;
	struct tm tm;

	clock_gettime(CLOCK_REALTIME, &now);
	/* A burst logs thousands of lines a second: format each second once. */
	if (now.tv_sec != stamped) {
		gmtime_r(&now.tv_sec, &tm);
		strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
		stamped = now.tv_sec;
	}
	/* A full or closed stderr loses log lines; nothing better to do. */
	fprintf(stderr, "ts=%s.%03ldZ level=%s node=%s event=%s", ts,
	    now.tv_nsec / 1000000, level_names[level], log_node, event);
	if (fmt[0] != '\0') {
		fputc(' ', stderr);
		vfprintf(stderr, fmt, ap);
	}
	fputc('\n', stderr);
	log_unflushed++;
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

/* Returns the number of log lines waiting in the buffer. */
size_t
log_pending(void)
{
	return log_unflushed;
}

void
log_flush(void)
{
	fflush(stderr);
	log_unflushed = 0;
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
