/*
 * test_check.c — "mxlab check" pieces that need no server: which verdicts
 * are findings, how bytes are shown in transcripts, template expansion of
 * the open-relay addresses, and the report files (results.json, JUnit with
 * the transcript of a finding). Live servers: tests/check/servers.py.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../src/check_int.h"
#include "mxlab/fsutil.h"

static const struct weak_case {
    enum check_want want;
    enum check_verdict verdict;
    int weak;
} weak_cases[] = {
    {CHECK_WANT_REFUSED, CHECK_REFUSED, 0},
    {CHECK_WANT_REFUSED, CHECK_ACCEPTED, 1},
    {CHECK_WANT_REFUSED, CHECK_SPLIT, 1},
    {CHECK_WANT_REFUSED, CHECK_NA, 0},
    {CHECK_WANT_ACCEPTED, CHECK_ACCEPTED, 0},
    {CHECK_WANT_ACCEPTED, CHECK_REFUSED, 1},
    {CHECK_WANT_ACCEPTED, CHECK_NA, 0},
    {CHECK_WANT_NOT_SPLIT, CHECK_ACCEPTED, 0},
    {CHECK_WANT_NOT_SPLIT, CHECK_REFUSED, 0},
    {CHECK_WANT_NOT_SPLIT, CHECK_SPLIT, 1},
    {CHECK_WANT_ANY, CHECK_ACCEPTED, 0},
    {CHECK_WANT_ANY, CHECK_REFUSED, 0},
};

START_TEST(test_weak)
{
    const struct weak_case *c = &weak_cases[_i];
    struct check_result r = {0};

    r.want = c->want;
    r.verdict = c->verdict;
    ck_assert_int_eq(check_result_weak(&r), c->weak);
}
END_TEST

static const struct escape_case {
    const char *in;
    size_t len, max;
    const char *out;
} escape_cases[] = {
    {"MAIL\r\n", 6, 100, "MAIL\\r\\n"},
    {"\r\n\0.\r\n", 6, 100, "\\r\\n\\x00.\\r\\n"},
    {"a\\b", 3, 100, "a\\\\b"},
    {"\xff\x7f", 2, 100, "\\xff\\x7f"},
    {"abcdef", 6, 3, "abc...(6 bytes)"},
};

START_TEST(test_escape)
{
    const struct escape_case *c = &escape_cases[_i];
    struct strbuf sb;

    strbuf_init(&sb);
    check_escape(&sb, c->in, c->len, c->max);
    ck_assert_str_eq(sb.buf, c->out);
    strbuf_clear(&sb);
}
END_TEST

static const struct expand_case {
    const char *tpl, *out;
} expand_cases[] = {
    {"relaytest%{O}@{L}", "relaytest%out.example@local.example"},
    {"\"relaytest@{O}\"@[{I}]", "\"relaytest@out.example\"@[127.0.0.9]"},
    {"@{S}:relaytest@{O.}", "@mx.local.example:relaytest@out.example."},
    {"{O}!relaytest@{LU}", "out.example!relaytest@LOCAL.EXAMPLE"},
    {"{L.}!{OU}!x {F}", "local.example.!OUT.EXAMPLE!x s@sender.example"},
    {"{X}", "{X}"},
};

START_TEST(test_expand)
{
    const struct expand_case *c = &expand_cases[_i];
    struct check_target t = {0};
    struct strbuf sb;

    t.domain = "local.example";
    t.outside = "out.example";
    t.srvname = "mx.local.example";
    t.sender = "s@sender.example";
    snprintf(t.ip, sizeof(t.ip), "127.0.0.9");
    strbuf_init(&sb);
    check_expand(&t, c->tpl, &sb);
    ck_assert_str_eq(sb.buf, c->out);
    strbuf_clear(&sb);
}
END_TEST

/* One finding and one pass: the JSON counts them, JUnit fails the
 * finding with its transcript and passes the other. */
START_TEST(test_report)
{
    struct check_results rs = {0};
    struct check_reply rep = {250, "250 2.0.0 Ok\n250 more"};
    char dir[] = "/tmp/test_check.XXXXXX", err[256];
    char *json = NULL, *junit = NULL;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    struct check_result *r =
        check_results_add(&rs, "open-relay", "nmap-01", CHECK_WANT_REFUSED);
    r->sent = xstrdup("MAIL FROM:<> / RCPT TO:<a@b>");
    r->transcript = xstrdup("C: RCPT TO:<a@b>\nS: 250 2.0.0 Ok\n");
    check_result_set(r, CHECK_ACCEPTED, &rep, "accepted %s", "through DATA");
    ck_assert_str_eq(r->reply, "250 2.0.0 Ok");
    r = check_results_add(&rs, "rfc5321", "noop", CHECK_WANT_ACCEPTED);
    check_result_set(r, CHECK_ACCEPTED, &rep, "noop");
    ck_assert_int_eq(check_report_write(dir, "smtp://x", &rs, err, sizeof(err)),
                     0);
    char *p = xasprintf("%s/results.json", dir);
    ck_assert_int_eq(fs_read_file(p, &json, NULL), 0);
    free(p);
    ck_assert_ptr_nonnull(strstr(json, "\"weaknesses\":1,"));
    ck_assert_ptr_nonnull(strstr(json, "\"verdict\":\"accepted\""));
    p = xasprintf("%s/junit.xml", dir);
    ck_assert_int_eq(fs_read_file(p, &junit, NULL), 0);
    free(p);
    ck_assert_ptr_nonnull(strstr(junit, "C: RCPT TO:&lt;a@b&gt;"));
    ck_assert_ptr_nonnull(strstr(junit, "failures=\"1\""));
    free(json);
    free(junit);
    check_results_clear(&rs);
    fs_rm_rf(dir);
}
END_TEST

static Suite *check_suite(void)
{
    Suite *s = suite_create("check");
    TCase *tc = tcase_create("core");

    tcase_add_loop_test(tc, test_weak, 0,
                        sizeof(weak_cases) / sizeof(weak_cases[0]));
    tcase_add_loop_test(tc, test_escape, 0,
                        sizeof(escape_cases) / sizeof(escape_cases[0]));
    tcase_add_loop_test(tc, test_expand, 0,
                        sizeof(expand_cases) / sizeof(expand_cases[0]));
    tcase_add_test(tc, test_report);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(check_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? 1 : 0;
}
