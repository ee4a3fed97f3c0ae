/*
 * kvmc.h - the one shared header: limits, structs, then one prototype
 * section per .c file. Everything not listed here is static in its file.
 *
 * One error convention everywhere: a function that can fail returns 0 on
 * success and -1 on failure with errno set (net.c), or, where the caller
 * needs to know why, a documented enum or a message for the person
 * (msg_decode's reason, cmd_parse's text, settings_load's status). Only
 * main() decides to exit; the codes are SPEC's: 0, 1 (network), 2 (usage).
 * A log line about a system error carries its text: err="...".
 */
#ifndef KVMC_H
#define KVMC_H

#include <stddef.h>
#include <stdint.h>
#include <netinet/in.h>
#include <sys/select.h>

#define KVMC_VERSION	"0.1.0"

#define WIRE_MAX	1400	/* bytes in one datagram, final '\n' included */
#define KEY_MAX		255	/* bytes of a decoded key */
#define NODE_ID_MAX	32
#define UUID_LEN	36
#define LINE_MAX_IN	4096	/* bytes of one stdin line, newline excluded */
#define SEEN_WINDOW	4096	/* message ids remembered for duplicates */
#define SENT_WINDOW	65536	/* ids of this node's own sends remembered */
#define SIM_DELAY_MAX	60000	/* ms a simulated delay may last */
#define SIM_HELD_MAX	65536	/* messages the simulation may hold */
#define CHECK_ROWS_MAX	1024	/* DIGEST replies one CHECK collects */
#define PEERS_MAX	1024	/* peers remembered */
#define STORE_LIMIT_DEFAULT	268435456ULL	/* bytes of keys and values */
#define STORE_LIMIT_MIN		1024ULL
#define STORE_LIMIT_MAX		(1ULL << 40)
#define ORDER_KEPT	4096	/* own commands (and ORDERs) kept to resend */
#define ORDER_HELD_MAX	65536	/* commands held back, in all */
#define MAC_LEN		21	/* " mac=" and 16 hex digits (SPEC section 12) */

/*
 * Escaping makes at most three bytes of one, so this holds any escaped key
 * or value that fits in a datagram.
 */
#define ESCAPED_MAX	(3 * WIRE_MAX + 1)

enum log_level { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR };

/* LOG_FORMAT: auto is the short form on a terminal, else logfmt. */
enum log_format { LOG_FORMAT_AUTO, LOG_FORMAT_LOGFMT, LOG_FORMAT_TEXT };

/*
 * Output (SPEC section 1): log.c holds at most LOG_HOLD bytes of the
 * lines of one wakeup, and out.c queues at most OUT_QUEUE_MAX per
 * stream, so no stream ever holds more than 1 MiB. At exit a reader that
 * is reading gets at most OUT_CLOSE_MS to take what waits.
 */
enum out_stream { OUT_STDOUT, OUT_STDERR };
#define LOG_HOLD	(64 * 1024)
#define OUT_QUEUE_MAX	(1024 * 1024 - LOG_HOLD)
#define OUT_CLOSE_MS	100

/* Wire types, in the order of SPEC section 3. */
enum msg_type {
	MSG_SET, MSG_GET, MSG_PRINT, MSG_CHECK, MSG_DIGEST, MSG_HELLO,
	MSG_ORDER, MSG_NACK	/* section 10 */
};
#define MSG_NTYPES	(MSG_NACK + 1)

/* Reject reasons, in SPEC precedence order: the first that applies wins. */
enum msg_reason {
	MSG_OK,
	MSG_TOO_LONG, MSG_NO_NEWLINE, MSG_BAD_BYTE, MSG_KEY_MISMATCH,
	MSG_BAD_FIELD,
	MSG_BAD_VERSION, MSG_UNKNOWN_FIELD, MSG_DUPLICATE_FIELD,
	MSG_BAD_ESCAPE, MSG_BAD_TYPE, MSG_BAD_ID, MSG_BAD_FROM, MSG_BAD_KEY,
	MSG_BAD_VALUE, MSG_MISSING_FIELD, MSG_UNEXPECTED_FIELD,
	MSG_ORDERING_MISMATCH	/* not the codec's: the mode check after it */
};

