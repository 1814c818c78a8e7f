/*
 * report_html.c — index.html of a run. See report_html.h. The timeline
 * lines (written by the harness, read back here by splitting words):
 *   step BEGIN END LINE KIND ok|failed     queue T N
 *   mx CONNECTED CLOSED IP NAME MESSAGES CODE|-
 *   msg T IP NAME SIZE <FROM> <RCPT>,... SUBJECT
 * Times are milliseconds on the scenario's clock. When that clock never
 * moved (no [time passes]), the timeline shows events in their order.
 */
#include "reports/report_html.h"

#include <stdlib.h>
#include <string.h>

#include "mxlab/xmem.h"

#define TL_W 960
#define TL_L 250 /* lane labels */
#define TL_R 20
#define TL_LANE 24
#define TL_TOP 8
#define TL_AXIS 34
#define TL_LANES_MAX 12
#define Q_H 170

struct tl_step {
    long long t0, t1;
    int line, ok;
    char kind[24];
};
struct tl_mx {
    long long t0, t1;
    long nmsg;
    char ip[64], name[128], code[4];
};
struct tl_msg {
    long long t;
    long size;
    char ip[64], name[128], from[300], rcpts[600], subject[200];
};
struct tl_queue {
    long long t;
    long n;
};

struct tl {
    struct tl_step *steps;
    struct tl_mx *mx;
    struct tl_msg *msgs;
    struct tl_queue *queue;
    size_t nsteps, nmx, nmsgs, nqueue;
    long long tmax;
    int time_passes;
    char lanes[TL_LANES_MAX][64]; /* the fake MX hosts' IPs */
    char lane_names[TL_LANES_MAX][128];
    size_t nlanes;
};

#define TL_PUSH(arr, n)                                                        \
    (*((arr) = xrealloc((arr), ((n) + 1) * sizeof(*(arr))), &(arr)[(n)++]))

static size_t tl_lane(struct tl *tl, const char *ip, const char *name)
{
    for (size_t i = 0; i < tl->nlanes; i++)
        if (strcmp(tl->lanes[i], ip) == 0)
            return i;
    if (tl->nlanes == TL_LANES_MAX)
        return TL_LANES_MAX - 1; /* the last lane takes the rest */
    snprintf(tl->lanes[tl->nlanes], sizeof(tl->lanes[0]), "%s", ip);
    snprintf(tl->lane_names[tl->nlanes], sizeof(tl->lane_names[0]), "%s", name);
    return tl->nlanes++;
}

static long long tl_max(long long a, long long b)
{
    return a > b ? a : b;
}

/* One timeline line into tl; lines of another shape are ignored. */
static void tl_parse_line(struct tl *tl, const char *l)
{
    struct tl_step st;
    struct tl_mx mx;
    struct tl_msg m;
    struct tl_queue q;
    char ok[8];
    int sub = 0;

    /* NOLINTNEXTLINE(cert-err34-c): own work file */
    if (sscanf(l, "step %lld %lld %d %23s %7s", &st.t0, &st.t1, &st.line,
               st.kind, ok) == 5) {
        st.ok = strcmp(ok, "ok") == 0;
        tl->time_passes |= strcmp(st.kind, "time-passes") == 0;
        tl->tmax = tl_max(tl->tmax, st.t1);
        TL_PUSH(tl->steps, tl->nsteps) = st;
        /* NOLINTNEXTLINE(cert-err34-c): own work file */
    } else if (sscanf(l, "queue %lld %ld", &q.t, &q.n) == 2) {
        tl->tmax = tl_max(tl->tmax, q.t);
        TL_PUSH(tl->queue, tl->nqueue) = q;
        /* NOLINTNEXTLINE(cert-err34-c): own work file */
    } else if (sscanf(l, "mx %lld %lld %63s %127s %ld %3s", &mx.t0, &mx.t1,
                      mx.ip, mx.name, &mx.nmsg, mx.code) == 6) {
        tl->tmax = tl_max(tl->tmax, mx.t1);
        tl_lane(tl, mx.ip, mx.name);
        TL_PUSH(tl->mx, tl->nmx) = mx;
        /* NOLINTNEXTLINE(cert-err34-c): own work file */
    } else if (sscanf(l, "msg %lld %63s %127s %ld %299s %599s %n", &m.t, m.ip,
                      m.name, &m.size, m.from, m.rcpts, &sub) == 6 &&
               sub > 0) {
        snprintf(m.subject, sizeof(m.subject), "%.*s",
                 (int)strcspn(l + sub, "\n"), l + sub);
        tl->tmax = tl_max(tl->tmax, m.t);
        tl_lane(tl, m.ip, m.name);
        TL_PUSH(tl->msgs, tl->nmsgs) = m;
    }
}

