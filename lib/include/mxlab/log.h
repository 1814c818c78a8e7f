/*
 * log.h — diagnostics for mxlab's own programs (stderr), OpenSMTPD style:
 * log_warn() appends strerror(errno), log_warnx() does not; fatal() and
 * fatalx() are for set-up errors and impossible states only.
 * Mail logs in Postfix's format are in maillog.h.
 */
#ifndef MXLAB_LOG_H
#define MXLAB_LOG_H

#include <stdarg.h>

/* Set the program name shown in front of messages and the verbosity
 * (0: warnings, 1: info, 2: debug). */
void log_init(const char *progname, int verbose);
int log_verbosity(void);

void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
_Noreturn void fatal(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));
_Noreturn void fatalx(const char *fmt, ...)
    __attribute__((format(printf, 1, 2)));

#endif
