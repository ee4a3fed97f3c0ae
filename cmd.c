/*
 * cmd.c - the commands typed on stdin (SPEC section 2), parsed strictly:
 * like msg_decode for the wire, cmd_parse fills the caller's struct with
 * pointers into the line, allocates nothing, and says what is wrong.
 */
#include <string.h>
#include <strings.h>

#include "kvmc.h"

static const struct {
	const char	*name;
	enum cmd_verb	 verb;
	int		 words;		/* after the verb; SET: key, value */
	const char	*usage;		/* the error for the wrong words */
} verbs[] = {
	{ "SET",	CMD_SET,	2, "SET needs a key and a value" },
	{ "GET",	CMD_GET,	1, "GET takes one key" },
	{ "PRINT",	CMD_PRINT,	0, "PRINT takes no arguments" },
	{ "CHECK",	CMD_CHECK,	0, "CHECK takes no arguments" },
	{ "PEERS",	CMD_PEERS,	0, "PEERS takes no arguments" },
	{ "HELP",	CMD_HELP,	0, "HELP takes no arguments" },
	{ "EXIT",	CMD_EXIT,	0, "EXIT takes no arguments" },
};

static int
is_blank(char c)
{
	return c == ' ' || c == '\t';
}

/* Skips blanks, then returns the length of the word at *p, and moves past it. */
static size_t
next_word(const char **p, const char *end, const char **word)
{
	while (*p < end && is_blank(**p))
		(*p)++;
	*word = *p;
	while (*p < end && !is_blank(**p))
		(*p)++;
	return (size_t)(*p - *word);
}

static const char *
parse_words(struct cmd *c, int words, const char *usage, const char *p,
    const char *end)
{
	const char *extra;

	if (words == 0)
		return next_word(&p, end, &extra) > 0 ? usage : NULL;
	c->key_len = next_word(&p, end, &c->key);
	if (c->key_len == 0)
		return usage;
	if (c->key_len > KEY_MAX)
		return "key longer than 255 bytes";
	if (words == 1)
		return next_word(&p, end, &extra) > 0 ? usage : NULL;
	/* The value: the rest of the line after one run of blanks. */
	while (p < end && is_blank(*p))
		p++;
	if (p == end)
		return usage;
	c->value = p;
	c->value_len = (size_t)(end - p);
	return NULL;
}

/*
 * Parses one line (newline removed). Returns NULL and fills c (verb
 * CMD_NONE for a blank line), or the reason the line is wrong; for an
 * unknown verb, CMD_UNKNOWN with c->word the verb as typed.
 */
const char *
cmd_parse(const char *line, size_t len, struct cmd *c)
{
	const char *end = line + len, *p = line;
	size_t i;

	memset(c, 0, sizeof(*c));
	/* Never NULL: a command without key or value has them empty. */
	c->key = c->value = "";
	if (memchr(line, '\0', len) != NULL)
		return "line holds a NUL byte";
	if (end > p && end[-1] == '\r')
		end--;
	while (end > p && is_blank(end[-1]))
		end--;
	c->word_len = next_word(&p, end, &c->word);
	if (c->word_len == 0)
		return NULL;
	for (i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++) {
		if (strlen(verbs[i].name) == c->word_len &&
		    strncasecmp(c->word, verbs[i].name, c->word_len) == 0) {
			c->verb = verbs[i].verb;
			return parse_words(c, verbs[i].words, verbs[i].usage,
			    p, end);
		}
	}
	c->verb = CMD_UNKNOWN;
	return "unknown command";
}
