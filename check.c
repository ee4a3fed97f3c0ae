/*
 * check.c - the CHECK this node asked (SPEC section 7): every node that
 * processes a CHECK answers with a DIGEST of its store; the asking node
 * collects the answers for a window, then hands one row per node and
 * whether they all agree to the console, which prints them.
 */
#include <stdlib.h>
#include <string.h>

#include "kvmc.h"

void
check_open(struct check *c, const char *id, uint64_t deadline)
{
	c->open = 1;
	memcpy(c->id, id, sizeof(c->id));
	c->deadline = deadline;
	c->nrows = 0;
	if (c->rows == NULL)
		c->rows = xcalloc(CHECK_ROWS_MAX, sizeof(*c->rows));
}

/* Keeps a DIGEST that answers the open CHECK; ignores any other. */
void
check_record(struct check *c, const struct msg *m)
{
	struct check_row *row;

	if (!c->open || strcmp(m->re, c->id) != 0 ||
	    c->nrows == CHECK_ROWS_MAX)
		return;
	row = &c->rows[c->nrows++];
	memcpy(row->node, m->from, sizeof(row->node));
	row->digest = m->digest;
	row->entries = m->entries;
	row->order = m->order;
}

static int
cmp_rows(const void *a, const void *b)
{
	return strcmp(((const struct check_row *)a)->node,
	    ((const struct check_row *)b)->node);
}

static const char *
verdict(const struct check *c)
{
	size_t i;

	if (c->nrows == 0)
		return "NO_REPLY";
	for (i = 1; i < c->nrows; i++)
		if (c->rows[i].digest != c->rows[0].digest)
			return "DIVERGED";
	return "CONSISTENT";
}

/*
 * The window has closed: sorts the rows by node, logs check_result and
 * closes the window. Returns the verdict; the rows stay for the console
 * to print until the next check_open.
 */
const char *
check_close(struct check *c)
{
	const char *v = verdict(c);

	qsort(c->rows, c->nrows, sizeof(*c->rows), cmp_rows);
	log_event(LOG_INFO, "check_result", "id=%s verdict=%s nodes=%zu",
	    c->id, v, c->nrows);
	c->open = 0;
	return v;
}

void
check_free(struct check *c)
{
	free(c->rows);
	c->rows = NULL;
	c->open = 0;
}
