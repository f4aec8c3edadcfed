#include "proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

static const uint8_t signature[12] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d,
				      0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a};

enum { CMD_LOCAL = 0x0, CMD_PROXY = 0x1 };
enum { FAM_UNSPEC = 0x00, FAM_TCP4 = 0x11, FAM_TCP6 = 0x21 };

static int fail(const char **why, const char *what)
{
	*why = what;
	return -1;
}

int pg_proxy_parse(const uint8_t *p, size_t n, struct pg_proxy_result *out, const char **why)
{
	/* A wrong first byte is known at once: say so before the rest arrives. */
	size_t sig = n < sizeof(signature) ? n : sizeof(signature);
	if (memcmp(p, signature, sig))
		return fail(why,
			    "no PROXY protocol v2 header (the balancer must use send-proxy-v2)");
	if (n < PG_PROXY_HEADER_MIN)
		return 0;
	if ((p[12] >> 4) != 2)
		return fail(why, "PROXY protocol version is not 2");
	int cmd = p[12] & 0x0f;
	if (cmd != CMD_LOCAL && cmd != CMD_PROXY)
		return fail(why, "PROXY header with an unknown command");
	size_t len = (size_t)p[14] << 8 | p[15];
	if (len > PG_PROXY_MAX_LEN)
		return fail(why, "PROXY header longer than 512 bytes");
	if (n < PG_PROXY_HEADER_MIN + len)
		return 0;
	memset(out, 0, sizeof(*out));
	const uint8_t *a = p + PG_PROXY_HEADER_MIN;
	int fam = p[13];
	if (cmd == CMD_LOCAL || fam == FAM_UNSPEC)
		return (int)(PG_PROXY_HEADER_MIN + len);
	if (fam == FAM_TCP4) {
		if (len < 12)
			return fail(why, "PROXY header too short for IPv4 addresses");
		struct sockaddr_in *in = (struct sockaddr_in *)&out->src;
		in->sin_family = AF_INET;
		memcpy(&in->sin_addr, a, 4);
		memcpy(&in->sin_port, a + 8, 2); /* both in network order */
	} else if (fam == FAM_TCP6) {
		if (len < 36)
			return fail(why, "PROXY header too short for IPv6 addresses");
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&out->src;
		in6->sin6_family = AF_INET6;
		memcpy(&in6->sin6_addr, a, 16);
		memcpy(&in6->sin6_port, a + 32, 2);
	} else {
		/* UDP and Unix sockets: nothing a viewer arrives over. */
		return fail(why, "PROXY header for a transport other than TCP");
	}
	out->has_addr = 1;
	return (int)(PG_PROXY_HEADER_MIN + len);
}