/* The optional fields of section 10 a message carries (struct msg has). */
#define MSG_HAS_INC	0x1u
#define MSG_HAS_SEQ	0x2u
#define MSG_HAS_VC	0x4u
#define MSG_HAS_GSEQ	0x8u

/* What a NACK asks for: commands by their seq, or ORDERs by their gseq. */
enum msg_of { MSG_OF_NONE, MSG_OF_SEQ, MSG_OF_GSEQ };

/*
 * One decoded message. Strings are NUL-terminated; key and value also
 * carry their length because the codec, not the C string, is the truth
 * (neither may hold a NUL, so both agree).
 */
struct msg {
	enum msg_type	type;
	char		id[UUID_LEN + 1];
	char		from[NODE_ID_MAX + 1];
	char		key[KEY_MAX + 1];
	size_t		key_len;
	char		value[WIRE_MAX];
	size_t		value_len;
	char		re[UUID_LEN + 1];	/* DIGEST: the CHECK's id;
						   ORDER: the command's */
	uint64_t	digest;			/* DIGEST */
	uint64_t	entries;		/* DIGEST */
	uint64_t	order;			/* DIGEST */
	/* Section 10, the ordered modes: */
	unsigned	has;			/* MSG_HAS_*: which are present */
	uint64_t	inc;			/* the sender's run */
	uint64_t	seq;			/* command: its number in the run */
	uint64_t	gseq;			/* ORDER, sequencer's HELLO */
	char		vc[WIRE_MAX];		/* causal: "id:n,id:n" as sent */
	size_t		vc_len;
	char		to[NODE_ID_MAX + 1];	/* NACK: the node asked */
	enum msg_of	of;			/* NACK */
	uint64_t	first;			/* NACK: the numbers asked for */
	uint64_t	last;
};

/* The multicast endpoint of one node. */
#define NET_BATCH	32	/* datagrams one recvmmsg(2) or sendmmsg(2) takes */

/* A datagram as received: len is its full length, which may exceed data. */
struct net_datagram {
	char			data[WIRE_MAX + 1];
	size_t			len;
	struct sockaddr_in	src;
};

struct net {
	int			fd;
	struct sockaddr_in	group;	/* where sends go */
	struct ip_mreqn		mreq;	/* what was joined, to leave it */
	int			rcvbuf;	/* bytes the kernel granted */
	uint32_t		kernel_drops;	/* SO_RXQ_OVFL: so far */
	const char		*failed;	/* the setup step that failed */
	struct net_datagram	 in[NET_BATCH];	/* the last net_recv() */
	struct net_datagram	 out[NET_BATCH];	/* net_queue()d, to send */
	int			 nout;
	int			 out_next;	/* the first one not yet sent */
};

struct net_config {
	struct in_addr	group;
	uint16_t	port;
	int		ttl;
	struct in_addr	if_addr;	/* INADDR_ANY: the kernel's choice */
	unsigned int	if_index;	/* 0 unless given by name */
};

/* One SIM_DELAY rule: messages from sender wait min..max ms. */
struct sim_rule {
	char		sender[NODE_ID_MAX + 1];	/* or "*" */
	uint32_t	min;
	uint32_t	max;
	int		is_range;	/* written MIN-MAX: one draw each */
};

struct held;

struct sim {
	struct sim_rule	*rules;
	size_t		 nrules;
	double		 loss;
	uint64_t	 seed;
	uint64_t	 state;		/* splitmix64 */
	struct held	**heap;
	size_t		 held;
	size_t		 cap;
	uint64_t	 arrivals;
};

enum sim_fate { SIM_PASS, SIM_DROP, SIM_HOLD, SIM_OVERFLOW };

/* One DIGEST reply to this node's CHECK. */
struct check_row {
	char		node[NODE_ID_MAX + 1];
	uint64_t	digest;
	uint64_t	entries;
	uint64_t	order;
};

/* The CHECK this node asked, while its window is open. */
struct check {
	int			 open;
	char			 id[UUID_LEN + 1];
	uint64_t		 deadline;	/* monotonic ms */
	struct check_row	*rows;
	size_t			 nrows;
};

struct peer {
	char		id[NODE_ID_MAX + 1];
	uint64_t	last;		/* monotonic ms of its last message */
	int		alive;
	uint16_t	older, newer;	/* the heard list: slots, or none */
};

