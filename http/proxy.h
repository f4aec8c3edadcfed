/* The PROXY protocol, version 2 (HAProxy's "send-proxy-v2"): the binary header a
 * load balancer in TCP mode puts before a connection's first byte, naming the client
 * it accepted the connection from. Only connections from the networks the relay
 * trusts ([relay] proxy_protocol_from) are read with it: from anyone else, a header
 * would be a lie about one's address.
 *
 * Version 1 (the text form) is not read: HAProxy speaks both, and the binary form
 * has a fixed layout that leaves nothing to interpret. Nothing in Debian parses it
 * as a library, and the part read here is 28 to 52 bytes of fixed layout. */
#ifndef PG_HTTP_PROXY_H
#define PG_HTTP_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The signature (12 bytes), version and command, family, and length: 16 bytes. */
#define PG_PROXY_HEADER_MIN 16
/* Addresses and TLVs a header may carry: HAProxy sends 12 (IPv4) or 36 (IPv6) bytes
 * of addresses, more only with TLVs configured (unique id, SSL details). */
#define PG_PROXY_MAX_LEN 512

struct pg_proxy_result {
	/* PROXY: the client's address and port. LOCAL (the balancer's own health
	 * check) or an unspecified family: none, the connection's own address stands.
	 * has_addr tells which. */
	int has_addr;
	struct sockaddr_storage src;
};

/* Read a header at the start of p (n bytes). Returns its length once whole (what
 * follows is the client's own data), 0 while more bytes are needed, or -1 when p
 * cannot start a valid header, with *why saying what is wrong. */
int pg_proxy_parse(const uint8_t *p, size_t n, struct pg_proxy_result *out, const char **why);

#endif
