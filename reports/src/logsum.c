/*
 * logsum.c — pflogsumm's Grand Totals, counted in C. See logsum.h. The
 * per-message state (sizes, received-here flags, deferred flags) and the
 * distinct senders/recipients are kept in small string sets: scenario
 * logs are short, and a linear set keeps this file free of a hash table.
 */
#include "reports/logsum.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *logsum_names[LOGSUM_NKEYS] = {
    "received",  "delivered",       "forwarded",      "deferred",
    "deferrals", "bounced",         "rejected",       "reject-warnings",
    "held",      "discarded",       "bytes-received", "bytes-delivered",
    "senders",   "sending-domains", "recipients",     "recipient-domains"};

/* Seed 003's zsend calls, in its order (deferrals, the domains are not
 * sent). */
static const enum logsum_key logsum_zabbix_keys[] = {
    LOGSUM_RECEIVED,       LOGSUM_DELIVERED,       LOGSUM_FORWARDED,
    LOGSUM_DEFERRED,       LOGSUM_BOUNCED,         LOGSUM_REJECTED,
    LOGSUM_HELD,           LOGSUM_DISCARDED,       LOGSUM_REJECT_WARNINGS,
    LOGSUM_BYTES_RECEIVED, LOGSUM_BYTES_DELIVERED, LOGSUM_SENDERS,
    LOGSUM_RECIPIENTS,
};

void logsum_zabbix(const struct logsum *s, const char *host, struct strbuf *out)
{
    for (size_t i = 0;
         i < sizeof(logsum_zabbix_keys) / sizeof(logsum_zabbix_keys[0]); i++) {
        enum logsum_key k = logsum_zabbix_keys[i];
        char key[64];
        size_t n = 0;
        /* zsend's tr ' -' '_' | tr A-Z a-z | tr -cd a-z_ */
        for (const char *p = logsum_names[k]; *p && n < sizeof(key) - 1; p++)
            key[n++] = *p == '-' ? '_' : *p;
        key[n] = '\0';
        strbuf_printf(out, "%s postfix[%s] %ld\n", host, key, s->v[k]);
    }
}

const char *logsum_name(enum logsum_key k)
{
    return k < LOGSUM_NKEYS ? logsum_names[k] : "?";
}

int logsum_key(const char *name)
{
    for (int k = 0; k < LOGSUM_NKEYS; k++)
        if (strcmp(name, logsum_names[k]) == 0)
            return k;
    return -1;
}

/* A set of strings, each with a number. */
struct logsum_set {
    char **key;
    long *val;
    size_t n;
};

static long *logsum_find(struct logsum_set *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->key[i], key) == 0)
            return &s->val[i];
    return NULL;
}

/* Add key (if new) and return its number slot; *fresh says if it was new. */
static long *logsum_add(struct logsum_set *s, const char *key, int *fresh)
{
    long *v = logsum_find(s, key);

    if (fresh != NULL)
        *fresh = v == NULL;
    if (v != NULL)
        return v;
    s->key = realloc(s->key, (s->n + 1) * sizeof(*s->key));
    s->val = realloc(s->val, (s->n + 1) * sizeof(*s->val));
    if (s->key == NULL || s->val == NULL)
        abort();
    s->key[s->n] = strdup(key);
    if (s->key[s->n] == NULL)
        abort();
    s->val[s->n] = 0;
    return &s->val[s->n++];
}

static void logsum_del(struct logsum_set *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->key[i], key) == 0) {
            free(s->key[i]);
            s->key[i] = s->key[s->n - 1];
            s->val[i] = s->val[s->n - 1];
            s->n--;
            return;
        }
}

static void logsum_free(struct logsum_set *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->key[i]);
    free(s->key);
    free(s->val);
}

