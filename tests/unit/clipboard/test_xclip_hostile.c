/* Hostile provides: zlib bombs are refused from the declared size or after the
 * declared bytes, with bounded memory and without inflating the rest; corrupt and
 * truncated streams and lengths are errors, never a read or write out of bounds. */
#include <criterion/criterion.h>
#include <string.h>
#include <sys/resource.h>
#include <zlib.h>

#include "clip_util.h"
#include "codec/clipboard.h"
#include "codec/err.h"
#include "codec/rfb.h"

#define MiB (1u << 20)

static struct pg_buf raw, pl;

static void setup(void)
{
	pg_buf_init(&raw, 4 * MiB);
	pg_buf_init(&pl, 4 * MiB);
}

static void teardown(void)
{
	pg_buf_free(&raw);
	pg_buf_free(&pl);
}

TestSuite(xclip_hostile, .init = setup, .fini = teardown);

static int parse_guarded(const uint8_t *payload, size_t len, size_t max_text, uint8_t *out,
			 size_t out_size, const char **why)
{
	struct pgx_guard g = {0};
	const uint8_t *p = pgx_guard_place(&g, payload, len);
	struct pg_xclip_msg m;
	*why = NULL;
	int rc = pg_xclip_parse(p, len, max_text, &m, out, out_size, why);
	pgx_guard_free(&g);
	if (rc < 0)
		cr_assert_not_null(*why);
	return rc;
}

static long max_rss_kib(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_maxrss;
}

/* A stream of hdr then `total` bytes of 'A', deflated in 1 MiB steps so that making
 * the bomb costs no memory either. */
static void bomb(uint32_t flags, const void *hdr, size_t hdr_len, size_t total)
{
	cr_assert_eq(pg_buf_put_u32(&pl, flags), 0);
	z_stream zs;
	memset(&zs, 0, sizeof(zs));
	cr_assert_eq(deflateInit(&zs, Z_BEST_COMPRESSION), Z_OK);
	static uint8_t a[MiB], chunk[65536];
	memset(a, 'A', sizeof(a));
	size_t left = total;
	const uint8_t *in = hdr;
	size_t in_len = hdr_len;
	for (;;) {
		zs.next_in = (Bytef *)in;
		zs.avail_in = (uInt)in_len;
		int f = left ? Z_NO_FLUSH : Z_FINISH;
		int rc;
		do {
			zs.next_out = chunk;
			zs.avail_out = sizeof(chunk);
			rc = deflate(&zs, f);
			cr_assert_eq(pg_buf_append(&pl, chunk, sizeof(chunk) - zs.avail_out), 0);
		} while (zs.avail_out == 0 || (f == Z_FINISH && rc != Z_STREAM_END));
		if (!left)
			break;
		in = a;
		in_len = left < sizeof(a) ? left : sizeof(a);
		left -= in_len;
	}
	deflateEnd(&zs);
}

Test(xclip_hostile, bomb_declared_size)
{
	/* "100 MiB of text" in about 100 KiB: refused from the size alone. The bytes
	 * after the size are cut off, so inflating them would have said EPROTO. */
	uint8_t hdr[4];
	pg_wr32(hdr, 100 * MiB + 1);
	bomb(PG_XCLIP_PROVIDE | PG_XCLIP_TEXT, hdr, 4, 100 * MiB);
	cr_assert_lt(pl.len, 200 * 1024);
	pl.len = 4 + 64; /* keep the size, drop the rest */
	static uint8_t out[MiB + 1];
	const char *why;
	cr_assert_eq(parse_guarded(pl.data, pl.len, MiB, out, sizeof(out), &why), PG_ELIMIT);
}

Test(xclip_hostile, bomb_after_small_text)
{
	/* A text of 9 bytes and a NUL, then 100 MiB more in the same stream: the
	 * parser inflates 10 bytes and one more to see the stream does not end. */
	uint8_t hdr[4 + 10];
	pg_wr32(hdr, 10);
	memcpy(hdr + 4, "harmless", 9);
	hdr[13] = 0;
	bomb(PG_XCLIP_PROVIDE | PG_XCLIP_TEXT, hdr, sizeof(hdr), 100 * MiB);
	cr_assert_lt(pl.len, PG_RFB_MAX_CUT_TEXT);

	long before = max_rss_kib();
	struct pgx_guard g = {0};
	uint8_t *out = pgx_guard_alloc(&g, 10); /* any write past 10 bytes faults */
	const char *why;
	cr_assert_eq(parse_guarded(pl.data, pl.len, 4096, out, 10, &why), PG_EPROTO);
	cr_assert_eq(memcmp(out, "harmless", 9), 0);
	pgx_guard_free(&g);
	/* zlib's inflate state and window, nothing in proportion to the bomb */
	cr_assert_lt(max_rss_kib() - before, 4096, "grew %ld KiB", max_rss_kib() - before);
}

Test(xclip_hostile, bomb_in_dropped_format)
{
	/* Text, then "RTF" inflating to 100 MiB: the RTF is never inflated. */
	uint8_t hdr[4 + 3 + 4];
	pg_wr32(hdr, 3);
	memcpy(hdr + 4, "ok", 3);
	pg_wr32(hdr + 7, 100 * MiB);
	bomb(PG_XCLIP_PROVIDE | PG_XCLIP_TEXT | PG_XCLIP_RTF, hdr, sizeof(hdr), 100 * MiB);

	long before = max_rss_kib();
	uint8_t out[16];
	struct pg_xclip_msg m;
	const char *why;
	cr_assert_eq(pg_xclip_parse(pl.data, pl.len, 4096, &m, out, sizeof(out), &why), 0);
	cr_assert_eq(m.text_len, 2);
	cr_assert_str_eq((char *)out, "ok");
	cr_assert_eq(m.dropped_formats, PG_XCLIP_RTF);
	cr_assert_lt(max_rss_kib() - before, 4096);
}

