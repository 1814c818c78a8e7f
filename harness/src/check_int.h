/*
 * check_int.h — "mxlab check" inside: the target, one blocking SMTP dialogue
 * over smtpcli (check_conn), the verdicts, and the batteries. Each battery
 * is a table of tests; each test yields one verdict (refused, accepted,
 * split, not applicable) judged by reply class and by what arrived, never
 * by a product's wording, and a finding when the verdict is not the one a
 * server safe on the Internet gives.
 */
#ifndef HARNESS_CHECK_INT_H
#define HARNESS_CHECK_INT_H

/* The sender the checks use without --from; in a lab its domain is
 * served by the lab's DNS (check_lab.c). */
#define CHECK_SENDER_DOMAIN "sender.example"
#define CHECK_SENDER_IP "127.0.0.250"
#define CHECK_SENDER "mxlab-check@" CHECK_SENDER_DOMAIN

#include <event2/event.h>
#include <openssl/ssl.h>
#include <stddef.h>
#include <stdio.h>

#include "mxlab/netaddr.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

enum check_verdict {
    CHECK_REFUSED,
    CHECK_ACCEPTED,
    CHECK_SPLIT, /* smuggling: the server ended DATA early */
    CHECK_NA,    /* not applicable, with the reason */
};
const char *check_strverdict(enum check_verdict v);

/* What a safe server answers. CHECK_WANT_ANY: reported, never a finding. */
enum check_want {
    CHECK_WANT_REFUSED,
    CHECK_WANT_ACCEPTED,
    CHECK_WANT_NOT_SPLIT, /* accepted as one message, or refused */
    CHECK_WANT_ANY,
};

/* One test's outcome. Strings owned (check_result_clear). */
struct check_result {
    const char *battery;
    const char *name;
    char *sent; /* what was sent, one line, bytes escaped */
    enum check_verdict verdict;
    enum check_want want;
    char *reason;
    char *reply;      /* the decisive reply, first line */
    char *transcript; /* the whole dialogue, "C: " and "S: " lines */
    double seconds;
};
/* 1 if the verdict is a weakness (not what a safe server answers). */
int check_result_weak(const struct check_result *r);

/* What every test needs to know about the target. */
struct check_target {
    struct event_base *base;
    SSL_CTX *tls;
    struct netaddr addr;
    int tls_now;        /* smtps:// */
    struct netaddr src; /* sessions start from here, if has_src */
    int has_src;
    char ip[64];    /* the server's address, for [IP] literals */
    char *domain;   /* a domain it receives mail for */
    char *outside;  /* a domain it must not relay to */
    char *sender;   /* MAIL FROM for tests that need a sender */
    char *srvname;  /* from the greeting (read once) */
    int timeout_ms; /* per reply */
    int tls_level;  /* lab: smtpd_tls_security_level none 0, may 1,
                       encrypt 2; -1 unknown (remote) */
    /* Filled by the lab when the SUT is ours: messages that reached the
     * fake MX for the outside domain since the last call, else -1. */
    long (*left)(void *arg);
    /* Lab: 1 if a message that reached a fake MX for the outside domain,
     * after the first `since` of them, carried the bytes pat as sent. */
    int (*passed)(void *arg, long since, const void *pat, size_t len);
    void *left_arg;
};

/* A blocking dialogue with the server: each call runs the event loop
 * until what it waits for arrives, the server closes, or the target's
 * timeout passes. Everything sent and received is kept as a transcript. */
struct check_conn;

/* A reply as check code keeps it: code (-1 when none came) and text
 * (lines joined by '\n', code prefixes kept). */
struct check_reply {
    int code;
    char *text;
};
void check_reply_clear(struct check_reply *r);
/* The reply's class: 2, 3, 4, 5, or 0 when there was none. */
int check_reply_class(const struct check_reply *r);

/* Connect and read the greeting into *greeting (may be NULL). NULL with
 * err if the connection fails; a connection whose greeting is not 2xx is
 * returned (the caller judges). */
struct check_conn *check_conn_open(struct check_target *t,
                                   struct check_reply *greeting, char *err,
                                   size_t errlen);
/* Send bytes as they are; they show in the transcript escaped. */
void check_conn_write(struct check_conn *c, const void *data, size_t len);
/* Wait for the next reply. 0, or -1 with out->code -1 and the reason in
 * out->text (closed, timed out, error). */
int check_conn_read(struct check_conn *c, struct check_reply *out);
/* Send "line\r\n" and read its reply: 0 or -1 as check_conn_read. */
int check_conn_cmd(struct check_conn *c, const char *line,
                   struct check_reply *out);
/* EHLO name; on 250, the keywords (first word of each line after the
 * first, upper case) go into kw (may be NULL). */
int check_conn_ehlo(struct check_conn *c, const char *name,
                    struct check_reply *out, struct strlist *kw);
