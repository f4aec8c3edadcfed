/* How a user's groups combine: the stricter value of each key, union of patterns and
 * detectors, intersection of networks; merge = first; groups without a section. */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <string.h>

#include "policy_util.h"

static struct pg_config c;

static void fini(void)
{
	pg_config_free(&c);
}

TestSuite(policy_merge, .fini = fini);

static const char cfg[] =
    "[policy]\n"
    "deny_pattern = base\n"
    "[policy open]\n"
    "clipboard_to_browser = text\nclipboard_to_viewer = text\nclipboard_max_bytes = 8000\n"
    "clipboard_min_interval_ms = 100\nclipboard_latin1 = replace\nkeys_per_second = 50\n"
    "keys_burst = 100\nidle_timeout = 1h\nmax_session = 10h\nwarn_before = 2m\n"
    "max_sessions_per_user = 5\ndetect = mynumber\ndeny_pattern = open-only\n"
    "allowed_networks = 10.0.0.0/8, 192.168.0.0/16, 2001:db8::/32\n"
    "[policy strict]\n"
    "clipboard_to_viewer = text\nclipboard_max_bytes = 1000\nclipboard_min_interval_ms = 5000\n"
    "view_only = yes\nkeys_per_second = 10\nidle_timeout = 5m\nmax_session = 4h\n"
    "detect = credit_card\ndeny_pattern = strict-only\n"
    "allowed_networks = 10.1.0.0/16, 172.16.0.0/12, 2001:db8:5::/48\n";

static bool allows(const struct pg_policy *p, const char *ip)
{
	struct sockaddr_in in4 = {.sin_family = AF_INET};
	struct sockaddr_in6 in6 = {.sin6_family = AF_INET6};
	if (inet_pton(AF_INET, ip, &in4.sin_addr) == 1)
		return pg_policy_allows_address(p, (struct sockaddr *)&in4);
	cr_assert_eq(inet_pton(AF_INET6, ip, &in6.sin6_addr), 1, "%s", ip);
	return pg_policy_allows_address(p, (struct sockaddr *)&in6);
}

Test(policy_merge, one_group_inherits_from_default_section)
{
	struct pg_policy p;
	pol_resolve(&c, cfg, "open", &p);
	cr_assert_eq(p.clipboard_to_browser, PG_POLICY_TEXT);
	cr_assert_eq(p.view_only, 0); /* not set in [policy open]: the default */
	cr_assert_eq(p.npatterns, 2); /* [policy]'s patterns apply to every group */
	cr_assert_str_eq(p.patterns[0]->source, "base");
	cr_assert_str_eq(p.patterns[1]->source, "open-only");
	cr_assert_str_eq(p.decided_by, "policy open");
}

Test(policy_merge, most_restrictive_wins)
{
	struct pg_policy p;
	pol_resolve(&c, cfg, "open, strict", &p);
	cr_assert_eq(p.clipboard_to_browser, PG_POLICY_DENY); /* deny beats text */
	cr_assert_eq(p.clipboard_to_viewer, PG_POLICY_TEXT);  /* both say text */
	cr_assert_eq(p.clipboard_max_bytes, 1000);	      /* smaller limit */
	cr_assert_eq(p.clipboard_min_interval_ms, 5000);      /* longer interval */
	cr_assert_eq(p.clipboard_latin1, PG_POLICY_DROP);     /* strict inherits drop */
	cr_assert_eq(p.view_only, 1);			      /* yes wins */
	cr_assert_eq(p.keys_per_second, 10);
	cr_assert_eq(p.keys_burst, 40);
	cr_assert_eq(p.idle_timeout, 300);
	cr_assert_eq(p.max_session, 4 * 3600);
	cr_assert_eq(p.max_sessions_per_user, 3);
	cr_assert_eq(p.warn_before, 120); /* the longer warning */
	cr_assert_eq(p.detect, PG_POLICY_DETECT_MYNUMBER | PG_POLICY_DETECT_CREDIT_CARD);
	cr_assert_eq(p.npatterns, 3);
	cr_assert_str_eq(p.decided_by, "policy open, policy strict");
}

Test(policy_merge, order_does_not_matter_when_restrictive)
{
	struct pg_policy a, b;
	pol_resolve(&c, cfg, "open,strict", &a);
	pg_policy_effective(&c.policy, "strict,open", &b);
	cr_assert_eq(a.clipboard_max_bytes, b.clipboard_max_bytes);
	cr_assert_eq(a.view_only, b.view_only);
	cr_assert_eq(a.idle_timeout, b.idle_timeout);
	cr_assert_eq(a.nnets, b.nnets);
}

