/*
 * test_reports.c — golden-file tests of the JUnit XML and the summary;
 * the log totals against pflogsumm on real Postfix 3.7 and mxlab logs.
 * The golden files are the .ref files in reports/tests/data; MXLAB_SOURCE_DIR
 * (set by CTest) locates them.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mxlab/xmem.h"
#include "reports/logsum.h"
#include "reports/report.h"
#include "reports/report_html.h"

TCase *test_bench_tcase(void);

static const struct report_case cases[] = {
    {"000-ovh-relay", "seeds", "scenarios/seeds/000-ovh-relay.scn", 0.5,
     REPORT_PASSED, NULL, "C: helo test\nS: 250 relais",
     "44 session 12\n63 expect 250\n",
     "step 0 0 44 session ok\nqueue 0 1\nstep 0 3600000 50 time-passes ok\n"
     "queue 3600000 0\nmx 0 0 127.0.2.1 mx.example.org 0 421\n"
     "mx 300000 300000 127.0.2.1 mx.example.org 1 -\n"
     "msg 300000 127.0.2.1 mx.example.org 310 <a@b.example> "
     "<c@d.example>,<e@d.example> Hello & bye\n",
     "Dec  2 03:10:00 mx postfix/smtp[1]: status=sent", NULL, NULL, NULL},
    {"broken <one>", "self-tests", "x.scn", 1.25, REPORT_FAILED,
     "x.scn:12: expected \"250 *\", got \"454 4.7.1 <a@b>: Relay access "
     "denied\"",
     "C: RCPT TO:<a@b>\nS: 454 4.7.1 & \"quoted\" \x01", NULL, NULL, NULL,
     "12 reply 454 4.7.1 | 250 2.1.5", "work/self-tests-broken", NULL},
    {"postfix-only", "seeds", "y.scn", 0, REPORT_SKIPPED,
     "needs root for --sut postfix", NULL, NULL, NULL, NULL, NULL, NULL, NULL},
};

static char *render(int junit)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    if (junit == 2)
        ck_assert_int_eq(report_results_json_write(fp, cases, 3), 0);
    else if (junit)
        ck_assert_int_eq(report_junit_write(fp, "mxlab", cases, 3), 0);
    else
        report_summary_write(fp, cases, 3);
    fclose(fp);
    return buf;
}

static char *golden(const char *name)
{
    const char *src = getenv("MXLAB_SOURCE_DIR");
    char path[1024];
    FILE *fp;
    char *buf = NULL;
    size_t cap = 0;
    ssize_t n;

    snprintf(path, sizeof(path), "%s/reports/tests/data/%s", src ? src : ".",
             name);
    fp = fopen(path, "r");
    ck_assert_msg(fp != NULL, "cannot open %s", path);
    n = getdelim(&buf, &cap, '\0', fp);
    fclose(fp);
    ck_assert_int_gt(n, 0);
    return buf;
}

START_TEST(test_junit_golden)
{
    char *got = render(1), *want = golden("junit.xml.ref");

    ck_assert_str_eq(got, want);
    free(got);
    free(want);
}
END_TEST

START_TEST(test_summary_golden)
{
    char *got = render(0), *want = golden("summary.txt.ref");

    ck_assert_str_eq(got, want);
    free(got);
    free(want);
}
END_TEST

START_TEST(test_results_json_golden)
{
    char *got = render(2), *want = golden("results.json.ref");

    ck_assert_str_eq(got, want);
    free(got);
    free(want);
}
END_TEST

/* index.html: a section, timeline and the right parts per scenario. */
START_TEST(test_html)
{
    struct report_run run = {"relay", "2026-12-02T03:10:00Z", "0.9"};
    char *html = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&html, &len);
    static const char *const want[] = {
        "<td id=\"sut\">relay</td>",
        "3: 1 passed, 1 failed, 1 skipped",
        "<section class=\"scenario\" id=\"s-seeds-000-ovh-relay\" "
        "data-status=\"passed\">",
        "id=\"s-self-tests-broken__one_\" data-status=\"failed\"",
        "<svg class=\"timeline\" id=\"tl-s-seeds-000-ovh-relay\" "
        "data-events=\"5\"",
        "<svg class=\"queue\" id=\"q-s-seeds-000-ovh-relay\" "
        "data-points=\"2\"",
        "class=\"mx-4xx\"",
        "class=\"mx-ok\"",
        "<circle class=\"msg\"",
        "scenarios/seeds/000-ovh-relay.scn:44</td><td>session",
        "<td>&lt;c@d.example&gt;,&lt;e@d.example&gt;</td><td>310</td>"
        "<td>Hello &amp; bye</td>",
        "1 message(s) received by the fake MX hosts in 2 session(s), 1 "
        "session(s) refused",
        "<summary>mxlab diff: relay vs postfix</summary><pre>12 reply",
        "<a class=\"workdir\" href=\"work/self-tests-broken/\">",
        "<summary>maillog</summary><pre>Dec  2",
        "events in order (the scenario's clock did not move)",
        "Relay access denied&quot;"};

    ck_assert_int_eq(report_html_write(fp, &run, cases, 3), 0);
    fclose(fp);
    for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
        ck_assert_msg(strstr(html, want[i]) != NULL, "missing: %s", want[i]);
    /* a scenario without [time passes] has no queue plot */
    ck_assert_ptr_null(strstr(html, "id=\"q-s-self-tests"));
    /* self-contained: nothing loaded from elsewhere */
    ck_assert_ptr_null(strstr(html, "src="));
    ck_assert_ptr_null(strstr(html, "href=\"http"));
    ck_assert_ptr_null(strstr(html, "<link"));
    free(html);
}
END_TEST

