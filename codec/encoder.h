/* Encoders for viewers. One file per encoding (enc_raw.c, enc_zrle.c, enc_tight.c)
 * behind a small const vtable; pg_encoder_new is the only switch.
 *
 * An encoder belongs to one viewer and keeps that viewer's stream state (zlib
 * streams, a TurboJPEG handle). It is used by one thread at a time: the relay
 * runs it on the libuv thread pool, one job per viewer in flight.
 *
 * Lanes: one viewer may have up to PG_ENC_LANES encoders of the same encoding
 * (opts.lane 0 and 1), each on its own thread, encoding disjoint parts of one
 * update; their rectangles, concatenated in any order into one FramebufferUpdate,
 * decode correctly, because each lane owns its zlib streams and resets only those.
 * Tight: lane 0 uses zlib streams 0 (full colour) and 1 (palette), lane 1 streams
 * 2 and 3. Raw has no streams. ZRLE has one stream per connection: lane 0 only. */
#ifndef PG_CODEC_ENCODER_H
#define PG_CODEC_ENCODER_H

#include <stdint.h>

#include "buf.h"
#include "fb.h"
#include "pixfmt.h"

struct pg_encoder;

struct pg_enc_opts {
	int quality; /* JPEG quality 0..9 from the quality pseudo-encoding, -1 for none (lossless)
		      */
	int fine_quality; /* 0..100 from TigerVNC's fine quality pseudo-encoding, -1 for none */
	int subsampling;  /* 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0, 3 = grey; -1 for default */
	int compress;	  /* zlib level 0..9 from the compress pseudo-encoding, -1 for default */
	int lane;	  /* 0 or 1 (see Lanes above); 0 in a zero-initialised struct */
};

#define PG_ENC_LANES 2

/* An encoder for encoding (PG_ENC_RAW, PG_ENC_ZRLE or PG_ENC_TIGHT) writing pixels in
 * pf (validated). NULL on allocation failure, an encoding it does not know, or a lane
 * the encoding cannot have (outside 0..PG_ENC_LANES-1; ZRLE other than 0). */
struct pg_encoder *pg_encoder_new(int32_t encoding, const struct pg_pixfmt *pf,
				  const struct pg_enc_opts *opts);
void pg_encoder_del(struct pg_encoder *enc);
int32_t pg_encoder_encoding(const struct pg_encoder *enc);
/* Switch to a new pixel format (validated) and options without restarting the
 * encoder's streams. ZRLE needs this: its one zlib stream lives as long as the
 * viewer's connection, so a new encoder would desynchronise the viewer. Returns 0,
 * or PG_EUNSUP when the encoding can simply be replaced by a new encoder. */
int pg_encoder_configure(struct pg_encoder *enc, const struct pg_pixfmt *pf,
			 const struct pg_enc_opts *opts);

/* Tight's JPEG settings from the next rectangle on, for adaptive quality: cheap enough
 * to call before every update; the zlib streams stay as they are, the TurboJPEG
 * handle is made on first use. quality is TurboJPEG's 0..100, or -1 for lossless
 * (no JPEG); subsampling 0 = 4:4:4, 1 = 4:2:2, 2 = 4:2:0, 3 = grey, or -1 for the
 * default for that quality (4:4:4 from 79, 4:2:2 from 42, else 4:2:0, as for
 * TigerVNC's fine quality). Returns 0, PG_EPROTO for a value out of range, or
 * PG_EUNSUP for an encoding other than Tight. At 8 bits per pixel, where viewers
 * refuse JPEG, the encoder accepts and stays lossless. */
int pg_encoder_set_jpeg(struct pg_encoder *enc, int quality, int subsampling);
/* The JPEG quality (0..100) in effect, or -1 when lossless (and for Raw and ZRLE). */
int pg_encoder_jpeg_quality(const struct pg_encoder *enc);

/* From the next rectangle on, this encoder's output decodes whatever the viewer
 * decoded before: Tight resets its lane's zlib streams there (the reset bits of
 * the compression control byte), Raw has no state. An update so written can go to
 * any viewer of the same pixel format and encoding, and a viewer that was sent
 * another encoder's bytes is back in step with this one. 0, or PG_EUNSUP for ZRLE,
 * whose one stream cannot restart. */
int pg_encoder_restart(struct pg_encoder *enc);

/* Append rectangles (each with its 12-byte RFB rectangle header) covering r of fb to
 * out. Returns how many rectangle headers were written (an encoder may split r), or
 * a negative PG_E code. r must lie inside fb.
 * On error out keeps its old length, but zlib state may be ahead of the viewer's:
 * Tight recovers by resetting its streams in the next rectangle; ZRLE cannot, and
 * answers PG_EPROTO from then on, so the caller replaces the encoder and the
 * viewer's connection (or stops using ZRLE for it). */
int pg_encoder_encode(struct pg_encoder *enc, const struct pg_fb *fb, const struct pg_rect *r,
		      struct pg_buf *out);

/* Writers for the rest of a FramebufferUpdate. Each returns 0 or a negative PG_E code. */
int pg_enc_update_header(struct pg_buf *out, uint16_t nrects);
int pg_enc_rect_header(struct pg_buf *out, const struct pg_rect *r, int32_t encoding);
/* CopyRect of r from (src_x, src_y): one rectangle. */
int pg_enc_copyrect(struct pg_buf *out, const struct pg_rect *r, int src_x, int src_y);
/* Cursor pseudo-encoding: w x h canonical pixels and the RFB bitmask, in pf. */
int pg_enc_cursor(struct pg_buf *out, const struct pg_pixfmt *pf, int hot_x, int hot_y, int w,
		  int h, const uint32_t *px, const uint8_t *mask);
/* DesktopSize pseudo-rectangle. */
int pg_enc_desktop_size(struct pg_buf *out, int w, int h);
/* ExtendedDesktopSize pseudo-rectangle with one screen covering w x h.
 * reason is the x field (0 server, 1 this client, 2 another client), status the y field. */
int pg_enc_ext_desktop_size(struct pg_buf *out, int w, int h, int reason, int status);
/* QEMU Extended Key Event pseudo-rectangle: x, y, w, h 0 and no body. Sent once in
 * a FramebufferUpdate to a viewer that listed PG_ENC_QEMU_EXT_KEY, it says "send
 * QEMU extended key events (keycodes) from now on". */
int pg_enc_qemu_key_ack(struct pg_buf *out);
/* DesktopName pseudo-rectangle. */
int pg_enc_desktop_name(struct pg_buf *out, const char *name, size_t len);

#endif