Test(policy_merge, networks_intersect)
{
	struct pg_policy p;
	pol_resolve(&c, cfg, "open,strict", &p);
	cr_assert_not(p.any_network);
	cr_assert_eq(p.nnets, 2); /* 10.1.0.0/16 and 2001:db8:5::/48 */
	cr_assert(allows(&p, "10.1.2.3"));
	cr_assert(allows(&p, "::ffff:10.1.2.3"));
	cr_assert_not(allows(&p, "10.2.0.1"));	  /* open only */
	cr_assert_not(allows(&p, "192.168.1.1")); /* open only */
	cr_assert_not(allows(&p, "172.16.0.1"));  /* strict only */
	cr_assert(allows(&p, "2001:db8:5::1"));
	cr_assert_not(allows(&p, "2001:db8:6::1"));
	pg_policy_effective(&c.policy, "open", &p);
	cr_assert(allows(&p, "10.2.0.1"));
	cr_assert(allows(&p, "192.168.1.1"));
	cr_assert_not(allows(&p, "172.16.0.1"));
}

Test(policy_merge, disjoint_networks_allow_nothing)
{
	struct pg_policy p;
	pol_resolve(&c,
		    "[policy a]\nallowed_networks = 10.0.0.0/8\n[policy b]\n"
		    "allowed_networks = 192.168.0.0/16\n",
		    "a,b", &p);
	cr_assert_not(p.any_network);
	cr_assert_eq(p.nnets, 0);
	cr_assert_not(allows(&p, "10.0.0.1"));
	cr_assert_not(allows(&p, "192.168.0.1"));
}

Test(policy_merge, any_network_by_default)
{
	struct pg_policy p;
	pol_resolve(&c, cfg, "nosection", &p);
	cr_assert(p.any_network);
	cr_assert(allows(&p, "203.0.113.9"));
	cr_assert(allows(&p, "2001:db8::1"));
}

Test(policy_merge, groups_without_a_section_take_no_part)
{
	struct pg_policy p;
	pol_resolve(&c, cfg, "staff,open,everyone", &p);
	cr_assert_eq(p.clipboard_to_browser, PG_POLICY_TEXT);
	cr_assert_str_eq(p.decided_by, "policy open");
	pg_policy_effective(&c.policy, "staff,everyone", &p);
	cr_assert_eq(p.clipboard_to_browser, PG_POLICY_DENY);
	cr_assert_str_eq(p.decided_by, "policy");
	pg_policy_effective(&c.policy, "", &p);
	cr_assert_str_eq(p.decided_by, "policy");
	pg_policy_effective(&c.policy, NULL, &p);
	cr_assert_eq(p.npatterns, 1);
}

Test(policy_merge, merge_first_takes_the_first_group_with_a_section)
{
	struct pg_policy p;
	char text[sizeof(cfg) + 32] = "[policy]\nmerge = first\n";
	strcat(text, cfg + strlen("[policy]\n"));
	pol_resolve(&c, text, "staff, open, strict", &p);
	cr_assert_str_eq(p.decided_by, "policy open");
	cr_assert_eq(p.clipboard_to_browser, PG_POLICY_TEXT);
	cr_assert_eq(p.view_only, 0);
	cr_assert_eq(p.clipboard_max_bytes, 8000);
	pg_policy_effective(&c.policy, "strict,open", &p);
	cr_assert_str_eq(p.decided_by, "policy strict");
	cr_assert_eq(p.view_only, 1);
}

Test(policy_merge, same_group_twice_counts_once)
{
	struct pg_policy p;
	pol_resolve(&c, cfg, "open,open", &p);
	cr_assert_str_eq(p.decided_by, "policy open");
	cr_assert_eq(p.nnets, 3);
}

Test(policy_merge, warning_is_clamped_to_the_shorter_limit)
{
	struct pg_policy p;
	pol_resolve(&c,
		    "[policy a]\nidle_timeout = 2m\n[policy b]\nwarn_before = 10m\n"
		    "idle_timeout = 1h\n",
		    "a,b", &p);
	cr_assert_eq(p.idle_timeout, 120);
	cr_assert_eq(p.warn_before, 60);
}

