/*
 * progress.c — the live line and the per-scenario lines of "mxlab run".
 * See progress.h. The current scenario's place on its own clock comes
 * from WORKDIR/progress, which its worker rewrites at each step
 * (timeline.h): "SIM_MS TOTAL_MS LINE KIND".
 */
#include "progress.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mxlab/clock.h"
#include "mxlab/fsutil.h"
#include "mxlab/xmem.h"

void progress_init(struct progress *p, FILE *fp, enum progress_level level,
                   size_t total)
{
    const char *term = getenv("TERM");

    memset(p, 0, sizeof(*p));
    p->fp = fp;
    p->level = level;
    p->total = total;
    p->t0_ms = clock_mono_ms();
    p->live = level != PROGRESS_QUIET && isatty(fileno(fp)) && term != NULL &&
              strcmp(term, "dumb") != 0;
}

static void progress_clear(struct progress *p)
{
    if (p->drawn)
        fputs("\r\033[K", p->fp);
    p->drawn = 0;
}

/* "      line 33  session  12 ms" for each step, for --verbose. */
static void progress_steps(FILE *fp, const char *steps)
{
    for (const char *l = steps; l != NULL && *l;) {
        char one[160], kind[32], status[16] = "";
        int line;
        long long ms;
        snprintf(one, sizeof(one), "%.*s", (int)strcspn(l, "\n"), l);
        /* NOLINTNEXTLINE(cert-err34-c): own work file */
        if (sscanf(one, "%d %31s %lld %15s", &line, kind, &ms, status) >= 3)
            fprintf(fp, "      line %d  %s  %lld ms%s\n", line, kind, ms,
                    *status ? "  failed" : "");
        l = strchr(l, '\n');
        if (l != NULL)
            l++;
    }
}

void progress_case(struct progress *p, const struct report_case *rc)
{
    p->done++;
    p->passed += rc->status == REPORT_PASSED;
    p->failed += rc->status == REPORT_FAILED;
    p->skipped += rc->status == REPORT_SKIPPED;
    if (p->level == PROGRESS_QUIET && rc->status != REPORT_FAILED)
        return;
    progress_clear(p);
    fprintf(p->fp, "%s  %s  %.2fs  [%zu/%zu]", report_strstatus(rc->status),
            rc->name, rc->seconds, p->done, p->total);
    if (rc->status != REPORT_PASSED && rc->message != NULL)
        fprintf(p->fp, "  %s", rc->message);
    fputc('\n', p->fp);
    if (p->level == PROGRESS_VERBOSE) {
        progress_steps(p->fp, rc->steps);
        if (rc->status == REPORT_FAILED && rc->detail != NULL)
            fprintf(p->fp, "%s%s", rc->detail,
                    rc->detail[0] && rc->detail[strlen(rc->detail) - 1] != '\n'
                        ? "\n"
                        : "");
    }
    fflush(p->fp);
}

/* " (27 s of simulated 5 d)", or the real time it has run. */
static void progress_where(char *buf, size_t len, const char *workdir,
                           long long started_ms)
{
    char *path = xasprintf("%s/progress", workdir), *text = NULL;
    long long sim = 0, total = 0;
    char a[32], b[32];

    int got = fs_read_file(path, &text, NULL) == 0;
    /* NOLINTNEXTLINE(cert-err34-c): own work file */
    got = got && sscanf(text, "%lld %lld", &sim, &total) == 2;
    if (got && total > 0) {
        report_duration(a, sizeof(a), (double)sim / 1000);
        report_duration(b, sizeof(b), (double)total / 1000);
        snprintf(buf, len, " (%s of simulated %s)", sim > 0 ? a : "0 s", b);
    } else {
        report_duration(a, sizeof(a),
                        (double)(clock_mono_ms() - started_ms) / 1000);
        snprintf(buf, len, " (%s)", a);
    }
    free(text);
    free(path);
}

void progress_tick(struct progress *p, const char *current, const char *workdir,
                   long long started_ms, size_t others)
{
    char where[96] = "", more[32] = "";

    if (!p->live)
        return;
    if (current != NULL)
        progress_where(where, sizeof(where), workdir, started_ms);
    if (others > 0)
        snprintf(more, sizeof(more), " +%zu", others);
    fprintf(p->fp,
            "\r\033[K%zu/%zu passed %zu failed %zu \xE2\x80\x94 %.1f s%s%s%s%s",
            p->done, p->total, p->passed, p->failed,
            (double)(clock_mono_ms() - p->t0_ms) / 1000,
            current ? " \xE2\x80\x94 current: " : "", current ? current : "",
            where, more);
    fflush(p->fp);
    p->drawn = 1;
}

void progress_end(struct progress *p)
{
    progress_clear(p);
    fflush(p->fp);
}
