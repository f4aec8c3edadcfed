/* Legacy VNC authentication (RFB security type 2): the DES challenge response and
 * the password files TigerVNC's and x11vnc's vncpasswd write. Thread-safe; no I/O
 * except pg_vncauth_read_password_file. */
#ifndef PG_AUTH_VNCAUTH_H
#define PG_AUTH_VNCAUTH_H

#include <stddef.h>
#include <stdint.h>

/* Longest password VNC authentication uses; longer ones are truncated. */
#define PG_VNCAUTH_MAX_PASSWORD 8

/* Encrypt the 16-byte challenge with password (truncated or zero-padded to 8 bytes,
 * each key byte bit-reversed, DES-ECB of both halves) into response. Returns 0, or
 * -EINVAL for a NULL argument. Key material is wiped before returning. */
int pg_vncauth_response(const char *password, const uint8_t challenge[16], uint8_t response[16]);

/* Read a VNC password file into buf (NUL-terminated; size at least
 * PG_VNCAUTH_MAX_PASSWORD + 1). Two formats:
 *  - obfuscated: exactly 8 or 16 bytes (vncpasswd / x11vnc -storepasswd), the first
 *    8 DES-encrypted with the fixed key {23,82,107,6,35,78,88,7}; the 16-byte form's
 *    second half (view-only password) is ignored;
 *  - plain text: the first line (CR/LF stripped), at most 4095 bytes of file read.
 * A file of 8 or 16 bytes is plain text only when it ends with '\n' and every other
 * byte is printable ASCII (or CR), so a 7-character plain password still works.
 * Returns 0, or a negative errno: -ENOENT/-EACCES/... from open, -EINVAL for an
 * empty password or NULL argument, -E2BIG when buf is too small, -EFBIG for a file
 * over 4095 bytes. buf is wiped on failure. */
int pg_vncauth_read_password_file(const char *path, char *buf, size_t size);

#endif
