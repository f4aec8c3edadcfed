#include "policy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <uninorm.h>
#include <unistr.h>

#include "config.h"
#include "render/watermark.h"

enum kind { CLIP, LATIN1, BOOL, INT, DURATION, LAYOUT, COLOR };
enum merge { MIN, MAX, FOLLOW };

_Static_assert(PG_POLICY_NKEYS < 29, "policy keys share the set mask with PG_POLICY_SET_*");

/* enum pg_wm_layout's order (render/watermark.h). */
static const char *const layouts[] = {"tile",	     "top-left",     "top-right",
				      "bottom-left", "bottom-right", "center"};

static const struct key_info {
	const char *name;
	enum kind kind;
	int def, min, max;
	enum merge merge;
	const char *help;
	size_t offset;
} keys[PG_POLICY_NKEYS] = {
#define PG_POLICY_INFO(key, kind, def, min, max, merge, help)                                      \
	{#key, kind, def, min, max, merge, help, offsetof(struct pg_policy, key)},
    PG_POLICY_KEYS(PG_POLICY_INFO)
#undef PG_POLICY_INFO
};

static const struct {
	const char *name;
	unsigned bit;
} detectors[] = {
    {"mynumber", PG_POLICY_DETECT_MYNUMBER},
    {"corporate_number", PG_POLICY_DETECT_CORPORATE_NUMBER},
    {"credit_card", PG_POLICY_DETECT_CREDIT_CARD},
};

void pg_policy_init(struct pg_policy_config *pc)
{
	memset(pc, 0, sizeof(*pc));
}

void pg_policy_free(struct pg_policy_config *pc)
{
	for (int i = 0; i < pc->npatterns; i++) {
		struct pg_policy_pattern *p = pc->patterns[i];
		pcre2_code_free(p->code);
		pcre2_match_context_free(p->mcontext);
		free(p->source);
		free(p);
	}
	free(pc->groups);
	memset(pc, 0, sizeof(*pc));
}

int pg_policy_parse_duration(const char *s, long *seconds)
{
	char *end;
	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (errno || v > 100000000)
		return -1;
	long mul = 1;
	if (*end == 'm')
		mul = 60;
	else if (*end == 'h')
		mul = 3600;
	else if (*end != 's' && *end)
		return -1;
	if (*end && end[1])
		return -1;
	*seconds = v * mul;
	return 0;
}

static const char *expected(enum kind k)
{
	switch (k) {
	case CLIP:
		return "deny or text";
	case LATIN1:
		return "drop or replace";
	case BOOL:
		return "yes or no";
	case DURATION:
		return "a duration like 30s, 15m or 8h";
	case LAYOUT:
		return "tile, top-left, top-right, bottom-left, bottom-right or center";
	case COLOR:
		return "a colour as six hex digits RRGGBB, like 404040";
	case INT:
		break;
	}
	return "a whole number";
}

static int parse_scalar(const struct key_info *k, const char *v, int *out)
{
	static const char *const words[][2] = {
	    [CLIP] = {"deny", "text"}, [LATIN1] = {"drop", "replace"}, [BOOL] = {"no", "yes"}};
	long n = 0;
	char *end;
	switch (k->kind) {
	case CLIP:
	case LATIN1:
	case BOOL:
		for (int i = 0; i < 2; i++) {
			if (!strcmp(v, words[k->kind][i])) {
				*out = i;
				return 0;
			}
		}
		return -1;
	case DURATION:
		if (pg_policy_parse_duration(v, &n) < 0)
			return -1;
		break;
	case INT:
		errno = 0;
		n = strtol(v, &end, 10);
		if (!*v || *end || errno)
			return -1;
		break;
	case LAYOUT:
		for (size_t i = 0; i < sizeof(layouts) / sizeof(layouts[0]); i++) {
			if (!strcmp(v, layouts[i])) {
				*out = (int)i;
				return 0;
			}
		}
		return -1;
	case COLOR:
		if (*v == '#')
			v++;
		if (strlen(v) != 6 || strspn(v, "0123456789abcdefABCDEF") != 6)
			return -1;
		n = strtol(v, NULL, 16);
		break;
	}
	if (n < k->min || n > k->max)
		return -2;
	*out = (int)n;
	return 0;
}

static void format_value(const struct key_info *k, int v, char *buf, size_t size)
{
	static const char *const words[][2] = {
	    [CLIP] = {"deny", "text"}, [LATIN1] = {"drop", "replace"}, [BOOL] = {"no", "yes"}};
	if (k->kind == CLIP || k->kind == LATIN1 || k->kind == BOOL)
		snprintf(buf, size, "%s", words[k->kind][v ? 1 : 0]);
	else if (k->kind == DURATION && v && v % 3600 == 0)
		snprintf(buf, size, "%dh", v / 3600);
	else if (k->kind == DURATION && v && v % 60 == 0)
		snprintf(buf, size, "%dm", v / 60);
	else if (k->kind == DURATION)
		snprintf(buf, size, "%ds", v);
	else if (k->kind == LAYOUT)
		snprintf(buf, size, "%s", v >= 0 && v <= 5 ? layouts[v] : "?");
	else if (k->kind == COLOR)
		snprintf(buf, size, "%06x", (unsigned)v);
	else
		snprintf(buf, size, "%d", v);
}

static char *trim(char *s)
{
	while (*s == ' ' || *s == '\t')
		s++;
	size_t n = strlen(s);
	while (n && (s[n - 1] == ' ' || s[n - 1] == '\t'))
		s[--n] = '\0';
	return s;
}

int pg_policy_parse_cidr(const char *s, struct pg_policy_net *net)
{
	char buf[64];
	const char *slash = strchr(s, '/');
	size_t n = slash ? (size_t)(slash - s) : strlen(s);
	if (n == 0 || n >= sizeof(buf))
		return -1;
	memcpy(buf, s, n);
	buf[n] = '\0';
	memset(net, 0, sizeof(*net));
	if (inet_pton(AF_INET, buf, net->addr) == 1)
		net->family = 4;
	else if (inet_pton(AF_INET6, buf, net->addr) == 1)
		net->family = 6;
	else
		return -1;
	int maxp = net->family == 4 ? 32 : 128;
	net->prefix = maxp;
	if (slash) {
		char *end;
		errno = 0;
		long p = strtol(slash + 1, &end, 10);
		if (!slash[1] || *end || errno || p < 0 || p > maxp)
			return -1;
		net->prefix = (int)p;
	}
	/* Host bits set usually mean a typo in the prefix: refuse rather than guess. */
	for (int bit = net->prefix; bit < maxp; bit++)
		if (net->addr[bit / 8] & (0x80 >> (bit % 8)))
			return -2;
	return 0;
}

/* watermark = off, or a template (render/watermark.h says which placeholders). */
static int set_watermark(struct pg_policy_section *s, const char *value, const char *where,
			 const char *section, struct pg_config_errors *err)
{
	char why[256];
	if (!strcmp(value, "off") || !*value) {
		s->watermark[0] = '\0';
		return 0;
	}
	if (strlen(value) >= sizeof(s->watermark)) {
		pg_config_error(err, "%s: [%s] watermark is %zu bytes long (at most %zu)", where,
				section, strlen(value), sizeof(s->watermark) - 1);
		return -1;
	}
	if (pg_wm_template_check(value, why, sizeof(why)) < 0) {
		pg_config_error(err, "%s: [%s] watermark = '%s': %s", where, section, value, why);
		return -1;
	}
	snprintf(s->watermark, sizeof(s->watermark), "%s", value);
	return 0;
}

static int set_networks(struct pg_policy_section *s, const char *value, const char *where,
			const char *sec, struct pg_config_errors *err)
{
	char buf[4096];
	if (strlen(value) >= sizeof(buf)) {
		pg_config_error(err, "%s: [%s] allowed_networks is too long", where, sec);
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", value);
	if (!strcmp(trim(buf), "any")) {
		s->any_network = true;
		s->nnets = 0;
		return 0;
	}
	s->any_network = false;
	s->nnets = 0;
	char *save = NULL;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		tok = trim(tok);
		if (s->nnets == PG_POLICY_MAX_NETS) {
			pg_config_error(err, "%s: [%s] allowed_networks: more than %d networks",
					where, sec, PG_POLICY_MAX_NETS);
			return -1;
		}
		int rc = pg_policy_parse_cidr(tok, &s->nets[s->nnets]);
		if (rc < 0) {
			pg_config_error(
			    err,
			    "%s: [%s] allowed_networks = '%s': '%s' %s (expected any, or "
			    "comma-separated CIDRs such as 10.0.0.0/8, 2001:db8::/32)",
			    where, sec, value, tok,
			    rc == -2 ? "has host bits set beyond its prefix"
				     : "is not an address or CIDR");
			return -1;
		}
		s->nnets++;
	}
	if (!s->nnets) {
		pg_config_error(err,
				"%s: [%s] allowed_networks = '%s': empty (expected any, or "
				"comma-separated CIDRs)",
				where, sec, value);
		return -1;
	}
	return 0;
}

static int set_detect(struct pg_policy_section *s, const char *value, const char *where,
		      const char *sec, struct pg_config_errors *err)
{
	char buf[256];
	if (strlen(value) >= sizeof(buf)) {
		pg_config_error(err, "%s: [%s] detect is too long", where, sec);
		return -1;
	}
	snprintf(buf, sizeof(buf), "%s", value);
	s->detect = 0;
	if (!strcmp(trim(buf), "none"))
		return 0;
	char *save = NULL;
	int n = 0;
	for (char *tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save), n++) {
		tok = trim(tok);
		size_t i;
		for (i = 0; i < sizeof(detectors) / sizeof(detectors[0]); i++)
			if (!strcmp(tok, detectors[i].name))
				break;
		if (i == sizeof(detectors) / sizeof(detectors[0])) {
			pg_config_error(
			    err,
			    "%s: [%s] detect = '%s': unknown detector '%s' (expected none, or "
			    "a comma list of mynumber, corporate_number, credit_card)",
			    where, sec, value, tok);
			return -1;
		}
		s->detect |= detectors[i].bit;
	}
	if (!n) {
		pg_config_error(err,
				"%s: [%s] detect = '%s': empty (expected none, or a comma list of "
				"mynumber, corporate_number, credit_card)",
				where, sec, value);
		return -1;
	}
	return 0;
}

