/*
 * log.c — diagnostics on stderr for mxlab programs. See log.h.
 */
#include "mxlab/log.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *log_progname = "mxlab";
static int log_verbose;

void log_init(const char *progname, int verbose)
{
    log_progname = progname;
    log_verbose = verbose;
}

int log_verbosity(void)
{
    return log_verbose;
}

static void log_vemit(const char *level, const char *fmt, va_list ap,
                      const char *errstr) __attribute__((format(printf, 2, 0)));

static void log_vemit(const char *level, const char *fmt, va_list ap,
                      const char *errstr)
{
    char msg[2048];

    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (errstr != NULL)
        fprintf(stderr, "%s: %s%s: %s\n", log_progname, level, msg, errstr);
    else
        fprintf(stderr, "%s: %s%s\n", log_progname, level, msg);
}

void log_warn(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    log_vemit("warning: ", fmt, ap, strerror(saved));
    va_end(ap);
    errno = saved;
}

void log_warnx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vemit("warning: ", fmt, ap, NULL);
    va_end(ap);
}

void log_info(const char *fmt, ...)
{
    va_list ap;

    if (log_verbose < 1)
        return;
    va_start(ap, fmt);
    log_vemit("", fmt, ap, NULL);
    va_end(ap);
}

void log_debug(const char *fmt, ...)
{
    va_list ap;

    if (log_verbose < 2)
        return;
    va_start(ap, fmt);
    log_vemit("debug: ", fmt, ap, NULL);
    va_end(ap);
}

void fatal(const char *fmt, ...)
{
    int saved = errno;
    va_list ap;

    va_start(ap, fmt);
    log_vemit("fatal: ", fmt, ap, strerror(saved));
    va_end(ap);
    exit(1);
}

void fatalx(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    log_vemit("fatal: ", fmt, ap, NULL);
    va_end(ap);
    exit(1);
}
