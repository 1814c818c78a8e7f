/*
 * expect.h — the [expect] lines: one table entry per kind, {keyword,
 * parse, check, explain}. The scenario parser and the runner's judge go
 * through the same entry, so a new kind is one entry (and one test).
 */
#ifndef HARNESS_EXPECT_H
#define HARNESS_EXPECT_H

#include <stddef.h>

#include "capture.h"
#include "harness/lab.h"
#include "harness/scenario.h"

/* What a judge looks at. */
struct expect_env {
    struct lab *lab;
    struct capture *vars;
    int final_try; /* the wait is over: "not yet" is a failure */
};

struct expect_kind {
    const char *keyword; /* the words that start the line */
    size_t min_words;    /* words on the line, at least */
    size_t max_words;    /* and at most (0: any) */
    /* Fill x from the line (w: its words). 0, or -1 with what was
     * expected in err (no file:line). */
    int (*parse)(struct scn_expect *x, const struct strlist *w,
                 const char *text, char *err, size_t errlen);
    /* 1: met; 0: not (yet); -1: failed, why says how. */
    int (*check)(const struct scn_expect *x, struct expect_env *env,
                 struct strbuf *why);
    /* Why a check that said 0 on its final try is not met; NULL if it
     * never does. */
    void (*explain)(const struct scn_expect *x, struct expect_env *env,
                    struct strbuf *why);
};

/* Parse one [expect] line into x (cleared first). 0, or -1 with err. */
int expect_parse(struct scn_expect *x, const char *text, char *err,
                 size_t errlen);
/* Judge x: 1 met, 0 not yet, -1 failed (why, only on -1). */
int expect_check(const struct scn_expect *x, struct expect_env *env,
                 struct strbuf *why);
/* Free what expect_parse allocated in x. */
void expect_clear(struct scn_expect *x);

/* ---- for the files of kinds (expect.c, expect_log.c) ---- */

/* The kinds on what the SUT wrote (expect_log.c): log and mailboxes. */
extern const struct expect_kind expect_log_kinds[];
extern const size_t expect_log_nkinds;
/* What follows word at the start of text (after white space), or NULL. */
const char *expect_rest(const char *text, const char *word);
/* 1 if a line of text matches the glob pattern. */
int expect_text_has_line(const char *text, const char *pattern);
/* 1 if every system of the lab has nothing left to do. */
int expect_idle(struct expect_env *env);

#endif
