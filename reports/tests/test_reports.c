/*
 * test_reports.c — golden-file tests of the JUnit XML and the summary.
 * The golden files are the .ref files in reports/tests/data; MXLAB_SOURCE_DIR
 * (set by CTest) locates them.
 */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reports/report.h"

static const struct report_case cases[] = {
    {"000-ovh-relay", "seeds", "scenarios/seeds/000-ovh-relay.scn", 0.5,
     REPORT_PASSED, NULL, "C: helo test\nS: 250 relais"},
    {"broken <one>", "self-tests", "x.scn", 1.25, REPORT_FAILED,
     "x.scn:12: expected \"250 *\", got \"454 4.7.1 <a@b>: Relay access "
     "denied\"",
     "C: RCPT TO:<a@b>\nS: 454 4.7.1 & \"quoted\" \x01"},
    {"postfix-only", "seeds", "y.scn", 0, REPORT_SKIPPED,
     "needs root for --sut postfix", NULL},
};

static char *render(int junit)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    if (junit)
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

int main(void)
{
    Suite *s = suite_create("reports");
    TCase *tc = tcase_create("golden");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_junit_golden);
    tcase_add_test(tc, test_summary_golden);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