Test(policy_merge, default_section_values_are_inherited_by_groups)
{
	struct pg_policy p;
	pol_resolve(&c,
		    "[policy]\nclipboard_to_viewer = text\nkeys_per_second = 5\nkeys_burst = 5\n"
		    "[policy g]\nkeys_per_second = 2\n",
		    "g", &p);
	cr_assert_eq(p.clipboard_to_viewer, PG_POLICY_TEXT);
	cr_assert_eq(p.keys_per_second, 2);
	cr_assert_eq(p.keys_burst, 5);
}

/* The worked example of docs/policy.md, line for line. */
static const char municipal[] =
    "[policy]\n"
    "; every group: nothing crosses unless a group section says so\n"
    "clipboard_to_browser = deny\n"
    "clipboard_to_viewer = deny\n"
    "idle_timeout = 15m\n"
    "max_session = 8h\n"
    "warn_before = 2m\n"
    "max_sessions_per_user = 2\n"
    "allowed_networks = 10.20.0.0/16            ; the city hall's LGWAN segment\n"
    "; never to the Internet, whichever group allows text\n"
    "deny_pattern = (?i)(confidential|秘密|取扱注意)\n"
    "deny_pattern = 住民票コード\\s*\\d{11}\n"
    "\n"
    "[policy koho]\n"
    "clipboard_to_viewer = text                 ; web text into documents\n"
    "clipboard_to_browser = text                ; search terms and addresses out\n"
    "clipboard_max_chars = 2000\n"
    "detect = mynumber,corporate_number,credit_card\n"
    "\n"
    "[policy juminhyo]\n"
    "clipboard_to_viewer = text                 ; look up addresses, paste into forms\n"
    "clipboard_to_browser = deny\n"
    "keys_per_second = 10\n"
    "keys_burst = 20\n"
    "idle_timeout = 5m\n"
    "allowed_networks = 10.20.8.0/24            ; the registry counter's terminals\n"
    "\n"
    "[policy itaku]\n"
    "view_only = yes\n"
    "max_session = 2h\n"
    "max_sessions_per_user = 1\n";

Test(policy_merge, municipal_example_from_the_docs)
{
	struct pg_policy p;
	struct pg_clip_verdict v;
	pol_resolve(&c, municipal, "staff", &p);
	cr_assert_eq(p.clipboard_to_browser, PG_POLICY_DENY);
	cr_assert_eq(p.clipboard_to_viewer, PG_POLICY_DENY);
	cr_assert(allows(&p, "10.20.3.4"));
	cr_assert_not(allows(&p, "10.21.0.1"));

	pg_policy_effective(&c.policy, "staff, koho", &p);
	cr_assert_eq(p.clipboard_max_chars, 2000);
	cr_assert_eq(pol_check(&p, PG_CLIP_TO_BROWSER, "住民票の写しの請求方法", &v), 0, "%s",
		     v.rule);
	cr_assert_eq(pol_check(&p, PG_CLIP_TO_BROWSER, "マイナンバー 1234 5678 9018", &v), -1);
	cr_assert_str_eq(v.rule, "detector mynumber");
	cr_assert_eq(pol_check(&p, PG_CLIP_TO_BROWSER, "１２３４５６７８９０１８", &v), -1);
	cr_assert_str_eq(v.rule, "detector mynumber");
	cr_assert_eq(pol_check(&p, PG_CLIP_TO_BROWSER, "取扱注意: 議事録", &v), -1);
	cr_assert_str_eq(v.rule, "deny_pattern #1");

	pg_policy_effective(&c.policy, "staff, koho, juminhyo", &p);
	cr_assert_eq(p.clipboard_to_browser, PG_POLICY_DENY);
	cr_assert_eq(p.clipboard_to_viewer, PG_POLICY_TEXT);
	cr_assert_eq(p.clipboard_max_chars, 2000);
	cr_assert_eq(p.keys_per_second, 10);
	cr_assert_eq(p.keys_burst, 20);
	cr_assert_eq(p.idle_timeout, 300);
	cr_assert(allows(&p, "10.20.8.7"));
	cr_assert_not(allows(&p, "10.20.3.4"));
	cr_assert_str_eq(p.decided_by, "policy koho, policy juminhyo");

	pg_policy_effective(&c.policy, "itaku", &p);
	cr_assert_eq(p.view_only, 1);
	cr_assert_eq(p.max_session, 7200);
	cr_assert_eq(p.max_sessions_per_user, 1);
	cr_assert_eq(p.warn_before, 120);
}
