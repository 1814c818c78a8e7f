/*
 * bench_html.c — the HTML report of a load run: one self-contained page
 * (inline CSS, SVG and a few lines of script; no network, so it opens from
 * the file system or a CI artifact) with the figures, the rate over time,
 * the latency percentile curve (HdrHistogram's "nines" axis) and the queue
 * size over time. The script checks that every plot drew its curve and
 * says so in #selfcheck, which the headless-Chromium test reads.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>

#include "reports/bench.h"
#include "reports/report.h"

#define PLOT_W 640
#define PLOT_H 300
#define PLOT_L 70 /* margins */
#define PLOT_R 20
#define PLOT_T 30
#define PLOT_B 45
#define PLOT_POINTS_MAX 600

struct plot_series {
    double *x, *y;
    size_t n;
    const char *cls; /* CSS class of the curve */
};

struct plot {
    const char *id, *title, *xlabel, *ylabel, *empty;
    int nines; /* x is -log10(1 - p): label ticks as percentiles */
    struct plot_series s[2];
    size_t ns;
};

static void plot_series_add(struct plot_series *s, double x, double y)
{
    if (s->n % 64 == 0) {
        s->x = realloc(s->x, (s->n + 64) * sizeof(double));
        s->y = realloc(s->y, (s->n + 64) * sizeof(double));
        if (s->x == NULL || s->y == NULL)
            abort();
    }
    s->x[s->n] = x;
    s->y[s->n] = y;
    s->n++;
}

/* A round upper bound for an axis: 1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6 or 8
 * times a power of ten. */
static double plot_nice(double v)
{
    static const double steps[] = {1, 1.2, 1.5, 2, 2.5, 3, 4, 5, 6, 8};
    double p;

    if (v <= 0)
        return 1;
    p = pow(10, floor(log10(v)));
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++)
        if (v <= steps[i] * p)
            return steps[i] * p;
    return 10 * p;
}

static void plot_tick_label(char *buf, size_t len, double v, int nines)
{
    if (nines)
        snprintf(buf, len, "%.*f%%", v < 2 ? 0 : (int)v - 2,
                 100 * (1 - pow(10, -v)));
    else if (v == floor(v))
        snprintf(buf, len, "%.0f", v);
    else
        snprintf(buf, len, "%.2g", v);
}

static void plot_axes(FILE *fp, const struct plot *p, double xmax, double ymax)
{
    int w = PLOT_W - PLOT_L - PLOT_R, h = PLOT_H - PLOT_T - PLOT_B;
    int nx = p->nines ? (int)xmax : 5;
    char lab[32];

    fprintf(fp,
            "<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%d\" "
            "height=\"%d\"/>\n",
            PLOT_L, PLOT_T, w, h);
    for (int i = 0; i <= 5; i++) {
        double y = PLOT_T + h - (double)h * i / 5;
        plot_tick_label(lab, sizeof(lab), ymax * i / 5, 0);
        fprintf(fp,
                "<line class=\"grid\" x1=\"%d\" x2=\"%d\" y1=\"%.1f\" "
                "y2=\"%.1f\"/><text class=\"tick\" x=\"%d\" y=\"%.1f\" "
                "text-anchor=\"end\">%s</text>\n",
                PLOT_L, PLOT_L + w, y, y, PLOT_L - 6, y + 4, lab);
    }
    for (int i = 0; i <= nx && nx > 0; i++) {
        double v = xmax * i / nx, x = PLOT_L + (double)w * i / nx;
        plot_tick_label(lab, sizeof(lab), v, p->nines);
        fprintf(fp,
                "<text class=\"tick\" x=\"%.1f\" y=\"%d\" "
                "text-anchor=\"middle\">%s</text>\n",
                x, PLOT_T + h + 16, lab);
    }
    fprintf(fp,
            "<text class=\"label\" x=\"%d\" y=\"%d\" "
            "text-anchor=\"middle\">%s</text>\n",
            PLOT_L + w / 2, PLOT_H - 6, p->xlabel);
    fprintf(fp,
            "<text class=\"label\" transform=\"translate(14 %d) "
            "rotate(-90)\" text-anchor=\"middle\">%s</text>\n",
            PLOT_T + h / 2, p->ylabel);
}

static void plot_write(FILE *fp, const struct plot *p)
{
    int w = PLOT_W - PLOT_L - PLOT_R, h = PLOT_H - PLOT_T - PLOT_B;
    double xmax = 0, ymax = 0;
    int has = 0;

    for (size_t k = 0; k < p->ns; k++) {
        has |= p->s[k].n >= 2;
        for (size_t i = 0; i < p->s[k].n; i++) {
            xmax = fmax(xmax, p->s[k].x[i]);
            ymax = fmax(ymax, p->s[k].y[i]);
        }
    }
    xmax = p->nines ? fmax(1, ceil(xmax)) : plot_nice(xmax);
    ymax = plot_nice(ymax);
    fprintf(fp,
            "<h2>%s</h2>\n<svg class=\"plot\" id=\"%s\" data-has-data=\"%d\" "
            "xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
            "viewBox=\"0 0 %d %d\">\n",
            p->title, p->id, has, PLOT_W, PLOT_H, PLOT_W, PLOT_H);
    plot_axes(fp, p, xmax, ymax);
    if (!has)
        fprintf(fp,
                "<text class=\"empty\" x=\"%d\" y=\"%d\" "
                "text-anchor=\"middle\">%s</text>\n",
                PLOT_L + w / 2, PLOT_T + h / 2, p->empty);
    for (size_t k = 0; k < p->ns; k++) {
        if (p->s[k].n < 2)
            continue;
        fprintf(fp, "<polyline class=\"%s\" points=\"", p->s[k].cls);
        for (size_t i = 0; i < p->s[k].n; i++)
            fprintf(fp, "%s%.1f,%.1f", i ? " " : "",
                    PLOT_L + w * p->s[k].x[i] / xmax,
                    PLOT_T + h - h * p->s[k].y[i] / ymax);
        fprintf(fp, "\"/>\n");
    }
    fprintf(fp, "</svg>\n");
    for (size_t k = 0; k < p->ns; k++) {
        free(p->s[k].x);
        free(p->s[k].y);
    }
}