static int add_pattern(struct pg_policy_config *pc, struct pg_policy_section *s, const char *value,
		       const char *where, const char *sec, struct pg_config_errors *err)
{
	size_t len = strlen(value);
	if (pc->npatterns == PG_POLICY_MAX_PATTERNS) {
		pg_config_error(err, "%s: [%s] more than %d deny_pattern lines in the config",
				where, sec, PG_POLICY_MAX_PATTERNS);
		return -1;
	}
	if (!len || len > PG_POLICY_MAX_PATTERN_LEN) {
		pg_config_error(err, "%s: [%s] deny_pattern: %s (expected 1..%d bytes)", where, sec,
				len ? "too long" : "empty", PG_POLICY_MAX_PATTERN_LEN);
		return -1;
	}
	if (u8_check((const uint8_t *)value, len)) {
		pg_config_error(err, "%s: [%s] deny_pattern = '%s': not valid UTF-8", where, sec,
				value);
		return -1;
	}
	/* Text is matched in NFKC form, so the pattern is too: a full-width pattern
	 * written by hand still matches. */
	size_t nlen = 0;
	uint8_t *nfkc = u8_normalize(UNINORM_NFKC, (const uint8_t *)value, len, NULL, &nlen);
	struct pg_policy_pattern *p = calloc(1, sizeof(*p));
	if (!nfkc || !p || !(p->source = strdup(value))) {
		pg_config_error(err, "%s: out of memory", where);
		goto fail;
	}
	int code;
	PCRE2_SIZE offset;
	p->code = pcre2_compile(nfkc, nlen, PCRE2_UTF | PCRE2_UCP | PCRE2_NEVER_BACKSLASH_C, &code,
				&offset, NULL);
	if (!p->code) {
		PCRE2_UCHAR msg[256];
		pcre2_get_error_message(code, msg, sizeof(msg));
		pg_config_error(err,
				"%s: [%s] deny_pattern = '%s': %s at offset %zu (expected a PCRE2 "
				"regular expression)",
				where, sec, value, (char *)msg, (size_t)offset);
		goto fail;
	}
	p->mcontext = pcre2_match_context_create(NULL);
	if (!p->mcontext) {
		pg_config_error(err, "%s: out of memory", where);
		goto fail;
	}
	pcre2_set_match_limit(p->mcontext, PG_POLICY_MATCH_LIMIT);
	pcre2_set_depth_limit(p->mcontext, PG_POLICY_DEPTH_LIMIT);
	pcre2_set_heap_limit(p->mcontext, PG_POLICY_HEAP_LIMIT);
	free(nfkc);
	p->number = ++pc->npatterns;
	pc->patterns[p->number - 1] = p;
	s->patterns |= 1ull << (p->number - 1);
	return 0;
fail:
	free(nfkc);
	if (p) {
		pcre2_code_free(p->code);
		free(p->source);
		free(p);
	}
	return -1;
}