/* "user@Domain" -> "user@domain" (pflogsumm: s/(@.+)/\L$1/). */
static void logsum_lower_domain(char *addr)
{
    char *at = strchr(addr, '@');

    for (; at != NULL && *at; at++)
        *at = (char)str_tolower((unsigned char)*at);
}

/* Copy the text between prefix and the next '>' of s; NULL if absent. */
static char *logsum_angle(const char *s, const char *prefix)
{
    const char *p = strstr(s, prefix), *end;

    if (p == NULL)
        return NULL;
    p += strlen(prefix);
    end = strchr(p, '>');
    if (end == NULL)
        return NULL;
    return strndup(p, (size_t)(end - p));
}

struct logsum_state {
    struct logsum *out;
    struct logsum_set sizes;    /* qid -> size (first from= line) */
    struct logsum_set rcvd;     /* qid received in this log */
    struct logsum_set deferred; /* qid deferred at least once */
    struct logsum_set senders, sdomains, rcpts, rdomains;
};

static int logsum_is_reject_word(const char *w, size_t n, enum logsum_key *k)
{
    if (n == 6 && strncmp(w, "reject", 6) == 0)
        *k = LOGSUM_REJECTED;
    else if (n == 14 && strncmp(w, "reject_warning", 14) == 0)
        *k = LOGSUM_REJECT_WARNINGS;
    else if (n == 4 && strncmp(w, "hold", 4) == 0)
        *k = LOGSUM_HELD;
    else if (n == 7 && strncmp(w, "discard", 7) == 0)
        *k = LOGSUM_DISCARDED;
    else
        return 0;
    return 1;
}

/* "to=<A>, [orig_to=<..>, ]relay=R, ..., status=S (text)" */
static void logsum_to_line(struct logsum_state *st, const char *qid,
                           const char *rest)
{
    const char *status = strstr(rest, ", status=");
    char *to;

    if (status == NULL || strstr(rest, ", relay=") == NULL ||
        strstr(rest, ", delay=") == NULL ||
        (to = logsum_angle(rest, "to=<")) == NULL)
        return;
    status += 9;
    if (strncmp(status, "sent", 4) == 0 &&
        !str_isalnum((unsigned char)status[4])) {
        if (strstr(status, "forwarded as ") != NULL) {
            st->out->v[LOGSUM_FORWARDED]++;
        } else {
            int fresh;
            long *size = logsum_find(&st->sizes, qid);
            logsum_lower_domain(to);
            const char *at = strchr(to, '@');
            logsum_add(&st->rcpts, to, &fresh);
            st->out->v[LOGSUM_RECIPIENTS] += fresh;
            logsum_add(&st->rdomains, at ? at + 1 : to, &fresh);
            st->out->v[LOGSUM_RECIPIENT_DOMAINS] += fresh;
            st->out->v[LOGSUM_DELIVERED]++;
            if (size != NULL)
                st->out->v[LOGSUM_BYTES_DELIVERED] += *size;
        }
    } else if (strncmp(status, "deferred", 8) == 0) {
        int fresh;
        st->out->v[LOGSUM_DEFERRALS]++;
        logsum_add(&st->deferred, qid, &fresh);
        st->out->v[LOGSUM_DEFERRED] += fresh;
    } else if (strncmp(status, "bounced", 7) == 0) {
        st->out->v[LOGSUM_BOUNCED]++;
    }
    free(to);
}

/* "from=<A>, size=N": the message's size and, if it came in here, its
 * sender. */