static void tl_parse(struct tl *tl, const char *text)
{
    memset(tl, 0, sizeof(*tl));
    for (const char *l = text; l != NULL && *l;) {
        char one[1200];
        snprintf(one, sizeof(one), "%.*s", (int)strcspn(l, "\n"), l);
        tl_parse_line(tl, one);
        l = strchr(l, '\n');
        if (l != NULL)
            l++;
    }
}

static void tl_clear(struct tl *tl)
{
    free(tl->steps);
    free(tl->mx);
    free(tl->msgs);
    free(tl->queue);
}

/* x of time t, or (the clock never moved) of the i-th of n events. */
static double tl_x(const struct tl *tl, long long t, size_t i, size_t n)
{
    double w = TL_W - TL_L - TL_R;

    if (tl->tmax > 0)
        return TL_L + w * (double)t / (double)tl->tmax;
    return TL_L + w * ((double)i + 0.5) / (double)(n ? n : 1);
}

static void html_text(FILE *fp, const char *s)
{
    report_xml_escape(fp, s ? s : "");
}

/* An id made of [A-Za-z0-9_-] from class and name. */
static void html_id(FILE *fp, const struct report_case *c)
{
    const char *parts[2] = {c->classname ? c->classname : "", c->name};

    fputs("s", fp);
    for (int k = 0; k < 2; k++) {
        fputc('-', fp);
        for (const unsigned char *p = (const unsigned char *)parts[k]; *p;
             p++) {
            int ok = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                     (*p >= '0' && *p <= '9') || *p == '-' || *p == '_';
            fputc(ok ? *p : '_', fp);
        }
    }
}

static void html_case_name(FILE *fp, const struct report_case *c)
{
    html_text(fp, c->classname);
    fputs("/", fp);
    html_text(fp, c->name);
}

static void tl_axis(FILE *fp, const struct tl *tl, int y)
{
    char lab[32];

    fprintf(fp,
            "<line class=\"axis\" x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\"/>\n",
            TL_L, TL_W - TL_R, y, y);
    if (tl->tmax <= 0) {
        fprintf(fp,
                "<text class=\"tick\" x=\"%d\" y=\"%d\">events in order "
                "(the scenario's clock did not move)</text>\n",
                TL_L, y + 16);
        return;
    }
    for (int i = 0; i <= 5; i++) {
        double x = TL_L + (double)(TL_W - TL_L - TL_R) * i / 5;
        report_duration(lab, sizeof(lab), (double)tl->tmax * i / 5 / 1000);
        fprintf(fp,
                "<line class=\"grid\" x1=\"%.1f\" x2=\"%.1f\" y1=\"%d\" "
                "y2=\"%d\"/><text class=\"tick\" x=\"%.1f\" y=\"%d\" "
                "text-anchor=\"middle\">%s</text>\n",
                x, x, TL_TOP, y, x, y + 16, i ? lab : "0");
    }
    fprintf(fp,
            "<text class=\"label\" x=\"%d\" y=\"%d\" text-anchor=\"end\">"
            "simulated time</text>\n",
            TL_W - TL_R, y + 30);
}

/* A bar (at least 3 px wide) with its tooltip. */
static void tl_bar(FILE *fp, double x0, double x1, size_t lane, const char *cls,
                   const char *tip)
{
    double w = x1 - x0 < 3 ? 3 : x1 - x0;

    fprintf(fp,
            "<rect class=\"%s\" x=\"%.1f\" y=\"%zu\" width=\"%.1f\" "
            "height=\"%d\"><title>",
            cls, x1 - x0 < 3 ? x0 - 1.5 : x0, TL_TOP + lane * TL_LANE + 4, w,
            TL_LANE - 8);
    html_text(fp, tip);
    fputs("</title></rect>\n", fp);
}

