/* RFB constants (RFC 6143 and the community rfbproto spec) and pixelgate's limits
 * on every length a peer can declare. */
#ifndef PG_CODEC_RFB_H
#define PG_CODEC_RFB_H

#include <stdint.h>

/* Security types */
#define PG_RFB_SEC_INVALID  0
#define PG_RFB_SEC_NONE	    1
#define PG_RFB_SEC_VNC	    2
#define PG_RFB_SEC_VENCRYPT 19

/* Client to server messages */
#define PG_RFB_SET_PIXEL_FORMAT	 0
#define PG_RFB_SET_ENCODINGS	 2
#define PG_RFB_FB_UPDATE_REQUEST 3
#define PG_RFB_KEY_EVENT	 4
#define PG_RFB_POINTER_EVENT	 5
#define PG_RFB_CLIENT_CUT_TEXT	 6
#define PG_RFB_SET_DESKTOP_SIZE	 251
/* QEMU client message: a subtype byte follows. Subtype 0 is the extended key event
 * (u16 down-flag, u32 keysym, u32 keycode); pixelgate knows no other subtype. */
#define PG_RFB_QEMU	    255
#define PG_RFB_QEMU_EXT_KEY 0
#define PG_RFB_QEMU_KEY_LEN 12 /* bytes of an extended key event, header included */
/* ContinuousUpdates (community rfbproto): EnableContinuousUpdates (client, u8 enable,
 * u16 x, y, w, h) and EndOfContinuousUpdates (server, nothing follows) share the type;
 * a server that has them says so once (EndOfContinuousUpdates) when a client lists
 * them, and for Fence sends a Fence request. */
#define PG_RFB_ENABLE_CU 150
#define PG_RFB_END_OF_CU 150
/* Fence, both ways: 3 padding bytes, u32 flags, u8 length, length bytes of payload
 * (at most PG_RFB_MAX_FENCE). A request is answered with its payload. */
#define PG_RFB_FENCE		  248
#define PG_RFB_FENCE_BLOCK_BEFORE 0x00000001u
#define PG_RFB_FENCE_BLOCK_AFTER  0x00000002u
#define PG_RFB_FENCE_SYNC_NEXT	  0x00000004u
#define PG_RFB_FENCE_REQUEST	  0x80000000u /* a reply clears it */

/* Server to client messages */
#define PG_RFB_FB_UPDATE       0
#define PG_RFB_SET_COLOUR_MAP  1
#define PG_RFB_BELL	       2
#define PG_RFB_SERVER_CUT_TEXT 3

/* Encodings */
#define PG_ENC_RAW	0
#define PG_ENC_COPYRECT 1
#define PG_ENC_RRE	2
#define PG_ENC_HEXTILE	5
#define PG_ENC_TIGHT	7
#define PG_ENC_ZRLE	16
/* Pseudo-encodings */
#define PG_ENC_JPEG_QUALITY_0	  (-32) /* -32 .. -23: quality 0 .. 9 */
#define PG_ENC_JPEG_QUALITY_9	  (-23)
#define PG_ENC_DESKTOP_SIZE	  (-223)
#define PG_ENC_LAST_RECT	  (-224)
#define PG_ENC_CURSOR		  (-239)
#define PG_ENC_DESKTOP_NAME	  (-307)
#define PG_ENC_EXT_DESKTOP_SIZE	  (-308)
#define PG_ENC_FENCE		  (-312)
#define PG_ENC_CONTINUOUS_UPDATES (-313)
#define PG_ENC_COMPRESS_LEVEL_0	  (-256) /* -256 .. -247: level 0 .. 9 */
#define PG_ENC_COMPRESS_LEVEL_9	  (-247)
/* QEMU Extended Key Event: a client lists it when it can send keycodes; a server that
 * wants them answers with one pseudo-rectangle of it (all zero, no body). */
#define PG_ENC_QEMU_EXT_KEY	(-258)
#define PG_ENC_FINE_QUALITY_0	(-512) /* -512 .. -412: TigerVNC fine quality 0 .. 100 */
#define PG_ENC_FINE_QUALITY_100 (-412)
#define PG_ENC_SUBSAMPLING_1X	(-768) /* -768 .. -763: TigerVNC subsampling */
#define PG_ENC_SUBSAMPLING_GRAY (-763)
#define PG_ENC_EXT_CLIPBOARD	(-1063131698) /* 0xC0A1E5CE, Extended Clipboard */

/* Limits on lengths a peer declares. Over a limit is an explicit error. */
#define PG_RFB_MAX_ENCODINGS   512	   /* SetEncodings entries */
#define PG_RFB_MAX_CUT_TEXT    (1u << 20)  /* ClientCutText / ServerCutText bytes */
#define PG_RFB_MAX_NAME	       4096	   /* ServerInit desktop name bytes accepted */
#define PG_RFB_NAME_OUT	       255	   /* desktop name bytes sent to viewers */
#define PG_RFB_MAX_SCREENS     16	   /* ExtendedDesktopSize / SetDesktopSize screens */
#define PG_RFB_MAX_RECTS       65535	   /* rectangles in one FramebufferUpdate */
#define PG_RFB_MAX_ZLIB_IN     (16u << 20) /* compressed bytes of one ZRLE or Tight rectangle */
#define PG_RFB_MAX_CURSOR_SIDE 256	   /* cursor width and height */
#define PG_RFB_MAX_REASON      1024	   /* failure reason string */
#define PG_RFB_MAX_FENCE       64	   /* Fence payload bytes, as the spec limits them */
/* QEMU extended key event keycodes: XT scancodes, 0xe0-prefixed ones as 0x80 | code. */
#define PG_RFB_MAX_KEYCODE 0xff

#endif