static struct pg_policy_section *find_group(const struct pg_policy_config *pc, const char *name)
{
	for (int i = 0; i < pc->ngroups; i++)
		if (!strcmp(pc->groups[i].name, name))
			return &pc->groups[i];
	return NULL;
}

int pg_policy_set(struct pg_policy_config *pc, const char *section, const char *key,
		  const char *value, const char *where, struct pg_config_errors *err)
{
	struct pg_policy_section *s = &pc->base;
	if (strcmp(section, "policy")) {
		const char *name = section + 7;
		while (*name == ' ')
			name++;
		if (strncmp(section, "policy ", 7) || !pg_config_valid_name(name)) {
			pg_config_error(
			    err,
			    "%s: [%s]: expected [policy] or [policy GROUP] (a group name: "
			    "letters, digits, . _ - @, at most 64)",
			    where, section);
			return -1;
		}
		s = find_group(pc, name);
		if (!s) {
			if (pc->ngroups == PG_POLICY_MAX_SECTIONS) {
				pg_config_error(err, "%s: more than %d [policy GROUP] sections",
						where, PG_POLICY_MAX_SECTIONS);
				return -1;
			}
			s = realloc(pc->groups, sizeof(*s) * (size_t)(pc->ngroups + 1));
			if (!s) {
				pg_config_error(err, "%s: out of memory", where);
				return -1;
			}
			pc->groups = s;
			s += pc->ngroups++;
			memset(s, 0, sizeof(*s));
			snprintf(s->name, sizeof(s->name), "%s", name);
		}
	}
	if (!strcmp(key, "deny_pattern"))
		return add_pattern(pc, s, value, where, section, err);
	if (!strcmp(key, "merge")) {
		if (s != &pc->base) {
			pg_config_error(
			    err,
			    "%s: [%s] merge: only [policy] may say how groups combine (hint: "
			    "move it to [policy])",
			    where, section);
			return -1;
		}
		if (strcmp(value, "restrictive") && strcmp(value, "first")) {
			pg_config_error(err, "%s: [%s] merge = '%s': expected restrictive or first",
					where, section, value);
			return -1;
		}
		if (pc->merge_set) {
			pg_config_error(err, "%s: [%s] merge is given twice", where, section);
			return -1;
		}
		pc->merge_set = true;
		pc->merge_first = !strcmp(value, "first");
		return 0;
	}
	uint32_t bit = 0;
	int idx = -1;
	if (!strcmp(key, "watermark"))
		bit = PG_POLICY_SET_WATERMARK;
	else if (!strcmp(key, "detect"))
		bit = PG_POLICY_SET_DETECT;
	else if (!strcmp(key, "allowed_networks"))
		bit = PG_POLICY_SET_NETWORKS;
	for (int i = 0; !bit && i < PG_POLICY_NKEYS; i++) {
		if (!strcmp(key, keys[i].name)) {
			idx = i;
			bit = 1u << i;
		}
	}
	if (!bit) {
		char known[1024] = "merge deny_pattern detect allowed_networks watermark";
		for (int i = 0; i < PG_POLICY_NKEYS; i++) {
			strncat(known, " ", sizeof(known) - strlen(known) - 1);
			strncat(known, keys[i].name, sizeof(known) - strlen(known) - 1);
		}
		pg_config_error(err, "%s: unknown key '%s' in [%s] (known keys: %s)", where, key,
				section, known);
		return -1;
	}
	if (s->set & bit) {
		pg_config_error(
		    err,
		    "%s: [%s] %s is given twice in this section (only deny_pattern may repeat)",
		    where, section, key);
		return -1;
	}
	int rc;
	if (bit == PG_POLICY_SET_DETECT) {
		rc = set_detect(s, value, where, section, err);
	} else if (bit == PG_POLICY_SET_NETWORKS) {
		rc = set_networks(s, value, where, section, err);
	} else if (bit == PG_POLICY_SET_WATERMARK) {
		rc = set_watermark(s, value, where, section, err);
	} else {
		const struct key_info *k = &keys[idx];
		rc = parse_scalar(k, value, &s->value[idx]);
		if (rc == -1)
			pg_config_error(err, "%s: [%s] %s = '%s': not valid (expected %s)", where,
					section, key, value, expected(k->kind));
		else if (rc == -2 && k->kind == DURATION)
			pg_config_error(
			    err,
			    "%s: [%s] %s = '%s' is out of range (expected %ds..%ds, as 30s, "
			    "15m or 8h)",
			    where, section, key, value, k->min, k->max);
		else if (rc == -2)
			pg_config_error(err, "%s: [%s] %s = '%s' is out of range (expected %d..%d)",
					where, section, key, value, k->min, k->max);
	}
	if (rc < 0)
		return -1;
	s->set |= bit;
	return 0;
}

