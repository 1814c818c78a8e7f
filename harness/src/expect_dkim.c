/*
 * expect_dkim.c — DKIM signatures judged by an independent verifier:
 * python3-dkim (dkimpy, Debian's python3-dkim) run on each delivered
 * message, its key record (RFC 6376 section 3.6.2.1,
 * SELECTOR._domainkey.DOMAIN TXT) asked of the lab's fakedns through its
 * answer function (the harness's event loop serves it, so a child
 * process could not ask it while the harness waits) and handed to
 * dkimpy's dnsfunc hook. The harness only finds d= and s= to know which
 * record to fetch; the verdict is dkimpy's.
 */
#include "expect_dkim.h"

#include <ldns/ldns.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "command.h"
#include "fakedns/fakedns.h"
#include "fakemx/fakemx.h"
#include "harness/lab.h"
#include "mxlab/fsutil.h"
#include "mxlab/strutil.h"

#define EXPECT_DKIM_PYTHON "/usr/bin/python3"

/* dkimpy's verify with the record given on the command line. */
static const char expect_dkim_script[] =
    "import sys, dkim\n"
    "name, txt = sys.argv[1].encode(), sys.argv[2].encode()\n"
    "def dnsfunc(n, timeout=5):\n"
    "    return txt if n.rstrip(b'.').lower() == name.lower() else None\n"
    "m = open(sys.argv[3], 'rb').read()\n"
    "try:\n"
    "    ok = dkim.DKIM(m).verify(dnsfunc=dnsfunc)\n"
    "    why = 'signature verification failed'\n"
    "except dkim.DKIMException as e:\n"
    "    ok, why = False, str(e)\n"
    "print('signature ok' if ok else why)\n"
    "sys.exit(0 if ok else 1)\n";

int expect_parse_dkim(struct scn_expect *x, const struct strlist *w,
                      const char *text, char *err, size_t errlen)
{
    (void)text;
    if (w->n != 4 || strcmp(w->v[2], "pass") != 0) {
        snprintf(err, errlen, "expected \"delivered dkim pass DOMAIN\"");
        return -1;
    }
    x->text = xstrdup(w->v[3]);
    return 0;
}

/* The value of tag in a DKIM-Signature header's tag list (RFC 6376
 * section 3.2: "tag=value;", white space around both), or NULL. Caller
 * frees. */
static char *expect_dkim_tag(const char *sig, size_t len, const char *tag)
{
    size_t tl = strlen(tag), i = 0;

    while (i < len) {
        while (i < len && (sig[i] == ' ' || sig[i] == '\t' || sig[i] == '\r' ||
                           sig[i] == '\n' || sig[i] == ';'))
            i++;
        size_t start = i;
        while (i < len && sig[i] != ';')
            i++;
        if (i - start > tl && strncmp(sig + start, tag, tl) == 0) {
            size_t k = start + tl;
            while (k < i && (sig[k] == ' ' || sig[k] == '\t'))
                k++;
            if (k < i && sig[k] == '=') {
                struct strbuf v;
                strbuf_init(&v);
                for (k++; k < i; k++)
                    if (sig[k] > ' ')
                        strbuf_putc(&v, sig[k]);
                return strbuf_detach(&v);
            }
        }
    }
    return NULL;
}

/* The DKIM-Signature header (value, folds kept) of data whose d= is
 * domain: its s= into *sel. 0, or -1 if none. */
static int expect_dkim_find(const char *data, size_t len, const char *domain,
                            char **sel)
{
    const char *p = data, *end = data + len;

    while (p < end && *p != '\r' && *p != '\n') {
        const char *e = p;
        /* the field ends at a line that does not start with white space */
        do {
            const char *nl = memchr(e, '\n', (size_t)(end - e));
            e = nl ? nl + 1 : end;
        } while (e < end && (*e == ' ' || *e == '\t'));
        if ((size_t)(e - p) > 15 &&
            str_ncasecmp(p, "DKIM-Signature:", 15) == 0) {
            char *d = expect_dkim_tag(p + 15, (size_t)(e - p) - 15, "d");
            int match = d != NULL && str_casecmp(d, domain) == 0;
            free(d);
            if (match &&
                (*sel = expect_dkim_tag(p + 15, (size_t)(e - p) - 15, "s")))
                return 0;
        }
        p = e;
    }
    return -1;
}