static void provide_of(const void *entry, size_t n, int flush)
{
	pg_buf_reset(&raw);
	pg_buf_reset(&pl);
	cr_assert_eq(pg_buf_append(&raw, entry, n), 0);
	pgx_provide_payload(&pl, PG_XCLIP_PROVIDE | PG_XCLIP_TEXT, &raw, flush);
}

Test(xclip_hostile, truncated_lengths)
{
	uint8_t out[256];
	const char *why;

	/* the stream holds two bytes of the size */
	provide_of("\0\0", 2, Z_FINISH);
	cr_assert_eq(parse_guarded(pl.data, pl.len, 4096, out, sizeof(out), &why), PG_EPROTO);
	/* no stream at all */
	cr_assert_eq(parse_guarded(pl.data, 4, 4096, out, sizeof(out), &why), PG_EPROTO);
	/* size 100, 6 bytes there */
	provide_of("\0\0\0\x64hello", 10, Z_FINISH);
	cr_assert_eq(parse_guarded(pl.data, pl.len, 4096, out, sizeof(out), &why), PG_EPROTO);
	provide_of("\0\0\0\x64hello", 10, Z_SYNC_FLUSH);
	cr_assert_eq(parse_guarded(pl.data, pl.len, 4096, out, sizeof(out), &why), PG_EPROTO);
	/* size 0: not even the NUL */
	provide_of("\0\0\0\0", 4, Z_FINISH);
	cr_assert_eq(parse_guarded(pl.data, pl.len, 4096, out, sizeof(out), &why), PG_EPROTO);
	/* text whose last byte is not NUL */
	provide_of("\0\0\0\x05hello", 9, Z_FINISH);
	cr_assert_eq(parse_guarded(pl.data, pl.len, 4096, out, sizeof(out), &why), PG_EPROTO);
	/* one byte more than declared */
	provide_of("\0\0\0\x03hi\0!", 8, Z_FINISH);
	cr_assert_eq(parse_guarded(pl.data, pl.len, 4096, out, sizeof(out), &why), PG_EPROTO);
	/* an early NUL is the caller's to judge: passed on with the declared length */
	provide_of("\0\0\0\x04h\0i\0", 8, Z_FINISH);
	cr_assert_eq(parse_guarded(pl.data, pl.len, 4096, out, sizeof(out), &why), 0);

	/* a finished stream cut anywhere after the text but before its checksum */
	provide_of("\0\0\0\x03hi\0", 7, Z_FINISH);
	size_t whole = pl.len;
	cr_assert_eq(parse_guarded(pl.data, whole, 4096, out, sizeof(out), &why), 0);
	for (size_t k = 4; k < whole; k++)
		cr_assert_eq(parse_guarded(pl.data, k, 4096, out, sizeof(out), &why), PG_EPROTO,
			     "cut at %zu of %zu", k, whole);
	/* bytes after the stream's end */
	cr_assert_eq(pg_buf_put_u8(&pl, 0), 0);
	cr_assert_eq(parse_guarded(pl.data, pl.len, 4096, out, sizeof(out), &why), PG_EPROTO);
}

Test(xclip_hostile, corrupt_zlib)
{
	uint8_t out[256];
	const char *why;
	static const char entry[] = "\0\0\0\x0chello world";

	provide_of(entry, sizeof(entry), Z_FINISH);
	cr_assert_eq(parse_guarded(pl.data, pl.len, 4096, out, sizeof(out), &why), 0);
	struct pg_buf good;
	pg_buf_init(&good, 4096);
	cr_assert_eq(pg_buf_append(&good, pl.data, pl.len), 0);

	/* a wrong zlib header, a preset dictionary, a wrong checksum */
	good.data[4] ^= 0x01;
	cr_assert_eq(parse_guarded(good.data, good.len, 4096, out, sizeof(out), &why), PG_EPROTO);
	good.data[4] ^= 0x01;
	good.data[5] |= 0x20;
	cr_assert_eq(parse_guarded(good.data, good.len, 4096, out, sizeof(out), &why), PG_EPROTO);
	memcpy(good.data, pl.data, pl.len);
	good.data[good.len - 1] ^= 0xff;
	cr_assert_eq(parse_guarded(good.data, good.len, 4096, out, sizeof(out), &why), PG_EPROTO);

	/* every single-byte flip in the stream: an error or, if zlib cannot tell, text
	 * that stays within the buffer; never a crash */
	for (size_t i = 4; i < pl.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			memcpy(good.data, pl.data, pl.len);
			good.data[i] ^= (uint8_t)(1u << bit);
			int rc = parse_guarded(good.data, good.len, 4096, out, sizeof(out), &why);
			cr_assert(rc == 0 || rc == PG_EPROTO || rc == PG_ELIMIT, "byte %zu bit %d",
				  i, bit);
		}
	}
	/* garbage that is not zlib at all */
	static const uint8_t junk[] = {0x10, 0, 0, 1, 'n', 'o', 't', ' ', 'z', 'l', 'i', 'b'};
	cr_assert_eq(parse_guarded(junk, sizeof(junk), 4096, out, sizeof(out), &why), PG_EPROTO);
	pg_buf_free(&good);
}