static void section_label(const struct pg_policy_section *s, char *buf, size_t size)
{
	snprintf(buf, size, *s->name ? "policy %s" : "policy", s->name);
}

static void take_watermark(struct pg_policy *out, const struct pg_policy_section *s)
{
	snprintf(out->watermark, sizeof(out->watermark), "%s", s->watermark);
	section_label(s, out->watermark_from, sizeof(out->watermark_from));
}

int pg_policy_check(const struct pg_policy_config *pc, struct pg_config_errors *err)
{
	int rc = 0;
	for (int g = -1; g < pc->ngroups; g++) {
		const struct pg_policy_section *s = g < 0 ? &pc->base : &pc->groups[g];
		struct pg_policy p;
		char label[80];
		section_label(s, label, sizeof(label));
		pg_policy_effective(pc, g < 0 ? NULL : s->name, &p);
		if (p.keys_burst < p.keys_per_second) {
			pg_config_error(
			    err,
			    "[%s] keys_burst = %d is below keys_per_second = %d (expected "
			    "keys_burst >= keys_per_second)",
			    label, p.keys_burst, p.keys_per_second);
			rc = -1;
		}
		if (s->set & PG_POLICY_SET_NETWORKS && !s->any_network && !s->nnets) {
			pg_config_error(err, "[%s] allowed_networks is empty", label);
			rc = -1;
		}
	}
	return rc;
}