static void logsum_from_line(struct logsum_state *st, const char *qid,
                             const char *rest)
{
    const char *sz = strstr(rest, ">, size=");
    char *from = logsum_angle(rest, "from=<");
    long size;

    if (sz == NULL || from == NULL || !str_isdigit((unsigned char)sz[8])) {
        free(from);
        return;
    }
    size = strtol(sz + 8, NULL, 10);
    long *known = logsum_find(&st->sizes, qid);
    if (known != NULL && *known != 0) {
        free(from); /* pflogsumm: avoid double-counting */
        return;
    }
    *logsum_add(&st->sizes, qid, NULL) = size;
    long *whence = logsum_find(&st->rcvd, qid);
    if (whence != NULL) {
        int fresh;
        const char *at;
        if (from[0] != '\0') {
            logsum_lower_domain(from);
        } else {
            free(from);
            from = strdup("from=<>");
        }
        at = strchr(from, '@');
        /* A sender without a domain counts under the client's name;
         * "received" only keeps that it came in, which is enough here. */
        logsum_add(&st->sdomains, at ? at + 1 : from, &fresh);
        st->out->v[LOGSUM_SENDING_DOMAINS] += fresh;
        logsum_add(&st->senders, from, &fresh);
        st->out->v[LOGSUM_SENDERS] += fresh;
        st->out->v[LOGSUM_BYTES_RECEIVED] += size;
        logsum_del(&st->rcvd, qid);
    }
    free(from);
}

static void logsum_line(struct logsum_state *st, const char *line)
{
    /* "Mon DD HH:MM:SS host prog/cmd[pid]: QID: rest" */
    const char *p = line;
    char cmd[64], qid[64];
    size_t n;

    for (int field = 0; field < 4 && *p; field++) {
        while (*p == ' ')
            p++;
        while (*p && *p != ' ')
            p++;
    }
    while (*p == ' ')
        p++;
    const char *slash = strchr(p, '/'), *colon = strstr(p, ": ");
    if (slash == NULL || colon == NULL || slash > colon)
        return;
    n = strcspn(slash + 1, "[:");
    if (n >= sizeof(cmd))
        return;
    memcpy(cmd, slash + 1, n);
    cmd[n] = '\0';
    const char *q = colon + 2;
    n = strcspn(q, ": \t");
    if (n == 0 || n >= sizeof(qid) || q[n] != ':')
        return;
    memcpy(qid, q, n);
    qid[n] = '\0';
    const char *rest = q + n + 1;
    while (*rest == ' ')
        rest++;
    enum logsum_key k;

    if (strcmp(cmd, "cleanup") == 0) {
        const char *w = rest;
        size_t wl = strcspn(w, ":");
        if (strncmp(w, "milter-reject:", 14) == 0)
            k = LOGSUM_REJECTED;
        else if (w[wl] != ':' || !logsum_is_reject_word(w, wl, &k))
            return;
        const char *what = w + wl + 1;
        while (*what == ' ')
            what++;
        if (strncmp(what, "header ", 7) == 0 ||
            strncmp(what, "body ", 5) == 0 ||
            strncmp(what, "END-OF-MESSAGE ", 15) == 0)
            st->out->v[k]++;
        return;
    }
    if (logsum_is_reject_word(qid, strlen(qid), &k)) {
        st->out->v[k]++;
        return;
    }
    if (strcmp(qid, "warning") == 0 || strcmp(qid, "fatal") == 0 ||
        strcmp(qid, "panic") == 0 || strcmp(cmd, "master") == 0)
        return;
    if (strcmp(cmd, "smtpd") == 0 || strcmp(cmd, "postscreen") == 0) {
        size_t wl = strcspn(rest, ":");
        if (strncmp(rest, "client=", 7) == 0) {
            st->out->v[LOGSUM_RECEIVED]++;
            logsum_add(&st->rcvd, qid, NULL);
        } else if (rest[wl] == ':' && logsum_is_reject_word(rest, wl, &k)) {
            st->out->v[k]++;
        }
        return;
    }
    if (strstr(rest, "from=<") == rest && strstr(rest, ">, size=") != NULL)
        logsum_from_line(st, qid, rest);
    else if (strncmp(rest, "to=<", 4) == 0)
        logsum_to_line(st, qid, rest);
    else if (strcmp(cmd, "pickup") == 0 && (strncmp(rest, "uid=", 4) == 0 ||
                                            strncmp(rest, "sender=", 7) == 0)) {
        st->out->v[LOGSUM_RECEIVED]++;
        logsum_add(&st->rcvd, qid, NULL);
    }
}

