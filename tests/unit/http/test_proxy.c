/* The PROXY v2 header reader: every prefix of a valid header asks for more, a wrong
 * byte is refused as soon as it arrives, and lengths are bounded before anything is
 * read past the fixed part. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include <criterion/criterion.h>

#include "http/proxy.h"

static const uint8_t v4[] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51,
			     0x55, 0x49, 0x54, 0x0a,			  /* signature */
			     0x21, 0x11, 0x00, 0x0c,			  /* PROXY, TCP4, 12 */
			     10,   9,	 8,    7,    127,  0,	 0,    1, /* src, dst */
			     0x11, 0x5c, 0x17, 0x0c,			  /* 4444, 5900 */
			     'R',  'F',	 'B'};				  /* the client's */

Test(proxy, ipv4_whole_and_in_pieces)
{
	struct pg_proxy_result r;
	const char *why = NULL;
	for (size_t n = 0; n < 28; n++)
		cr_assert_eq(pg_proxy_parse(v4, n, &r, &why), 0, "prefix of %zu bytes", n);
	cr_assert_eq(pg_proxy_parse(v4, sizeof(v4), &r, &why), 28);
	cr_assert(r.has_addr);
	const struct sockaddr_in *in = (const struct sockaddr_in *)&r.src;
	char s[INET_ADDRSTRLEN];
	cr_assert_eq(in->sin_family, AF_INET);
	cr_assert_str_eq(inet_ntop(AF_INET, &in->sin_addr, s, sizeof(s)), "10.9.8.7");
	cr_assert_eq(ntohs(in->sin_port), 4444);
}

Test(proxy, ipv6_and_tlvs)
{
	uint8_t h[16 + 36 + 7];
	memcpy(h, v4, 12);
	h[12] = 0x21;
	h[13] = 0x21;
	h[14] = 0;
	h[15] = 36 + 7; /* a TLV after the addresses is skipped */
	inet_pton(AF_INET6, "2001:db8::5", h + 16);
	inet_pton(AF_INET6, "::1", h + 32);
	h[48] = 0x15;
	h[49] = 0xb3;
	memset(h + 52, 0x04, 7);
	struct pg_proxy_result r;
	const char *why = NULL;
	cr_assert_eq(pg_proxy_parse(h, sizeof(h) - 1, &r, &why), 0);
	cr_assert_eq(pg_proxy_parse(h, sizeof(h), &r, &why), (int)sizeof(h));
	const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&r.src;
	char s[INET6_ADDRSTRLEN];
	cr_assert_eq(in6->sin6_family, AF_INET6);
	cr_assert_str_eq(inet_ntop(AF_INET6, &in6->sin6_addr, s, sizeof(s)), "2001:db8::5");
	cr_assert_eq(ntohs(in6->sin6_port), 5555);
}

Test(proxy, local_and_unspec_keep_the_connection_address)
{
	uint8_t h[28];
	memcpy(h, v4, sizeof(h));
	struct pg_proxy_result r;
	const char *why = NULL;
	h[12] = 0x20; /* LOCAL */
	cr_assert_eq(pg_proxy_parse(h, sizeof(h), &r, &why), 28);
	cr_assert_not(r.has_addr);
	h[12] = 0x21;
	h[13] = 0x00; /* UNSPEC */
	cr_assert_eq(pg_proxy_parse(h, sizeof(h), &r, &why), 28);
	cr_assert_not(r.has_addr);
}

Test(proxy, refused_at_the_first_wrong_byte)
{
	struct pg_proxy_result r;
	const char *why = NULL;
	for (size_t i = 0; i < 12; i++) {
		uint8_t h[28];
		memcpy(h, v4, sizeof(h));
		h[i] ^= 0x40;
		cr_assert_eq(pg_proxy_parse(h, i + 1, &r, &why), -1, "byte %zu", i);
		cr_assert_not_null(why);
	}
	cr_assert_eq(pg_proxy_parse((const uint8_t *)"RFB 003.008\n", 12, &r, &why), -1);
	cr_assert(strstr(why, "send-proxy-v2"));
}

Test(proxy, bad_fields)
{
	struct pg_proxy_result r;
	const char *why = NULL;
	uint8_t h[sizeof(v4)];
	memcpy(h, v4, sizeof(h));
	h[12] = 0x11; /* version 1 */
	cr_assert_eq(pg_proxy_parse(h, 16, &r, &why), -1);
	cr_assert(strstr(why, "version"));
	memcpy(h, v4, sizeof(h));
	h[12] = 0x2f; /* command 15 */
	cr_assert_eq(pg_proxy_parse(h, 16, &r, &why), -1);
	memcpy(h, v4, sizeof(h));
	h[14] = 0x02; /* 524 bytes: refused on the 16 bytes, nothing waited for */
	h[15] = 0x0c;
	cr_assert_eq(pg_proxy_parse(h, 16, &r, &why), -1);
	cr_assert(strstr(why, "512"));
	memcpy(h, v4, sizeof(h));
	h[15] = 8; /* too short for two IPv4 addresses and ports */
	cr_assert_eq(pg_proxy_parse(h, 24, &r, &why), -1);
	memcpy(h, v4, sizeof(h));
	h[13] = 0x12; /* UDP */
	cr_assert_eq(pg_proxy_parse(h, 28, &r, &why), -1);
	h[13] = 0x31; /* AF_UNIX */
	cr_assert_eq(pg_proxy_parse(h, 28, &r, &why), -1);
}
