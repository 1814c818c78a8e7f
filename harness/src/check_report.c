/*
 * check_report.c — what "mxlab check" hands back: a table for people (one
 * line per test: finding or not, battery, test, verdict, what was sent,
 * the decisive reply; the reason below), results.json, and JUnit through
 * the reports library (one testcase per test; a finding fails with its
 * transcript, not applicable is skipped with the reason).
 */
#include "check_int.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "mxlab/fsutil.h"
#include "reports/report.h"

static const char *check_strwant(enum check_want w)
{
    static const char *const names[] = {"refused", "accepted",
                                        "accepted or refused", "any"};
    return w <= CHECK_WANT_ANY ? names[w] : "?";
}

void check_table_write(FILE *fp, const struct check_results *rs)
{
    fprintf(fp, "%-4s %-10s %-30s %-14s %s\n", "", "BATTERY", "TEST", "VERDICT",
            "SENT => DECISIVE REPLY");
    for (size_t i = 0; i < rs->n; i++) {
        const struct check_result *r = &rs->v[i];
        fprintf(fp, "%-4s %-10s %-30s %-14s %.90s => %.100s\n",
                check_result_weak(r) ? "WEAK" : "ok", r->battery, r->name,
                check_strverdict(r->verdict), r->sent ? r->sent : "",
                r->reply ? r->reply : "(none)");
        fprintf(fp, "%-46s %s\n", "", r->reason ? r->reason : "");
    }
}

static void check_json_str(FILE *fp, const char *key, const char *s, int comma)
{
    struct strbuf sb;

    strbuf_init(&sb);
    strbuf_put_json(&sb, s ? s : "", s ? strlen(s) : 0);
    fprintf(fp, "\"%s\":%s%s", key, sb.buf, comma ? "," : "");
    strbuf_clear(&sb);
}

static int check_json_write(FILE *fp, const char *target,
                            const struct check_results *rs)
{
    size_t weak = 0, na = 0;

    fputs("{", fp);
    check_json_str(fp, "target", target, 1);
    fputs("\"tests\":[", fp);
    for (size_t i = 0; i < rs->n; i++) {
        const struct check_result *r = &rs->v[i];
        weak += check_result_weak(r);
        na += r->verdict == CHECK_NA;
        fputs(i ? ",\n{" : "\n{", fp);
        check_json_str(fp, "battery", r->battery, 1);
        check_json_str(fp, "test", r->name, 1);
        check_json_str(fp, "sent", r->sent, 1);
        check_json_str(fp, "verdict", check_strverdict(r->verdict), 1);
        check_json_str(fp, "safe", check_strwant(r->want), 1);
        fprintf(fp, "\"weak\":%s,", check_result_weak(r) ? "true" : "false");
        check_json_str(fp, "reason", r->reason, 1);
        check_json_str(fp, "reply", r->reply, 1);
        fprintf(fp, "\"seconds\":%.3f}", r->seconds);
    }
    fprintf(fp,
            "\n],\"tests_run\":%zu,\"weaknesses\":%zu,"
            "\"not_applicable\":%zu}\n",
            rs->n, weak, na);
    return ferror(fp) ? -1 : 0;
}

static int check_junit_write(FILE *fp, const struct check_results *rs)
{
    struct report_case *cases = xcalloc(rs->n ? rs->n : 1, sizeof(*cases));
    char **texts = xcalloc(rs->n ? rs->n * 2 : 1, sizeof(*texts));
    int rc;

    for (size_t i = 0; i < rs->n; i++) {
        const struct check_result *r = &rs->v[i];
        cases[i].name = r->name;
        cases[i].classname = r->battery;
        cases[i].file = "";
        cases[i].seconds = r->seconds;
        cases[i].status = check_result_weak(r)     ? REPORT_FAILED
                          : r->verdict == CHECK_NA ? REPORT_SKIPPED
                                                   : REPORT_PASSED;
        texts[2 * i] = xasprintf(
            "%s (a safe server: %s): %s", check_strverdict(r->verdict),
            check_strwant(r->want), r->reason ? r->reason : "");
        texts[2 * i + 1] = xasprintf("sent: %s\n%s", r->sent ? r->sent : "",
                                     r->transcript ? r->transcript : "");
        cases[i].message = texts[2 * i];
        cases[i].detail =
            cases[i].status == REPORT_FAILED ? texts[2 * i + 1] : NULL;
    }
    rc = report_junit_write(fp, "mxlab-check", cases, rs->n);
    for (size_t i = 0; i < rs->n * 2; i++)
        free(texts[i]);
    free(texts);
    free(cases);
    return rc;
}

int check_report_write(const char *dir, const char *target,
                       const struct check_results *rs, char *err, size_t errlen)
{
    static const char *const names[] = {"results.json", "junit.xml"};
    int rc = 0;

    if (fs_mkdir_p(dir, 0755) < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    for (size_t k = 0; k < 2 && rc == 0; k++) {
        char *path = xasprintf("%s/%s", dir, names[k]);
        FILE *fp = fopen(path, "w");
        if (fp != NULL) {
            int w = k == 0 ? check_json_write(fp, target, rs)
                           : check_junit_write(fp, rs);
            if (fclose(fp) != 0 || w < 0)
                fp = NULL;
        }
        if (fp == NULL) {
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
            rc = -1;
        }
        free(path);
    }
    return rc;
}
