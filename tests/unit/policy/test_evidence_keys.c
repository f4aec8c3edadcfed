/* The evidence keys: watermark templates checked at load, the watermark taken whole
 * from the first of the user's groups that has one (a group without one never
 * weakens it), its look keys following it, the layout and colour values, and the
 * recording keys with [recording] directory required when a section records. */
#include <criterion/criterion.h>
#include <string.h>

#include "policy_util.h"

static struct pg_config c;

static void fini(void)
{
	pg_config_free(&c);
}

TestSuite(policy_evidence, .fini = fini);

static const char cfg[] = "[policy]\n"
			  "watermark = {user} {addr}\n"
			  "watermark_opacity = 15\n"
			  "[policy plain]\n"
			  "watermark = off\n"
			  "[policy itaku]\n"
			  "watermark = \xe5\xa7\x94\xe8\xa8\x97 {user}\\n{time}\n"
			  "watermark_layout = bottom-right\n"
			  "watermark_color = #AA0000\n"
			  "watermark_angle = -30\n"
			  "record = yes\n"
			  "[policy keys]\n"
			  "record = yes\nrecord_keys = yes\n"
			  "[recording]\n"
			  "directory = /var/lib/pixelgate/recordings\n";

Test(policy_evidence, defaults_are_off)
{
	struct pg_policy p;
	pol_resolve(&c, "[policy]\nview_only = no\n", NULL, &p);
	cr_assert_str_eq(p.watermark, "");
	cr_assert_eq(p.watermark_invisible, 0);
	cr_assert_eq(p.record, 0);
	cr_assert_eq(p.watermark_size, 20);
	cr_assert_eq(p.watermark_opacity, 20);
	cr_assert_eq(p.watermark_angle, 25);
	cr_assert_eq(p.watermark_layout, 0);
	cr_assert_eq(p.watermark_color, 0x404040);
}

Test(policy_evidence, a_group_inherits_the_watermark_and_its_look)
{
	struct pg_policy p;
	pol_resolve(&c, cfg, "keys", &p);
	cr_assert_str_eq(p.watermark, "{user} {addr}");
	cr_assert_str_eq(p.watermark_from, "policy");
	cr_assert_eq(p.watermark_opacity, 15);
	cr_assert_eq(p.record, 1);
	cr_assert_eq(p.record_keys, 1);
}

Test(policy_evidence, a_group_may_turn_it_off_alone)
{
	struct pg_policy p;
	pol_resolve(&c, cfg, "plain", &p);
	cr_assert_str_eq(p.watermark, "");
}

Test(policy_evidence, the_first_watermark_wins_with_its_own_look)
{
	struct pg_policy p;
	pol_resolve(&c, cfg, "plain, itaku, keys", &p);
	/* plain has none; itaku's text comes with itaku's look, over [policy]'s. */
	cr_assert_str_eq(p.watermark, "\xe5\xa7\x94\xe8\xa8\x97 {user}\\n{time}");
	cr_assert_str_eq(p.watermark_from, "policy itaku");
	cr_assert_eq(p.watermark_layout, 4); /* bottom-right */
	cr_assert_eq(p.watermark_color, 0xaa0000);
	cr_assert_eq(p.watermark_angle, -30);
	cr_assert_eq(p.watermark_opacity, 15); /* not set in itaku: [policy]'s */
	/* The recording keys merge as the others: yes is stricter. */
	cr_assert_eq(p.record, 1);
	cr_assert_eq(p.record_keys, 1);
}

Test(policy_evidence, a_group_without_a_watermark_never_weakens_one)
{
	struct pg_policy p;
	pol_resolve(&c, cfg, "itaku, plain", &p);
	cr_assert_str_eq(p.watermark_from, "policy itaku");
	pg_config_free(&c);
	pol_resolve(&c, cfg, "keys, itaku", &p);
	cr_assert_str_eq(p.watermark, "{user} {addr}"); /* keys inherits [policy]'s first */
	cr_assert_eq(p.watermark_layout, 0);
}

Test(policy_evidence, bad_values_name_the_line)
{
	struct pg_config_errors e = {0};
	cr_assert_lt(pol_load(&c, &e,
			      "[policy]\nwatermark = {user} {adr}\n"
			      "watermark_layout = middle\nwatermark_color = 12345\n"
			      "watermark_angle = 91\nwatermark_size = 7\n"),
		     0);
	cr_assert(
	    pol_has_error(&e, ":2: [policy] watermark = '{user} {adr}': unknown placeholder"));
	cr_assert(pol_has_error(&e, ":3: [policy] watermark_layout = 'middle': not valid"));
	cr_assert(pol_has_error(&e, ":4: [policy] watermark_color = '12345': not valid"));
	cr_assert(pol_has_error(&e, ":5: [policy] watermark_angle = '91' is out of range"));
	cr_assert(pol_has_error(&e, ":6: [policy] watermark_size = '7' is out of range"));
}

Test(policy_evidence, recording_needs_a_directory)
{
	struct pg_config_errors e = {0};
	cr_assert_eq(pol_load(&c, &e,
			      "[relay]\nsecurity = none\n[upstream]\naddress = 127.0.0.1:5901\n"
			      "[policy x]\nrecord = yes\n"),
		     0);
	cr_assert_lt(pg_config_check(&c, &e), 0);
	cr_assert(pol_has_error(&e, "record = yes, but [recording] directory is not set"));
	pg_config_free(&c);
	memset(&e, 0, sizeof(e));
	cr_assert_eq(pol_load(&c, &e,
			      "[relay]\nsecurity = none\n[upstream]\naddress = 127.0.0.1:5901\n"
			      "[recording]\ndirectory = relative/path\n"),
		     0);
	cr_assert_lt(pg_config_check(&c, &e), 0);
	cr_assert(pol_has_error(&e, "expected an absolute path"));
}