/* The TXT record of name from the lab's fakedns (character-strings
 * joined, RFC 6376 section 3.6.2.2); NULL if none. Caller frees. */
static char *expect_dkim_txt(struct fakedns *dns, const char *name)
{
    ldns_pkt *q = NULL, *a = NULL;
    ldns_rdf *dname = ldns_dname_new_frm_str(name);
    uint8_t *wire = NULL, *resp = NULL;
    size_t wlen = 0, rlen = 0;
    struct strbuf sb;
    char *out = NULL;

    strbuf_init(&sb);
    if (dname == NULL)
        goto done;
    q = ldns_pkt_query_new(dname, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, LDNS_RD);
    if (q == NULL || ldns_pkt2wire(&wire, q, &wlen) != LDNS_STATUS_OK ||
        fakedns_answer(dns, wire, wlen, &resp, &rlen) < 0 ||
        ldns_wire2pkt(&a, resp, rlen) != LDNS_STATUS_OK)
        goto done;
    for (size_t i = 0; i < ldns_rr_list_rr_count(ldns_pkt_answer(a)); i++) {
        ldns_rr *rr = ldns_rr_list_rr(ldns_pkt_answer(a), i);
        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT || sb.len > 0)
            continue;
        for (size_t k = 0; k < ldns_rr_rd_count(rr); k++) {
            const uint8_t *d = ldns_rdf_data(ldns_rr_rdf(rr, k));
            strbuf_append(&sb, d + 1, d[0]);
        }
    }
    if (sb.len > 0)
        out = strbuf_detach(&sb);
done:
    strbuf_clear(&sb);
    if (q != NULL)
        ldns_pkt_free(q);
    else
        ldns_rdf_deep_free(dname);
    ldns_pkt_free(a);
    free(wire);
    free(resp);
    return out;
}

/* Verify message i: 1 pass, 0 fail or none (why says so). */
static int expect_dkim_one(const struct scn_expect *x, struct expect_env *env,
                           const struct fakemx_message *m, size_t i,
                           struct strbuf *why)
{
    char *sel = NULL, *name = NULL, *txt = NULL, *path;
    struct strbuf out;
    int rc = 0;

    strbuf_init(&out);
    path = xasprintf("%s/dkim-%zu.eml", lab_workdir(env->lab), i);
    if (expect_dkim_find(m->data, m->data_len, x->text, &sel) < 0) {
        strbuf_printf(why, "message %zu: no DKIM-Signature with d=%s; ", i + 1,
                      x->text);
    } else if ((txt = expect_dkim_txt(lab_fakedns(env->lab),
                                      (name = xasprintf("%s._domainkey.%s", sel,
                                                        x->text)))) == NULL) {
        strbuf_printf(why, "message %zu: fakedns has no TXT for %s; ", i + 1,
                      name);
    } else if (fs_write_atomic(path, m->data, m->data_len) == 0) {
        char *argv[] = {EXPECT_DKIM_PYTHON,
                        "-c",
                        (char *)expect_dkim_script,
                        name,
                        txt,
                        path,
                        NULL};
        rc = command_run(argv, &out, &out) == 0;
        if (!rc)
            strbuf_printf(why, "message %zu: python3-dkim: %s; ", i + 1,
                          out.buf ? out.buf : "(no output)");
    }
    strbuf_clear(&out);
    free(path);
    free(sel);
    free(name);
    free(txt);
    return rc;
}

int expect_check_dkim(const struct scn_expect *x, struct expect_env *env,
                      struct strbuf *why)
{
    struct fakemx *mx = lab_fakemx(env->lab);
    struct strbuf reasons;
    int found = 0;

    if (access(EXPECT_DKIM_PYTHON, X_OK) != 0) {
        strbuf_puts(why, "/usr/bin/python3 (with python3-dkim) not installed");
        return -1;
    }
    strbuf_init(&reasons);
    for (size_t i = 0; i < fakemx_message_count(mx) && !found; i++)
        found = expect_dkim_one(x, env, fakemx_message_at(mx, i), i, &reasons);
    if (!found && env->final_try)
        strbuf_printf(why,
                      "no delivered message has a DKIM signature of %s "
                      "that verifies: %s",
                      x->text, reasons.buf ? reasons.buf : "none delivered");
    strbuf_clear(&reasons);
    return found ? 1 : env->final_try ? -1 : 0;
}
