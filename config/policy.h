/* The security policy: a [policy] section with defaults and [policy GROUP] overrides
 * (see docs/policy.md). Parsing happens with the rest of the config; pg_policy_effective
 * resolves one user's policy from their groups. Pure: no I/O except the print calls. */
#ifndef PG_CONFIG_POLICY_H
#define PG_CONFIG_POLICY_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

struct pg_config_errors;
struct sockaddr;

/* Values of the enumerated keys; for each, the smaller value is the stricter one. */
#define PG_POLICY_DENY	  0 /* clipboard_to_browser, clipboard_to_viewer */
#define PG_POLICY_TEXT	  1
#define PG_POLICY_DROP	  0 /* clipboard_latin1 */
#define PG_POLICY_REPLACE 1

/* K(key, kind, default, min, max, merge, help): one scalar key. kind is CLIP (deny|text),
 * LATIN1 (drop|replace), BOOL (yes|no), INT, DURATION (30s, 15m, 8h; stored in
 * seconds), LAYOUT (a watermark's place, enum pg_wm_layout) or COLOR (RRGGBB). merge
 * says which value is the stricter one when groups are combined; FOLLOW keys (the
 * watermark's look) come with the watermark text they shape. */
#define PG_POLICY_KEYS(K)                                                                          \
	K(clipboard_to_browser, CLIP, PG_POLICY_DENY, 0, 1, MIN,                                   \
	  "clipboard from LGWAN to the browser (the leak direction): deny or text")                \
	K(clipboard_to_viewer, CLIP, PG_POLICY_DENY, 0, 1, MIN,                                    \
	  "clipboard from the browser to the LGWAN viewer: deny or text")                          \
	K(clipboard_max_bytes, INT, 4096, 1, 65536, MIN, "largest transfer, in UTF-8 bytes")       \
	K(clipboard_max_chars, INT, 4096, 1, 65536, MIN, "largest transfer, in characters")        \
	K(clipboard_min_interval_ms, INT, 1000, 0, 3600000, MAX,                                   \
	  "milliseconds between two transfers of one session")                                     \
	K(clipboard_latin1, LATIN1, PG_POLICY_DROP, 0, 1, MIN,                                     \
	  "legacy Latin-1 peers: drop (refuse text Latin-1 cannot hold) or replace (with ?)")      \
	K(view_only, BOOL, 0, 0, 1, MAX, "yes: keys and pointer are not passed to the browser")    \
	K(keys_per_second, INT, 20, 1, 1000, MIN, "keystrokes per second, sustained")              \
	K(keys_burst, INT, 40, 1, 10000, MIN, "keystrokes allowed in one burst")                   \
	K(idle_timeout, DURATION, 900, 1, 604800, MIN,                                             \
	  "session ends after this long without input")                                            \
	K(max_session, DURATION, 28800, 1, 604800, MIN,                                            \
	  "session ends after this long in any case")                                              \
	K(warn_before, DURATION, 60, 0, 3600, MAX, "warning shown this long before either end")    \
	K(max_sessions_per_user, INT, 3, 1, 1000, MIN, "sessions one user may hold at once")       \
	K(watermark_size, INT, 20, 8, 128, FOLLOW, "watermark glyph size, in pixels")              \
	K(watermark_opacity, INT, 20, 1, 100, FOLLOW, "watermark opacity, in percent")             \
	K(watermark_angle, INT, 25, -90, 90, FOLLOW,                                               \
	  "watermark rotation, in degrees counter-clockwise")                                      \
	K(watermark_layout, LAYOUT, 0, 0, 5, FOLLOW,                                               \
	  "tile (repeated over the picture), top-left, top-right, bottom-left, bottom-right or "   \
	  "center")                                                                                \
	K(watermark_color, COLOR, 0x404040, 0, 0xffffff, FOLLOW, "watermark text colour, RRGGBB")  \
	K(watermark_invisible, BOOL, 0, 0, 1, MAX,                                                 \
	  "yes: also hide a code naming the viewer in the pixels (pixelgate-mark reads it)")       \
	K(record, BOOL, 0, 0, 1, MAX, "yes: the session is recorded (see [recording])")            \
	K(record_keys, BOOL, 0, 0, 1, MAX,                                                         \
	  "yes: recordings name the keys pressed (no: only that a key was pressed)")               \
	K(record_clipboard_text, BOOL, 0, 0, 1, MAX,                                               \
	  "yes: recordings keep clipboard text (no: sizes and decisions only)")

enum pg_policy_key {
#define PG_POLICY_ENUM(key, kind, def, min, max, merge, help) PG_POLICY_KEY_##key,
	PG_POLICY_KEYS(PG_POLICY_ENUM)
#undef PG_POLICY_ENUM
	    PG_POLICY_NKEYS
};

#define PG_POLICY_DETECT_MYNUMBER	  (1u << 0)
#define PG_POLICY_DETECT_CORPORATE_NUMBER (1u << 1)
#define PG_POLICY_DETECT_CREDIT_CARD	  (1u << 2)
#define PG_POLICY_DETECT_ALL                                                                       \
	(PG_POLICY_DETECT_MYNUMBER | PG_POLICY_DETECT_CORPORATE_NUMBER |                           \
	 PG_POLICY_DETECT_CREDIT_CARD)

#define PG_POLICY_WATERMARK_MAX 1024 /* bytes of a watermark template */

