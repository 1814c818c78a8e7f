/*
 * logsum.h — the "Grand Totals" of a Postfix mail log, counted as
 * pflogsumm 1.1.5 (Debian 12) counts them, so the harness can assert on
 * the figures seed 003 sends to Zabbix and check them against pflogsumm's
 * own reading of the same log.
 *
 * Rules (pflogsumm's): received = smtpd "client=" and pickup "uid=" or
 * "sender=" lines; a message's size is its first "from=<>, size=N" line,
 * counted in bytes received (and its sender in senders and sending
 * domains) only for a message received in this log; delivered = status=sent
 * lines other than "forwarded as", each adding the message's size to bytes
 * delivered and its recipient (domain lowercased) to recipients;
 * deferrals = status=deferred lines, deferred = messages with at least one;
 * bounced = status=bounced lines; rejected, reject warnings, held and
 * discarded = smtpd/cleanup "reject:", "reject_warning:", "hold:",
 * "discard:" lines.
 */
#ifndef REPORTS_LOGSUM_H
#define REPORTS_LOGSUM_H

#include <stddef.h>

enum logsum_key {
    LOGSUM_RECEIVED,
    LOGSUM_DELIVERED,
    LOGSUM_FORWARDED,
    LOGSUM_DEFERRED,
    LOGSUM_DEFERRALS,
    LOGSUM_BOUNCED,
    LOGSUM_REJECTED,
    LOGSUM_REJECT_WARNINGS,
    LOGSUM_HELD,
    LOGSUM_DISCARDED,
    LOGSUM_BYTES_RECEIVED,
    LOGSUM_BYTES_DELIVERED,
    LOGSUM_SENDERS,
    LOGSUM_SENDING_DOMAINS,
    LOGSUM_RECIPIENTS,
    LOGSUM_RECIPIENT_DOMAINS,
    LOGSUM_NKEYS
};

struct logsum {
    long v[LOGSUM_NKEYS];
};

/* The key's name as scenarios write it: pflogsumm's label with '-' for
 * spaces ("received", "reject-warnings", "bytes-received",
 * "sending-domains"). */
const char *logsum_name(enum logsum_key k);
/* The key for a name, or -1. */
int logsum_key(const char *name);

/* Count the log text (NUL-terminated, lines in syslog format). */
void logsum_read(const char *log, struct logsum *out);

/* Read the "Grand Totals" of pflogsumm's output (k and m suffixes
 * expanded as pflogsumm's adj_int_units wrote them). 0, or -1 if the
 * section is missing. */
int logsum_parse_pflogsumm(const char *text, struct logsum *out);
/* Round exact counts as pflogsumm prints them (in k above 512k, in m
 * above 512m), so that they compare with logsum_parse_pflogsumm(). */
void logsum_round_like_pflogsumm(struct logsum *s);

/* The figures seed 003's zabbix-postfix.sh sends, in zabbix_sender's
 * input format ("HOST KEY VALUE" per line, for zabbix_sender -i): the
 * keys are its "postfix[received]" ... "postfix[recipients]" (pflogsumm's
 * label, lowercased, spaces to '_'), the values exact counts. host "-"
 * lets zabbix_sender take the host name from its configuration. Appended
 * to out (a struct strbuf from mxlab/xmem.h). */
struct strbuf;
void logsum_zabbix(const struct logsum *s, const char *host,
                   struct strbuf *out);

#endif