static void tl_lane_label(FILE *fp, size_t lane, const char *text)
{
    fprintf(fp, "<text class=\"lane\" x=\"%d\" y=\"%zu\" text-anchor=\"end\">",
            TL_L - 8, TL_TOP + lane * TL_LANE + TL_LANE / 2 + 4);
    html_text(fp, text);
    fputs("</text>\n", fp);
}

static void tl_steps(FILE *fp, const struct tl *tl, const char *file)
{
    char tip[512];

    tl_lane_label(fp, 0, "steps (harness)");
    for (size_t i = 0; i < tl->nsteps; i++) {
        const struct tl_step *s = &tl->steps[i];
        char cls[48];
        snprintf(cls, sizeof(cls), "k-%s%s", s->kind, s->ok ? "" : " failed");
        snprintf(tip, sizeof(tip), "%s:%d %s%s", file ? file : "", s->line,
                 s->kind, s->ok ? "" : " (failed)");
        tl_bar(fp, tl_x(tl, s->t0, i, tl->nsteps),
               tl_x(tl, s->t1, i, tl->nsteps), 0, cls, tip);
    }
}

static void tl_hosts(FILE *fp, struct tl *tl)
{
    char tip[1200], lab[200];

    for (size_t k = 0; k < tl->nlanes; k++) {
        snprintf(lab, sizeof(lab), "%.18s%s %s", tl->lane_names[k],
                 strlen(tl->lane_names[k]) > 18 ? "\u2026" : "", tl->lanes[k]);
        tl_lane_label(fp, k + 1, lab);
    }
    for (size_t i = 0; i < tl->nmx; i++) {
        const struct tl_mx *m = &tl->mx[i];
        const char *cls = m->nmsg > 0         ? "mx-ok"
                          : m->code[0] == '4' ? "mx-4xx"
                          : m->code[0] == '5' ? "mx-5xx"
                                              : "mx-none";
        snprintf(tip, sizeof(tip), "session to %s (%s): %ld message(s)%s%s",
                 m->name, m->ip, m->nmsg, m->code[0] != '-' ? ", refused " : "",
                 m->code[0] != '-' ? m->code : "");
        tl_bar(fp, tl_x(tl, m->t0, i, tl->nmx), tl_x(tl, m->t1, i, tl->nmx),
               tl_lane(tl, m->ip, m->name) + 1, cls, tip);
    }
    for (size_t i = 0; i < tl->nmsgs; i++) {
        const struct tl_msg *m = &tl->msgs[i];
        snprintf(tip, sizeof(tip), "delivered to %s: %s -> %s", m->name,
                 m->from, m->rcpts);
        fprintf(fp,
                "<circle class=\"msg\" cx=\"%.1f\" cy=\"%zu\" r=\"5\">"
                "<title>",
                tl_x(tl, m->t, i, tl->nmsgs),
                TL_TOP + (tl_lane(tl, m->ip, m->name) + 1) * TL_LANE +
                    TL_LANE / 2);
        html_text(fp, tip);
        fputs("</title></circle>\n", fp);
    }
}

/* The timeline: a lane for the harness's steps, one per fake MX host
 * (sessions as bars: green delivered, orange refused with 4xx — the SUT
 * retries —, red 5xx; messages as dots). */
static void tl_svg(FILE *fp, struct tl *tl, const struct report_case *c)
{
    int h = TL_TOP + (int)(tl->nlanes + 1) * TL_LANE + TL_AXIS;
    size_t events = tl->nsteps + tl->nmx + tl->nmsgs;

    fputs("<svg class=\"timeline\" id=\"tl-", fp);
    html_id(fp, c);
    fprintf(fp,
            "\" data-events=\"%zu\" xmlns=\"http://www.w3.org/2000/svg\" "
            "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
            events, TL_W, h, TL_W, h);
    tl_axis(fp, tl, h - TL_AXIS + 4);
    tl_steps(fp, tl, c->file);
    tl_hosts(fp, tl);
    fputs("</svg>\n", fp);
}

