/* pg_rfb_client's security callback and the hand-over of the stream to the caller
 * (VeNCrypt and TLS in the worker), fed byte by byte: the choice, the refusals, and
 * RFB resuming after the caller's layer with a VNC challenge or a SecurityResult. */
#include <criterion/criterion.h>
#include <string.h>

#include "codec/err.h"
#include "codec/rfb.h"
#include "codec/rfb_client.h"
#include "upstream_util.h"

struct ctx {
	int answer; /* what the security callback returns */
	uint8_t seen[16];
	size_t nseen;
	int calls;
	int auth_calls;
};

static int on_security(void *ud, const uint8_t *types, size_t n)
{
	struct ctx *x = ud;
	x->calls++;
	x->nseen = n < sizeof(x->seen) ? n : sizeof(x->seen);
	memcpy(x->seen, types, x->nseen);
	return x->answer;
}

static int on_vnc_auth(void *ud, const uint8_t challenge[16], uint8_t response[16])
{
	struct ctx *x = ud;
	x->auth_calls++;
	for (int i = 0; i < 16; i++)
		response[i] = (uint8_t)(challenge[i] ^ 0x5a);
	return 0;
}

static struct pg_rfb_client *client(struct ctx *x)
{
	struct pg_rfb_client_cb cb = {.ud = x, .security = on_security, .vnc_auth = on_vnc_auth};
	struct pg_rfb_client *c = pg_rfb_client_new(&cb);
	cr_assert_not_null(c);
	return c;
}

/* Up to the security list: the host's version and list, our version and choice. */
static void offer(struct pg_rfb_client *c, const uint8_t *list, size_t n, uint8_t expect)
{
	uint8_t b[1 + 16];
	cr_assert_eq(ut_trickle(c, "RFB 003.008\n", 12), 12);
	ut_take(c, "RFB 003.008\n", 12);
	b[0] = (uint8_t)n;
	memcpy(b + 1, list, n);
	ssize_t rc = ut_trickle(c, b, 1 + n);
	if (!expect) {
		cr_assert_lt(rc, 0);
		return;
	}
	cr_assert_gt(rc, 0);
	ut_take(c, &expect, 1);
}

Test(rfb_security, external_then_result)
{
	static const uint8_t list[] = {PG_RFB_SEC_NONE, PG_RFB_SEC_VENCRYPT};
	struct ctx x = {.answer = PG_RFB_SEC_VENCRYPT};
	struct pg_rfb_client *c = client(&x);

	/* None is offered, but the caller insists on VeNCrypt: no downgrade. */
	offer(c, list, 2, PG_RFB_SEC_VENCRYPT);
	cr_assert_eq(x.calls, 1);
	cr_assert_eq(x.nseen, 2);
	cr_assert_eq(memcmp(x.seen, list, 2), 0);
	cr_assert_eq(pg_rfb_client_external(c), PG_RFB_SEC_VENCRYPT);
	cr_assert_not(pg_rfb_client_ready(c));
	/* The caller's bytes are not the client's. */
	cr_assert_eq(pg_rfb_client_feed(c, (const uint8_t *)"\0\2", 2), 0);
	cr_assert_eq(pg_rfb_client_output(c)->len, 0);
	cr_assert_eq(pg_rfb_client_external_done(c, 0), 0);
	cr_assert_eq(pg_rfb_client_external(c), 0);
	ut_client_init(c, "host");
	cr_assert_eq(x.auth_calls, 0);
	pg_rfb_client_del(c);
}

Test(rfb_security, external_then_vnc_challenge)
{
	static const uint8_t list[] = {PG_RFB_SEC_VENCRYPT};
	uint8_t challenge[16], response[16];
	struct ctx x = {.answer = PG_RFB_SEC_VENCRYPT};
	struct pg_rfb_client *c = client(&x);

	offer(c, list, 1, PG_RFB_SEC_VENCRYPT);
	cr_assert_eq(pg_rfb_client_external_done(c, 1), 0);
	for (int i = 0; i < 16; i++) {
		challenge[i] = (uint8_t)(i * 17);
		response[i] = (uint8_t)(challenge[i] ^ 0x5a);
	}
	cr_assert_eq(ut_trickle(c, challenge, 16), 16);
	cr_assert_eq(x.auth_calls, 1);
	ut_take(c, response, 16);
	ut_client_init(c, "host");
	pg_rfb_client_del(c);
}

Test(rfb_security, refused_by_callback)
{
	static const uint8_t list[] = {PG_RFB_SEC_VNC};
	struct ctx x = {.answer = -1};
	struct pg_rfb_client *c = client(&x);

	offer(c, list, 1, 0);
	cr_assert_eq(pg_rfb_client_external(c), 0);
	cr_assert(strstr(pg_rfb_client_error(c), "host offered 2"), "%s", pg_rfb_client_error(c));
	cr_assert_eq(pg_rfb_client_output(c)->len, 0, "a choice was sent after a refusal");
	pg_rfb_client_del(c);
}

Test(rfb_security, choice_not_offered)
{
	static const uint8_t list[] = {PG_RFB_SEC_NONE};
	struct ctx x = {.answer = PG_RFB_SEC_VENCRYPT};
	struct pg_rfb_client *c = client(&x);

	offer(c, list, 1, 0);
	cr_assert(strstr(pg_rfb_client_error(c), "type 19 chosen"), "%s", pg_rfb_client_error(c));
	pg_rfb_client_del(c);
}

Test(rfb_security, zero_means_default)
{
	static const uint8_t list[] = {PG_RFB_SEC_VNC, PG_RFB_SEC_NONE};
	struct ctx x = {.answer = 0};
	struct pg_rfb_client *c = client(&x);

	offer(c, list, 2, PG_RFB_SEC_NONE);
	cr_assert_eq(pg_rfb_client_external(c), 0);
	ut_client_init(c, "host");
	pg_rfb_client_del(c);
}

Test(rfb_security, rfb33_choice_refused)
{
	static const uint8_t none[4] = {0, 0, 0, PG_RFB_SEC_NONE};
	struct ctx x = {.answer = PG_RFB_SEC_VENCRYPT};
	struct pg_rfb_client *c = client(&x);

	cr_assert_eq(ut_trickle(c, "RFB 003.003\n", 12), 12);
	ut_take(c, "RFB 003.003\n", 12);
	cr_assert_lt(ut_trickle(c, none, 4), 0);
	cr_assert_eq(x.calls, 1);
	cr_assert_eq(x.nseen, 1);
	cr_assert_eq(x.seen[0], PG_RFB_SEC_NONE);
	cr_assert(strstr(pg_rfb_client_error(c), "refused"), "%s", pg_rfb_client_error(c));
	pg_rfb_client_del(c);
}

Test(rfb_security, done_without_external)
{
	struct ctx x = {0};
	struct pg_rfb_client *c = client(&x);

	cr_assert_eq(pg_rfb_client_external_done(c, 0), PG_EPROTO);
	cr_assert_eq(pg_rfb_client_external(c), 0);
	pg_rfb_client_del(c);
}
