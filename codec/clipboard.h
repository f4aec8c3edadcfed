/* Clipboard on the wire, text only: the Extended Clipboard pseudo-encoding
 * (PG_ENC_EXT_CLIPBOARD; community rfbproto, "Extended Clipboard Pseudo-Encoding")
 * and the legacy Latin-1 cut text. Builders append one whole ServerCutText
 * (to_viewer) or ClientCutText (toward the browser host) message to out, or leave
 * out untouched on error. The parser takes the payload of a cut text message whose
 * length was negative. Pure: no I/O, no logging; any thread, no shared state.
 *
 * RTF, HTML, DIB and Files are never built; when a peer sends them the parser only
 * reports their bits in dropped_formats (for the audit) and never inflates them. */
#ifndef PG_CODEC_CLIPBOARD_H
#define PG_CODEC_CLIPBOARD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "buf.h"

/* The flags word that starts every Extended Clipboard payload. */
#define PG_XCLIP_TEXT	     (1u << 0) /* UTF-8, CRLF line ends, NUL-terminated on the wire */
#define PG_XCLIP_RTF	     (1u << 1)
#define PG_XCLIP_HTML	     (1u << 2)
#define PG_XCLIP_DIB	     (1u << 3)
#define PG_XCLIP_FILES	     (1u << 4)
#define PG_XCLIP_FORMAT_MASK 0x0000ffffu
#define PG_XCLIP_CAPS	     (1u << 24)
#define PG_XCLIP_REQUEST     (1u << 25)
#define PG_XCLIP_PEEK	     (1u << 26)
#define PG_XCLIP_NOTIFY	     (1u << 27)
#define PG_XCLIP_PROVIDE     (1u << 28)
#define PG_XCLIP_ACTION_MASK 0xff000000u
/* The actions pixelgate takes part in, on either side. */
#define PG_XCLIP_ACTIONS (PG_XCLIP_REQUEST | PG_XCLIP_PEEK | PG_XCLIP_NOTIFY | PG_XCLIP_PROVIDE)

/* Hard cap on clipboard text in bytes (without the NUL), whatever a caller asks. */
#define PG_XCLIP_MAX_TEXT (1u << 20)

enum pg_xclip_action {
	PG_XCLIP_A_CAPS = 1,
	PG_XCLIP_A_REQUEST,
	PG_XCLIP_A_PEEK,
	PG_XCLIP_A_NOTIFY,
	PG_XCLIP_A_PROVIDE,
};

struct pg_xclip_msg {
	enum pg_xclip_action action;
	uint32_t formats;	  /* format bits (0-15) of the flags word, as sent */
	uint32_t dropped_formats; /* formats other than text: audit, never forwarded */
	uint32_t actions;	  /* caps: the actions the peer accepts (PG_XCLIP_ACTIONS) */
	uint32_t text_max;	  /* caps: the peer's limit for unsolicited text, 0 if none */
	size_t text_len;	  /* provide with PG_XCLIP_TEXT: bytes in text_buf, no NUL */
};

/* Caps: we accept text and actions (masked to PG_XCLIP_ACTIONS), and unsolicited
 * provides of up to max_text bytes (0: send notify, we request). */
int pg_xclip_build_caps(struct pg_buf *out, bool to_viewer, uint32_t actions, uint32_t max_text);
/* Request (text), peek, and notify (text available or not). */
int pg_xclip_build_request(struct pg_buf *out, bool to_viewer);
int pg_xclip_build_peek(struct pg_buf *out, bool to_viewer);
int pg_xclip_build_notify(struct pg_buf *out, bool to_viewer, bool text_available);
/* Provide: len bytes of UTF-8 (CRLF line ends, no NUL; at most PG_XCLIP_MAX_TEXT)
 * as the text format only, in a zlib stream of its own that ends with Z_FINISH.
 * PG_EPROTO for a NUL in the text, PG_ELIMIT when over a limit, PG_ENOMEM. */
int pg_xclip_build_provide(struct pg_buf *out, bool to_viewer, const uint8_t *utf8, size_t len);

/* Parse one Extended Clipboard payload (the len bytes after a negative cut text
 * length; len <= PG_RFB_MAX_CUT_TEXT). Returns 0 with *out filled, or a negative
 * PG_E code with *why a static string:
 *  - PG_EPROTO: too short, no or several actions, bad length, corrupt or truncated
 *    zlib, text without its NUL, or (text being the only format) more data after
 *    the text or a finished stream cut short; PG_EUNSUP: only reserved actions;
 *  - PG_ELIMIT: the text is longer than max_text (capped at PG_XCLIP_MAX_TEXT) or
 *    does not fit text_buf with its NUL; refused from the declared size, before
 *    inflating it, so a zlib bomb costs no more than the cap; out->text_len then
 *    holds the declared size;
 * For a provide with text, text_buf holds text_len bytes and a NUL. The bytes are
 * not checked: invalid UTF-8, control characters and an early NUL reach the caller
 * as sent, for the policy to judge. text_buf may be NULL when text_buf_size is 0. */
int pg_xclip_parse(const uint8_t *payload, size_t len, size_t max_text, struct pg_xclip_msg *out,
		   uint8_t *text_buf, size_t text_buf_size, const char **why);

/* Legacy ServerCutText (to_viewer) or ClientCutText: len bytes of Latin-1 (LF line
 * ends), at most PG_RFB_MAX_CUT_TEXT. 0, PG_ELIMIT or PG_ENOMEM. */
int pg_xclip_build_legacy(struct pg_buf *out, bool to_viewer, const uint8_t *latin1, size_t len);

/* Line ends: the Extended Clipboard carries CRLF, X and the relay LF. Both return
 * the bytes written; out must hold 2 * len (to CRLF) or len (to LF) bytes. */
size_t pg_xclip_lf_to_crlf(const uint8_t *in, size_t len, uint8_t *out);
size_t pg_xclip_crlf_to_lf(const uint8_t *in, size_t len, uint8_t *out);

#endif
