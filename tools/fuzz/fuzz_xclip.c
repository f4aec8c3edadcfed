/* Clipboard text from either side: pg_xclip_parse on the input as an Extended
 * Clipboard payload, with a small and a large max_text, then pg_clip_check on the
 * input as text in both directions under a policy allowing text both ways with every
 * detector and a deny pattern. An allowed text must come out no longer than it went
 * in. The policy is built once, from fixed settings. */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec/clipboard.h"
#include "codec/rfb.h"
#include "config/clipcheck.h"
#include "config/config.h"
#include "config/policy.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct pg_policy_config pc;
static struct pg_policy pol;

static void setup(void)
{
	static const char *const kv[][2] = {
	    {"clipboard_to_browser", "text"},
	    {"clipboard_to_viewer", "text"},
	    {"clipboard_max_bytes", "65536"},
	    {"clipboard_max_chars", "65536"},
	    {"detect", "mynumber,corporate_number,credit_card"},
	    {"deny_pattern", "(?i)secret|confidential|\\b\\d{3}-\\d{4}\\b"},
	    {"deny_pattern", "機密"},
	};
	struct pg_config_errors err = {0};
	pg_policy_init(&pc);
	for (size_t i = 0; i < sizeof(kv) / sizeof(kv[0]); i++)
		if (pg_policy_set(&pc, "policy", kv[i][0], kv[i][1], "fuzz:1", &err) < 0)
			abort();
	if (pg_policy_check(&pc, &err) < 0 || pg_policy_effective(&pc, NULL, &pol) < 0)
		abort();
	if (pol.clipboard_to_browser != PG_POLICY_TEXT || pol.npatterns != 2 ||
	    pol.detect != PG_POLICY_DETECT_ALL)
		abort();
}

static void xclip(const uint8_t *data, size_t size, size_t max_text, uint8_t *buf, size_t buf_size)
{
	struct pg_xclip_msg m;
	const char *why = NULL;
	int rc = pg_xclip_parse(data, size, max_text, &m, buf, buf_size, &why);
	if (rc < 0 && !why)
		abort();
	if (rc == 0 && m.action == PG_XCLIP_A_PROVIDE && m.text_len) {
		if (m.text_len >= buf_size || m.text_len > max_text || buf[m.text_len] != 0)
			abort();
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool ready;
	static uint8_t big[PG_XCLIP_MAX_TEXT + 1];
	if (!ready) {
		setup();
		ready = true;
	}
	if (size > PG_RFB_MAX_CUT_TEXT)
		return 0;

	uint8_t small[64];
	xclip(data, size, 16, small, sizeof(small));
	xclip(data, size, PG_XCLIP_MAX_TEXT, big, sizeof(big));

	uint8_t *out = malloc(size ? size : 1);
	if (!out)
		return 0;
	for (int dir = PG_CLIP_TO_BROWSER; dir <= PG_CLIP_TO_VIEWER; dir++) {
		struct pg_clip_verdict v;
		size_t out_len = (size_t)-1;
		int rc =
		    pg_clip_check(&pol, (enum pg_clip_dir)dir, data, size, out, size, &out_len, &v);
		if (rc == 0 && (!v.allowed || out_len > size))
			abort();
		if (rc < 0 && (v.allowed || !v.rule[0]))
			abort();
	}
	free(out);
	return 0;
}
