/*
 * timeline.c — the events of one scenario on its clock (timeline.h).
 * Recorded by the runner as steps begin and end and as the SUT's queue
 * changes; the fake MX hosts' recordings are added at the end. Fields are
 * single words (white space in names and subjects becomes '_', but for
 * the subject, which is last), so the report reads them back by splitting.
 */
#include "timeline.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fakemx/fakemx.h"
#include "mxlab/clock.h"
#include "mxlab/netaddr.h"

struct timeline {
    struct strbuf *out;
    char *progress;
    struct timeval t0;
    long long total_ms; /* of the [time passes] steps */
    long long begin;    /* the current step's */
    int line;
    const char *kind;
    long long queue; /* last size recorded, -1 none */
};

static long long timeline_ms(const struct timeline *tl,
                             const struct timeval *tv)
{
    return (long long)(tv->tv_sec - tl->t0.tv_sec) * 1000 +
           (tv->tv_usec - tl->t0.tv_usec) / 1000;
}

static long long timeline_now(const struct timeline *tl)
{
    struct timeval now;

    clock_now(&now);
    return timeline_ms(tl, &now);
}

/* The progress file, replaced in one rename (no fsync: it is a display). */
static void timeline_progress(const struct timeline *tl)
{
    char *tmp;
    FILE *fp;

    if (tl->progress == NULL)
        return;
    tmp = xasprintf("%s.tmp", tl->progress);
    fp = fopen(tmp, "w");
    if (fp != NULL) {
        fprintf(fp, "%lld %lld %d %s\n", timeline_now(tl), tl->total_ms,
                tl->line, tl->kind ? tl->kind : "setup");
        if (fclose(fp) == 0)
            rename(tmp, tl->progress);
    }
    free(tmp);
}

struct timeline *timeline_new(const struct scenario *s, struct strbuf *out,
                              const char *progress)
{
    struct timeline *tl = xcalloc(1, sizeof(*tl));

    tl->out = out;
    tl->progress = progress ? xstrdup(progress) : NULL;
    tl->queue = -1;
    clock_now(&tl->t0);
    for (size_t i = 0; i < s->nblocks; i++)
        if (s->blocks[i].kind == SCN_TIME)
            tl->total_ms += (long long)s->blocks[i].seconds * 1000;
    timeline_progress(tl);
    return tl;
}

void timeline_free(struct timeline *tl)
{
    if (tl == NULL)
        return;
    free(tl->progress);
    free(tl);
}

void timeline_step_begin(struct timeline *tl, int line, const char *kind)
{
    tl->begin = timeline_now(tl);
    tl->line = line;
    tl->kind = kind;
    timeline_progress(tl);
}

void timeline_step_end(struct timeline *tl, int ok)
{
    if (tl->kind == NULL)
        return;
    strbuf_printf(tl->out, "step %lld %lld %d %s %s\n", tl->begin,
                  timeline_now(tl), tl->line, tl->kind, ok ? "ok" : "failed");
    tl->kind = NULL;
    timeline_progress(tl);
}

void timeline_queue(struct timeline *tl, struct lab *lab)
{
    size_t total, busy;

    if (lab == NULL || lab_queue(lab, &total, &busy) < 0 ||
        (long long)total == tl->queue)
        return;
    tl->queue = (long long)total;
    strbuf_printf(tl->out, "queue %lld %zu\n", timeline_now(tl), total);
}

/* s as one word: white space and controls become '_', "" becomes "-". */
static void timeline_word(struct strbuf *out, const char *s)
{
    if (s == NULL || *s == '\0') {
        strbuf_putc(out, '-');
        return;
    }
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        strbuf_putc(out, *p <= ' ' || *p == 0x7f ? '_' : (char)*p);
}

static void timeline_ip(struct strbuf *out, const char *hostport)
{
    struct netaddr na;
    char ip[64] = "?";

    if (netaddr_parse(hostport, 0, &na) == 0)
        netaddr_ip(&na, ip, sizeof(ip));
    strbuf_puts(out, ip);
}

static void timeline_session(struct timeline *tl,
                             const struct fakemx_session_record *r)
{
    const char *code = "-";
    struct timeval closed = r->closed;

    for (size_t i = 0; i < r->nreplies && *code == '-'; i++)
        if (r->replies[i][0] >= '4' && r->replies[i][0] <= '5')
            code = r->replies[i];
    if (closed.tv_sec == 0)
        clock_now(&closed);
    strbuf_printf(tl->out, "mx %lld %lld ", timeline_ms(tl, &r->connected),
                  timeline_ms(tl, &closed));
    timeline_ip(tl->out, r->host);
    strbuf_putc(tl->out, ' ');
    timeline_word(tl->out, r->host_name);
    strbuf_printf(tl->out, " %zu %.3s\n", r->nmessages, code);
}

static void timeline_message(struct timeline *tl,
                             const struct fakemx_message *m)
{
    struct strbuf *o = tl->out;

    strbuf_printf(o, "msg %lld ", timeline_ms(tl, &m->received));
    timeline_ip(o, m->host);
    strbuf_putc(o, ' ');
    timeline_word(o, m->host_name);
    strbuf_printf(o, " %zu <", m->data_len);
    timeline_word(o, *m->mail_from ? m->mail_from : "");
    strbuf_puts(o, "> ");
    for (size_t k = 0; k < m->nrcpt; k++) {
        strbuf_puts(o, k ? ",<" : "<");
        timeline_word(o, m->rcpts[k]);
        strbuf_putc(o, '>');
    }
    if (m->nrcpt == 0)
        strbuf_putc(o, '-');
    strbuf_putc(o, ' ');
    for (const char *p = m->subject ? m->subject : ""; *p; p++)
        strbuf_putc(o, *p == '\n' || *p == '\r' ? ' ' : *p);
    strbuf_putc(o, '\n');
}

void timeline_fakemx(struct timeline *tl, struct lab *lab)
{
    struct fakemx *mx = lab_fakemx(lab);

    for (size_t i = 0; i < fakemx_session_count(mx); i++)
        timeline_session(tl, fakemx_session_at(mx, i));
    for (size_t i = 0; i < fakemx_message_count(mx); i++)
        timeline_message(tl, fakemx_message_at(mx, i));
}
