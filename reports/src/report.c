/*
 * report.c — result table, closing line and JUnit XML. See report.h.
 * JUnit dialect: <testsuites><testsuite name tests failures errors skipped
 * time><testcase name classname file time>[<failure message>text
 * </failure>|<skipped message/>]<system-out/></testcase>...
 */
#include "reports/report.h"

#include <string.h>

#include "mxlab/xmem.h"

const char *report_strstatus(enum report_status st)
{
    switch (st) {
    case REPORT_PASSED:
        return "PASS";
    case REPORT_FAILED:
        return "FAIL";
    case REPORT_SKIPPED:
        return "SKIP";
    }
    return "?";
}

const char *report_status_word(enum report_status st)
{
    return st == REPORT_PASSED   ? "passed"
           : st == REPORT_FAILED ? "failed"
                                 : "skipped";
}

double report_seconds(const struct report_case *c, size_t n)
{
    double total = 0;

    for (size_t i = 0; i < n; i++)
        total += c[i].seconds;
    return total;
}

void report_run_header_write(FILE *fp, const struct report_run *run)
{
    fprintf(fp, "mxlab %s  sut=%s  started %s\n",
            run->version ? run->version : "?", run->sut ? run->sut : "?",
            run->started ? run->started : "?");
}

void report_count(const struct report_case *c, size_t n, size_t *passed,
                  size_t *failed, size_t *skipped)
{
    *passed = *failed = *skipped = 0;
    for (size_t i = 0; i < n; i++) {
        if (c[i].status == REPORT_PASSED)
            (*passed)++;
        else if (c[i].status == REPORT_FAILED)
            (*failed)++;
        else
            (*skipped)++;
    }
}

void report_summary_write(FILE *fp, const struct report_case *c, size_t n)
{
    size_t passed, failed, skipped, width = 8;

    for (size_t i = 0; i < n; i++)
        if (strlen(c[i].name) > width)
            width = strlen(c[i].name);
    for (size_t i = 0; i < n; i++) {
        fprintf(fp, "%s  %-*s  %6.2fs", report_strstatus(c[i].status),
                (int)width, c[i].name, c[i].seconds);
        if (c[i].status != REPORT_PASSED && c[i].message != NULL)
            fprintf(fp, "  %s", c[i].message);
        fputc('\n', fp);
    }
    report_count(c, n, &passed, &failed, &skipped);
    fprintf(fp, "%zu passed, %zu failed, %zu skipped\n", passed, failed,
            skipped);
}

void report_duration(char *buf, size_t len, double seconds)
{
    static const struct {
        double below, unit;
        const char *name;
    } units[] = {{60, 1, "s"},
                 {3600, 60, "min"},
                 {86400, 3600, "h"},
                 {1e300, 86400, "d"}};

    if (seconds < 1) {
        snprintf(buf, len, "%.0f ms", seconds * 1000);
        return;
    }
    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        double v = seconds / units[i].unit;
        if (seconds >= units[i].below)
            continue;
        /* one decimal, but not ".0" */
        if (v >= 100 || (long long)(v * 10 + 0.5) % 10 == 0)
            snprintf(buf, len, "%.0f %s", v, units[i].name);
        else
            snprintf(buf, len, "%.1f %s", v, units[i].name);
        return;
    }
}

void report_xml_escape(FILE *fp, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        switch (*p) {
        case '&':
            fputs("&amp;", fp);
            break;
        case '<':
            fputs("&lt;", fp);
            break;
        case '>':
            fputs("&gt;", fp);
            break;
        case '"':
            fputs("&quot;", fp);
            break;
        case '\'':
            fputs("&apos;", fp);
            break;
        default:
            if (*p < 0x20 && *p != '\t' && *p != '\n' && *p != '\r')
                fputs("\xEF\xBF\xBD", fp); /* not allowed in XML 1.0 */
            else
                fputc(*p, fp);
        }
    }
}

static void report_junit_property(FILE *fp, const char *name, const char *value)
{
    if (value == NULL)
        return;
    fprintf(fp, "      <property name=\"%s\" value=\"", name);
    report_xml_escape(fp, value);
    fputs("\"/>\n", fp);
}

int report_junit_write(FILE *fp, const char *suite, const struct report_case *c,
                       size_t n)
{
    return report_junit_write_run(fp, suite, NULL, c, n);
}

