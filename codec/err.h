/* Error codes shared by every codec function: 0 or a positive count means success. */
#ifndef PG_CODEC_ERR_H
#define PG_CODEC_ERR_H

#define PG_EPROTO (-1) /* malformed input */
#define PG_ELIMIT (-2) /* a declared length or size over its named limit */
#define PG_EUNSUP (-3) /* valid RFB, but something pixelgate does not accept */
#define PG_ENOMEM (-4) /* allocation failed */
#define PG_EAUTH  (-5) /* authentication refused */

#endif