static bool net_contains(const struct pg_policy_net *outer, const struct pg_policy_net *inner)
{
	if (outer->family != inner->family || outer->prefix > inner->prefix)
		return false;
	for (int bit = 0; bit < outer->prefix; bit++) {
		uint8_t m = 0x80 >> (bit % 8);
		if ((outer->addr[bit / 8] & m) != (inner->addr[bit / 8] & m))
			return false;
	}
	return true;
}

/* Two CIDRs are either disjoint or one holds the other, so the intersection of two
 * lists is the narrower member of every overlapping pair. */
static void intersect_nets(struct pg_policy *out, const struct pg_policy_net *nets, int n)
{
	struct pg_policy_net result[PG_POLICY_MAX_EFFECTIVE_NETS];
	int count = 0;
	for (int i = 0; i < out->nnets; i++) {
		for (int j = 0; j < n; j++) {
			const struct pg_policy_net *pick = NULL;
			if (net_contains(&out->nets[i], &nets[j]))
				pick = &nets[j];
			else if (net_contains(&nets[j], &out->nets[i]))
				pick = &out->nets[i];
			if (!pick)
				continue;
			bool dup = false;
			for (int k = 0; k < count && !dup; k++)
				dup = !memcmp(&result[k], pick, sizeof(*pick));
			if (!dup && count < PG_POLICY_MAX_EFFECTIVE_NETS)
				result[count++] = *pick;
		}
	}
	memcpy(out->nets, result, sizeof(result[0]) * (size_t)count);
	out->nnets = count;
}

