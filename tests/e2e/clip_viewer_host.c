/* A tiny RFB 3.8 server for test_clipboard_viewer.sh: one viewer on loopback,
 * security None, a black 64x48 screen, and the clipboard through pixelgate's
 * codec/clipboard.c, so that TigerVNC's vncviewer checks our Extended Clipboard
 * messages and we check its own.
 *
 *   clip_viewer_host PORT_FILE SEND_TEXT RECV_FILE
 *
 * Writes the port it listens on to PORT_FILE. When the viewer asks for the
 * Extended Clipboard: sends caps and a notify (again each second until the viewer
 * requests, since TigerVNC only requests while its window has focus) and answers
 * the request with a provide of SEND_TEXT. When the viewer notifies, requests its
 * text and writes what its provide holds to RECV_FILE. Logs to stderr; exits when
 * the viewer goes, after 120 s, or on SIGTERM. */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "codec/buf.h"
#include "codec/clipboard.h"
#include "codec/err.h"
#include "codec/rfb.h"
#include "codec/rfb_server.h"

#define W 64
#define H 48

static int fd = -1;

static void die(const char *what)
{
	fprintf(stderr, "clip_viewer_host: %s\n", what);
	exit(1);
}

static void send_all(const void *p, size_t n)
{
	const uint8_t *b = p;
	while (n) {
		ssize_t k = write(fd, b, n);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0)
			die("write failed");
		b += k;
		n -= (size_t)k;
	}
}

static void send_buf(struct pg_buf *b)
{
	send_all(b->data, b->len);
	pg_buf_reset(b);
}

static void recv_exact(void *p, size_t n)
{
	uint8_t *b = p;
	while (n) {
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, 30000) <= 0)
			die("handshake timed out");
		ssize_t k = read(fd, b, n);
		if (k <= 0)
			die("viewer closed during the handshake");
		b += k;
		n -= (size_t)k;
	}
}

static void handshake(struct pg_buf *out)
{
	uint8_t v[12], b;
	send_all("RFB 003.008\n", 12);
	recv_exact(v, 12);
	send_all("\x01\x01", 2); /* one security type: None */
	recv_exact(&b, 1);
	if (b != PG_RFB_SEC_NONE)
		die("viewer chose another security type");
	send_all("\0\0\0\0", 4); /* SecurityResult OK */
	recv_exact(&b, 1);	 /* ClientInit */
	static const char name[] = "pixelgate clipboard test";
	if (pg_rfb_write_server_init(out, W, H, name, sizeof(name) - 1) < 0)
		die("ServerInit");
	send_buf(out);
}

static void send_screen(struct pg_buf *out, int bpp)
{
	static uint8_t hdr[16] = {PG_RFB_FB_UPDATE, 0, 0, 1};
	pg_wr16(hdr + 4, 0);
	pg_wr16(hdr + 6, 0);
	pg_wr16(hdr + 8, W);
	pg_wr16(hdr + 10, H);
	pg_wr32(hdr + 12, PG_ENC_RAW);
	static uint8_t px[W * H * 4];
	pg_buf_append(out, hdr, sizeof(hdr));
	pg_buf_append(out, px, (size_t)W * H * (size_t)(bpp / 8));
	send_buf(out);
}