void logsum_read(const char *log, struct logsum *out)
{
    struct logsum_state st;
    char *copy = strdup(log ? log : "");

    if (copy == NULL)
        abort();
    memset(&st, 0, sizeof(st));
    memset(out, 0, sizeof(*out));
    st.out = out;
    for (char *line = copy; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl != NULL)
            *nl = '\0';
        logsum_line(&st, line);
        line = nl ? nl + 1 : NULL;
    }
    logsum_free(&st.sizes);
    logsum_free(&st.rcvd);
    logsum_free(&st.deferred);
    logsum_free(&st.senders);
    logsum_free(&st.sdomains);
    logsum_free(&st.rcpts);
    logsum_free(&st.rdomains);
    free(copy);
}

int logsum_parse_pflogsumm(const char *text, struct logsum *out)
{
    static const struct {
        const char *label;
        enum logsum_key k;
    } labels[] = {
        {"received", LOGSUM_RECEIVED},
        {"delivered", LOGSUM_DELIVERED},
        {"forwarded", LOGSUM_FORWARDED},
        {"deferred", LOGSUM_DEFERRED},
        {"bounced", LOGSUM_BOUNCED},
        {"rejected", LOGSUM_REJECTED},
        {"reject warnings", LOGSUM_REJECT_WARNINGS},
        {"held", LOGSUM_HELD},
        {"discarded", LOGSUM_DISCARDED},
        {"bytes received", LOGSUM_BYTES_RECEIVED},
        {"bytes delivered", LOGSUM_BYTES_DELIVERED},
        {"senders", LOGSUM_SENDERS},
        {"sending hosts/domains", LOGSUM_SENDING_DOMAINS},
        {"recipients", LOGSUM_RECIPIENTS},
        {"recipient hosts/domains", LOGSUM_RECIPIENT_DOMAINS},
    };
    const char *p = strstr(text ? text : "", "Grand Totals");
    int seen = 0;

    memset(out, 0, sizeof(*out));
    if (p == NULL)
        return -1;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t len = nl ? (size_t)(nl - p) : strlen(p);
        char line[256], *e;
        if (len >= sizeof(line))
            len = sizeof(line) - 1;
        memcpy(line, p, len);
        line[len] = '\0';
        long v = strtol(line, &e, 10);
        if (e != line) {
            /* adj_int_units: "   12k" for thousands, "m" for millions */
            if (*e == 'k')
                v *= 1024, e++;
            else if (*e == 'm')
                v *= 1024 * 1024, e++;
            while (*e == ' ')
                e++;
            for (size_t i = 0; i < sizeof(labels) / sizeof(labels[0]); i++) {
                size_t ll = strlen(labels[i].label);
                if (strncmp(e, labels[i].label, ll) == 0 &&
                    (e[ll] == '\0' || e[ll] == ' ')) {
                    out->v[labels[i].k] = v;
                    seen++;
                    /* "deferred  (N deferrals)" */
                    const char *d = strstr(e, "(");
                    if (labels[i].k == LOGSUM_DEFERRED && d != NULL)
                        out->v[LOGSUM_DEFERRALS] = strtol(d + 1, NULL, 10);
                    break;
                }
            }
        }
        if (seen >= 15 || nl == NULL)
            break;
        p = nl + 1;
    }
    return seen > 0 ? 0 : -1;
}

void logsum_round_like_pflogsumm(struct logsum *s)
{
    for (int k = 0; k < LOGSUM_NKEYS; k++) {
        if (s->v[k] > 536870912L)
            s->v[k] = s->v[k] / 1048576 * 1048576;
        else if (s->v[k] > 524288L)
            s->v[k] = s->v[k] / 1024 * 1024;
    }
}
