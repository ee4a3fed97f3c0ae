/*
 * console.c - the person at the keyboard: stdin lines, the prompt, and
 * every byte written to stdout (GET, HELP, CHECK rows and verdict, PEERS).
 *
 * On a terminal the console edits the line itself (no canonical mode, no
 * kernel echo), so that it always knows what is on the screen: a log line
 * or a reply that arrives while the person types goes above the prompt,
 * and the prompt and the half-typed line are drawn again below it. The
 * terminal's modes are put back when the node stops. fd 0 itself stays
 * blocking: its open file is shared with the shell.
 *
 * The path of a typed line:
 *   console_on_stdin -> feed -> on_line -> cmd_parse (cmd.c)
 *   -> node_send_command / node_check (node.c) or a local reply here
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>
#include <sys/stat.h>

#include "kvmc.h"

#define PROMPT		"> "
#define ERASE_LINE	"\r\033[K"	/* to the line's start, then clear it */
#define KEY_CTRL(c)	((c) & 0x1f)
#define KEY_BACKSPACE	0x7f
#define KEY_ESC		0x1b

/* The console whose prompt a burst of log lines takes off the screen. */
static struct console *spilling;

/* The terminal's modes before the console changed them; restored at exit. */
static struct termios saved_modes;
static int modes_changed;
static int esc_state;		/* inside an escape sequence: skip it */

/* ---- the screen ---- */

/*
 * Every byte for stdout goes through here, to out.c's queue: whole lines
 * as lines (dropped and counted whole when the reader lags far behind),
 * the prompt and what is being typed as bytes. Written before the wait.
 */
static void
console_write(const char *buf, size_t len)
{
	const char *nl;
	size_t n;

	while (len > 0) {
		nl = memchr(buf, '\n', len);
		if (nl == NULL) {
			out_bytes(OUT_STDOUT, buf, len);
			return;
		}
		n = (size_t)(nl - buf) + 1;
		out_line(OUT_STDOUT, buf, n);
		buf += n;
		len -= n;
	}
}

static void
console_puts(const char *s)
{
	console_write(s, strlen(s));
}

/* Takes the prompt and the half-typed line off the screen. */
static void
hide_prompt(struct console *con)
{
	if (!con->prompt_shown)
		return;
	console_puts(ERASE_LINE);
	con->prompt_shown = 0;
}

/* Draws the prompt and what has been typed so far, safe for the terminal. */
static void
show_prompt(struct node *nd)
{
	struct console *con = &nd->console;
	char shown[3 * LINE_MAX_IN + 1];

	if (!con->interactive || !con->reads_stdin || con->prompt_shown ||
	    node_stopping(nd))
		return;
	msg_display(shown, sizeof(shown), con->line, con->line_len);
	console_puts(PROMPT);
	console_puts(shown);
	con->prompt_shown = 1;
}

/*
 * More log lines in one wakeup than log.c holds: they go out now, with
 * the prompt off the screen; console_flush draws it again before the wait.
 */
static void
spill_logs(void)
{
	if (spilling != NULL)
		hide_prompt(spilling);
	log_flush();
}

/*
 * Called before the loop waits: log lines of the last events go out
 * above the prompt, then the prompt is drawn again below them.
 */
void
console_flush(struct node *nd)
{
	if (log_pending() > 0)
		hide_prompt(&nd->console);
	log_flush();
	show_prompt(nd);
}

/* A reply on stdout, on a line of its own, at once. */
void
console_reply(struct node *nd, const char *fmt, ...)
{
	char buf[4 * WIRE_MAX];
	va_list ap;
	int len;

	va_start(ap, fmt);
	len = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (len < 0)
		return;
	hide_prompt(&nd->console);
	console_write(buf, (size_t)len < sizeof(buf) ? (size_t)len :
	    sizeof(buf) - 1);
}