/* The percentile curve of h in ms against -log10(1 - p), up to the
 * resolution the count allows. */
static void plot_percentiles(struct plot_series *s, const struct hist *h)
{
    double top = h->total > 1 ? log10((double)h->total) : 1;
    double step = fmax(top / PLOT_POINTS_MAX, 0.01);

    long n = (long)(top / step + 1e-9);

    for (long i = 0; i <= n; i++) {
        double x = (double)i * step;
        plot_series_add(
            s, x, (double)hist_percentile(h, 100 * (1 - pow(10, -x))) / 1e3);
    }
    plot_series_add(s, top, (double)h->max / 1e3);
}

static const char bench_html_head[] =
    "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
    "<title>mxlab bench</title>\n<style>\n"
    "body{font-family:sans-serif;margin:2em;color:#222}\n"
    "table{border-collapse:collapse}td,th{padding:2px 10px;text-align:left;"
    "border-bottom:1px solid #ddd}\n"
    ".frame{fill:none;stroke:#888}.grid{stroke:#eee}\n"
    ".tick{font-size:11px;fill:#555}.label{font-size:12px;fill:#222}\n"
    ".empty{font-size:13px;fill:#999}\n"
    ".rate{fill:none;stroke:#1565c0;stroke-width:2}\n"
    ".lat{fill:none;stroke:#c62828;stroke-width:2}\n"
    ".e2e{fill:none;stroke:#6a1b9a;stroke-width:2;stroke-dasharray:6 3}\n"
    ".queue{fill:none;stroke:#2e7d32;stroke-width:2}\n"
    "</style></head><body>\n";

/* Runs in the browser: every plot that has data must show its curves
 * with a non-empty bounding box inside the plot. */
static const char bench_html_check[] =
    "<p id=\"selfcheck\">script did not run</p>\n<script>\n"
    "(function(){var svgs=document.querySelectorAll('svg.plot'),ok=0,bad=[];\n"
    "svgs.forEach(function(s){if(s.dataset.hasData!=='1'){ok++;return;}\n"
    "var ls=s.querySelectorAll('polyline');if(!ls.length){bad.push(s.id);"
    "return;}\n"
    "for(var i=0;i<ls.length;i++){var b=ls[i].getBBox();\n"
    "if(ls[i].points.numberOfItems<2||b.width<=0||b.x<0||b.y<0||"
    "b.x+b.width>s.viewBox.baseVal.width+1||"
    "b.y+b.height>s.viewBox.baseVal.height+1){bad.push(s.id);return;}}ok++;"
    "});\n"
    "document.getElementById('selfcheck').textContent=bad.length?"
    "'FAIL: '+bad.join(' '):'ok: '+ok+' plots';})();\n"
    "</script>\n</body></html>\n";

static void bench_html_figures(const struct bench_run *r, FILE *fp)
{
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);

    if (mem == NULL)
        return;
    bench_run_table(r, mem);
    fclose(mem);
    fputs("<pre>", fp);
    report_xml_escape(fp, text ? text : "");
    fputs("</pre>\n", fp);
    free(text);
}

int bench_html_write(const struct bench_run *r, FILE *fp)
{
    struct plot rate = {"plot-rate",
                        "Accepted messages per second",
                        "seconds",
                        "msg/s",
                        "no messages accepted",
                        0,
                        {{0}},
                        1};
    struct plot lat = {"plot-latency", "Latency by percentile",
                       "percentile",   "ms",
                       "no latencies", 1,
                       {{0}},          1};
    struct plot queue = {"plot-queue",
                         "Queue size over time",
                         "seconds",
                         "messages in the queue",
                         "not measured (only lab SUTs report their queue)",
                         0,
                         {{0}},
                         1};

    rate.s[0].cls = "rate";
    lat.s[0].cls = "lat";
    lat.s[1].cls = "e2e";
    queue.s[0].cls = "queue";
    for (size_t i = 0; i < r->npoints; i++) {
        double t = (double)(i + 1) * r->interval;
        plot_series_add(&rate.s[0], t,
                        (double)r->points[i].accepted / r->interval);
        if (r->points[i].queue >= 0)
            plot_series_add(&queue.s[0], t, (double)r->points[i].queue);
    }
    if (r->latency->total)
        plot_percentiles(&lat.s[0], r->latency);
    if (r->e2e && r->e2e->total) {
        plot_percentiles(&lat.s[1], r->e2e);
        lat.ns = 2;
        lat.title = "Latency by percentile (solid: to the 250; dashed: "
                    "250 to arrival at the fake MX)";
    }
    fputs(bench_html_head, fp);
    fputs("<h1>mxlab bench</h1>\n", fp);
    bench_html_figures(r, fp);
    plot_write(fp, &rate);
    plot_write(fp, &lat);
    plot_write(fp, &queue);
    fputs(bench_html_check, fp);
    return ferror(fp) ? -1 : 0;
}