/* The queue size over the scenario's clock, as steps. */
static void tl_queue_svg(FILE *fp, const struct tl *tl,
                         const struct report_case *c)
{
    long ymax = 1;
    int h = Q_H - TL_AXIS - TL_TOP;

    for (size_t i = 0; i < tl->nqueue; i++)
        if (tl->queue[i].n > ymax)
            ymax = tl->queue[i].n;
    fputs("<svg class=\"queue\" id=\"q-", fp);
    html_id(fp, c);
    fprintf(fp,
            "\" data-points=\"%zu\" xmlns=\"http://www.w3.org/2000/svg\" "
            "width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\">\n",
            tl->nqueue, TL_W, Q_H, TL_W, Q_H);
    fprintf(fp,
            "<text class=\"lane\" x=\"%d\" y=\"%d\" text-anchor=\"end\">"
            "messages queued</text><text class=\"tick\" x=\"%d\" y=\"%d\" "
            "text-anchor=\"end\">%ld</text><text class=\"tick\" x=\"%d\" "
            "y=\"%d\" text-anchor=\"end\">0</text>\n",
            TL_L - 8, TL_TOP + h / 2, TL_L - 8, TL_TOP + 10, ymax, TL_L - 8,
            TL_TOP + h);
    tl_axis(fp, tl, TL_TOP + h);
    if (tl->nqueue > 0) {
        double prev_y = 0;
        fputs("<polyline class=\"qline\" points=\"", fp);
        for (size_t i = 0; i < tl->nqueue; i++) {
            double x = tl_x(tl, tl->queue[i].t, i, tl->nqueue);
            double y = TL_TOP + h - (double)h * tl->queue[i].n / ymax;
            fprintf(fp, "%s%.1f,%.1f %.1f,%.1f", i ? " " : "", x,
                    i ? prev_y : y, x, y);
            prev_y = y;
        }
        fprintf(fp, " %d,%.1f\"/>\n", TL_W - TL_R, prev_y);
    }
    fputs("</svg>\n", fp);
}

/* The steps as a table: file:line, kind, real time, verdict. */
static void html_steps(FILE *fp, const struct report_case *c)
{
    fputs("<table class=\"steps\"><tr><th>step</th><th>kind</th>"
          "<th>time</th><th></th></tr>\n",
          fp);
    for (const char *l = c->steps; l != NULL && *l;) {
        char one[160], kind[32], status[16] = "";
        int line;
        long long ms;
        snprintf(one, sizeof(one), "%.*s", (int)strcspn(l, "\n"), l);
        /* NOLINTNEXTLINE(cert-err34-c): own work file */
        if (sscanf(one, "%d %31s %lld %15s", &line, kind, &ms, status) >= 3) {
            int failed = strcmp(status, "failed") == 0;
            fprintf(fp, "<tr%s><td>", failed ? " class=\"failed\"" : "");
            html_text(fp, c->file);
            fprintf(fp, ":%d</td><td>", line);
            html_text(fp, kind);
            fprintf(fp, "</td><td>%lld ms</td><td>%s</td></tr>\n", ms,
                    failed ? "failed" : "ok");
        }
        l = strchr(l, '\n');
        if (l != NULL)
            l++;
    }
    fputs("</table>\n", fp);
}

/* What the fake MX hosts received, and how many sessions they refused. */
static void html_recordings(FILE *fp, const struct tl *tl)
{
    size_t refused = 0;

    for (size_t i = 0; i < tl->nmx; i++)
        refused += tl->mx[i].nmsg == 0 && tl->mx[i].code[0] != '-';
    fprintf(fp,
            "<p class=\"recordings\">%zu message(s) received by the fake MX "
            "hosts in %zu session(s), %zu session(s) refused</p>\n",
            tl->nmsgs, tl->nmx, refused);
    if (tl->nmsgs == 0)
        return;
    fputs("<table class=\"recordings\"><tr><th>at</th><th>host</th>"
          "<th>from</th><th>to</th><th>size</th><th>subject</th></tr>\n",
          fp);
    for (size_t i = 0; i < tl->nmsgs; i++) {
        const struct tl_msg *m = &tl->msgs[i];
        char at[32], host[200], size[24];
        report_duration(at, sizeof(at), (double)m->t / 1000);
        snprintf(host, sizeof(host), "%s %s", m->name, m->ip);
        snprintf(size, sizeof(size), "%ld", m->size);
        const char *cells[] = {m->t ? at : "0", host, m->from,
                               m->rcpts,        size, m->subject};
        fputs("<tr>", fp);
        for (size_t k = 0; k < sizeof(cells) / sizeof(cells[0]); k++) {
            fputs("<td>", fp);
            html_text(fp, cells[k]);
            fputs("</td>", fp);
        }
        fputs("</tr>\n", fp);
    }
    fputs("</table>\n", fp);
}