START_TEST(test_duration)
{
    static const struct {
        double s;
        const char *want;
    } t[] = {{0.25, "250 ms"},  {27, "27 s"},   {8.3, "8.3 s"},
             {90, "1.5 min"},   {7200, "2 h"},  {432000, "5 d"},
             {129600, "1.5 d"}, {59.99, "60 s"}};
    char buf[32];

    report_duration(buf, sizeof(buf), t[_i].s);
    ck_assert_str_eq(buf, t[_i].want);
}
END_TEST

static char *data_path(const char *name)
{
    const char *src = getenv("MXLAB_SOURCE_DIR");
    char *path = NULL;

    ck_assert_int_gt(
        asprintf(&path, "%s/reports/tests/data/%s", src ? src : ".", name), 0);
    return path;
}

/* pflogsumm with seed 003's options on a log file, its totals parsed. */
static void pflogsumm_totals(const char *log, struct logsum *out)
{
    char *cmd = NULL, *text = NULL;
    size_t cap = 0;
    FILE *fp;

    ck_assert_int_gt(asprintf(&cmd,
                              "/usr/sbin/pflogsumm -h 0 -u 0 "
                              "--bounce_detail=0 --deferral_detail=0 "
                              "--reject_detail=0 --no_no_msg_size "
                              "--smtpd_warning_detail=0 '%s'",
                              log),
                     0);
    fp = popen(cmd, "r");
    ck_assert_ptr_nonnull(fp);
    ck_assert_int_gt(getdelim(&text, &cap, '\0', fp), 0);
    ck_assert_int_eq(pclose(fp), 0);
    ck_assert_int_eq(logsum_parse_pflogsumm(text, out), 0);
    free(text);
    free(cmd);
}

static const char *logs[] = {"postfix-3.7.log", "mxlab-relay.log"};

/* Each counter as pflogsumm reads the same log: a Postfix 3.7.11 log of
 * the seed and relay-test scenarios, and mxlab-relay's log of them. */