static int *field(struct pg_policy *p, int i)
{
	return (int *)((char *)p + keys[i].offset);
}

static void set_nets(struct pg_policy *out, const struct pg_policy_section *s)
{
	out->any_network = s->any_network;
	out->nnets = s->nnets;
	memcpy(out->nets, s->nets, sizeof(s->nets[0]) * (size_t)s->nnets);
}

/* A section over [policy]: its own keys, [policy]'s for the rest; patterns of both. */
static void resolve(const struct pg_policy_config *pc, const struct pg_policy_section *s,
		    struct pg_policy *out, uint64_t *patterns)
{
	const struct pg_policy_section *layers[2] = {&pc->base, s};
	memset(out, 0, sizeof(*out));
	for (int i = 0; i < PG_POLICY_NKEYS; i++)
		*field(out, i) = keys[i].def;
	out->detect = PG_POLICY_DETECT_ALL;
	out->any_network = true;
	*patterns = 0;
	for (int l = 0; l < 2; l++) {
		const struct pg_policy_section *sec = layers[l];
		if (!sec || (l == 1 && sec == &pc->base))
			continue;
		for (int i = 0; i < PG_POLICY_NKEYS; i++)
			if (sec->set & (1u << i))
				*field(out, i) = sec->value[i];
		if (sec->set & PG_POLICY_SET_DETECT)
			out->detect = sec->detect;
		if (sec->set & PG_POLICY_SET_NETWORKS)
			set_nets(out, sec);
		if (sec->set & PG_POLICY_SET_WATERMARK)
			take_watermark(out, sec);
		*patterns |= sec->patterns;
	}
}

static void merge_into(struct pg_policy *out, const struct pg_policy *in)
{
	/* The first watermark wins, with the look its section gave it. */
	bool wm = !*out->watermark && *in->watermark;
	if (wm) {
		memcpy(out->watermark, in->watermark, sizeof(out->watermark));
		memcpy(out->watermark_from, in->watermark_from, sizeof(out->watermark_from));
	}
	for (int i = 0; i < PG_POLICY_NKEYS; i++) {
		int *a = field(out, i);
		int b = *field((struct pg_policy *)in, i);
		if (keys[i].merge == FOLLOW ? wm : keys[i].merge == MIN ? b < *a : b > *a)
			*a = b;
	}
	out->detect |= in->detect;
	if (in->any_network)
		return;
	if (out->any_network) {
		out->any_network = false;
		out->nnets = in->nnets;
		memcpy(out->nets, in->nets, sizeof(in->nets[0]) * (size_t)in->nnets);
		return;
	}
	intersect_nets(out, in->nets, in->nnets);
}

static void append(char *buf, size_t size, const char *s)
{
	size_t n = strlen(buf);
	if (n + 1 < size)
		snprintf(buf + n, size - n, "%s%s", n ? ", " : "", s);
}