/* <details> with a <pre>, when text is not empty. */
static void html_pre(FILE *fp, const char *cls, const char *title,
                     const char *text, int open)
{
    if (text == NULL || *text == '\0')
        return;
    fprintf(fp, "<details class=\"%s\"%s><summary>%s</summary><pre>", cls,
            open ? " open" : "", title);
    html_text(fp, text);
    fputs("</pre></details>\n", fp);
}

static void html_links(FILE *fp, const struct report_case *c)
{
    if (c->workdir == NULL && c->capture == NULL)
        return;
    fputs("<p class=\"links\">", fp);
    if (c->workdir != NULL) {
        fputs("<a class=\"workdir\" href=\"", fp);
        html_text(fp, c->workdir);
        fputs("/\">work files</a> (configuration, maillog, queue) ", fp);
    }
    if (c->capture != NULL) {
        fputs("<a class=\"capture\" href=\"", fp);
        html_text(fp, c->capture);
        fputs("\">capture</a>", fp);
    }
    fputs("</p>\n", fp);
}

static void html_case(FILE *fp, const struct report_case *c)
{
    const char *st = report_status_word(c->status);
    struct tl tl;

    tl_parse(&tl, c->timeline);
    fputs("<section class=\"scenario\" id=\"", fp);
    html_id(fp, c);
    fprintf(fp, "\" data-status=\"%s\">\n<h2><span class=\"st %s\">%s</span> ",
            st, st, report_strstatus(c->status));
    html_case_name(fp, c);
    fprintf(fp, " <small>%.2f s</small></h2>\n<p class=\"file\">", c->seconds);
    html_text(fp, c->file);
    fputs("</p>\n", fp);
    if (c->message != NULL && *c->message) {
        fputs("<p class=\"message\">", fp);
        html_text(fp, c->message);
        fputs("</p>\n", fp);
    }
    html_links(fp, c);
    html_steps(fp, c);
    tl_svg(fp, &tl, c);
    if (tl.time_passes)
        tl_queue_svg(fp, &tl, c);
    html_recordings(fp, &tl);
    html_pre(fp, "diff", "mxlab diff: relay vs postfix", c->diff, 1);
    html_pre(fp, "transcript", "transcript", c->detail,
             c->status == REPORT_FAILED);
    html_pre(fp, "maillog", "maillog", c->maillog, 0);
    fputs("</section>\n", fp);
    tl_clear(&tl);
}

static const char html_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<title>mxlab run</title>\n<style>\n"
    "body{font-family:sans-serif;margin:1.5em;color:#222}\n"
    "table{border-collapse:collapse;margin:.5em 0}td,th{padding:2px 10px;"
    "text-align:left;border-bottom:1px solid #ddd;vertical-align:top}\n"
    "td:nth-child(3){white-space:nowrap}\n"
    "pre{background:#f6f6f6;padding:.5em;overflow-x:auto;max-height:30em}\n"
    "section.scenario{border-top:2px solid #bbb;margin-top:1.5em}\n"
    ".st{padding:0 6px;border-radius:3px;color:#fff;font-size:80%}\n"
    ".st.passed{background:#2e7d32}.st.failed{background:#c62828}"
    ".st.skipped{background:#757575}\n"
    "tr.failed td,.message{color:#c62828}\n"
    ".axis{stroke:#888}.grid{stroke:#eee}.tick{font-size:11px;fill:#555}\n"
    ".label,.lane{font-size:12px;fill:#222}\n"
    ".k-session{fill:#1565c0}.k-expect{fill:#90a4ae}.k-admin{fill:#6a1b9a}\n"
    ".k-time-passes{fill:#ffe082}.k-change-mx,.k-change-dns{fill:#8d6e63}\n"
    "rect.failed{stroke:#c62828;stroke-width:2}\n"
    ".mx-ok{fill:#43a047}.mx-4xx{fill:#fb8c00}.mx-5xx{fill:#e53935}"
    ".mx-none{fill:#bdbdbd}\n"
    ".msg{fill:#1b5e20;stroke:#fff}\n"
    ".qline{fill:none;stroke:#2e7d32;stroke-width:2}\n"
    "</style></head><body>\n";

