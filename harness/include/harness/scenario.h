/*
 * scenario.h — the scenario file format (scenarios/README.md): sections
 * "[kind args]" whose bodies keep their native syntax (main.cf lines, map
 * files, BIND zone lines) plus telnet-style sessions ("C:" sent, "S:"
 * expected) and expectations. Parsing checks everything it can so that a
 * broken scenario fails before any server starts, with "file:line: what".
 * Ownership: scenario_free() frees the whole parse.
 */
#ifndef HARNESS_SCENARIO_H
#define HARNESS_SCENARIO_H

#include <stddef.h>

#include "fakemx/fakemx.h"
#include "mxlab/xmem.h"

enum scn_block_kind {
    SCN_MAINCF,        /* [main.cf] */
    SCN_FILE,          /* [file NAME] */
    SCN_ZONE,          /* [zone ORIGIN] */
    SCN_MX,            /* [mx IP] */
    SCN_SESSION,       /* [session] / [session from IP] */
    SCN_EXPECT,        /* [expect] */
    SCN_ADMIN,         /* [admin]: "$ command" and "> output pattern" lines */
    SCN_CHANGE_MX,     /* [change mx IP]: a new behaviour, keys as in [mx] */
    SCN_CHANGE_DNS,    /* [change dns]: "fault NAME TYPE SPEC", "clear ..." */
    SCN_TIME,          /* [time passes DURATION]: the SUT's clock moves on */
    SCN_MASTERCF,      /* [master.cf]: services added to the SUT's master.cf */
    SCN_TLS_CERT,      /* [tls cert NAME]: a self-signed key and certificate */
    SCN_CHANGE_MAINCF, /* [change main.cf]: lines added or replaced */
    SCN_CHANGE_FILE,   /* [change file NAME]: the file replaced */
    SCN_CHANGE_ZONE,   /* [change zone ORIGIN]: records added, replaced,
                          removed */
    SCN_SYSTEM,        /* [system NAME IP]: another system, main.cf body */
    SCN_DAEMON,        /* [daemon KIND ENDPOINT]: a real outside daemon */
};

/* One line of a session. */
enum scn_item_kind {
    SCN_SEND,
    SCN_SEND_RAW, /* "C= bytes": escapes decoded, no CRLF added */
    SCN_EXPECT_GLOB,
    SCN_EXPECT_REGEX,
    SCN_EXPECT_NO_LINE, /* "S! regex": no line of the reply matches */
    SCN_EXPECT_CLOSED,  /* "S= closed": the server ends the connection */
    SCN_COMMAND,        /* [admin] "$ mailq" */
    SCN_OUTPUT,         /* [admin] "> pattern" */
    SCN_SERVICE, /* [master.cf]: one logical line (an inet one: a port) */
};
struct scn_item {
    enum scn_item_kind kind;
    int line;
    char *text; /* what follows "C: ", "S: " or "S~ " */
};

/* One kind of expectation: its keyword, parser, judge and explanation
 * (harness/src/expect.c, one table entry per kind). */
struct expect_kind;

struct scn_expect {
    const struct expect_kind *kind;
    int line;
    char *host; /* delivered to */
    char *from; /* NULL: any sender */
    char **rcpts;
    size_t nrcpt;
    long count;
    char *text;    /* log contains, mailbox contains, delivered data... */
    int lacks;     /* delivered data|envelope lacks */
    char *mailbox; /* local user */
    /* dns queried: name in mailbox, type (0: any) in count's sibling */
    int dns_type;
    /* log totals: the counters named (logsum.h keys), in order; none:
     * "as pflogsumm" */
    int *keys;
    long *values;
    size_t nkeys;
};

struct scn_block {
    enum scn_block_kind kind;
    int line;      /* the header's line */
    char *arg;     /* file name, zone origin, mx address, session source,
                      daemon kind */
    char *to;      /* [session to SERVICE]: a [master.cf] inet service;
                      [daemon]: its endpoint as main.cf names it */
    char *on;      /* "on NAME" ([admin], [expect], [change main.cf|file])
                      or [session to NAME]: a [system NAME]; NULL: the SUT */
    char *ip;      /* [system NAME IP]: where it listens */
    int keep;      /* [session ... keep]: open until the scenario ends */
    char *text;    /* native body (main.cf, file, zone), as written */
    int text_line; /* line of the body's first line */
    /* [time passes]: seconds */
    long seconds;
    /* [tls cert NAME]: "cn = NAME" (default "localhost"), "key = rsa" */
    char *cert_cn;
    int cert_rsa;
    /* [mx]: key = value settings */
    /* [mx IP], [change mx IP]: the behaviour (fakemx's text format) */
    struct fakemx_behaviour mx;
    /* [session], [admin], [master.cf] (its logical lines) */
    struct scn_item *items;
    size_t nitems;
    /* [expect] */
    struct scn_expect *expects;
    size_t nexpects;
};

struct scenario {
    char *path;
    char *name;      /* [scenario] name, or the file's base name */
    char *seed;      /* [scenario] seed (informative) */
    long timeout_ms; /* [scenario] timeout, per wait (default 10 s) */
    /* [scenario] postfix_time_scale: on Postfix, durations are divided by
     * this (0: the default, 60) */
    long postfix_time_scale;
    struct scn_block *blocks;
    size_t nblocks;
};

/* Parse a scenario file. NULL with "file:line: what was expected" in err. */
struct scenario *scenario_load(const char *path, char *err, size_t errlen);
/* The same for text in memory (tests); path names it in messages. */
struct scenario *scenario_parse(const char *path, const char *text, char *err,
                                size_t errlen);
void scenario_free(struct scenario *s);

/* The [master.cf] line of an inet service: by name (the service field as
 * written; *index, if not NULL, gets its rank among the inet services),
 * or with name NULL the *index-th one. NULL if there is none. */
const struct scn_item *scenario_service(const struct scenario *s,
                                        const char *name, size_t *index);

/* The [system NAME IP] block of that name, or NULL. */
const struct scn_block *scenario_system(const struct scenario *s,
                                        const char *name);

/* Decode the escapes of a "C=" line into out: \r \n \t \0 \\ and \xHH.
 * 0, or -1 at the first bad escape. */
int scenario_unescape(const char *text, struct strbuf *out);

#endif