/* At most PEERS_MAX peers, in slots; see peers.c. */
struct peers {
	struct peer	*slot;
	uint16_t	*sorted;	/* slots in order of id */
	size_t		 n;
	uint16_t	 oldest;	/* the heard list: least recent first */
	uint16_t	 newest;
	uint16_t	 first_alive;	/* the peers before it are silent */
	uint64_t	 silent_after;	/* ms */
};

/* SPEC section 10: when a node applies commands. */
enum order_mode { ORDER_NONE, ORDER_FIFO, ORDER_CAUSAL, ORDER_TOTAL };

/* What the node does with a message after order_receive(). */
enum order_verdict {
	ORDER_PASS,	/* not the ordering layer's: process it as usual */
	ORDER_DONE,	/* taken: applied, held or dropped */
	ORDER_FORGET	/* discarded for want of room: do not remember its id */
};

/* What the ordering layer asks of the node. */
struct order_io {
	void	*ctx;
	/* Multicast m as a new message of this node (the node gives it an
	   id and its from); copy its bytes to wire. Returns their length,
	   0 when it would not fit in a datagram. */
	size_t	(*send)(void *ctx, struct msg *m, char wire[WIRE_MAX + 1]);
	/* Multicast kept bytes again, exactly as they are. */
	void	(*resend)(void *ctx, const char *wire, size_t len);
	/* Apply the command m now; gseq is its place in total mode, else 0. */
	void	(*apply)(void *ctx, const struct msg *m, uint64_t gseq);
};

struct order_config {
	enum order_mode	mode;
	char		self[NODE_ID_MAX + 1];
	char		sequencer[NODE_ID_MAX + 1];	/* total */
	uint64_t	inc;		/* this run: its start, ms since 1970 */
	uint64_t	hash_key[2];
	const uint64_t	*group_key;	/* to decode held datagrams; NULL: none */
};

struct order;		/* order.c: opaque */

/* Every setting of a node, after defaults, options and environment. */
struct settings {
	char			node_id[NODE_ID_MAX + 1];
	struct net_config	net;
	const char		*interface;	/* as given, or NULL */
	enum log_level		log_level;
	enum log_format		log_format;
	int			no_input;
	uint32_t		hello_interval;	/* ms, 0: no HELLO */
	uint32_t		check_window;	/* ms */
	uint64_t		store_limit;	/* bytes of keys and values */
	struct sim		sim;
	const char		*sim_delay;	/* as given, for the start line */
	const char		*sim_loss;
	enum order_mode		ordering;
	char			sequencer[NODE_ID_MAX + 1];	/* total */
	int			keyed;		/* a group key was given */
	uint64_t		group_key[2];	/* SipHash's k0, k1 */
};

enum cmd_verb {
	CMD_NONE, CMD_UNKNOWN, CMD_SET, CMD_GET, CMD_PRINT, CMD_CHECK,
	CMD_PEERS, CMD_HELP, CMD_EXIT
};

/* One parsed stdin line; the pointers point into the line. */
struct cmd {
	enum cmd_verb	 verb;
	const char	*word;		/* the verb as typed */
	size_t		 word_len;
	const char	*key;
	size_t		 key_len;
	const char	*value;
	size_t		 value_len;
};

struct kv;		/* kv.c: opaque */
struct kv_entry;	/* kv.c: opaque */

/* The last `window` message ids: allocated once, never grown. */
struct seen {
	unsigned char	(*ids)[16];	/* the ring, by slot */
	uint32_t	*next;		/* bucket chains, by slot: slot + 1 */
	uint32_t	*head;		/* bucket heads: slot + 1, 0 none */
	size_t		 window;
	size_t		 nbuckets;	/* a power of two */
	size_t		 used;
	size_t		 oldest;	/* slot to reuse next */
	uint64_t	 hash_key[2];
};

/* What settings_load found: run, print help or version, or a bad setting. */
enum settings_status {
	SETTINGS_RUN, SETTINGS_HELP, SETTINGS_VERSION, SETTINGS_BAD
};

