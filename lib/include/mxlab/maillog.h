/*
 * maillog.h — mail log lines in Postfix's format, so that log readers
 * written for Postfix (pflogsumm, the seeds' scripts) read ours:
 *   "Nov 23 07:00:00 host postfix/smtpd[1234]: 1A2B3C4D5E: client=..."
 * One writer per process; lines are appended whole (O_APPEND, one write).
 */
#ifndef MXLAB_MAILLOG_H
#define MXLAB_MAILLOG_H

struct maillog;

/* Open path for appending ("/dev/stderr" and "-" mean standard error).
 * syslog_name is Postfix's (default "postfix"). NULL on error with errno. */
struct maillog *maillog_open(const char *path, const char *hostname,
                             const char *syslog_name);
void maillog_free(struct maillog *ml);
/* One line from service ("smtpd", "qmgr", ...). ml may be NULL (dropped). */
void maillog_printf(struct maillog *ml, const char *service, const char *fmt,
                    ...) __attribute__((format(printf, 3, 4)));

#endif