static void
user_error(struct node *nd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A message for the person at the keyboard on stderr, not a log event. */
static void
user_error(struct node *nd, const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	hide_prompt(&nd->console);
	/* Held with the log lines: it keeps its place among them. */
	log_text("error: %s", text);
	log_flush();
}

/* ---- replies ---- */

static void
print_local(struct node *nd, const char *key, size_t key_len)
{
	char shown_key[3 * KEY_MAX + 1], shown_value[3 * WIRE_MAX + 1];
	const char *value;
	size_t value_len;

	msg_display(shown_key, sizeof(shown_key), key, key_len);
	value = kv_get(nd->kv, key, key_len, &value_len);
	if (value == NULL) {
		console_reply(nd, "%s (not set)\n", shown_key);
		return;
	}
	msg_display(shown_value, sizeof(shown_value), value, value_len);
	console_reply(nd, "%s = %s\n", shown_key, shown_value);
}

static void
print_help(struct node *nd)
{
	console_reply(nd, "%s",
	    "SET <key> <value>  store value under key on every node\n"
	    "GET <key>          print the local value; every node logs its own\n"
	    "PRINT              every node logs its whole store\n"
	    "CHECK              ask every node for its digest: do they agree?\n"
	    "PEERS              the nodes this node hears, and how long ago\n"
	    "HELP               this text\n"
	    "EXIT               leave the group and stop\n");
}

/* PEERS: one line per peer, sorted by id, the node itself not included. */
static void
print_peers(struct node *nd)
{
	struct peers *p = &nd->peers;
	const struct peer *peer;
	uint64_t now = node_now(), ago;
	size_t i;

	peers_check(p, now);
	if (p->n == 0)
		console_reply(nd, "(no peers)\n");
	for (i = 0; i < p->n; i++) {
		peer = peers_sorted(p, i);
		ago = (now - peer->last) / 100;	/* tenths of seconds */
		console_reply(nd, "%s %llu.%llus %s\n", peer->id,
		    (unsigned long long)(ago / 10),
		    (unsigned long long)(ago % 10),
		    peer->alive ? "alive" : "silent");
	}
}

/* The CHECK window has closed: a row per node that answered, the verdict. */
void
console_check_result(struct node *nd, const char *verdict)
{
	const struct check *c = &nd->check;
	size_t i;

	for (i = 0; i < c->nrows; i++)
		console_reply(nd, "%s digest=%016llx entries=%llu order=%llu\n",
		    c->rows[i].node, (unsigned long long)c->rows[i].digest,
		    (unsigned long long)c->rows[i].entries,
		    (unsigned long long)c->rows[i].order);
	if (c->nrows == 0)
		console_reply(nd, "%s\n", verdict);
	else
		console_reply(nd, "%s (%zu node%s)\n", verdict, c->nrows,
		    c->nrows == 1 ? "" : "s");
}

/* ---- commands ---- */

static void
command_send(struct node *nd, enum msg_type type, const struct cmd *c)
{
	if (node_send_command(nd, type, c->key, c->key_len, c->value,
	    c->value_len) == -1) {
		user_error(nd, "message would not fit in one datagram");
		return;
	}
	if (type == MSG_GET)
		print_local(nd, c->key, c->key_len);
}

/* One line from stdin, newline removed. */
static void
on_line(struct node *nd, const char *line, size_t len)
{
	char shown[3 * 64 + 1];
	const char *error;
	struct cmd c;

	if ((error = cmd_parse(line, len, &c)) != NULL) {
		/* The verb as typed, cut short and safe for the terminal. */
		msg_display(shown, sizeof(shown), c.word, c.word_len < 64 ?
		    c.word_len : 64);
		if (c.verb == CMD_UNKNOWN)
			user_error(nd, "unknown command '%s' (try HELP)", shown);
		else
			user_error(nd, "%s", error);
		return;
	}
	switch (c.verb) {
	case CMD_NONE:
	case CMD_UNKNOWN:
		break;
	case CMD_SET:
		command_send(nd, MSG_SET, &c);
		break;
	case CMD_GET:
		command_send(nd, MSG_GET, &c);
		break;
	case CMD_PRINT:
		command_send(nd, MSG_PRINT, &c);
		break;
	case CMD_CHECK:
		if (node_check(nd) == -1)
			user_error(nd, "a CHECK is still waiting for replies");
		break;
	case CMD_PEERS:
		print_peers(nd);
		break;
	case CMD_HELP:
		print_help(nd);
		break;
	case CMD_EXIT:
		node_request_stop(nd, "exit");
		break;
	}
}

/* ---- reading lines ---- */

/* The end of a line: run it, unless it was too long and is being dropped. */
static void
end_line(struct node *nd)
{
	struct console *con = &nd->console;

	if (con->interactive) {
		/* The typed line stays on the screen; the next output goes below. */
		console_puts("\n");
		con->prompt_shown = 0;
	}
	if (!con->discarding)
		on_line(nd, con->line, con->line_len);
	con->discarding = 0;
	con->line_len = 0;
}

static void
add_byte(struct node *nd, char c)
{
	struct console *con = &nd->console;

	if (con->discarding)
		return;
	if (con->line_len == LINE_MAX_IN) {
		user_error(nd, "line longer than %d bytes, discarded",
		    LINE_MAX_IN);
		con->discarding = 1;
		return;
	}
	con->line[con->line_len++] = c;
}

/* Backspace: the last character, all the bytes of a UTF-8 one. */
static void
erase_char(struct console *con)
{
	while (con->line_len > 0 &&
	    ((unsigned char)con->line[--con->line_len] & 0xc0) == 0x80)
		;
}

/* Ctrl-W: the blanks before the cursor, then the word before them. */
static void
erase_word(struct console *con)
{
	while (con->line_len > 0 && (con->line[con->line_len - 1] == ' ' ||
	    con->line[con->line_len - 1] == '\t'))
		con->line_len--;
	while (con->line_len > 0 && con->line[con->line_len - 1] != ' ' &&
	    con->line[con->line_len - 1] != '\t')
		con->line_len--;
}

/*
 * Escape sequences (arrow keys, function keys) are skipped whole: ESC,
 * then '[' or 'O', then parameters up to a final byte 0x40-0x7e.
 */
static int
skip_escape(unsigned char c)
{
	if (esc_state == 0 && c == KEY_ESC) {
		esc_state = 1;
		return 1;
	}
	if (esc_state == 1) {
		esc_state = (c == '[' || c == 'O') ? 2 : 0;
		return 1;
	}
	if (esc_state == 2) {
		if (c >= 0x40 && c <= 0x7e)
			esc_state = 0;
		return 1;
	}
	return 0;
}

/* One key typed on the terminal: the console is the line editor. */
static void
edit_key(struct node *nd, unsigned char c)
{
	struct console *con = &nd->console;

	if (skip_escape(c))
		return;
	hide_prompt(con);	/* drawn again, as edited, before the wait */
	if (c == '\n' || c == '\r')
		end_line(nd);
	else if (c == KEY_BACKSPACE || c == KEY_CTRL('H'))
		erase_char(con);
	else if (c == KEY_CTRL('U'))
		con->line_len = 0;
	else if (c == KEY_CTRL('W'))
		erase_word(con);
	else if (c == KEY_CTRL('D') && con->line_len == 0)
		node_request_stop(nd, "eof");
	else if (c >= 0x20 || c == '\t')
		add_byte(nd, (char)c);
}

static int
ends_line(const struct console *con, char c)
{
	return c == '\n' || (con->interactive && c == '\r');
}

/*
 * The bytes of the last read, from where they stopped. Lines end at '\n'
 * (an over-long one is dropped whole); on a terminal the console is the
 * line editor. A line ends only when the node may send: a writer in
 * total mode that is SEND_WINDOW commands ahead of its ORDERs waits, the
 * rest of its input unread, and console_resume() goes on.
 */
static void
feed(struct node *nd)
{
	struct console *con = &nd->console;
	char c;

	while (con->chunk_done < con->chunk_len && !node_stopping(nd)) {
		c = con->chunk[con->chunk_done];
		if (ends_line(con, c) && !node_may_send(nd))
			return;
		con->chunk_done++;
		if (con->interactive)
			edit_key(nd, (unsigned char)c);
		else if (c == '\n')
			end_line(nd);
		else
			add_byte(nd, c);
	}
}

/* stdin is read only once the last read is all taken. */
int
console_wants_stdin(const struct node *nd)
{
	const struct console *con = &nd->console;

	return con->reads_stdin && con->chunk_done == con->chunk_len;
}

/* Lines left waiting for the node to send again. */
void
console_resume(struct node *nd)
{
	if (nd->console.chunk_done < nd->console.chunk_len)
		feed(nd);
}

/*
 * One read(2) per wakeup: fd 0 stays blocking (it is shared with the
 * shell), and select() said there is something to read.
 */
void
console_on_stdin(struct node *nd)
{
	struct console *con = &nd->console;
	ssize_t n;

	n = read(STDIN_FILENO, con->chunk, sizeof(con->chunk));
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		/* A last line without a newline is still a command. */
		if (con->line_len > 0 && !con->discarding && !con->interactive)
			on_line(nd, con->line, con->line_len);
		con->line_len = 0;
		if (!node_stopping(nd))
			node_request_stop(nd, "eof");
		return;
	}
	con->chunk_len = (size_t)n;
	con->chunk_done = 0;
	feed(nd);
}