/* The line editor of a terminal, and the lines read from stdin. */
struct console {
	int		 reads_stdin;
	int		 interactive;	/* stdin is a terminal: prompt, editing */
	int		 prompt_shown;	/* the prompt line is on the screen */
	char		 line[LINE_MAX_IN + 1];
	size_t		 line_len;
	int		 discarding;	/* the rest of an over-long line */
	char		 chunk[4096];	/* the last read(2) of stdin */
	size_t		 chunk_len;
	size_t		 chunk_done;	/* bytes of it taken so far */
};

/* One node: owned by main, passed explicitly to every handler. */
struct node {
	struct settings	 set;
	struct net	 net;
	struct kv	*kv;
	struct seen	 processed;	/* ids already processed */
	struct seen	 sent;		/* ids this node sent */
	uint64_t	 order;		/* the local order: SET, GET, PRINT */
	char		 sending[NET_BATCH][UUID_LEN + 1];	/* ids queued */
	struct check	 check;
	struct peers	 peers;
	struct order	*ordering;	/* when commands are applied */
	struct console	 console;
	uint64_t	 next_hello;	/* monotonic ms; unused when HELLO is off */
	uint32_t	 kernel_drops_logged;
	uint64_t	 received;	/* datagrams, whatever became of them */
	uint64_t	 rejected;
	const char	*stop_reason;	/* set: the loop ends */
	const char	*stop_pending;	/* set: ends when the CHECK is over */
	int		 stop_signal;
};

/* settings.c */
void		 settings_defaults(struct settings *);
int		 settings_set(struct settings *, const char *option,
		     const char *value);
enum settings_status settings_load(struct settings *, int argc, char **argv,
		     char *error, size_t error_cap);
const char	*settings_help(void);
const char	*settings_mode_name(enum order_mode);

/* console.c */
void		 console_init(struct node *);
void		 console_on_stdin(struct node *);
int		 console_wants_stdin(const struct node *);
void		 console_resume(struct node *);
void		 console_reply(struct node *, const char *fmt, ...)
		     __attribute__((format(printf, 2, 3)));
void		 console_check_result(struct node *, const char *verdict);
void		 console_flush(struct node *);
void		 console_close(struct node *);

/* node.c */
void		 node_random_settings(struct settings *);
struct node	*node_new(const struct settings *);
int		 node_start(struct node *);
void		 node_free(struct node *);
uint64_t	 node_now(void);
void		 node_on_socket(struct node *);
void		 node_on_timer(struct node *, uint64_t now);
int		 node_next_due(const struct node *, uint64_t *due);
int		 node_send_command(struct node *, enum msg_type, const char *key,
		     size_t key_len, const char *value, size_t value_len);
int		 node_check(struct node *);
void		 node_request_stop(struct node *, const char *reason);
int		 node_stopping(const struct node *);
int		 node_may_send(struct node *);
void		 node_flush(struct node *);
void		 node_log_stop(const struct node *);

/* siphash.c */
uint64_t	 siphash(const uint64_t key[2], const void *data, size_t len);

/* cmd.c */
const char	*cmd_parse(const char *line, size_t len, struct cmd *);

/* kv.c */
struct kv	*kv_new(const uint64_t hash_key[2]);
void		 kv_free(struct kv *);
void		 kv_set_limit(struct kv *, uint64_t bytes);
int		 kv_set(struct kv *, const char *key, size_t key_len,
		     const char *value, size_t value_len);
const char	*kv_get(const struct kv *, const char *key, size_t key_len,
		     size_t *value_len);
int		 kv_del(struct kv *, const char *key, size_t key_len);
size_t		 kv_count(const struct kv *);
uint64_t	 kv_bytes(const struct kv *);
uint64_t	 kv_digest(const struct kv *);
struct kv_entry	**kv_sorted_new(const struct kv *);
const char	*kv_entry_key(const struct kv_entry *, size_t *len);
const char	*kv_entry_value(const struct kv_entry *, size_t *len);
uint64_t	 kv_entry_fnv(const char *key, size_t key_len,
		     const char *value, size_t value_len);

/* seen.c */
void		 seen_init(struct seen *, size_t window,
		     const uint64_t hash_key[2]);
void		 seen_free(struct seen *);
int		 seen_has(const struct seen *, const char *uuid);
void		 seen_add(struct seen *, const char *uuid);

