/*
 * settings.c - every setting from its option or its environment variable
 * (SPEC section 1), validated strictly. A bad one is reported to the
 * caller as one line naming it, its value and what is accepted; main
 * prints it and exits 2. This file never exits.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>
#include <sys/stat.h>
#include <arpa/inet.h>
#include <net/if.h>

#include "kvmc.h"

struct setting {
	const char	*option;	/* without the leading "--" */
	const char	*env;		/* NULL: an option only */
	int		(*parse)(struct settings *, const char *);
	const char	*expected;	/* for the error message */
};

/*
 * Numbers are ASCII digits only, with no sign, blank, prefix or exponent
 * (SPEC section 1): one parser for every numeric setting. Returns 0 and
 * sets *out when the len bytes at p are a number from 0 to max.
 */
static int
parse_digits(const char *p, size_t len, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		unsigned d = (unsigned)(p[i] - '0');

		if (p[i] < '0' || p[i] > '9' || v > (max - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* A whole setting that is a number from min to max. */
static int
parse_ranged(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	if (parse_digits(s, strlen(s), max, out) == -1 || *out < min)
		return -1;
	return 0;
}

static int
parse_node_id(struct settings *set, const char *s)
{
	if (!msg_valid_node_id(s, strlen(s)))
		return -1;
	memcpy(set->node_id, s, strlen(s) + 1);
	return 0;
}

static int
parse_group(struct settings *set, const char *s)
{
	if (inet_pton(AF_INET, s, &set->net.group) != 1 ||
	    (ntohl(set->net.group.s_addr) >> 28) != 0xe)
		return -1;
	return 0;
}

static int
parse_port(struct settings *set, const char *s)
{
	uint64_t v;

	if (parse_ranged(s, 1, 65535, &v) == -1)
		return -1;
	set->net.port = (uint16_t)v;
	return 0;
}

static int
parse_ttl(struct settings *set, const char *s)
{
	uint64_t v;

	if (parse_ranged(s, 0, 255, &v) == -1)
		return -1;
	set->net.ttl = (int)v;
	return 0;
}

/* An address joins through it; a name, through its index. */
static int
parse_interface(struct settings *set, const char *s)
{
	set->net.if_addr.s_addr = htonl(INADDR_ANY);
	set->net.if_index = 0;
	if (inet_pton(AF_INET, s, &set->net.if_addr) != 1) {
		if (strlen(s) >= IF_NAMESIZE)
			return -1;
		set->net.if_index = if_nametoindex(s);
		if (set->net.if_index == 0)
			return -1;
	}
	set->interface = s;
	return 0;
}

static int
parse_log_level(struct settings *set, const char *s)
{
	enum log_level l;

	/* Any case: the Python original took INFO, DEBUG, ... */
	for (l = LOG_DEBUG; l <= LOG_ERROR; l++) {
		if (strcasecmp(s, log_level_name(l)) == 0) {
			set->log_level = l;
			return 0;
		}
	}
	return -1;
}

static int
parse_hello_interval(struct settings *set, const char *s)
{
	uint64_t v;

	if (parse_ranged(s, 0, 3600000, &v) == -1)
		return -1;
	set->hello_interval = (uint32_t)v;
	return 0;
}

static int
parse_check_window(struct settings *set, const char *s)
{
	uint64_t v;

	if (parse_ranged(s, 1, 60000, &v) == -1)
		return -1;
	set->check_window = (uint32_t)v;
	return 0;
}

static int
parse_store_limit(struct settings *set, const char *s)
{
	return parse_ranged(s, STORE_LIMIT_MIN, STORE_LIMIT_MAX,
	    &set->store_limit);
}

static int
parse_log_format(struct settings *set, const char *s)
{
	enum log_format f;

	for (f = LOG_FORMAT_AUTO; f <= LOG_FORMAT_TEXT; f++) {
		if (strcasecmp(s, log_format_name(f)) == 0) {
			set->log_format = f;
			return 0;
		}
	}
	return -1;
}

/* One SENDER=MS or SENDER=MIN-MAX of SIM_DELAY. */
static int
parse_rule(const char *p, size_t len, struct sim_rule *r)
{
	const char *eq = memchr(p, '=', len), *dash, *end = p + len;
	uint64_t min, max;
	size_t sender_len;

	if (eq == NULL)
		return -1;
	sender_len = (size_t)(eq - p);
	if (!(sender_len == 1 && *p == '*') &&
	    !msg_valid_node_id(p, sender_len))
		return -1;
	memcpy(r->sender, p, sender_len);
	r->sender[sender_len] = '\0';
	dash = memchr(eq + 1, '-', (size_t)(end - eq - 1));
	r->is_range = dash != NULL;
	if (dash == NULL)
		dash = end;
	if (parse_digits(eq + 1, (size_t)(dash - eq - 1), SIM_DELAY_MAX,
	    &min) == -1)
		return -1;
	max = min;
	if (r->is_range && parse_digits(dash + 1, (size_t)(end - dash - 1),
	    SIM_DELAY_MAX, &max) == -1)
		return -1;
	r->min = (uint32_t)min;
	r->max = (uint32_t)max;
	return min <= max ? 0 : -1;
}

/* SIM_DELAY: comma-separated rules, each sender at most once. */
static int
parse_sim_delay(struct settings *set, const char *s)
{
	struct sim_rule *rules;
	const char *p = s, *comma;
	size_t n = 1, i;

	for (i = 0; s[i] != '\0'; i++)
		n += s[i] == ',';
	rules = xcalloc(n, sizeof(*rules));
	for (n = 0;; n++, p = comma + 1) {
		comma = strchr(p, ',');
		if (comma == NULL)
			comma = p + strlen(p);
		if (parse_rule(p, (size_t)(comma - p), &rules[n]) == -1)
			goto bad;
		for (i = 0; i < n; i++)
			if (strcmp(rules[i].sender, rules[n].sender) == 0)
				goto bad;
		if (*comma == '\0')
			break;
	}
	free(set->sim.rules);
	set->sim.rules = rules;
	set->sim.nrules = n + 1;
	set->sim_delay = s;
	return 0;
bad:
	free(rules);
	return -1;
}

/* SIM_LOSS: digits with at most one '.', from 0 to 1. */
static int
parse_sim_loss(struct settings *set, const char *s)
{
	double v = 0, scale = 1;
	int digits = 0, dot = 0;
	const char *p;

	for (p = s; *p != '\0'; p++) {
		if (*p == '.' && !dot) {
			dot = 1;
			continue;
		}
		if (*p < '0' || *p > '9')
			return -1;
		digits++;
		if (dot)
			v += (*p - '0') * (scale /= 10);
		else
			v = v * 10 + (*p - '0');
	}
	if (digits == 0 || v > 1)
		return -1;
	set->sim.loss = v;
	set->sim_loss = s;
	return 0;
}

/* SIM_SEED: an unsigned decimal below 2^64. */
static int
parse_sim_seed(struct settings *set, const char *s)
{
	return parse_ranged(s, 0, UINT64_MAX, &set->sim.seed);
}

static const char *const mode_names[] = {
	[ORDER_NONE] = "none", [ORDER_FIFO] = "fifo",
	[ORDER_CAUSAL] = "causal", [ORDER_TOTAL] = "total",
};

/* ORDERING: a mode's name, lower case only. */
static int
parse_ordering(struct settings *set, const char *s)
{
	size_t i;

	for (i = 0; i < sizeof(mode_names) / sizeof(mode_names[0]); i++) {
		if (strcmp(s, mode_names[i]) == 0) {
			set->ordering = (enum order_mode)i;
			return 0;
		}
	}
	return -1;
}

/* SEQUENCER: a node id, looked at only in total mode (ORDERING is first). */
static int
parse_sequencer(struct settings *set, const char *s)
{
	if (set->ordering != ORDER_TOTAL)
		return 0;
	if (!msg_valid_node_id(s, strlen(s)))
		return -1;
	memcpy(set->sequencer, s, strlen(s) + 1);
	return 0;
}

/*
 * An unset setting that another one makes necessary: SEQUENCER in total.
 * Returns -1 and writes the line for it then.
 */
static int
check_unset(const struct settings *set, const struct setting *s,
    char *error, size_t cap)
{
	if (s->parse == parse_sequencer && set->ordering == ORDER_TOTAL) {
		snprintf(error, cap, "%s: ORDERING=total needs the sequencer's "
		    "node id", s->env);
		return -1;
	}
	return 0;
}

const char *
settings_mode_name(enum order_mode mode)
{
	return mode_names[mode];
}

/* In SPEC order: when several are bad, the first one is reported. */
static const struct setting settings_table[] = {
	{ "node-id", "NODE_ID", parse_node_id, "1-32 of A-Z a-z 0-9 . _ -" },
	{ "group", "MULTICAST_GROUP", parse_group,
	    "an IPv4 multicast address, 224.0.0.0-239.255.255.255" },
	{ "port", "MULTICAST_PORT", parse_port, "1-65535" },
	{ "ttl", "MULTICAST_TTL", parse_ttl, "0-255" },
	{ "interface", "MULTICAST_IF", parse_interface,
	    "an IPv4 address or the name of an existing interface" },
	{ "log-level", "LOG_LEVEL", parse_log_level, "debug, info, warn or error" },
	{ "hello-interval", "HELLO_INTERVAL", parse_hello_interval,
	    "0-3600000" },
	{ "check-window", "CHECK_WINDOW", parse_check_window, "1-60000" },
	{ "store-limit", "STORE_LIMIT", parse_store_limit,
	    "1024-1099511627776 (2^40)" },
	{ "log-format", "LOG_FORMAT", parse_log_format,
	    "auto, logfmt or text" },
	{ "sim-delay", "SIM_DELAY", parse_sim_delay,
	    "SENDER=MS or SENDER=MIN-MAX, comma-separated, each sender once, "
	    "0 <= MIN <= MAX <= 60000, SENDER a node id or *" },
	{ "sim-loss", "SIM_LOSS", parse_sim_loss, "a decimal from 0 to 1" },
	{ "sim-seed", "SIM_SEED", parse_sim_seed,
	    "an unsigned decimal below 2^64" },
	{ "ordering", "ORDERING", parse_ordering, "none, fifo, causal or total" },
	{ "sequencer", "SEQUENCER", parse_sequencer,
	    "a node id, 1-32 of A-Z a-z 0-9 . _ -" },
};
#define NSETTINGS (sizeof(settings_table) / sizeof(settings_table[0]))

/*
 * The text of --help; main prints it. It is also the list of settings the
 * documentation is checked against (test/docs.bats), so every setting
 * keeps one line of one shape:
 *   --option ARG  VARIABLE  [valid range or a|b|c, ][note, ]default: D
 * A range or a list of words comes first when there is one.
 */
const char *
settings_help(void)
{
	return
	    "usage: kvmc [options]\n"
	    "A replicated key-value store over IP multicast, with no ordering.\n"
	    "Reads commands on stdin, logs events on stderr.\n"
	    "\n"
	    "Settings: option, environment variable, default (the option wins).\n"
	    "  --node-id ID        NODE_ID          default: 8 random hex chars\n"
	    "  --group ADDR        MULTICAST_GROUP  default: 239.0.0.1\n"
	    "  --port N            MULTICAST_PORT   1-65535, default: 5007\n"
	    "  --ttl N             MULTICAST_TTL    0-255, default: 1\n"
	    "  --interface IF      MULTICAST_IF     default: the kernel's choice\n"
	    "  --log-level L       LOG_LEVEL        debug|info|warn|error, default: info\n"
	    "  --no-input          run as a replica: never read stdin\n"
	    "  --hello-interval MS HELLO_INTERVAL   0-3600000, 0: off, default: 2000\n"
	    "  --check-window MS   CHECK_WINDOW     1-60000, CHECK's wait, default: 1000\n"
	    "  --store-limit BYTES STORE_LIMIT      keys and values kept, default: 268435456\n"
	    "  --log-format F      LOG_FORMAT       auto|logfmt|text, default: auto\n"
	    "  --help, --version\n"
	    "\n"
	    "Simulated network, per receiving node:\n"
	    "  --sim-delay RULES   SIM_DELAY        e.g. n1=300,*=0-200 (ms), default: none\n"
	    "  --sim-loss P        SIM_LOSS         0-1, drop probability, default: 0\n"
	    "  --sim-seed N        SIM_SEED         seed of the draws, default: random\n"
	    "\n"
	    "Ordering (all nodes of a group alike):\n"
	    "  --ordering MODE     ORDERING         none|fifo|causal|total, default: none\n"
	    "  --sequencer ID      SEQUENCER        the node that orders in total, default: none\n"
	    "\n"
	    "Group key: only nodes that hold the same key hear each other.\n"
	    "  --key-file PATH     GROUP_KEY        32 hex digits, file 0600, default: none\n"
	    "\n"
	    "Commands: SET key value, GET key, PRINT, CHECK, PEERS, HELP, EXIT\n"
	    "\n"
	    "kvmc trace [--shiviz] FILE...  draw node logs as an SVG diagram\n"
	    "See kvmc(1).\n";
}

/* Writes the line for a bad value: the setting, the value, what is accepted. */
static void
bad_setting(char *error, size_t cap, const char *name, const char *value,
    const char *expected)
{
	char shown[3 * LINE_MAX_IN + 1];

	msg_display(shown, sizeof(shown), value, strlen(value));
	snprintf(error, cap, "%s '%s': expected %s", name, shown, expected);
}

/* The line for a bad argument: the problem, the first len bytes of arg. */
static void
bad_usage(char *error, size_t cap, const char *what, const char *arg,
    size_t len)
{
	char shown[3 * LINE_MAX_IN + 1];

	msg_display(shown, sizeof(shown), arg, len);
	snprintf(error, cap, "%s '%s' (see kvmc --help)", what, shown);
}

static const struct setting *
find_setting(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < NSETTINGS; i++)
		if (strlen(settings_table[i].option) == len &&
		    memcmp(settings_table[i].option, name, len) == 0)
			return &settings_table[i];
	return NULL;
}

/* Returns 1 when arg is the flag --name, -1 when it is given a value. */
static int
is_flag(const char *arg, const char *name)
{
	size_t len = strlen(name);

	if (strncmp(arg + 2, name, len) != 0)
		return 0;
	if (arg[2 + len] == '=')
		return -1;
	return arg[2 + len] == '\0';
}

/* The flags: 1 when arg is one (and notes it), 0 when not, -1 if bad. */
static int
scan_flag(const char *arg, struct settings *set, enum settings_status *st)
{
	static const struct {
		const char		*name;
		enum settings_status	 status;
	} flags[] = {
		{ "no-input", SETTINGS_RUN },
		{ "help", SETTINGS_HELP },
		{ "version", SETTINGS_VERSION },
	};
	size_t i;
	int r;

	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++) {
		r = is_flag(arg, flags[i].name);
		if (r != 1)
			continue;
		if (flags[i].status == SETTINGS_RUN)
			set->no_input = 1;
		else if (*st == SETTINGS_RUN || flags[i].status == SETTINGS_HELP)
			*st = flags[i].status;	/* --help wins over --version */
		return 1;
	}
	for (i = 0; i < sizeof(flags) / sizeof(flags[0]); i++)
		if (is_flag(arg, flags[i].name) == -1)
			return -1;
	return 0;
}

/*
 * Reads argv into given[] and *key_file (the last value of each option
 * wins) and the flags. Returns the status: SETTINGS_BAD on an unknown
 * option or a missing value, with the line in error.
 */
static enum settings_status
scan_args(int argc, char **argv, const char *given[], const char **key_file,
    struct settings *set, char *error, size_t cap)
{
	enum settings_status st = SETTINGS_RUN;
	const struct setting *s;
	const char *arg, *eq;
	size_t name_len;
	int i, flag, is_key;

	for (i = 1; i < argc; i++) {
		arg = argv[i];
		if (strncmp(arg, "--", 2) != 0) {
			bad_usage(error, cap, arg[0] == '-' ? "unknown option" :
			    "unexpected argument", arg, strlen(arg));
			return SETTINGS_BAD;
		}
		if ((flag = scan_flag(arg, set, &st)) == 1)
			continue;
		if (flag == -1) {
			bad_usage(error, cap, "option takes no value", arg,
			    strlen(arg));
			return SETTINGS_BAD;
		}
		eq = strchr(arg, '=');
		name_len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		s = find_setting(arg + 2, name_len);
		is_key = name_len == 8 && memcmp(arg + 2, "key-file", 8) == 0;
		/* Shown without its value: --key=... may hold a secret. */
		if (s == NULL && !is_key) {
			bad_usage(error, cap, "unknown option", arg,
			    name_len + 2);
			return SETTINGS_BAD;
		}
		if (eq == NULL && i + 1 == argc) {
			bad_usage(error, cap, "missing value for option", arg,
			    strlen(arg));
			return SETTINGS_BAD;
		}
		if (is_key)
			*key_file = eq ? eq + 1 : argv[++i];
		else
			given[s - settings_table] = eq ? eq + 1 : argv[++i];
	}
	return st;
}

void
settings_defaults(struct settings *set)
{
	memset(set, 0, sizeof(*set));
	inet_pton(AF_INET, "239.0.0.1", &set->net.group);
	set->net.port = 5007;
	set->net.ttl = 1;
	set->net.if_addr.s_addr = htonl(INADDR_ANY);
	set->log_level = LOG_INFO;
	set->hello_interval = 2000;
	set->check_window = 1000;
	set->store_limit = STORE_LIMIT_DEFAULT;
}

/*
 * Sets one setting by its option name (without "--"). Returns 0, or -1
 * when the name is unknown or the value breaks its rule.
 */
int
settings_set(struct settings *set, const char *option, const char *value)
{
	const struct setting *s = find_setting(option, strlen(option));

	return s == NULL ? -1 : s->parse(set, value);
}

/* ---- the group key (SPEC section 12): never shown, never on argv ---- */

#define KEY_HEX		32	/* hex digits of a 128-bit key */
#define KEY_EXPECTED	"32 hex digits (a 128-bit key)"

static int
hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Reads 32 hex digits, either case, left to right two per byte, into
 * SipHash's two key words as the reference implementation loads its
 * 16-byte key: k0 is bytes 0-7, k1 bytes 8-15, each little-endian.
 * Returns 0, or -1 when the len bytes at p are not exactly that.
 */
static int
parse_key(const char *p, size_t len, uint64_t key[2])
{
	int hi, lo;
	size_t i;

	if (len != KEY_HEX)
		return -1;
	key[0] = key[1] = 0;
	for (i = 0; i < KEY_HEX / 2; i++) {
		if ((hi = hex_value(p[2 * i])) < 0 ||
		    (lo = hex_value(p[2 * i + 1])) < 0)
			return -1;
		key[i / 8] |= (uint64_t)(hi << 4 | lo) << (8 * (i % 8));
	}
	return 0;
}

/* The line for a bad key file: its path and the problem, never the key. */
static int
bad_key_file(char *error, size_t cap, const char *path, const char *problem,
    int err)
{
	char shown[3 * LINE_MAX_IN + 1];

	msg_display(shown, sizeof(shown), path, strlen(path));
	snprintf(error, cap, "--key-file '%s': %s%s", shown, problem,
	    err ? strerror(err) : "");
	return -1;
}

/*
 * --key-file: the file may end with one newline. A file that group or
 * others may read is refused before it is read; the mode is checked on
 * the open file, so it is the file that is read. Returns 0, or -1 with
 * the line in error.
 */
static int
load_key_file(struct settings *set, const char *path, char *error,
    size_t cap)
{
	char buf[KEY_HEX + 2], mode[96];
	struct stat st;
	size_t len = 0;
	ssize_t n = 1;
	int fd, err = 0;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return bad_key_file(error, cap, path, "cannot read it: ", errno);
	if (fstat(fd, &st) == -1)
		err = errno;
	else if (st.st_mode & 044) {
		snprintf(mode, sizeof(mode), "mode %04o lets group or others "
		    "read it; expected 0600 or stricter",
		    (unsigned)(st.st_mode & 07777));
		close(fd);
		return bad_key_file(error, cap, path, mode, 0);
	}
	while (err == 0 && len < sizeof(buf) && n != 0) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n == -1 && errno != EINTR)
			err = errno;
		else if (n > 0)
			len += (size_t)n;
	}
	close(fd);
	if (err != 0)
		return bad_key_file(error, cap, path, "cannot read it: ", err);
	if (len == KEY_HEX + 1 && buf[KEY_HEX] == '\n')
		len--;
	if (parse_key(buf, len, set->group_key) == -1)
		return bad_key_file(error, cap, path, "expected " KEY_EXPECTED
		    ", then at most one newline", 0);
	set->keyed = 1;
	return 0;
}