/* Runs in the browser: every scenario has its section and timeline, and
 * each SVG with data drew it. */
static const char html_check[] =
    "<p id=\"selfcheck\">script did not run</p>\n<script>\n"
    "(function(){var ss=document.querySelectorAll('section.scenario'),"
    "bad=[];\n"
    "ss.forEach(function(s){var t=s.querySelector('svg.timeline');\n"
    "if(!t){bad.push(s.id);return;}\n"
    "if(t.dataset.events!=='0'&&!t.querySelector('rect,circle')){"
    "bad.push(s.id);return;}\n"
    "var q=s.querySelector('svg.queue');if(q&&q.dataset.points!=='0'){"
    "var l=q.querySelector('polyline');if(!l||l.getBBox().width<=0)"
    "bad.push(s.id);}});\n"
    "document.getElementById('selfcheck').textContent=bad.length?"
    "'FAIL: '+bad.join(' '):'ok: '+ss.length+' scenarios';})();\n"
    "</script>\n</body></html>\n";

static void html_summary(FILE *fp, const struct report_run *run,
                         const struct report_case *c, size_t n)
{
    size_t passed, failed, skipped;
    double total = report_seconds(c, n);

    report_count(c, n, &passed, &failed, &skipped);
    fputs("<h1>mxlab run</h1>\n<table class=\"summary\"><tr><th>system "
          "under test</th><td id=\"sut\">",
          fp);
    html_text(fp, run ? run->sut : "?");
    fputs("</td></tr><tr><th>started</th><td>", fp);
    html_text(fp, run ? run->started : "?");
    fputs("</td></tr><tr><th>mxlab</th><td>", fp);
    html_text(fp, run ? run->version : "?");
    fprintf(fp,
            "</td></tr><tr><th>scenarios</th><td id=\"counts\">%zu: %zu "
            "passed, %zu failed, %zu skipped</td></tr><tr><th>time</th>"
            "<td>%.2f s (sum over scenarios)</td></tr></table>\n",
            n, passed, failed, skipped, total);
}

static void html_index(FILE *fp, const struct report_case *c, size_t n)
{
    fputs("<table class=\"index\"><tr><th>status</th><th>scenario</th>"
          "<th>time</th><th>message</th></tr>\n",
          fp);
    for (size_t i = 0; i < n; i++) {
        const char *st = report_status_word(c[i].status);
        fprintf(fp,
                "<tr class=\"%s\"><td><span class=\"st %s\">%s</span>"
                "</td><td><a href=\"#",
                st, st, report_strstatus(c[i].status));
        html_id(fp, &c[i]);
        fputs("\">", fp);
        html_case_name(fp, &c[i]);
        fprintf(fp, "</a></td><td>%.2f s</td><td>", c[i].seconds);
        if (c[i].status != REPORT_PASSED)
            html_text(fp, c[i].message);
        fputs("</td></tr>\n", fp);
    }
    fputs("</table>\n", fp);
}

int report_html_write(FILE *fp, const struct report_run *run,
                      const struct report_case *c, size_t n)
{
    fputs(html_head, fp);
    html_summary(fp, run, c, n);
    html_index(fp, c, n);
    for (size_t i = 0; i < n; i++)
        html_case(fp, &c[i]);
    fputs(html_check, fp);
    return ferror(fp) ? -1 : 0;
}