/* ---- the terminal's modes ---- */

static void
restore_modes(void)
{
	if (modes_changed)
		(void)tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_modes);
	modes_changed = 0;
}

/*
 * Keys one at a time and no kernel echo, so the console edits the line.
 * Ctrl-C still stops the node (SIGINT); Ctrl-Z and Ctrl-\ are turned off,
 * since a stopped or dumped node would leave the terminal in these modes.
 */
static void
take_terminal(void)
{
	struct termios modes;

	if (tcgetattr(STDIN_FILENO, &saved_modes) == -1)
		return;
	modes = saved_modes;
	modes.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
	modes.c_cc[VMIN] = 1;
	modes.c_cc[VTIME] = 0;
	modes.c_cc[VSUSP] = _POSIX_VDISABLE;
	modes.c_cc[VQUIT] = _POSIX_VDISABLE;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &modes) == -1)
		return;
	modes_changed = 1;
	/* Also on exit() from deep inside (out of memory). */
	atexit(restore_modes);
}

/* A character device that is not a terminal (/dev/null) means no input. */
void
console_init(struct node *nd)
{
	struct console *con = &nd->console;
	struct stat st;

	con->interactive = !nd->set.no_input && isatty(STDIN_FILENO);
	con->reads_stdin = !nd->set.no_input &&
	    fstat(STDIN_FILENO, &st) == 0 &&
	    (!S_ISCHR(st.st_mode) || con->interactive);
	if (con->interactive)
		take_terminal();
	spilling = con;
	log_set_spill(spill_logs);
}

/* The node stops: the last lines go below the prompt; the modes go back. */
void
console_close(struct node *nd)
{
	hide_prompt(&nd->console);
	restore_modes();
	log_set_spill(NULL);
	spilling = NULL;
}