/*
 * The key comes last, after every other setting: from --key-file, else
 * from GROUP_KEY (which may not end with a newline); empty is unset.
 * Returns 0, or -1 with the line in error; the key is never in it.
 */
static int
load_key(struct settings *set, const char *key_file, char *error,
    size_t cap)
{
	const char *value = getenv("GROUP_KEY");

	if (key_file != NULL)
		return load_key_file(set, key_file, error, cap);
	if (value == NULL || value[0] == '\0')
		return 0;
	if (parse_key(value, strlen(value), set->group_key) == -1) {
		snprintf(error, cap, "GROUP_KEY: expected " KEY_EXPECTED);
		return -1;
	}
	set->keyed = 1;
	return 0;
}

/*
 * Reads argv, then the environment, over the defaults already in set.
 * Options win; an empty variable is unset; a variable overridden by its
 * option is not looked at. Returns SETTINGS_BAD with one line in error
 * for the first bad setting in the table's order, then the group key;
 * SETTINGS_HELP or SETTINGS_VERSION when asked for, after checking only
 * the arguments.
 */
enum settings_status
settings_load(struct settings *set, int argc, char **argv, char *error,
    size_t error_cap)
{
	const char *given[NSETTINGS] = { 0 }, *value, *name, *key_file = NULL;
	enum settings_status st;
	char option[32];
	size_t i;

	st = scan_args(argc, argv, given, &key_file, set, error, error_cap);
	if (st != SETTINGS_RUN)
		return st;
	for (i = 0; i < NSETTINGS; i++) {
		const struct setting *s = &settings_table[i];

		value = given[i];
		name = option;
		snprintf(option, sizeof(option), "--%s", s->option);
		if (value == NULL) {
			value = getenv(s->env);
			name = s->env;
		}
		if (value == NULL || (value[0] == '\0' && name == s->env)) {
			if (check_unset(set, s, error, error_cap) == -1)
				return SETTINGS_BAD;
			continue;
		}
		if (s->parse(set, value) == -1) {
			bad_setting(error, error_cap, name, value, s->expected);
			return SETTINGS_BAD;
		}
	}
	if (load_key(set, key_file, error, error_cap) == -1)
		return SETTINGS_BAD;
	return SETTINGS_RUN;
}