#define PG_POLICY_MAX_PATTERNS	     64	  /* deny_pattern lines in the whole config */
#define PG_POLICY_MAX_PATTERN_LEN    1024 /* bytes of one pattern */
#define PG_POLICY_MAX_NETS	     32	  /* allowed_networks entries in one section */
#define PG_POLICY_MAX_EFFECTIVE_NETS 256
#define PG_POLICY_MAX_SECTIONS	     256 /* [policy GROUP] sections */
/* PCRE2 limits per match: a pattern that needs more is a denial, never a hang. */
#define PG_POLICY_MATCH_LIMIT 1000000
#define PG_POLICY_DEPTH_LIMIT 10000 /* nested backtracking points */
#define PG_POLICY_HEAP_LIMIT  16384 /* KiB of backtracking memory */

/* One deny_pattern: numbered 1.. in config order, compiled once, owned by the config. */
struct pg_policy_pattern {
	int number;
	char *source;
	void *code;	/* pcre2_code_8 */
	void *mcontext; /* pcre2_match_context_8 with the limits above */
};

/* A CIDR: family is 4 or 6; addr holds 4 or 16 bytes, host bits zero. */
struct pg_policy_net {
	int family;
	int prefix;
	uint8_t addr[16];
};

/* One [policy] or [policy GROUP] section as written: only keys whose bit is in set. */
struct pg_policy_section {
	char name[65]; /* "" for [policy] */
	uint32_t set;  /* 1 << pg_policy_key, and the bits below */
	int value[PG_POLICY_NKEYS];
	uint64_t patterns; /* bit n-1: deny_pattern #n written in this section */
	unsigned detect;
	bool any_network;
	int nnets;
	struct pg_policy_net nets[PG_POLICY_MAX_NETS];
	char watermark[PG_POLICY_WATERMARK_MAX]; /* the template; "" for off */
};

#define PG_POLICY_SET_WATERMARK (1u << 29)
#define PG_POLICY_SET_DETECT	(1u << 30)
#define PG_POLICY_SET_NETWORKS	(1u << 31)

struct pg_policy_config {
	bool merge_first; /* [policy] merge = first */
	bool merge_set;
	struct pg_policy_section base; /* [policy] */
	struct pg_policy_section *groups;
	int ngroups;
	struct pg_policy_pattern *patterns[PG_POLICY_MAX_PATTERNS];
	int npatterns;
};

/* One user's resolved policy. It borrows the config's compiled patterns: the
 * pg_policy_config it came from must outlive it (on reload, keep the old config until
 * every session has taken the new policy). Plain data otherwise: copy it freely, there
 * is nothing to free. Read-only use from any thread. */
struct pg_policy {
#define PG_POLICY_FIELD(key, kind, def, min, max, merge, help) int key;
	PG_POLICY_KEYS(PG_POLICY_FIELD)
#undef PG_POLICY_FIELD
	unsigned detect; /* PG_POLICY_DETECT_* */
	int npatterns;
	const struct pg_policy_pattern *patterns[PG_POLICY_MAX_PATTERNS];
	bool any_network;
	int nnets; /* with !any_network and nnets == 0, no address is allowed */
	struct pg_policy_net nets[PG_POLICY_MAX_EFFECTIVE_NETS];
	char decided_by[256]; /* "policy" or "policy a, policy b": the sections used */
	/* The watermark template ("" for none) and the section it came from: with groups
	 * combined, the first of the user's groups that has one, else [policy]. The
	 * watermark_* keys above are that section's (over [policy]'s). */
	char watermark[PG_POLICY_WATERMARK_MAX];
	char watermark_from[80];
};

void pg_policy_init(struct pg_policy_config *pc);
void pg_policy_free(struct pg_policy_config *pc);

/* Set one key of section "policy" or "policy GROUP"; where is "file:line". Returns 0,
 * or -1 with an error added in the config's style. */
int pg_policy_set(struct pg_policy_config *pc, const char *section, const char *key,
		  const char *value, const char *where, struct pg_config_errors *err);
/* Check the sections together. Returns 0 or -1 with errors added. */
int pg_policy_check(const struct pg_policy_config *pc, struct pg_config_errors *err);

/* Resolve the policy of a user in groups_csv ("a,b,c", in the user's order; NULL or ""
 * for none). Always succeeds; returns 0. */
int pg_policy_effective(const struct pg_policy_config *pc, const char *groups_csv,
			struct pg_policy *out);

/* True when addr (AF_INET or AF_INET6; v4-mapped v6 counts as v4) is in the policy's
 * allowed_networks. */
bool pg_policy_allows_address(const struct pg_policy *p, const struct sockaddr *addr);
/* One address or CIDR ("10.0.0.0/8", "::1"): 0, -1 when it is neither, -2 when host
 * bits are set beyond the prefix. Whether addr is in one of nets. */
int pg_policy_parse_cidr(const char *s, struct pg_policy_net *net);
bool pg_policy_nets_have(const struct pg_policy_net *nets, int n, const struct sockaddr *addr);

/* True when some section has a watermark (which needs [relay] font). */
bool pg_policy_watermarks(const struct pg_policy_config *pc);
/* True when some section says record = yes. */
bool pg_policy_records(const struct pg_policy_config *pc);

/* The effective policy of users without a policy group and of each group's members
 * (for pixelgate -n), as INI with comments. */
void pg_policy_print(const struct pg_policy_config *pc, FILE *f);
/* The sections as written, as INI (for --print-config). */
void pg_policy_print_config(const struct pg_policy_config *pc, FILE *f);

/* Parse "30s", "15m", "8h" or a bare number of seconds. Returns 0 or -1. */
int pg_policy_parse_duration(const char *s, long *seconds);

#endif
