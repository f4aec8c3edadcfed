/* Clipboard text against a resolved policy: UTF-8 validation, stripping, limits,
 * and for the leak direction the detectors and deny patterns (see docs/policy.md).
 * Pure: no I/O, no clock, no logging; safe from any thread. */
#ifndef PG_CONFIG_CLIPCHECK_H
#define PG_CONFIG_CLIPCHECK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/policy.h"

/* Named from the user's point of view. */
enum pg_clip_dir {
	PG_CLIP_TO_BROWSER, /* LGWAN viewer -> browser host: the leak direction */
	PG_CLIP_TO_VIEWER,  /* browser host -> LGWAN viewer */
};

struct pg_clip_verdict {
	bool allowed;
	char rule[128];	 /* the rule that decided: "detector mynumber", "deny_pattern #2", ... */
	size_t bytes;	 /* bytes received */
	size_t chars;	 /* characters received (0 when not valid UTF-8) */
	size_t stripped; /* control and bidi characters removed (CR LF -> LF not counted) */
	size_t replaced; /* characters replaced by '?' (Latin-1 output only) */
};

/* Check text (UTF-8) going in direction dir. Returns 0 when allowed, with the sanitized
 * text (not the NFKC form) in out[0..*out_len); out_size >= len always suffices. Returns
 * -1 when denied: nothing in out, v->rule says why. A denial is always of the whole
 * transfer. */
int pg_clip_check(const struct pg_policy *p, enum pg_clip_dir dir, const uint8_t *text, size_t len,
		  uint8_t *out, size_t out_size, size_t *out_len, struct pg_clip_verdict *v);

/* The minimum interval: since_last_ms is the time since the session's last allowed
 * transfer (UINT64_MAX for none). Returns 0, or -1 denied with v->rule set. */
int pg_clip_check_interval(const struct pg_policy *p, uint64_t since_last_ms,
			   struct pg_clip_verdict *v);

/* Legacy cut text from a Latin-1 peer, to UTF-8 for pg_clip_check. out_size >= 2 * len
 * suffices. Returns 0, or -1 when out is too small. */
int pg_clip_from_latin1(const uint8_t *in, size_t len, uint8_t *out, size_t out_size,
			size_t *out_len);

/* Checked UTF-8 to Latin-1 for a legacy peer, per clipboard_latin1: drop denies the
 * whole transfer when a character has no Latin-1 form, replace writes '?' for it.
 * out_size >= len suffices. Returns 0, or -1 denied with v->rule set. */
int pg_clip_to_latin1(const struct pg_policy *p, const uint8_t *text, size_t len, uint8_t *out,
		      size_t out_size, size_t *out_len, struct pg_clip_verdict *v);

/* The detectors, exposed for tests and tools: true when text (NFKC, UTF-8) holds a
 * number of that kind; which gets the PG_POLICY_DETECT_* bit that matched. */
bool pg_clip_detect(const uint8_t *text, size_t len, unsigned detect, unsigned *which);

#endif
