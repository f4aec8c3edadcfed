/* A loopback RFB server that sends FramebufferUpdates the test builds itself (not one
 * encoder's output), for checking what several encoders' rectangles do together,
 * e.g. two Tight lanes in one update, against a real libvncclient. It is the same
 * server as pgt_vnc_roundtrip's, in vnc_util.c. */
#ifndef PG_TEST_REPLAY_UTIL_H
#define PG_TEST_REPLAY_UTIL_H

#include "codec/buf.h"
#include "codec/fb.h"
#include "codec/pixfmt.h"

struct pgt_replay {
	int w, h;	       /* framebuffer size announced in ServerInit */
	struct pg_pixfmt pf;   /* format libvncclient asks for */
	const char *encodings; /* libvncclient's encodingsString */
	int quality;	       /* libvncclient qualityLevel, -1 for JPEG off */
	int updates;	       /* how many updates make() builds */
	/* Called in the server thread once the client has asked for an update, with the
	 * format it asked for: append whole FramebufferUpdate number u (header
	 * included) to out. 0, or -1 to fail the run. */
	int (*make)(void *arg, int u, const struct pg_pixfmt *pf, struct pg_buf *out);
	void *arg;
};

/* Serve o to a libvncclient in this thread and convert what it decoded into out
 * (allocated here, canonical). 0, or -1 with *err saying what failed. */
int pgt_vnc_replay(const struct pgt_replay *o, struct pg_fb *out, const char **err);

#endif