int pg_policy_effective(const struct pg_policy_config *pc, const char *groups_csv,
			struct pg_policy *out)
{
	uint64_t patterns = 0, more;
	const struct pg_policy_section *sections[PG_POLICY_MAX_SECTIONS];
	int used = 0;
	char label[80];
	const char *g = groups_csv ? groups_csv : "";
	char decided[sizeof(out->decided_by)] = "";
	while (*g) {
		const char *comma = strchr(g, ',');
		size_t n = comma ? (size_t)(comma - g) : strlen(g);
		char name[65];
		const char *start = g;
		g = comma ? comma + 1 : g + n;
		while (n && (*start == ' ' || *start == '\t'))
			start++, n--;
		while (n && (start[n - 1] == ' ' || start[n - 1] == '\t'))
			n--;
		if (!n || n >= sizeof(name))
			continue;
		memcpy(name, start, n);
		name[n] = '\0';
		const struct pg_policy_section *s = find_group(pc, name);
		if (!s)
			continue;
		bool seen = false;
		for (int i = 0; i < used && !seen; i++)
			seen = sections[i] == s;
		if (seen || used == PG_POLICY_MAX_SECTIONS)
			continue;
		sections[used] = s;
		section_label(s, label, sizeof(label));
		if (!used) {
			resolve(pc, s, out, &patterns);
		} else {
			struct pg_policy tmp;
			resolve(pc, s, &tmp, &more);
			merge_into(out, &tmp);
			patterns |= more;
		}
		append(decided, sizeof(decided), label);
		used++;
		if (pc->merge_first)
			break;
	}
	if (!used) {
		resolve(pc, NULL, out, &patterns);
		snprintf(decided, sizeof(decided), "policy");
	}
	snprintf(out->decided_by, sizeof(out->decided_by), "%s", decided);
	for (int i = 0; i < pc->npatterns; i++)
		if (patterns & (1ull << i))
			out->patterns[out->npatterns++] = pc->patterns[i];
	/* Groups combined can ask for a warning longer than the session it warns about:
	 * keep it within half of the shorter limit. */
	int shorter = out->idle_timeout < out->max_session ? out->idle_timeout : out->max_session;
	if (out->warn_before > shorter / 2)
		out->warn_before = shorter / 2;
	return 0;
}

bool pg_policy_nets_have(const struct pg_policy_net *nets, int n, const struct sockaddr *addr)
{
	struct pg_policy_net a = {0};
	if (addr->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)addr;
		a.family = 4;
		memcpy(a.addr, &in->sin_addr, 4);
	} else if (addr->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)addr;
		if (IN6_IS_ADDR_V4MAPPED(&in6->sin6_addr)) {
			a.family = 4;
			memcpy(a.addr, in6->sin6_addr.s6_addr + 12, 4);
		} else {
			a.family = 6;
			memcpy(a.addr, in6->sin6_addr.s6_addr, 16);
		}
	} else {
		return false;
	}
	a.prefix = a.family == 4 ? 32 : 128;
	for (int i = 0; i < n; i++)
		if (net_contains(&nets[i], &a))
			return true;
	return false;
}

bool pg_policy_allows_address(const struct pg_policy *p, const struct sockaddr *addr)
{
	return p->any_network || pg_policy_nets_have(p->nets, p->nnets, addr);
}

static void print_nets(FILE *f, bool any, const struct pg_policy_net *nets, int n)
{
	if (any) {
		fprintf(f, "any\n");
		return;
	}
	if (!n)
		fprintf(f, "none ; the groups' networks do not overlap: no address is allowed");
	for (int i = 0; i < n; i++) {
		char buf[INET6_ADDRSTRLEN];
		inet_ntop(nets[i].family == 4 ? AF_INET : AF_INET6, nets[i].addr, buf, sizeof(buf));
		fprintf(f, "%s%s/%d", i ? ", " : "", buf, nets[i].prefix);
	}
	fprintf(f, "\n");
}

static void print_detect(FILE *f, unsigned detect)
{
	int n = 0;
	for (size_t i = 0; i < sizeof(detectors) / sizeof(detectors[0]); i++)
		if (detect & detectors[i].bit)
			fprintf(f, "%s%s", n++ ? "," : "", detectors[i].name);
	fprintf(f, "%s\n", n ? "" : "none");
}

