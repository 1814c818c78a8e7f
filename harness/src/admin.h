/*
 * admin.h — [admin] steps: "$ command" lines run on the SUT (its own
 * mailq, postqueue, postsuper...), on its log (pflogsumm, a [file] script
 * fed the log), and "> pattern" lines matched against what they print.
 */
#ifndef HARNESS_ADMIN_H
#define HARNESS_ADMIN_H

#include <stddef.h>

#include "capture.h"
#include "harness/lab.h"
#include "harness/scenario.h"

/* "pflogsumm [options]": Debian's pflogsumm on the SUT's mail log. Its
 * exit status (127 or -1: could not run it). */
int admin_pflogsumm(struct lab *lab, const char *cmdline, struct strbuf *out,
                    struct strbuf *err);
/* Play the [admin] block b of s: commands and output go to transcript.
 * 0, or -1 with the failing line in *line and what went wrong in msg. */
int admin_play(struct lab *lab, const struct scenario *s,
               const struct scn_block *b, struct capture *vars,
               struct strbuf *transcript, int *line, char *msg, size_t msglen);

#endif