/* msg.c */
enum msg_reason	 msg_decode(const char *buf, size_t len, const uint64_t *key,
		     struct msg *);
size_t		 msg_encode(const struct msg *, char *buf, size_t cap);
size_t		 msg_seal(char *buf, size_t len, size_t cap,
		     const uint64_t key[2]);
size_t		 msg_describe(const struct msg *, char *buf, size_t cap);
size_t		 msg_escape(char *dst, size_t cap, const char *src, size_t len);
int		 msg_unescape(char *dst, const char *src, size_t len,
		     size_t *out);
size_t		 msg_display(char *dst, size_t cap, const char *src, size_t len);
int		 msg_vc_next(const struct msg *, size_t *pos,
		     char id[NODE_ID_MAX + 1], uint64_t *count);
int		 msg_is_command(const struct msg *);
const char	*msg_type_name(enum msg_type);
const char	*msg_reason_name(enum msg_reason);
int		 msg_valid_node_id(const char *, size_t len);
void		 msg_id_bytes(const char *uuid, unsigned char out[16]);
void		 msg_format_id(char id[UUID_LEN + 1], const unsigned char rnd[16]);

/* order.c */
enum msg_reason	 order_fits(enum order_mode, const char *sequencer,
		     const struct msg *);
struct order	*order_new(const struct order_config *, const struct order_io *);
void		 order_free(struct order *);
enum order_verdict order_receive(struct order *, const struct msg *,
		     const char *wire, size_t len, uint64_t now);
int		 order_send(struct order *, struct msg *);
int		 order_may_send(struct order *, uint64_t now);
int		 order_next_due(const struct order *, uint64_t *due);
void		 order_on_timer(struct order *, uint64_t now);

/* sim.c */
void		 sim_start(struct sim *);
int		 sim_active(const struct sim *);
enum sim_fate	 sim_receive(struct sim *, const char *sender, const char *wire,
		     size_t len, uint64_t now_ms, long *delay_ms);
int		 sim_next_due(const struct sim *, uint64_t *due);
size_t		 sim_pop_due(struct sim *, uint64_t now_ms, char *buf);
void		 sim_free(struct sim *);

/* check.c */
void		 check_open(struct check *, const char *id, uint64_t deadline);
void		 check_record(struct check *, const struct msg *);
const char	*check_close(struct check *);
void		 check_free(struct check *);

/* peers.c */
void		 peers_init(struct peers *, uint32_t hello_interval);
void		 peers_heard(struct peers *, const char *id, uint64_t now);
void		 peers_check(struct peers *, uint64_t now);
int		 peers_next_due(const struct peers *, uint64_t *due);
const struct peer *peers_sorted(const struct peers *, size_t i);
void		 peers_free(struct peers *);

/* net.c */
int		 net_open(struct net *, const struct net_config *);
int		 net_queue(struct net *, const char *buf, size_t len);
int		 net_flush(struct net *);
int		 net_recv(struct net *);
void		 net_close(struct net *);

/* out.c */
void		 out_init(void);
void		 out_line(enum out_stream, const char *buf, size_t len);
void		 out_bytes(enum out_stream, const char *buf, size_t len);
void		 out_flush(void);
void		 out_watch(fd_set *writable, int *maxfd);
void		 out_on_writable(const fd_set *writable);
uint64_t	 out_dropped_lines(void);
void		 out_close(void);

/* log.c */
void		 log_init(const char *node_id, enum log_level, enum log_format);
const char	*log_format_name(enum log_format);
void		 log_set_spill(void (*)(void));
const char	*log_level_name(enum log_level);
int		 log_enabled(enum log_level);
void		 log_event(enum log_level, const char *event, const char *fmt,
		     ...) __attribute__((format(printf, 3, 4)));
void		 log_always(const char *event, const char *fmt, ...)
		     __attribute__((format(printf, 2, 3)));
const char	*log_err(int errnum, char *buf, size_t cap);
size_t		 log_pending(void);
void		 log_flush(void);
void		 log_text(const char *fmt, ...)
		     __attribute__((format(printf, 1, 2)));
void		*xmalloc(size_t);
void		*xcalloc(size_t, size_t);
void		*xrealloc(void *, size_t);

/* trace.c */
int		 trace_main(int argc, char **argv);

#endif