int report_junit_write_run(FILE *fp, const char *suite,
                           const struct report_run *run,
                           const struct report_case *c, size_t n)
{
    size_t passed, failed, skipped;
    double total = report_seconds(c, n);

    report_count(c, n, &passed, &failed, &skipped);
    fputs("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n", fp);
    fprintf(fp,
            "<testsuites tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
            "skipped=\"%zu\" time=\"%.3f\">\n",
            n, failed, skipped, total);
    fputs("  <testsuite name=\"", fp);
    report_xml_escape(fp, suite);
    fprintf(fp,
            "\" tests=\"%zu\" failures=\"%zu\" errors=\"0\" "
            "skipped=\"%zu\" time=\"%.3f\">\n",
            n, failed, skipped, total);
    if (run != NULL) {
        fputs("    <properties>\n", fp);
        report_junit_property(fp, "sut", run->sut);
        report_junit_property(fp, "started", run->started);
        report_junit_property(fp, "mxlab_version", run->version);
        fputs("    </properties>\n", fp);
    }
    for (size_t i = 0; i < n; i++) {
        fputs("    <testcase name=\"", fp);
        report_xml_escape(fp, c[i].name);
        fputs("\" classname=\"", fp);
        report_xml_escape(fp, c[i].classname ? c[i].classname : suite);
        if (c[i].file != NULL) {
            fputs("\" file=\"", fp);
            report_xml_escape(fp, c[i].file);
        }
        fprintf(fp, "\" time=\"%.3f\">\n", c[i].seconds);
        if (c[i].status == REPORT_FAILED) {
            fputs("      <failure message=\"", fp);
            report_xml_escape(fp, c[i].message ? c[i].message : "failed");
            fputs("\" type=\"ScenarioFailure\">", fp);
            report_xml_escape(fp, c[i].message ? c[i].message : "failed");
            fputs("</failure>\n", fp);
        } else if (c[i].status == REPORT_SKIPPED) {
            fputs("      <skipped message=\"", fp);
            report_xml_escape(fp, c[i].message ? c[i].message : "skipped");
            fputs("\"/>\n", fp);
        }
        if (c[i].detail != NULL && *c[i].detail) {
            fputs("      <system-out>", fp);
            report_xml_escape(fp, c[i].detail);
            fputs("</system-out>\n", fp);
        }
        fputs("    </testcase>\n", fp);
    }
    fputs("  </testsuite>\n</testsuites>\n", fp);
    return ferror(fp) ? -1 : 0;
}

static void report_json_string(FILE *fp, const char *s)
{
    struct strbuf sb;

    strbuf_init(&sb);
    strbuf_put_json(&sb, s ? s : "", s ? strlen(s) : 0);
    fwrite(sb.buf, 1, sb.len, fp);
    strbuf_clear(&sb);
}

/* "steps":[{"line","kind","ms"[,"failed":true]}...] from the
 * "LINE KIND MS[ failed]" lines. */
static void report_json_steps(FILE *fp, const char *steps)
{
    int first = 1;

    fputs(",\"steps\":[", fp);
    for (const char *l = steps; l && *l;) {
        int line;
        char one[128], kind[32], status[16] = "";
        long long ms;
        /* one line at a time: the status is optional */
        snprintf(one, sizeof(one), "%.*s", (int)strcspn(l, "\n"), l);
        /* NOLINTNEXTLINE(cert-err34-c): own work file */
        if (sscanf(one, "%d %31s %lld %15s", &line, kind, &ms, status) >= 3) {
            fprintf(fp, "%s{\"line\":%d,\"kind\":", first ? "" : ",", line);
            report_json_string(fp, kind);
            fprintf(fp, ",\"ms\":%lld%s}", ms,
                    strcmp(status, "failed") == 0 ? ",\"failed\":true" : "");
            first = 0;
        }
        l = strchr(l, '\n');
        if (l)
            l++;
    }
    fputs("]}", fp);
}

int report_results_json_write(FILE *fp, const struct report_case *c, size_t n)
{
    return report_results_json_write_run(fp, NULL, c, n);
}

int report_results_json_write_run(FILE *fp, const struct report_run *run,
                                  const struct report_case *c, size_t n)
{
    size_t passed, failed, skipped;

    report_count(c, n, &passed, &failed, &skipped);
    fputc('{', fp);
    if (run != NULL) {
        fputs("\"run\":{\"sut\":", fp);
        report_json_string(fp, run->sut);
        fputs(",\"started\":", fp);
        report_json_string(fp, run->started);
        fputs(",\"version\":", fp);
        report_json_string(fp, run->version);
        fputs("},\n", fp);
    }
    fputs("\"scenarios\":[", fp);
    for (size_t i = 0; i < n; i++) {
        fputs(i ? ",\n{" : "\n{", fp);
        fputs("\"name\":", fp);
        report_json_string(fp, c[i].name);
        fputs(",\"class\":", fp);
        report_json_string(fp, c[i].classname);
        fputs(",\"file\":", fp);
        report_json_string(fp, c[i].file);
        fprintf(fp, ",\"status\":\"%s\",\"seconds\":%.3f,\"message\":",
                report_status_word(c[i].status), c[i].seconds);
        report_json_string(fp, c[i].message);
        report_json_steps(fp, c[i].steps);
    }
    fprintf(fp, "\n],\"passed\":%zu,\"failed\":%zu,\"skipped\":%zu}\n", passed,
            failed, skipped);
    return ferror(fp) ? -1 : 0;
}
