/*
 * maillog.c — Postfix-format mail log lines. See maillog.h.
 * Format (syslog's, as Postfix's maillog_file writes it):
 *   "Mmm dd hh:mm:ss host syslog_name/service[pid]: text\n"
 */
#include "mxlab/maillog.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mxlab/clock.h"
#include "mxlab/xmem.h"

struct maillog {
    int fd;
    int own_fd;
    char *hostname;
    char *syslog_name;
};

struct maillog *maillog_open(const char *path, const char *hostname,
                             const char *syslog_name)
{
    struct maillog *ml;
    int fd;

    if (path == NULL || strcmp(path, "-") == 0 ||
        strcmp(path, "/dev/stderr") == 0)
        fd = STDERR_FILENO;
    else if (strcmp(path, "/dev/stdout") == 0)
        fd = STDOUT_FILENO;
    else {
        fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (fd < 0)
            return NULL;
    }
    ml = xcalloc(1, sizeof(*ml));
    ml->fd = fd;
    ml->own_fd = fd > STDERR_FILENO;
    ml->hostname = xstrdup(hostname ? hostname : "localhost");
    ml->syslog_name = xstrdup(syslog_name ? syslog_name : "postfix");
    return ml;
}

void maillog_free(struct maillog *ml)
{
    if (ml == NULL)
        return;
    if (ml->own_fd)
        close(ml->fd);
    free(ml->hostname);
    free(ml->syslog_name);
    free(ml);
}

void maillog_printf(struct maillog *ml, const char *service, const char *fmt,
                    ...)
{
    static const char *months[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    struct strbuf sb;
    struct tm tm;
    time_t now;
    va_list ap;

    if (ml == NULL)
        return;
    now = clock_time();
    localtime_r(&now, &tm);
    strbuf_init(&sb);
    strbuf_printf(&sb,
                  "%s %2d %02d:%02d:%02d %s %s/%s[%ld]: ", months[tm.tm_mon],
                  tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ml->hostname,
                  ml->syslog_name, service, (long)getpid());
    va_start(ap, fmt);
    strbuf_vprintf(&sb, fmt, ap);
    va_end(ap);
    strbuf_putc(&sb, '\n');
    /* One write per line: O_APPEND keeps concurrent writers' lines whole. */
    if (write(ml->fd, sb.buf, sb.len) < 0) {
        /* Nothing sensible to do: the log must never stop the mail. */
    }
    strbuf_clear(&sb);
}
