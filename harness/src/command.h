/*
 * command.h — run a short external command and capture its output.
 */
#ifndef HARNESS_COMMAND_H
#define HARNESS_COMMAND_H

#include "mxlab/xmem.h"

/* Run argv[0] (a full path) with argv; append what it writes to out and
 * err (either may be NULL). Bounded: killed after 20 s. Returns its exit
 * status, or -1. */
int command_run(char *const argv[], struct strbuf *out, struct strbuf *err);
/* The same with standard input read from the file input (NULL:
 * /dev/null, which command_run uses). */
int command_run_input(char *const argv[], const char *input, struct strbuf *out,
                      struct strbuf *err);

#endif