START_TEST(test_logsum_vs_pflogsumm)
{
    char *path = data_path(logs[_i]), *text = golden(logs[_i]);
    struct logsum mine, theirs;

    if (access("/usr/sbin/pflogsumm", X_OK) != 0) {
        fprintf(stderr, "pflogsumm not installed (ci/bootstrap installs it)\n");
        ck_abort_msg("pflogsumm missing");
    }
    logsum_read(text, &mine);
    logsum_round_like_pflogsumm(&mine);
    pflogsumm_totals(path, &theirs);
    for (int k = 0; k < LOGSUM_NKEYS; k++)
        ck_assert_msg(mine.v[k] == theirs.v[k],
                      "%s: %s: mine %ld, pflogsumm %ld", logs[_i],
                      logsum_name(k), mine.v[k], theirs.v[k]);
    free(text);
    free(path);
}
END_TEST

/* The figures themselves, so a pflogsumm change cannot hide a logsum bug. */
START_TEST(test_logsum_figures)
{
    char *text = golden("postfix-3.7.log");
    struct logsum s;
    static const long want[LOGSUM_NKEYS] = {11, 13, 4,    2,    3, 1, 7,  0,
                                            0,  0,  3076, 6107, 7, 6, 12, 7};

    logsum_read(text, &s);
    for (int k = 0; k < LOGSUM_NKEYS; k++)
        ck_assert_msg(s.v[k] == want[k], "%s: %ld, want %ld", logsum_name(k),
                      s.v[k], want[k]);
    ck_assert_int_eq(logsum_key("reject-warnings"), LOGSUM_REJECT_WARNINGS);
    ck_assert_int_eq(logsum_key("nonsense"), -1);
    ck_assert_int_eq(logsum_parse_pflogsumm("no totals here", &s), -1);
    free(text);
}
END_TEST

/* Seed 003's Zabbix items: the keys its zabbix-postfix.sh makes from
 * each zsend argument (tr ' -' '_' | tr A-Z a-z | tr -cd a-z_), in its
 * order, with the totals of a real Postfix 3.7 log as values. */
START_TEST(test_zabbix)
{
    static const char *const zsend[] = {
        "received",       "delivered",       "forwarded",
        "deferred",       "bounced",         "rejected",
        "held",           "discarded",       "reject warnings",
        "bytes received", "bytes delivered", "senders",
        "recipients"};
    char *text = golden("postfix-3.7.log"), *want;
    struct logsum s;
    struct strbuf got, keys;

    logsum_read(text, &s);
    strbuf_init(&got);
    strbuf_init(&keys);
    logsum_zabbix(&s, "mx1", &got);
    const char *line = got.buf;
    for (size_t i = 0; i < sizeof(zsend) / sizeof(zsend[0]); i++) {
        strbuf_reset(&keys);
        strbuf_puts(&keys, "mx1 postfix[");
        for (const char *p = zsend[i]; *p; p++)
            if (*p == ' ' || *p == '-')
                strbuf_putc(&keys, '_');
            else if (*p >= 'a' && *p <= 'z')
                strbuf_putc(&keys, *p);
        strbuf_puts(&keys, "] ");
        ck_assert_msg(strncmp(line, keys.buf, keys.len) == 0, "%s", line);
        const char *v = line + keys.len, *nl = strchr(v, '\n');
        ck_assert_ptr_nonnull(nl);
        ck_assert_uint_eq(strspn(v, "0123456789"), (size_t)(nl - v));
        line = nl + 1;
    }
    ck_assert_str_eq(line, "");
    /* And the values, against the golden file. */
    want = golden("zabbix.txt.ref");
    ck_assert_str_eq(got.buf, want);
    free(want);
    free(text);
    strbuf_clear(&got);
    strbuf_clear(&keys);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("reports");
    TCase *tc = tcase_create("golden");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_junit_golden);
    tcase_add_test(tc, test_summary_golden);
    tcase_add_test(tc, test_results_json_golden);
    tcase_add_loop_test(tc, test_logsum_vs_pflogsumm, 0,
                        sizeof(logs) / sizeof(logs[0]));
    tcase_add_test(tc, test_logsum_figures);
    tcase_add_test(tc, test_zabbix);
    tcase_add_test(tc, test_html);
    tcase_add_loop_test(tc, test_duration, 0, 8);
    suite_add_tcase(s, tc);
    suite_add_tcase(s, test_bench_tcase()); /* test_bench.c */
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