static void print_effective(FILE *f, const char *title, const struct pg_policy *p)
{
	char buf[64];
	fprintf(f, "\n; %s (from %s)\n", title, p->decided_by);
	for (int i = 0; i < PG_POLICY_NKEYS; i++) {
		format_value(&keys[i], *field((struct pg_policy *)p, i), buf, sizeof(buf));
		fprintf(f, "%s = %s\n", keys[i].name, buf);
	}
	fprintf(f, "detect = ");
	print_detect(f, p->detect);
	for (int i = 0; i < p->npatterns; i++)
		fprintf(f, "deny_pattern = %s ; #%d\n", p->patterns[i]->source,
			p->patterns[i]->number);
	fprintf(f, "allowed_networks = ");
	print_nets(f, p->any_network, p->nets, p->nnets);
	if (*p->watermark)
		fprintf(f, "watermark = %s ; from [%s]\n", p->watermark, p->watermark_from);
	else
		fprintf(f, "watermark = off\n");
}

void pg_policy_print(const struct pg_policy_config *pc, FILE *f)
{
	struct pg_policy *p = malloc(sizeof(*p));
	char title[160];
	if (!p)
		return;
	fprintf(f, "; effective policy per group (merge = %s)\n",
		pc->merge_first ? "first" : "restrictive");
	pg_policy_effective(pc, NULL, p);
	print_effective(f, "users in no group with a [policy GROUP] section", p);
	for (int i = 0; i < pc->ngroups; i++) {
		pg_policy_effective(pc, pc->groups[i].name, p);
		snprintf(title, sizeof(title), "members of group %s", pc->groups[i].name);
		print_effective(f, title, p);
	}
	free(p);
}

void pg_policy_print_config(const struct pg_policy_config *pc, FILE *f)
{
	char buf[80];
	for (int g = -1; g < pc->ngroups; g++) {
		const struct pg_policy_section *s = g < 0 ? &pc->base : &pc->groups[g];
		section_label(s, buf, sizeof(buf));
		fprintf(f, "\n[%s]\n", buf);
		if (g < 0)
			fprintf(f, "merge = %s\n", pc->merge_first ? "first" : "restrictive");
		for (int i = 0; i < PG_POLICY_NKEYS; i++) {
			if (!(s->set & (1u << i)) && g >= 0)
				continue;
			int v = s->set & (1u << i) ? s->value[i] : keys[i].def;
			format_value(&keys[i], v, buf, sizeof(buf));
			fprintf(f, "; %s\n%s = %s\n", keys[i].help, keys[i].name, buf);
		}
		if (s->set & PG_POLICY_SET_DETECT || g < 0) {
			fprintf(f, "detect = ");
			print_detect(f, s->set & PG_POLICY_SET_DETECT ? s->detect
								      : PG_POLICY_DETECT_ALL);
		}
		for (int i = 0; i < pc->npatterns; i++)
			if (s->patterns & (1ull << i))
				fprintf(f, "deny_pattern = %s\n", pc->patterns[i]->source);
		if (s->set & PG_POLICY_SET_NETWORKS || g < 0) {
			fprintf(f, "allowed_networks = ");
			print_nets(f, !(s->set & PG_POLICY_SET_NETWORKS) || s->any_network, s->nets,
				   s->nnets);
		}
		if (s->set & PG_POLICY_SET_WATERMARK || g < 0)
			fprintf(f, "watermark = %s\n", *s->watermark ? s->watermark : "off");
	}
}

bool pg_policy_records(const struct pg_policy_config *pc)
{
	for (int g = -1; g < pc->ngroups; g++) {
		const struct pg_policy_section *s = g < 0 ? &pc->base : &pc->groups[g];
		if (s->set & (1u << PG_POLICY_KEY_record) && s->value[PG_POLICY_KEY_record])
			return true;
	}
	return false;
}

bool pg_policy_watermarks(const struct pg_policy_config *pc)
{
	for (int g = -1; g < pc->ngroups; g++) {
		const struct pg_policy_section *s = g < 0 ? &pc->base : &pc->groups[g];
		if (*s->watermark)
			return true;
	}
	return false;
}