/* Upgrade to TLS after a 220 to STARTTLS; 0 when the handshake finished,
 * -1 with the reason in err. *extra: unread bytes the server had sent. */
int check_conn_starttls(struct check_conn *c, size_t *extra, char *err,
                        size_t errlen);
/* The SSL object once TLS is up, else NULL. */
SSL *check_conn_ssl(struct check_conn *c);
/* 1 once the server has closed or the connection failed. */
int check_conn_dead(const struct check_conn *c);
/* The transcript so far (borrowed). */
const char *check_conn_transcript(const struct check_conn *c);
/* Send QUIT unless dead, then close and free. NULL is a no-op. */
void check_conn_free(struct check_conn *c);

/* A test's session: connect, greeting, EHLO (HELO if EHLO is refused).
 * NULL when that fails, with r set to not applicable and the reason; kw
 * (may be NULL) gets the EHLO keywords. */
struct check_conn *check_session_begin(struct check_target *t,
                                       struct check_result *r,
                                       struct strlist *kw);
/* Keep the session's transcript in r, then close it. */
void check_session_end(struct check_conn *c, struct check_result *r);
/* A reply's one-line summary ("550 5.7.1 ..."), for reasons. Borrowed
 * until the reply changes. */
const char *check_reply_line(const struct check_reply *rep, char *buf,
                             size_t len);

/* Expand a test template into out: {L} the local domain, {O} the outside
 * domain, {S} the greeting's name, {I} the server's address, {L.} {O.}
 * with a trailing dot, {LU} {OU} in upper case, {F} the sender. */
void check_expand(const struct check_target *t, const char *tpl,
                  struct strbuf *out);

/* Describe bytes on one line: CR as \r, LF as \n, NUL as \x00, other
 * control and 8-bit bytes as \xHH, at most max bytes then "...". */
void check_escape(struct strbuf *out, const void *data, size_t len, size_t max);

/* The address's domain part with a trailing dot; its upper case. Caller
 * frees. */
char *check_domain_dot(const char *d);
char *check_domain_upper(const char *d);

/* A battery: fills results (appended, caller clears) and returns how many
 * tests ran. */
struct check_results {
    struct check_result *v;
    size_t n, cap;
};
struct check_result *check_results_add(struct check_results *rs,
                                       const char *battery, const char *name,
                                       enum check_want want);
void check_results_clear(struct check_results *rs);
/* Set a result's verdict, reason (printf) and decisive reply. */
void check_result_set(struct check_result *r, enum check_verdict v,
                      const struct check_reply *decisive, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

typedef void check_battery_fn(struct check_target *t, struct check_results *rs);
void check_battery_relay(struct check_target *t, struct check_results *rs);
void check_battery_smuggling(struct check_target *t, struct check_results *rs);
/* Lab SUTs, from a client allowed to relay: does the SUT pass a
 * non-standard end-of-data sequence on to its next hop? */
void check_battery_smuggling_outbound(struct check_target *t,
                                      struct check_results *rs);
void check_battery_starttls(struct check_target *t, struct check_results *rs);
void check_battery_rfc5321(struct check_target *t, struct check_results *rs);

/* The command line. */
struct check_opts {
    const char *sut, *domain, *from, *source, *report, *scenario;
    const char *service; /* lab: a [master.cf] inet service, NULL: smtp */
    unsigned batteries;  /* bits: open-relay, smuggling, starttls, rfc5321 */
    long timeout;        /* seconds per reply */
};
#define CHECK_BATTERY_RELAY 1u
#define CHECK_BATTERY_SMUGGLING 2u

/* The parts of the target every SUT shares (sender, outside domain,
 * timeout, --source). -1 with err. */
int check_target_init(struct check_target *t, const struct check_opts *o,
                      char *err, size_t errlen);
/* Free what the target holds (event base and TLS context included). */
void check_target_clear(struct check_target *t);
/* Reach the server once; its greeting's name goes into t->srvname. -1
 * with err when it cannot be reached. */
int check_probe(struct check_target *t, char *err, size_t errlen);
/* Without --from: the first of a few senders that the server takes,
 * with postmaster@DOMAIN as recipient, into t->sender. */
void check_pick_sender(struct check_target *t);
/* Run the batteries in mask, appending to rs. */
void check_run_batteries(struct check_target *t, unsigned mask,
                         struct check_results *rs);
/* Print the table and totals, write the reports, clear rs; the exit code
 * (1 if any finding). */
int check_finish(const struct check_opts *o, struct check_results *rs);
/* "mxlab check [--sut relay|postfix] SCENARIO": the scenario's lab
 * (check_lab.c). */
int check_lab_main(const struct check_opts *o);

/* The table of results (people), results.json and JUnit (CI). */
void check_table_write(FILE *fp, const struct check_results *rs);
int check_report_write(const char *dir, const char *target,
                       const struct check_results *rs, char *err,
                       size_t errlen);

#endif