int main(int argc, char **argv)
{
	if (argc != 4)
		die("usage: clip_viewer_host PORT_FILE SEND_TEXT RECV_FILE");
	const char *send_text = argv[2];

	int ls = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t sl = sizeof(sa);
	if (ls < 0 || bind(ls, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(ls, 1) < 0 ||
	    getsockname(ls, (struct sockaddr *)&sa, &sl) < 0)
		die("listen on loopback failed");
	FILE *pf = fopen(argv[1], "w");
	if (!pf)
		die("cannot write the port file");
	fprintf(pf, "%u\n", ntohs(sa.sin_port));
	fclose(pf);

	struct pollfd lp = {.fd = ls, .events = POLLIN};
	if (poll(&lp, 1, 60000) <= 0)
		die("no viewer within 60 s");
	fd = accept(ls, NULL, NULL);
	if (fd < 0)
		die("accept failed");
	close(ls);

	struct pg_buf out, in;
	pg_buf_init(&out, 4u << 20);
	pg_buf_init(&in, 2u << 20);
	handshake(&out);

	int bpp = 32, ext = 0, requested = 0;
	static uint8_t text[PG_XCLIP_MAX_TEXT + 1];
	time_t start = time(NULL), last_notify = 0;
	while (time(NULL) - start < 120) {
		if (ext && !requested && time(NULL) != last_notify) {
			last_notify = time(NULL);
			pg_xclip_build_notify(&out, true, true);
			send_buf(&out);
		}
		struct pollfd pfd = {.fd = fd, .events = POLLIN};
		if (poll(&pfd, 1, 250) <= 0)
			continue;
		if (pg_buf_reserve(&in, 65536) < 0)
			die("input over 2 MiB");
		ssize_t k = read(fd, in.data + in.len, 65536);
		if (k <= 0)
			break;
		in.len += (size_t)k;
		for (;;) {
			struct pg_cmsg c;
			const char *why = "";
			ssize_t n = pg_rfb_parse_client_msg(in.data, in.len, &c, &why);
			if (n == 0)
				break;
			if (n < 0)
				die(why);
			switch (c.type) {
			case PG_RFB_SET_PIXEL_FORMAT:
				bpp = c.pixfmt.bpp;
				break;
			case PG_RFB_SET_ENCODINGS:
				for (unsigned i = 0; i < c.encodings.count; i++)
					if ((int32_t)pg_rd32(c.encodings.list + 4 * i) ==
						PG_ENC_EXT_CLIPBOARD &&
					    !ext) {
						ext = 1;
						fprintf(stderr, "viewer: asks for the Extended "
								"Clipboard; sending caps\n");
						pg_xclip_build_caps(&out, true, PG_XCLIP_ACTIONS,
								    0);
						send_buf(&out);
					}
				break;
			case PG_RFB_FB_UPDATE_REQUEST:
				if (!c.fbreq.incremental)
					send_screen(&out, bpp);
				break;
			case PG_RFB_CLIENT_CUT_TEXT: {
				if (!c.cut.extended) {
					fprintf(stderr, "viewer: legacy cut text, %u bytes\n",
						c.cut.len);
					break;
				}
				struct pg_xclip_msg m;
				int rc = pg_xclip_parse(c.cut.text, c.cut.len, PG_XCLIP_MAX_TEXT,
							&m, text, sizeof(text), &why);
				if (rc < 0)
					die(why);
				fprintf(stderr, "viewer: action %d formats 0x%x\n", (int)m.action,
					m.formats);
				if (m.action == PG_XCLIP_A_REQUEST && (m.formats & PG_XCLIP_TEXT)) {
					requested = 1;
					pg_xclip_build_provide(&out, true,
							       (const uint8_t *)send_text,
							       strlen(send_text));
					send_buf(&out);
					fprintf(stderr, "host: provided %zu bytes\n",
						strlen(send_text));
				} else if (m.action == PG_XCLIP_A_NOTIFY &&
					   (m.formats & PG_XCLIP_TEXT)) {
					pg_xclip_build_request(&out, true);
					send_buf(&out);
				} else if (m.action == PG_XCLIP_A_PROVIDE &&
					   (m.formats & PG_XCLIP_TEXT)) {
					FILE *f = fopen(argv[3], "wb");
					if (!f || fwrite(text, 1, m.text_len, f) != m.text_len)
						die("cannot write the received text");
					fclose(f);
					fprintf(stderr, "viewer: provided %zu bytes\n", m.text_len);
				}
				break;
			}
			default:
				break;
			}
			pg_buf_consume(&in, (size_t)n);
		}
	}
	pg_buf_free(&in);
	pg_buf_free(&out);
	close(fd);
	return 0;
}
