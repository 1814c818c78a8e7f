/*
 * test_harness.c — the scenario parser: a full valid scenario, and every
 * error message with its file:line; mxlab diff's comparison; and the lab
 * API (lab.h) that mxlab run, check and bench share: the --sut parser
 * (default ports, smtps, errors), a relay and a remote lab opened and
 * closed on a loop (endpoint, source addresses, queue, admin), the
 * expectation table (one parse per kind, the same entry judges) and the
 * [daemon] kinds (known, ready or skipped naming their package).
 */
#include <check.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "expect.h"
#include "harness/diff.h"
#include "harness/lab.h"
#include "harness/scenario.h"
#include "labconf.h"
#include "mxlab/clock.h"
#include "mxlab/fsutil.h"
#include "mxlab/netaddr.h"
#include "mxlab/xmem.h"

static const char *valid =
    "# a comment before the first section\n"
    "[scenario]\n"
    "name = seed 000 relay\n"
    "seed = 000_4b3c0013cee9a803.txt\n"
    "timeout = 5s\n"
    "\n"
    "[main.cf]\n"
    "relay_domains = mail.xxx.dyndns.com\n"
    "# main.cf comments are kept\n"
    "virtual_alias_maps = hash:$config_directory/virtual\n"
    "[file virtual]\n"
    "social@hebergee.com pomme@mail.xxx.dyndns.com\n"
    "[zone example.com.]\n"
    "@ 300 IN MX 10 mx\n"
    "[mx 127.168.2.253]\n"
    "name = windows.mail.xxx.dyndns.com\n"
    "max_conn_per_ip = 2\n"
    "[session from 127.1.2.3]\n"
    "S: 220 *\n"
    "C: helo test\n"
    "S~ ^250 \n"
    "S: 250 2.0.0 Ok: queued as {qid}\n"
    "[expect]\n"
    "delivered to 127.168.2.253 from a@b.example rcpt x@y.example "
    "z@y.example\n"
    "not delivered rcpt nobody@y.example\n"
    "deliveries 1\n"
    "queue empty\n"
    "log contains status=sent\n";

START_TEST(test_valid)
{
    char err[512] = "";
    struct scenario *s = scenario_parse("v.scn", valid, err, sizeof(err));

    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_str_eq(s->name, "seed 000 relay");
    ck_assert_int_eq(s->timeout_ms, 5000);
    ck_assert_int_eq(s->nblocks, 6);
    ck_assert_int_eq(s->blocks[0].kind, SCN_MAINCF);
    ck_assert_int_eq(s->blocks[0].text_line, 8);
    ck_assert_str_eq(s->blocks[0].text,
                     "relay_domains = mail.xxx.dyndns.com\n"
                     "# main.cf comments are kept\n"
                     "virtual_alias_maps = hash:$config_directory/virtual\n");
    ck_assert_str_eq(s->blocks[1].arg, "virtual");
    ck_assert_str_eq(s->blocks[2].arg, "example.com.");
    ck_assert_str_eq(s->blocks[3].mx.name, "windows.mail.xxx.dyndns.com");
    ck_assert_int_eq(s->blocks[3].mx.max_conn_per_ip, 2);
    ck_assert_str_eq(s->blocks[4].arg, "127.1.2.3");
    ck_assert_int_eq(s->blocks[4].nitems, 4);
    ck_assert_int_eq(s->blocks[4].items[1].kind, SCN_SEND);
    ck_assert_str_eq(s->blocks[4].items[1].text, "helo test");
    ck_assert_int_eq(s->blocks[4].items[2].kind, SCN_EXPECT_REGEX);
    ck_assert_int_eq(s->blocks[5].nexpects, 5);
    ck_assert_int_eq(s->blocks[5].expects[0].nrcpt, 2);
    ck_assert_str_eq(s->blocks[5].expects[0].from, "a@b.example");
    ck_assert_int_eq(s->blocks[5].expects[2].count, 1);
    ck_assert_str_eq(s->blocks[5].expects[4].text, "status=sent");
    scenario_free(s);
}
END_TEST

START_TEST(test_admin_and_change)
{
    char err[512] = "";
    struct scenario *s = scenario_parse(
        "a.scn",
        "[mx 127.27.48.4]\ngreeting = 421 busy %s\n"
        "[admin]\n$ mailq\n>             (host x refused*)\n"
        "$ postsuper -d {qid}\n"
        "[change mx 127.27.48.4]\ngreeting =\n[time passes 5m]\n",
        err, sizeof(err));

    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_int_eq(s->nblocks, 4);
    ck_assert_int_eq(s->blocks[3].kind, SCN_TIME);
    ck_assert_int_eq(s->blocks[3].seconds, 300);
    ck_assert_str_eq(s->blocks[0].mx.greeting_reply, "421 busy %s");
    ck_assert_int_eq(s->blocks[1].kind, SCN_ADMIN);
    ck_assert_int_eq(s->blocks[1].nitems, 3);
    ck_assert_int_eq(s->blocks[1].items[0].kind, SCN_COMMAND);
    ck_assert_str_eq(s->blocks[1].items[0].text, "mailq");
    ck_assert_int_eq(s->blocks[1].items[1].kind, SCN_OUTPUT);
    /* Leading spaces after "> " are part of the pattern. */
    ck_assert_str_eq(s->blocks[1].items[1].text,
                     "            (host x refused*)");
    ck_assert_int_eq(s->blocks[2].kind, SCN_CHANGE_MX);
    ck_assert_str_eq(s->blocks[2].arg, "127.27.48.4");
    ck_assert_ptr_null(s->blocks[2].mx.greeting_reply);
    scenario_free(s);
}
END_TEST

START_TEST(test_tls)
{
    char err[512] = "";
    struct scenario *s = scenario_parse(
        "t.scn",
        "[tls cert relay]\ncn = relay.example.net\nkey = rsa\n"
        "[tls cert other]\n"
        "[session]\nC: STARTTLS\nS: 220 *\nS! ^250[- ]STARTTLS$\n"
        "C= STARTTLS\\r\\n\nS= closed\n",
        err, sizeof(err));

    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_int_eq(s->nblocks, 3);
    ck_assert_int_eq(s->blocks[0].kind, SCN_TLS_CERT);
    ck_assert_str_eq(s->blocks[0].arg, "relay");
    ck_assert_str_eq(s->blocks[0].cert_cn, "relay.example.net");
    ck_assert_int_eq(s->blocks[0].cert_rsa, 1);
    ck_assert_ptr_null(s->blocks[1].cert_cn);
    ck_assert_int_eq(s->blocks[1].cert_rsa, 0);
    ck_assert_int_eq(s->blocks[2].nitems, 5);
    ck_assert_int_eq(s->blocks[2].items[2].kind, SCN_EXPECT_NO_LINE);
    ck_assert_str_eq(s->blocks[2].items[2].text, "^250[- ]STARTTLS$");
    ck_assert_int_eq(s->blocks[2].items[4].kind, SCN_EXPECT_CLOSED);
    scenario_free(s);
}
END_TEST

START_TEST(test_default_name)
{
    char err[512] = "";
    struct scenario *s = scenario_parse(
        "dir/000-ovh-relay.scn", "[session]\nC: QUIT\n", err, sizeof(err));

    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_str_eq(s->name, "000-ovh-relay");
    scenario_free(s);
}
END_TEST

/*
 * Every error message scenario_parse can produce, each with its file:line
 * and enough of its text to say what was expected. Entries are prefixes
 * of the message. Grouped by the function in scenario.c that reports them;
 * the last group is fakemx's behaviour format, reached through [mx] and
 * [change mx] lines, to which scenario.c adds the file:line.
 */
static const struct {
    const char *text, *err;
} errors[] = {
    /* scn_line */
    {"hello\n[session]\nC: QUIT\n",
     "e.scn:1: text before the first section; start with [scenario] or "
     "another [section]"},
    {"# comment\n\nhello\n", "e.scn:3: text before the first section"},
    {"[session]\nC: QUIT\n[expect\n",
     "e.scn:3: section header must be \"[kind args]\" alone on its line"},
    {"[session]\nC: QUIT\n[expect] queue empty\n",
     "e.scn:3: section header must be \"[kind args]\" alone on its line"},
    /* scn_open_block */
    {"[sesion]\n",
     "e.scn:1: unknown section [sesion]; expected [scenario], [main.cf], "
     "[master.cf], [file NAME], [zone ORIGIN], [mx IP], [session [from IP] "
     "[to SERVICE]], [expect], [admin], [change mx IP], [change dns], "
     "[change main.cf], [change file NAME], [change zone ORIGIN], [time "
     "passes DURATION], [tls cert NAME], [daemon KIND ENDPOINT] or [system "
     "NAME IP]"},
    {"[]\n", "e.scn:1: unknown section []; expected [scenario]"},
    {"[daemon postgrey]\n",
     "e.scn:1: expected [daemon KIND inet:127.x.y.z:PORT] (the endpoint as "
     "main.cf names it, on loopback)"},
    /* Refused for not being loopback: needs a non-loopback address. */
    {"[daemon postgrey inet:10.0.0.1:10023]\n",
     "e.scn:1: expected [daemon KIND inet:127.x.y.z:PORT]"},
    {"[daemon postgrey unix:/var/run/postgrey]\n",
     "e.scn:1: expected [daemon KIND inet:127.x.y.z:PORT]"},
    {"[daemon postgrey inet:127.0.0.1]\n",
     "e.scn:1: expected [daemon KIND inet:127.x.y.z:PORT]"},
    {"[main.cf x]\n", "e.scn:1: [main.cf] takes no argument"},
    {"[session]\nC: QUIT\n[expect all]\n",
     "e.scn:3: [expect] takes no argument"},
    {"[file]\n", "e.scn:1: [file] needs one argument"},
    {"[zone a. b.]\n", "e.scn:1: [zone] needs one argument"},
    {"[file /etc/postfix/virtual]\n",
     "e.scn:1: [file /etc/postfix/virtual]: a plain file name is expected "
     "(it is written into the SUT's config directory)"},
    {"[file .forward]\n",
     "e.scn:1: [file .forward]: a plain file name is expected"},
    {"[mx mail.example.com]\n",
     "e.scn:1: [mx mail.example.com]: an IP address without port is expected "
     "(127.x.y.z)"},
    {"[mx 127.0.0.9:25]\n",
     "e.scn:1: [mx 127.0.0.9:25]: an IP address without port is expected"},
    {"[tls]\n", "e.scn:1: expected [tls cert NAME]"},
    {"[tls key relay]\n", "e.scn:1: expected [tls cert NAME]"},
    {"[tls cert ../relay]\n",
     "e.scn:1: [tls cert ../relay]: a plain file name is expected (NAME.pem, "
     "NAME.key and NAME.crt are written into the SUT's config directory)"},
    {"[time passes soon]\n",
     "e.scn:1: expected [time passes DURATION] with a duration such as 300s, "
     "5m, 2h, 5d or 1w"},
    {"[time passes 5x]\n", "e.scn:1: expected [time passes DURATION]"},
    {"[time flies 5m]\n", "e.scn:1: expected [time passes DURATION]"},
    {"[change nothing]\n",
     "e.scn:1: expected [change mx IP], [change dns], [change main.cf]"},
    {"[change 127.0.0.9]\n",
     "e.scn:1: expected [change mx IP], [change dns], [change main.cf]"},
    {"[change mx mail.example.com]\n",
     "e.scn:1: expected [change mx IP], [change dns], [change main.cf]"},
    {"[change file ../x]\n",
     "e.scn:1: expected [change mx IP], [change dns], [change main.cf]"},
    {"[system old]\n", "e.scn:1: expected [system NAME IP]"},
    {"[system old 127.0.10.1:25]\n", "e.scn:1: expected [system NAME IP]"},
    {"[session]\nC: QUIT\n[admin on old]\n$ mailq\n",
     "e.scn:3: on old: no [system old]"},
    {"[session at 127.0.0.1]\n",
     "e.scn:1: expected [session], [session from IP], [session to SERVICE] "
     "or [session from IP to SERVICE]"},
    {"[session from]\n", "e.scn:1: expected [session], [session from IP]"},
    {"[session keep keep]\n", "e.scn:1: expected [session], [session from IP]"},
    {"[session keep from]\n", "e.scn:1: expected [session], [session from IP]"},
    {"[session from 127.0.0.1 from 127.0.0.2]\n",
     "e.scn:1: expected [session], [session from IP]"},
    {"[session from mail.example.com]\n",
     "e.scn:1: expected [session], [session from IP]"},
    /* scn_meta_line */
    {"[scenario]\nname\n", "e.scn:2: expected key = value in [scenario]"},
    {"[scenario]\ncolour = blue\n",
     "e.scn:2: unknown key \"colour\" in [scenario]; expected name, seed, "
     "description, timeout or postfix_time_scale"},
    {"[scenario]\ntimeout = soon\n",
     "e.scn:2: timeout: expected a duration like 10s or 500ms"},
    {"[scenario]\ntimeout = 0s\n",
     "e.scn:2: timeout: expected a duration like 10s or 500ms"},
    {"[scenario]\npostfix_time_scale = 0\n",
     "e.scn:2: postfix_time_scale: expected a number from 1 to 1000000"},
    {"[scenario]\npostfix_time_scale = 1000001\n",
     "e.scn:2: postfix_time_scale: expected a number from 1 to 1000000"},
    /* scn_cert_line */
    {"[tls cert relay]\ncn\n",
     "e.scn:2: expected \"cn = HOSTNAME\" or \"key = ec|rsa\" in [tls cert]"},
    {"[tls cert relay]\nbits = 4096\n",
     "e.scn:2: expected \"cn = HOSTNAME\" or \"key = ec|rsa\" in [tls cert]"},
    {"[tls cert relay]\ncn = two words\n",
     "e.scn:2: expected \"cn = HOSTNAME\" or \"key = ec|rsa\" in [tls cert]"},
    {"[tls cert relay]\nkey = dsa\n",
     "e.scn:2: [tls cert] key: expected ec (P-256) or rsa (2048 bits), not "
     "\"dsa\""},
    /* scn_session_line */
    {"[session]\nhelo test\n",
     "e.scn:2: expected \"C: line to send\", \"C= raw bytes\", \"S: expected "
     "reply\", \"S~ regex\", \"S! regex\" or \"S= closed\" in [session]"},
    {"[session]\nC= QUIT\\q\n",
     "e.scn:2: C=: bad escape; expected \\r, \\n, \\t, \\0, \\\\ or \\xHH"},
    {"[session]\nC= \\xZZ\n", "e.scn:2: C=: bad escape; expected"},
    {"[session]\nC= \\x4\n", "e.scn:2: C=: bad escape; expected"},
    {"[session]\nC= QUIT\\\n", "e.scn:2: C=: bad escape; expected"},
    {"[session]\nS~ (unclosed\n",
     "e.scn:2: S~: bad regular expression \"(unclosed\""},
    {"[session]\nS! (unclosed\n",
     "e.scn:2: S!: bad regular expression \"(unclosed\""},
    /* regcomp() would take gigabytes (found by the scenario fuzzer). */
    {"[session]\nS~ ^250[- ]STARTTLS++++++++++++++++++++++++\n",
     "e.scn:2: S~: regular expression refused: adjacent repetition "
     "operators"},
    {"[session]\nS! (a{50}){50}\n",
     "e.scn:2: S!: regular expression refused: too many repetitions"},
    {"[session]\nS= gone\n",
     "e.scn:2: S=: expected \"S= closed\" (the server ends the connection)"},
    /* scn_admin_line */
    {"[admin]\n> Mail queue is empty\n",
     "e.scn:2: \"> output\" before any \"$ command\""},
    {"[admin]\nmailq\n",
     "e.scn:2: expected \"$ command\" or \"> expected output\" in [admin]"},
    {"[admin]\n$\n", "e.scn:2: \"$\" without a command"},
    {"[admin]\n$    \n", "e.scn:2: \"$\" without a command"},
    /* scn_dns_line */
    {"[change dns]\nbreak example.org\n",
     "e.scn:2: expected \"fault NAME [TYPE] SPEC\", \"clear NAME [TYPE]\" or "
     "\"clear all\" in [change dns]"},
    {"[change dns]\nfault example.org\n",
     "e.scn:2: expected \"fault NAME [TYPE] SPEC\""},
    {"[change dns]\nclear example.org MX now\n",
     "e.scn:2: expected \"fault NAME [TYPE] SPEC\""},
    /* scn_expect_line */
    {"[expect]\nlog contains\n", "e.scn:2: log contains: text expected"},
    {"[expect]\nlog contains   \n", "e.scn:2: log contains: text expected"},
    {"[expect]\nlog totals received\n",
     "e.scn:2: expected \"log totals as pflogsumm\" or \"log totals NAME N "
     "[NAME N]...\""},
    {"[expect]\nlog totals received 1 held\n",
     "e.scn:2: expected \"log totals as pflogsumm\""},
    {"[expect]\nlog totals spams 3\n",
     "e.scn:2: log totals: unknown counter \"spams\"; expected received, "
     "delivered, forwarded, deferred, deferrals, bounced, rejected, "
     "reject-warnings, held, discarded, bytes-received, bytes-delivered, "
     "senders, sending-domains, recipients or recipient-domains"},
    {"[expect]\nlog totals received lots\n",
     "e.scn:2: log totals: received: expected a number"},
    {"[expect]\ndelivered data has x\n",
     "e.scn:2: expected \"delivered data contains TEXT\" or \"delivered data "
     "lacks TEXT\""},
    {"[expect]\ndelivered data contains\n",
     "e.scn:2: expected \"delivered data contains TEXT\""},
    {"[expect]\ndns queried example.org QQQ\n",
     "e.scn:2: dns queried: unknown type \"QQQ\""},
    {"[expect]\ndns queried example.org MX 3 time\n",
     "e.scn:2: expected \"dns queried NAME [TYPE] [N times]\""},
    {"[expect]\ndns queried example.org many times\n",
     "e.scn:2: expected \"dns queried NAME [TYPE] [N times]\""},
    {"[expect]\nmailbox louen has mail\n",
     "e.scn:2: expected \"mailbox USER messages N\" or \"mailbox USER "
     "contains TEXT\""},
    {"[expect]\nmailbox louen messages lots\n",
     "e.scn:2: expected \"mailbox USER messages N\""},
    {"[expect]\nmailbox ../etc messages 1\n",
     "e.scn:2: mailbox: \"../etc\" is not a user name"},
    {"[expect]\nmailbox .louen contains hi\n",
     "e.scn:2: mailbox: \".louen\" is not a user name"},
    {"[expect]\ndeliveries many\n", "e.scn:2: deliveries: expected a number"},
    {"[expect]\nnot received a@b\n",
     "e.scn:2: expected \"not delivered [to IP] rcpt ADDR...\""},
    {"[expect]\nnot\n",
     "e.scn:2: expected \"not delivered [to IP] rcpt ADDR...\""},
    {"[expect]\ndelivered rcpt a@b\n",
     "e.scn:2: expected \"delivered to IP [from ADDR] rcpt ADDR...\""},
    {"[expect]\nnot delivered to mail.example.com rcpt a@b\n",
     "e.scn:2: expected \"delivered to IP [from ADDR] rcpt ADDR...\""},
    {"[expect]\ndelivered to 127.0.0.9 a@b\n",
     "e.scn:2: \"rcpt ADDR...\" expected"},
    {"[expect]\nnot delivered from a@b\n",
     "e.scn:2: \"rcpt ADDR...\" expected"},
    {"[expect]\ndelivered to 127.0.0.9 rcpt\n",
     "e.scn:2: \"rcpt ADDR...\" expected"},
    {"[expect]\nbounced a@b\n",
     "e.scn:2: unknown expectation; expected \"delivered to IP [from ADDR] "
     "[rcpt ADDR...]\", \"not delivered [to IP] rcpt ADDR...\", "
     "\"deliveries N\", \"queue empty\", \"queue "
     "deferred|active|hold|incoming N\", \"mx IP connections|messages N\", "
     "\"log contains TEXT\", \"log count PATTERN N\", \"log totals "
     "...\", \"mailbox USER messages N|contains TEXT\", \"delivered dkim "
     "pass DOMAIN\", \"delivered data "
     "contains|lacks TEXT\", \"delivered envelope contains|lacks TEXT\" or "
     "\"dns "
     "queried NAME ...\""},
    {"[expect]\ndelivered envelope has X\n",
     "e.scn:2: expected \"delivered envelope contains TEXT\" or "
     "\"delivered envelope lacks TEXT\""},
    {"[expect]\nqueue full\n", "e.scn:2: unknown expectation; expected"},
    {"[expect]\nqueue frozen 1\n",
     "e.scn:2: queue: expected \"queue empty\" or \"queue "
     "deferred|active|hold|incoming N\""},
    {"[expect]\nqueue deferred many\n", "e.scn:2: queue: expected"},
    {"[expect]\nmx 127.0.0.9 hugs 1\n",
     "e.scn:2: mx: expected \"mx IP connections|messages N\""},
    {"[expect]\nmx mail.example 127.0.0.9 messages\n", "e.scn:2: mx: expected"},
    {"[expect]\nlog count status=sent x\n",
     "e.scn:2: log count: expected \"log count PATTERN N\""},
    {"[expect]\nlog count  3  \n", "e.scn:2: unknown expectation"},
    /* A control byte the word list splits at (the scenario fuzzer). */
    {"[expect]\nlog count s \x01[sc{ \t \n",
     "e.scn:2: log count: expected \"log count PATTERN N\""},
    /* scenario_parse, checks on the whole file */
    {"[session]\n[expect]\nqueue empty\n", "e.scn:1: empty [session]"},
    {"[admin]\n", "e.scn:1: empty [admin]"},
    {"[expect]\nqueue empty\n[session]\n# only a comment\n",
     "e.scn:3: empty [session]"},
    {"[session]\nC: QUIT\nS= closed\nC: NOOP\n",
     "e.scn:3: S= closed: nothing can follow it in its [session]"},
    {"[change mx 127.0.0.9]\n[admin]\n$ mailq\n",
     "e.scn:1: [change mx 127.0.0.9]: no [mx 127.0.0.9] before it"},
    {"[change mx 127.0.0.9]\n[mx 127.0.0.9]\n[admin]\n$ mailq\n",
     "e.scn:1: [change mx 127.0.0.9]: no [mx 127.0.0.9] before it"},
    /* The first error in the file is the one reported. */
    {"[session]\nC: QUIT\nS= closed\nC: NOOP\n[admin]\n",
     "e.scn:3: S= closed: nothing can follow it in its [session]"},
    {"[change mx 127.0.0.9]\n[session]\n",
     "e.scn:1: [change mx 127.0.0.9]: no [mx 127.0.0.9] before it"},
    {"[main.cf]\nmyhostname = x\n",
     "e.scn:2: no [session] or [expect]: nothing to test"},
    {"", "e.scn:1: no [session] or [expect]: nothing to test"},
    {"[scenario]\nname = x\n\n",
     "e.scn:3: no [session] or [expect]: nothing to test"},
    /* scn_check_master */
    {"[master.cf]\n  -o x=y\n[session]\nC: QUIT\n",
     "e.scn:2: [master.cf]: continuation line without a service before it"},
    {"[session]\nC: QUIT\n[master.cf]\n# smtpd\n\n  -o x=y\n",
     "e.scn:6: [master.cf]: continuation line without a service before it"},
    {"[session to submission]\nC: QUIT\n",
     "e.scn:1: [session to submission]: no inet service submission in "
     "[master.cf]"},
    {"[master.cf]\nsubmission unix - - n - - smtpd\n"
     "[session]\nC: QUIT\n[session from 127.0.0.1 to submission]\nC: QUIT\n",
     "e.scn:5: [session to submission]: no inet service submission in "
     "[master.cf]"},
    /* fakemx's behaviour format in [mx IP] and [change mx IP] */
    {"[mx 127.0.0.9]\nstarttls\n", "e.scn:2: expected key = value"},
    {"[mx 127.0.0.9]\nbanner = x\n",
     "e.scn:2: unknown key \"banner\"; expected name, greeting, "
     "max_conn_per_ip, rate, greylist, reply, tarpit, hang, drop, down, "
     "starttls, tls_required, dsn, lmtp, eod, filter, filter_header or size"},
    {"[mx 127.0.0.9]\nname = two words\n",
     "e.scn:2: name: expected a host name"},
    {"[mx 127.0.0.9]\ngreeting = hello\n",
     "e.scn:2: greeting: expected an SMTP reply such as \"450 4.7.1 try "
     "later\", got \"hello\""},
    {"[mx 127.0.0.9]\nmax_conn_per_ip = many\n",
     "e.scn:2: max_conn_per_ip: expected a number [CODE TEXT]"},
    {"[mx 127.0.0.9]\nmax_conn_per_ip = 2 busy\n",
     "e.scn:2: expected an SMTP reply such as \"450 4.7.1 try later\", got "
     "\"busy\""},
    {"[mx 127.0.0.9]\nmax_conn_per_ip = 2 250 ok\n",
     "e.scn:2: reply code 250: only 4xx and 5xx replies can be forced"},
    {"[mx 127.0.0.9]\nrate = 5 cats per 1m\n",
     "e.scn:2: rate: expected N connections|messages per DURATION [CODE "
     "TEXT]"},
    {"[mx 127.0.0.9]\nrate = 5 messages per 0s\n",
     "e.scn:2: rate: bad duration \"0s\""},
    {"[mx 127.0.0.9]\nrate = 5 messages per 1m 250 ok\n",
     "e.scn:2: reply code 250: only 4xx and 5xx replies can be forced"},
    {"[mx 127.0.0.9]\ngreylist = 5m,1m\n",
     "e.scn:2: greylist: MAX must be greater than MIN"},
    {"[mx 127.0.0.9]\ngreylist = soon\n",
     "e.scn:2: greylist: expected MIN[,MAX] durations such as 300s,4h, or "
     "off"},
    {"[mx 127.0.0.9]\nreply = FOO 550 no\n",
     "e.scn:2: expected a command (CONNECT, EHLO, MAIL, RCPT, DATA, DOT, "
     "RSET, NOOP, QUIT, STARTTLS, OTHER), got \"FOO\""},
    {"[mx 127.0.0.9]\ndrop = after\n",
     "e.scn:2: expected a command (CONNECT, EHLO, MAIL, RCPT, DATA, DOT, "
     "RSET, NOOP, QUIT, STARTTLS, OTHER), got \"\""},
    {"[mx 127.0.0.9]\nreply = RCPT #0 550 no\n",
     "e.scn:2: \"#0\": expected #N, #N-M or a list such as #1,3"},
    {"[mx 127.0.0.9]\nreply = RCPT every x 550 no\n",
     "e.scn:2: every: expected N >= 1"},
    {"[mx 127.0.0.9]\nreply = RCPT match\n",
     "e.scn:2: match: expected a pattern"},
    {"[mx 127.0.0.9]\nreply = RCPT\n",
     "e.scn:2: reply: expected CODE TEXT after RCPT"},
    {"[mx 127.0.0.9]\nreply = RCPT #2 250 ok\n",
     "e.scn:2: reply code 250: only 4xx and 5xx replies can be forced"},
    {"[mx 127.0.0.9]\ntarpit = RCPT forever\n",
     "e.scn:2: tarpit: expected a duration such as 30s or 500ms, got "
     "\"forever\""},
    {"[mx 127.0.0.9]\nhang = RCPT now\n", "e.scn:2: unexpected \"now\""},
    {"[mx 127.0.0.9]\ndrop = data x\n",
     "e.scn:2: drop = data BYTES: expected a number >= 1"},
    {"[mx 127.0.0.9]\ndrop = sometimes\n",
     "e.scn:2: drop: expected banner, after COMMAND, on COMMAND or data "
     "BYTES"},
    {"[mx 127.0.0.9]\ndown = maybe\n",
     "e.scn:2: down: expected refuse, blackhole or no"},
    {"[mx 127.0.0.9]\nstarttls = perhaps\n",
     "e.scn:2: starttls: expected yes or no"},
    {"[mx 127.0.0.9]\ntls_required = perhaps\n",
     "e.scn:2: tls_required: expected yes or no"},
    {"[mx 127.0.0.9]\nsize = 0\n",
     "e.scn:2: size: expected a number of bytes >= 1"},
    /* The same parser in [change mx], after comments and blank lines. */
    {"[mx 127.0.0.9]\n[admin]\n$ mailq\n[change mx 127.0.0.9]\n# c\n\n"
     "down = maybe\n",
     "e.scn:7: down: expected refuse, blackhole or no"},
};

START_TEST(test_errors)
{
    char err[512] = "";
    struct scenario *s =
        scenario_parse("e.scn", errors[_i].text, err, sizeof(err));

    ck_assert_ptr_null(s);
    ck_assert_msg(strncmp(err, errors[_i].err, strlen(errors[_i].err)) == 0,
                  "case %d: expected \"%s...\", got \"%s\"", _i, errors[_i].err,
                  err);
}
END_TEST

START_TEST(test_missing_file)
{
    char err[512] = "";

    ck_assert_ptr_null(scenario_load("/nonexistent/x.scn", err, sizeof(err)));
    ck_assert_str_eq(err, "/nonexistent/x.scn: No such file or directory");
}
END_TEST

START_TEST(test_nul_byte)
{
    static const char text[] = "[session]\nC: Q\0UIT\n";
    char dir[] = "/tmp/mxlab-scn-XXXXXX";
    char err[512] = "";
    char *path;

    ck_assert_ptr_nonnull(mkdtemp(dir));
    path = xasprintf("%s/n.scn", dir);
    ck_assert_int_eq(fs_write_atomic(path, text, sizeof(text) - 1), 0);
    ck_assert_ptr_null(scenario_load(path, err, sizeof(err)));
    char *want = xasprintf("%s: NUL byte in scenario file", path);
    ck_assert_str_eq(err, want);
    free(want);
    free(path);
    fs_rm_rf(dir);
}
END_TEST

/* Write a run's files for diff_scenario. */
static void diff_fixture(const char *root, const char *sut, const char *status,
                         const char *obs)
{
    char *dir = xasprintf("%s/%s/work/seeds-x", root, sut);
    char *p;

    ck_assert_int_eq(fs_mkdir_p(dir, 0755), 0);
    p = xasprintf("%s/result", dir);
    char *res = xasprintf("%s\n0.1\n%s\n", status,
                          strcmp(status, "skipped") == 0 ? "needs root" : "");
    ck_assert_int_eq(fs_write_atomic(p, res, strlen(res)), 0);
    free(res);
    free(p);
    p = xasprintf("%s/observations", dir);
    ck_assert_int_eq(fs_write_atomic(p, obs, strlen(obs)), 0);
    free(p);
    p = xasprintf("%s/scenario", dir);
    char *scn = xasprintf("%s/scn/x.scn", root);
    ck_assert_int_eq(fs_write_atomic(p, scn, strlen(scn)), 0);
    free(scn);
    free(p);
    free(dir);
}

static char *diff_run(const char *root, int *unexplained)
{
    char *buf = NULL, *r = xasprintf("%s/relay", root),
         *pf = xasprintf("%s/postfix", root);
    size_t len = 0;
    FILE *fp = open_memstream(&buf, &len);

    *unexplained = diff_scenario(r, pf, "seeds-x", fp);
    fclose(fp);
    free(r);
    free(pf);
    return buf;
}

START_TEST(test_diff)
{
    char root[] = "/tmp/mxlab-diff-XXXXXX";
    char *out, *allow;
    int n;

    ck_assert_ptr_nonnull(mkdtemp(root));
    allow = xasprintf("%s/scn", root);
    ck_assert_int_eq(fs_mkdir_p(allow, 0755), 0);
    free(allow);
    /* Same observations in another order: the same. */
    diff_fixture(root, "relay", "passed",
                 "12 reply 250 2.1.5\n40 delivered 127.0.0.9 <a> <b>\n"
                 "40 queue 0\n");
    diff_fixture(root, "postfix", "passed",
                 "40 queue 0\n12 reply 250 2.1.5\n"
                 "40 delivered 127.0.0.9 <a> <b>\n");
    out = diff_run(root, &n);
    ck_assert_int_eq(n, 0);
    ck_assert_str_eq(out, "SAME  x\n");
    free(out);
    /* A queue size taken while one SUT was delivering is not compared;
     * two idle ones are. */
    diff_fixture(root, "postfix", "passed",
                 "40 queue 1 busy\n12 reply 250 2.1.5\n"
                 "40 delivered 127.0.0.9 <a> <b>\n");
    out = diff_run(root, &n);
    ck_assert_int_eq(n, 0);
    ck_assert_str_eq(out, "SAME  x\n");
    free(out);
    diff_fixture(root, "postfix", "passed",
                 "40 queue 1\n12 reply 250 2.1.5\n"
                 "40 delivered 127.0.0.9 <a> <b>\n");
    out = diff_run(root, &n);
    ck_assert_int_eq(n, 2);
    ck_assert_ptr_nonnull(strstr(out, "x.scn:40 queue: postfix only: 1\n"));
    free(out);
    /* A different reply and a different delivery are both reported. */
    diff_fixture(root, "postfix", "passed", "12 reply 454 4.7.1\n40 queue 0\n");
    out = diff_run(root, &n);
    ck_assert_int_eq(n, 3);
    ck_assert_msg(strstr(out, "DIFF  x\n") == out, "%s", out);
    ck_assert_ptr_nonnull(
        strstr(out, "x.scn:12 reply: relay only: 250 2.1.5\n"));
    ck_assert_ptr_nonnull(
        strstr(out, "x.scn:12 reply: postfix only: 454 4.7.1\n"));
    ck_assert_ptr_nonnull(
        strstr(out, "x.scn:40 delivered: relay only: 127.0.0.9 <a> <b>\n"));
    free(out);
    /* diff-allow.txt explains some of them. */
    allow = xasprintf("%s/scn/diff-allow.txt", root);
    const char *text = "# comment\nx 1? reply replies differ on purpose\n"
                       "y * delivered another scenario\n";
    ck_assert_int_eq(fs_write_atomic(allow, text, strlen(text)), 0);
    out = diff_run(root, &n);
    ck_assert_int_eq(n, 1);
    ck_assert_ptr_null(strstr(out, "reply:"));
    ck_assert_ptr_nonnull(strstr(out, "x.scn:40 delivered: relay only"));
    free(out);
    /* Verdicts differ; a skipped side is not compared. */
    diff_fixture(root, "postfix", "failed", "12 reply 250 2.1.5\n");
    out = diff_run(root, &n);
    ck_assert_int_gt(n, 0);
    ck_assert_ptr_nonnull(
        strstr(out, "DIFF  x: verdict: relay passed, postfix failed\n"));
    free(out);
    /* A "verdict" line explains a failure at its line; from there on
     * nothing is compared, but what came before still is. */
    diff_fixture(root, "postfix", "failed", "12 reply 250 2.1.5\n40 queue 1\n");
    char *res = xasprintf("%s/postfix/work/seeds-x/result", root);
    const char *failed = "failed\n0.1\n/s/x.scn:40: expected \"221 *\"\n";
    ck_assert_int_eq(fs_write_atomic(res, failed, strlen(failed)), 0);
    text = "x 40 verdict the defaults differ\n";
    ck_assert_int_eq(fs_write_atomic(allow, text, strlen(text)), 0);
    out = diff_run(root, &n);
    ck_assert_int_eq(n, 0);
    ck_assert_str_eq(out, "SAME  x (1 deliberate difference)\n");
    free(out);
    diff_fixture(root, "postfix", "failed", "12 reply 454 4.7.1\n");
    ck_assert_int_eq(fs_write_atomic(res, failed, strlen(failed)), 0);
    out = diff_run(root, &n);
    ck_assert_int_eq(n, 2);
    ck_assert_ptr_nonnull(strstr(out, "x.scn:12 reply: postfix only: 454"));
    free(out);
    free(res);
    diff_fixture(root, "postfix", "skipped", "");
    out = diff_run(root, &n);
    ck_assert_int_eq(n, 0);
    ck_assert_str_eq(out, "SKIP  x: not compared (needs root)\n");
    free(out);
    free(allow);
    fs_rm_rf(root);
}
END_TEST

/* Every scenario in the repository, cut and spoiled in seeded ways
 * (lines dropped, doubled or swapped, bytes flipped, sections cut short):
 * the parser either accepts the text or names file:line and what it
 * expected; it never crashes (the sanitizer build checks its memory). */
static const char *const mutated_sources[] = {
    "scenarios/relay-tests/bounce.scn",
    "scenarios/relay-tests/starttls.scn",
    "scenarios/relay-tests/master-overrides.scn",
    "scenarios/relay-tests/queue-admin.scn",
    "scenarios/relay-tests/dns-faults.scn",
    "scenarios/seeds/000-free-throttling-backoff.scn",
    "scenarios/seeds/003-minet-drill.scn",
};

static unsigned long mut_rand(unsigned long *state)
{
    *state = *state * 6364136223846793005UL + 1442695040888963407UL;
    return *state >> 33;
}

START_TEST(test_mutations)
{
    const char *src = getenv("MXLAB_SOURCE_DIR");
    char *path, *text, *copy, err[1024];
    size_t len;
    unsigned long state = 20261123UL + (unsigned long)_i;
    int accepted = 0, refused = 0;

    ck_assert_ptr_nonnull(src);
    path = xasprintf("%s/%s", src, mutated_sources[_i]);
    ck_assert_int_eq(fs_read_file(path, &text, &len), 0);
    for (int round = 0; round < 400; round++) {
        copy = xmalloc(len + 64);
        memcpy(copy, text, len + 1);
        size_t n = len;
        for (int k = 0; k < 1 + (int)(mut_rand(&state) % 4); k++) {
            size_t at = n ? mut_rand(&state) % n : 0;
            switch (mut_rand(&state) % 6) {
            case 0: /* cut the text short */
                n = at;
                break;
            case 1: /* a byte changed (never NUL: files are text) */
                if (n)
                    copy[at] = (char)(1 + mut_rand(&state) % 255);
                break;
            case 2: /* a line dropped */
            {
                char *nl = memchr(copy + at, '\n', n - at);
                if (nl != NULL) {
                    size_t drop = (size_t)(nl - (copy + at)) + 1;
                    memmove(copy + at, nl + 1, n - at - drop);
                    n -= drop;
                }
                break;
            }
            case 3: /* a section header or key inserted where it is odd */
            {
                static const char *const bits[] = {
                    "[",
                    "]\n",
                    "[session from x]\n",
                    "[expect]\n",
                    "S~ (\n",
                    "C= \\x\n",
                    "{qid}",
                    "[time passes]\n",
                    "[mx 127.0.0.9]\nreply = RCPT #x 4\n"};
                const char *b = bits[mut_rand(&state) % 9];
                size_t bl = strlen(b);
                copy = xrealloc(copy, n + bl + 64);
                memmove(copy + at + bl, copy + at, n - at);
                memcpy(copy + at, b, bl);
                n += bl;
                break;
            }
            case 4: /* a newline removed */
            {
                char *nl = memchr(copy + at, '\n', n - at);
                if (nl != NULL)
                    *nl = ' ';
                break;
            }
            default: /* a block of text doubled */
            {
                size_t bl = (n - at) < 80 ? n - at : 80;
                copy = xrealloc(copy, n + bl + 64);
                memmove(copy + at + bl, copy + at, n - at);
                n += bl;
                break;
            }
            }
        }
        copy[n] = '\0';
        err[0] = '\0';
        struct scenario *sc = scenario_parse("m.scn", copy, err, sizeof(err));
        if (sc != NULL) {
            accepted++;
            scenario_free(sc);
        } else {
            refused++;
            ck_assert_msg(strncmp(err, "m.scn:", 6) == 0 && atoi(err + 6) >= 1,
                          "error without file:line: \"%s\"", err);
        }
        free(copy);
    }
    ck_assert_int_gt(refused, 0);
    (void)accepted;
    free(text);
    free(path);
}
END_TEST

static const struct {
    const char *arg, *name;
    int port, tls;
    unsigned caps;
} specs[] = {
    {"relay", "relay", 0, 0,
     LAB_CAP_CONFIG | LAB_CAP_CLOCK | LAB_CAP_DELIVERIES | LAB_CAP_ADMIN},
    {"postfix", "postfix", 0, 0,
     LAB_CAP_CONFIG | LAB_CAP_CLOCK | LAB_CAP_DELIVERIES | LAB_CAP_ADMIN},
    {"smtp://127.0.0.1", "smtp://127.0.0.1:25", 25, 0, 0},
    {"smtp://127.0.0.1:2525", "smtp://127.0.0.1:2525", 2525, 0, 0},
    {"SMTP://127.0.0.1:2525", "smtp://127.0.0.1:2525", 2525, 0, 0},
    {"smtps://127.0.0.1", "smtps://127.0.0.1:465", 465, 1, 0},
    {"smtps://[::1]:4650", "smtps://[::1]:4650", 4650, 1, 0},
    {"smtp://[::1]", "smtp://[::1]:25", 25, 0, 0},
};

START_TEST(test_sut_spec)
{
    struct sut_spec sut;
    char err[256] = "";

    ck_assert_msg(sut_spec_parse(specs[_i].arg, &sut, err, sizeof(err)) == 0,
                  "%s: %s", specs[_i].arg, err);
    ck_assert_str_eq(sut.name, specs[_i].name);
    ck_assert_uint_eq(sut_spec_caps(&sut), specs[_i].caps);
    ck_assert_int_eq(sut.tls, specs[_i].tls);
    if (specs[_i].port != 0)
        ck_assert_int_eq(netaddr_port(&sut.addr), specs[_i].port);
}
END_TEST

static const struct {
    const char *arg, *err;
} bad_specs[] = {
    {"exim", "exim: relay, postfix, smtp://HOST[:PORT] or smtps://HOST[:PORT] "
             "expected"},
    {"smtp://", "smtp://: expected smtp://HOST[:PORT] or smtps://HOST[:PORT]"},
    {"smtp://127.0.0.1:0", "smtp://127.0.0.1:0: expected smtp://HOST[:PORT]"},
    {"smtp://127.0.0.1:65536", "smtp://127.0.0.1:65536: expected"},
    {"smtps://127.0.0.1:x", "smtps://127.0.0.1:x: expected"},
    {"smtp://[::1", "smtp://[::1: expected"},
    {"smtp://[::1]x", "smtp://[::1]x: expected"},
};

START_TEST(test_sut_spec_errors)
{
    struct sut_spec sut;
    char err[256] = "";

    ck_assert_int_eq(sut_spec_parse(bad_specs[_i].arg, &sut, err, sizeof(err)),
                     -1);
    ck_assert_msg(strncmp(err, bad_specs[_i].err, strlen(bad_specs[_i].err)) ==
                      0,
                  "got \"%s\"", err);
}
END_TEST

static const char *lab_scn = "[main.cf]\n"
                             "myhostname = lab.example\n"
                             "[mx 127.0.9.1]\n"
                             "[session from 127.0.0.7]\n"
                             "S: 220 *\n"
                             "[expect]\n"
                             "queue empty\n";

/* A relay lab: where to connect, which sources, its queue and admin. */
START_TEST(test_lab_relay)
{
    char err[1024] = "", tmpl[] = "/tmp/mxlab-test-lab.XXXXXX";
    struct scenario *s = scenario_parse("lab.scn", lab_scn, err, sizeof(err));
    struct event_base *base = event_base_new();
    struct sut_spec sut;
    struct lab_endpoint ep;
    struct netaddr src;
    struct strbuf out, errs;
    size_t total = 9, busy = 9;
    char *work;

    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    work = xasprintf("%s/w", tmpl);
    clock_simulate(0);
    ck_assert_int_eq(sut_spec_parse("relay", &sut, err, sizeof(err)), 0);
    struct lab *lab = lab_open(base, s, work, &sut, err, sizeof(err));
    ck_assert_msg(lab != NULL, "%s", err);
    ck_assert_str_eq(lab_sut_name(lab), "relay");
    ck_assert_uint_eq(lab_caps(lab) & LAB_CAP_ADMIN, LAB_CAP_ADMIN);
    ck_assert_int_eq(lab_endpoint(lab, NULL, &ep, err, sizeof(err)), 0);
    ck_assert_int_gt(netaddr_port(&ep.addr), 0);
    ck_assert_int_eq(ep.tls, 0);
    ck_assert_int_eq(lab_endpoint(lab, "submission", &ep, err, sizeof(err)),
                     -1);
    ck_assert_int_eq(lab_source(lab, NULL, &src, err, sizeof(err)), 1);
    ck_assert_int_eq(lab_source(lab, "127.0.0.7", &src, err, sizeof(err)), 1);
    ck_assert_int_eq(lab_source(lab, "::1", &src, err, sizeof(err)), 1);
    /* a session from outside loopback: the message says what can be used
     * (the refusal needs a non-loopback address; nothing is sent) */
    ck_assert_int_eq(lab_source(lab, "192.0.2.1", &src, err, sizeof(err)), -1);
    ck_assert_msg(strstr(err, "192.0.2.1 is not an address the lab sends "
                              "from: a session can come from any address in "
                              "127.0.0.0/8 or from ::1") != NULL,
                  "%s", err);
    ck_assert_int_eq(lab_queue(lab, &total, &busy), 0);
    ck_assert_int_eq(total, 0); /* busy: the first queue scan may be due */
    ck_assert_int_eq(lab_time_scale(lab), 0);
    strbuf_init(&out);
    strbuf_init(&errs);
    ck_assert_int_eq(lab_admin(lab, "mailq", &out, &errs), 0);
    ck_assert_ptr_nonnull(strstr(out.buf, "Mail queue is empty"));
    strbuf_clear(&out);
    strbuf_clear(&errs);
    ck_assert_uint_eq(fakemx_message_count(lab_fakemx(lab)), 0);
    lab_close(lab);
    event_base_free(base);
    scenario_free(s);
    fs_rm_rf(tmpl);
    free(work);
}
END_TEST

/* A content filter's lab: "[IP]:PORT" next hops to a fake MX get the
 * lab's delivery port, and a fake MX in filter mode must name a
 * [master.cf] inet service (the re-injection listener). */
#define FILTER_SCN                                                             \
    "[main.cf]\n"                                                              \
    "content_filter = smtp-amavis:[127.0.0.1]:10024\n"                         \
    "relayhost = [127.0.8.9]:587\n"                                            \
    "[master.cf]\n"                                                            \
    "smtp-amavis unix - - n - 2 smtp -o max_use=20\n"                          \
    "127.0.0.1:10025 inet n - n - - smtpd -o content_filter=\n"                \
    "  -o smtp_fallback_relay=[127.0.0.1]:10024\n"                             \
    "[mx 127.0.0.1]\n"                                                         \
    "filter = 127.0.0.1:%d\n"                                                  \
    "[expect]\n"                                                               \
    "queue empty\n"

static struct lab *open_filter_lab(const char *tmpl, int port, char *err,
                                   size_t errlen, struct scenario **s,
                                   struct event_base *base)
{
    char *text = xasprintf(FILTER_SCN, port);
    char *work = xasprintf("%s/w%d", tmpl, port);
    struct sut_spec sut;
    struct lab *lab;

    *s = scenario_parse("f.scn", text, err, errlen);
    ck_assert_msg(*s != NULL, "%s", err);
    ck_assert_int_eq(sut_spec_parse("relay", &sut, err, errlen), 0);
    lab = lab_open(base, *s, work, &sut, err, errlen);
    free(text);
    free(work);
    return lab;
}

START_TEST(test_lab_filter)
{
    char err[1024] = "", tmpl[] = "/tmp/mxlab-test-lab.XXXXXX", port[16];
    struct event_base *base = event_base_new();
    struct scenario *s;
    struct lab *lab;
    char *text = NULL, *path;

    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    clock_simulate(0);
    lab = open_filter_lab(tmpl, 10025, err, sizeof(err), &s, base);
    ck_assert_msg(lab != NULL, "%s", err);
    path = xasprintf("%s/main.cf", lab_confdir(lab));
    ck_assert_int_eq(fs_read_file(path, &text, NULL), 0);
    free(path);
    /* The port the fake MX hosts listen on, from the isolation lines. */
    const char *p = strstr(text, "\nsmtp_tcp_port = ");
    ck_assert_ptr_nonnull(p);
    snprintf(port, sizeof(port), "%.*s", (int)strspn(p + 17, "0123456789"),
             p + 17);
    char *want = xasprintf("smtp-amavis:[127.0.0.1]:%s\n", port);
    ck_assert_msg(strstr(text, want) != NULL, "%s", text);
    free(want);
    /* Not a fake MX: kept. */
    ck_assert_ptr_nonnull(strstr(text, "relayhost = [127.0.8.9]:587\n"));
    free(text);
    path = xasprintf("%s/master.cf", lab_confdir(lab));
    ck_assert_int_eq(fs_read_file(path, &text, NULL), 0);
    free(path);
    want = xasprintf("smtp_fallback_relay=[127.0.0.1]:%s", port);
    ck_assert_msg(strstr(text, want) != NULL, "%s", text);
    free(want);
    free(text);
    lab_close(lab);
    scenario_free(s);
    /* A filter address that no [master.cf] service has. */
    lab = open_filter_lab(tmpl, 10026, err, sizeof(err), &s, base);
    ck_assert_ptr_null(lab);
    ck_assert_msg(strstr(err, "f.scn:8: [mx 127.0.0.1]: filter = "
                              "127.0.0.1:10026: no inet service "
                              "127.0.0.1:10026 in [master.cf]") != NULL,
                  "%s", err);
    scenario_free(s);
    event_base_free(base);
    fs_rm_rf(tmpl);
}
END_TEST

/* A remote SUT: only the fakes; the server's own address. */
START_TEST(test_lab_remote)
{
    char err[1024] = "", tmpl[] = "/tmp/mxlab-test-lab.XXXXXX";
    struct scenario *s =
        scenario_parse("r.scn", "[session]\nS: 220 *\n", err, sizeof(err));
    struct event_base *base = event_base_new();
    struct sut_spec sut;
    struct lab_endpoint ep;
    struct netaddr src;
    size_t total, busy;

    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    ck_assert_int_eq(
        sut_spec_parse("smtps://127.0.0.1:4650", &sut, err, sizeof(err)), 0);
    struct lab *lab = lab_open(base, s, tmpl, &sut, err, sizeof(err));
    ck_assert_msg(lab != NULL, "%s", err);
    ck_assert_uint_eq(lab_caps(lab), 0);
    ck_assert_int_eq(lab_endpoint(lab, NULL, &ep, err, sizeof(err)), 0);
    ck_assert_int_eq(netaddr_port(&ep.addr), 4650);
    ck_assert_int_eq(ep.tls, 1);
    ck_assert_int_eq(lab_source(lab, NULL, &src, err, sizeof(err)), 0);
    ck_assert_int_eq(lab_queue(lab, &total, &busy), -1);
    ck_assert_int_eq(lab_idle(lab), 1);
    ck_assert_int_eq(lab_time_passes(lab, 60, NULL, NULL), -1);
    lab_close(lab);
    event_base_free(base);
    scenario_free(s);
    fs_rm_rf(tmpl);
}
END_TEST

/* Two systems on the relay: each its own endpoint, queue, log and
 * configuration; the counting expectations judged on a real lab. */
START_TEST(test_lab_systems)
{
    char err[1024] = "", tmpl[] = "/tmp/mxlab-test-lab.XXXXXX";
    struct scenario *s = scenario_parse(
        "sys.scn",
        "[main.cf]\nmyhostname = sut.example\nrelayhost = [127.0.9.1]\n"
        "[system old 127.0.10.1]\nmyhostname = old.example\n"
        "[mx 127.0.9.1]\n[expect]\nqueue empty\n",
        err, sizeof(err));
    struct event_base *base = event_base_new();
    struct sut_spec sut;
    struct lab_endpoint sut_ep, old_ep;
    struct strbuf out, errs;
    struct capture vars;
    struct expect_env env;
    static const char *const judged[] = {
        "queue deferred 0", "queue hold 0", "mx 127.0.9.1 connections 0",
        "mx 127.0.9.1 messages 0", "log count reload -- version 1"};
    char *work;

    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_ptr_nonnull(mkdtemp(tmpl));
    work = xasprintf("%s/w", tmpl);
    clock_simulate(0);
    ck_assert_int_eq(sut_spec_parse("relay", &sut, err, sizeof(err)), 0);
    struct lab *lab = lab_open(base, s, work, &sut, err, sizeof(err));
    ck_assert_msg(lab != NULL, "%s", err);
    ck_assert_int_eq(lab_endpoint(lab, NULL, &sut_ep, err, sizeof(err)), 0);
    ck_assert_int_eq(lab_use(lab, "nosuch"), -1);
    ck_assert_int_eq(lab_use(lab, "old"), 0);
    ck_assert_int_eq(lab_endpoint(lab, NULL, &old_ep, err, sizeof(err)), 0);
    ck_assert_int_ne(netaddr_port(&old_ep.addr), netaddr_port(&sut_ep.addr));
    ck_assert_ptr_nonnull(strstr(lab_maillog(lab), "/old/maillog"));
    /* [change main.cf on old] and postfix reload: the new value is read */
    ck_assert_int_eq(
        lab_change_maincf(lab, "myhostname = new.example\n", err, sizeof(err)),
        0);
    strbuf_init(&out);
    strbuf_init(&errs);
    ck_assert_int_eq(lab_admin(lab, "postfix reload", &out, &errs), 0);
    ck_assert_int_eq(lab_admin(lab, "postconf myhostname", &out, &errs), 0);
    ck_assert_msg(strstr(out.buf, "myhostname = new.example") != NULL, "%s",
                  out.buf);
    capture_init(&vars);
    env.lab = lab;
    env.vars = &vars;
    env.final_try = 1;
    for (size_t i = 0; i < sizeof(judged) / sizeof(judged[0]); i++) {
        struct scn_expect x;
        struct strbuf why;
        strbuf_init(&why);
        ck_assert_int_eq(expect_parse(&x, judged[i], err, sizeof(err)), 0);
        ck_assert_msg(expect_check(&x, &env, &why) == 1, "%s: %s", judged[i],
                      why.buf ? why.buf : "");
        expect_clear(&x);
        strbuf_clear(&why);
    }
    /* and a count that is wrong says what it found */
    struct scn_expect x;
    struct strbuf why;
    strbuf_init(&why);
    ck_assert_int_eq(
        expect_parse(&x, "log count reload -- version 2", err, sizeof(err)), 0);
    ck_assert_int_eq(expect_check(&x, &env, &why), -1);
    ck_assert_msg(strstr(why.buf, "found 1") != NULL, "%s", why.buf);
    expect_clear(&x);
    strbuf_clear(&why);
    /* the SUT's own log has no reload */
    lab_use(lab, NULL);
    ck_assert_ptr_null(strstr(lab_maillog(lab), "/old/"));
    capture_clear(&vars);
    strbuf_clear(&out);
    strbuf_clear(&errs);
    lab_close(lab);
    event_base_free(base);
    scenario_free(s);
    fs_rm_rf(tmpl);
    free(work);
}
END_TEST

/* One line of each kind: the entry whose keyword starts it parses it. */
static const struct {
    const char *line, *keyword;
} kinds[] = {
    {"delivered to 127.0.0.1 from <a@b> rcpt <c@d>", "delivered"},
    {"not delivered rcpt c@d", "not"},
    {"queue empty", "queue empty"},
    {"deliveries 3", "deliveries"},
    {"log contains status=sent", "log contains"},
    {"log totals received 1 delivered 1", "log totals"},
    {"log totals as pflogsumm", "log totals"},
    {"mailbox alice messages 2", "mailbox"},
    {"mailbox alice contains Subject: hi", "mailbox"},
    {"dns queried example.com MX 2 times", "dns queried"},
    {"delivered data contains X-Test: 1", "delivered data"},
    {"delivered data lacks X-Test: 1", "delivered data"},
    {"delivered envelope contains RCPT TO:<c@d> NOTIFY=NEVER",
     "delivered envelope"},
    {"delivered envelope lacks ORCPT", "delivered envelope"},
    {"queue deferred 2", "queue"},
    {"queue hold 0", "queue"},
    {"mx 127.0.0.9 connections 3", "mx"},
    {"mx 127.0.0.9 messages 1", "mx"},
    {"log count status=deferred (host * refused*) 2", "log count"},
};

/* The new counting expectations keep what they count and how many. */
START_TEST(test_expect_counts)
{
    struct scn_expect x;
    char err[512] = "";

    ck_assert_int_eq(expect_parse(&x, "log count to=<a@b>, *status=sent  3",
                                  err, sizeof(err)),
                     0);
    ck_assert_str_eq(x.text, "to=<a@b>, *status=sent");
    ck_assert_int_eq(x.count, 3);
    expect_clear(&x);
    ck_assert_int_eq(
        expect_parse(&x, "mx 127.0.0.9 connections 2", err, sizeof(err)), 0);
    ck_assert_str_eq(x.host, "127.0.0.9");
    ck_assert_str_eq(x.text, "connections");
    ck_assert_int_eq(x.count, 2);
    expect_clear(&x);
    ck_assert_int_eq(expect_parse(&x, "queue deferred 4", err, sizeof(err)), 0);
    ck_assert_str_eq(x.text, "deferred");
    ck_assert_int_eq(x.count, 4);
    expect_clear(&x);
}
END_TEST

/* Lab ports: below the ephemeral range (32768 unless the machine says
 * otherwise), never the same twice, and free for TCP and UDP when given:
 * the daemon that binds it next finds it so. */
START_TEST(test_free_port)
{
    int seen[64], low = 32768;
    char *range = NULL;

    if (fs_read_file("/proc/sys/net/ipv4/ip_local_port_range", &range, NULL) ==
        0)
        low = (int)strtol(range, NULL, 10);
    free(range);
    for (size_t i = 0; i < sizeof(seen) / sizeof(seen[0]); i++) {
        int port = labconf_free_port(i % 2 ? SOCK_DGRAM : SOCK_STREAM);
        ck_assert_int_ge(port, 1024);
        ck_assert_int_lt(port, low > 2048 ? low : 65536);
        for (size_t k = 0; k < i; k++)
            ck_assert_int_ne(seen[k], port);
        seen[i] = port;
        struct sockaddr_in sin;
        memset(&sin, 0, sizeof(sin));
        sin.sin_family = AF_INET;
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        sin.sin_port = htons((uint16_t)port);
        int fd = socket(AF_INET, i % 2 ? SOCK_DGRAM : SOCK_STREAM, 0);
        ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
        close(fd);
    }
}
END_TEST

/* [change main.cf]: a parameter replaced with its continuation lines, a
 * second setting of it dropped, comments kept, a new one appended. */
START_TEST(test_maincf_merge)
{
    char *m = labconf_maincf_merge("# top\n"
                                   "relayhost = [a]\n"
                                   "smtpd_recipient_restrictions =\n"
                                   "    permit_mynetworks,\n"
                                   "    reject\n"
                                   "\n"
                                   "relayhost = [b]\n",
                                   "smtpd_recipient_restrictions =\n"
                                   "    check_sender_access hash:w,\n"
                                   "    reject\n"
                                   "relayhost=[c]\n"
                                   "mynetworks = 127.0.0.0/8\n");

    ck_assert_str_eq(m, "# top\n"
                        "relayhost=[c]\n"
                        "smtpd_recipient_restrictions =\n"
                        "    check_sender_access hash:w,\n"
                        "    reject\n"
                        "\n"
                        "mynetworks = 127.0.0.0/8\n");
    free(m);
}
END_TEST

/* The change steps, [system] and "on NAME". */
START_TEST(test_change_steps)
{
    char err[512] = "";
    struct scenario *s = scenario_parse(
        "c.scn",
        "[system old 127.0.10.1]\nmyhostname = old.example\n"
        "[change main.cf on old]\nrelayhost = [127.0.0.9]\n"
        "[change file virtual]\na@b c@d\n"
        "[change zone example.]\n# a comment\n@ IN MX 10 new\n"
        "delete old A\n"
        "[admin on old]\n$ postfix reload\n"
        "[session to old]\nS: 220 *\n[expect on old]\nqueue deferred 0\n",
        err, sizeof(err));

    /* kind, arg, on, text (NULL: not looked at) of each block */
    static const struct {
        enum scn_block_kind kind;
        const char *arg, *on, *text;
    } want[] = {
        {SCN_SYSTEM, "old", NULL, "myhostname = old.example\n"},
        {SCN_CHANGE_MAINCF, NULL, "old", "relayhost = [127.0.0.9]\n"},
        {SCN_CHANGE_FILE, "virtual", NULL, "a@b c@d\n"},
        /* a scenario comment in a zone keeps the line count */
        {SCN_CHANGE_ZONE, "example.", NULL, "\n@ IN MX 10 new\ndelete old A\n"},
        {SCN_ADMIN, NULL, "old", NULL},
        {SCN_SESSION, NULL, "old", NULL},
        {SCN_EXPECT, NULL, "old", NULL},
    };

    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_uint_eq(s->nblocks, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < s->nblocks; i++) {
        const struct scn_block *b = &s->blocks[i];
        ck_assert_int_eq(b->kind, want[i].kind);
        ck_assert_pstr_eq(b->arg, want[i].arg);
        ck_assert_pstr_eq(b->on, want[i].on);
        if (want[i].text != NULL)
            ck_assert_str_eq(b->text, want[i].text);
    }
    ck_assert_str_eq(s->blocks[0].ip, "127.0.10.1");
    ck_assert_ptr_eq(scenario_system(s, "old"), &s->blocks[0]);
    ck_assert_ptr_null(scenario_system(s, "new"));
    scenario_free(s);
}
END_TEST

START_TEST(test_expect_kinds)
{
    struct scn_expect x;
    char err[512] = "";

    ck_assert_msg(expect_parse(&x, kinds[_i].line, err, sizeof(err)) == 0,
                  "%s: %s", kinds[_i].line, err);
    ck_assert_ptr_nonnull(x.kind);
    ck_assert_str_eq(x.kind->keyword, kinds[_i].keyword);
    ck_assert(x.kind->check != NULL);
    expect_clear(&x);
}
END_TEST

/* daemon.c's kinds, with the program each must find and the Debian
 * package a skip names. */
static const struct {
    const char *kind, *program, *package;
} daemon_wants[] = {
    {"dovecot-auth", "/usr/sbin/dovecot", "dovecot-core"},
    {"dovecot-lmtp", "/usr/lib/dovecot/lmtp", "dovecot-lmtpd"},
    {"postgrey", "/usr/sbin/postgrey", "postgrey"},
    {"policyd-spf", "/usr/bin/policyd-spf", "postfix-policyd-spf-python"},
    {"opendkim", "/usr/sbin/opendkim", "opendkim"},
};

START_TEST(test_daemon_check)
{
    char err[512] = "", why[512] = "";
    char *text = xasprintf("[file users]\nu@example.org:{PLAIN}p\n"
                           "[daemon %s inet:127.0.0.1:2424]\n"
                           "args = $config_directory/users\n"
                           "[session]\nC: QUIT\n",
                           daemon_wants[_i].kind);
    struct scenario *s = scenario_parse("d.scn", text, err, sizeof(err));
    int rc;

    ck_assert_msg(s != NULL, "%s", err);
    ck_assert(daemon_wanted(s, daemon_wants[_i].kind));
    ck_assert(!daemon_wanted(s, "nothing"));
    /* Its own files are not postmapped for Postfix. */
    ck_assert(daemon_owns_file(s, "users"));
    ck_assert(!daemon_owns_file(s, "user"));
    rc = daemon_check(s, why, sizeof(why));
    if (access(daemon_wants[_i].program, X_OK) != 0) {
        char *want = xasprintf("d.scn:3: [daemon %s]: %s not installed "
                               "(Debian package %s)",
                               daemon_wants[_i].kind, daemon_wants[_i].program,
                               daemon_wants[_i].package);
        ck_assert_int_eq(rc, -1);
        ck_assert_str_eq(why, want);
        free(want);
    } else if (rc != 0) {
        ck_assert_int_eq(rc, -1);
        ck_assert_msg(geteuid() != 0 && strstr(why, "needs root (") != NULL,
                      "%s", why);
    }
    scenario_free(s);
    free(text);
}
END_TEST

START_TEST(test_daemon_unknown)
{
    char err[512] = "", why[512] = "";
    struct scenario *s =
        scenario_parse("d.scn",
                       "[daemon dovecot-imap inet:127.0.0.1:143]\n"
                       "[session]\nC: QUIT\n",
                       err, sizeof(err));

    ck_assert_msg(s != NULL, "%s", err);
    ck_assert_int_eq(daemon_check(s, why, sizeof(why)), -2);
    ck_assert_str_eq(why, "d.scn:1: [daemon dovecot-imap]: unknown kind "
                          "(dovecot-auth, dovecot-lmtp, postgrey, "
                          "policyd-spf, opendkim)");
    scenario_free(s);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("harness");
    TCase *tc = tcase_create("scenario");
    SRunner *sr;
    int failed;

    tcase_add_test(tc, test_valid);
    tcase_add_test(tc, test_free_port);
    tcase_add_test(tc, test_default_name);
    tcase_add_test(tc, test_admin_and_change);
    tcase_add_test(tc, test_tls);
    tcase_add_loop_test(tc, test_errors, 0, sizeof(errors) / sizeof(errors[0]));
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_nul_byte);
    tcase_add_test(tc, test_diff);
    tcase_add_loop_test(tc, test_mutations, 0,
                        sizeof(mutated_sources) / sizeof(mutated_sources[0]));
    suite_add_tcase(s, tc);
    tc = tcase_create("lab");
    tcase_add_loop_test(tc, test_sut_spec, 0, sizeof(specs) / sizeof(specs[0]));
    tcase_add_loop_test(tc, test_sut_spec_errors, 0,
                        sizeof(bad_specs) / sizeof(bad_specs[0]));
    tcase_add_test(tc, test_lab_relay);
    tcase_add_test(tc, test_lab_remote);
    tcase_add_loop_test(tc, test_expect_kinds, 0,
                        sizeof(kinds) / sizeof(kinds[0]));
    tcase_add_test(tc, test_expect_counts);
    tcase_add_test(tc, test_change_steps);
    tcase_add_test(tc, test_maincf_merge);
    tcase_add_test(tc, test_lab_filter);
    tcase_add_test(tc, test_lab_systems);
    tcase_add_loop_test(tc, test_daemon_check, 0,
                        sizeof(daemon_wants) / sizeof(daemon_wants[0]));
    tcase_add_test(tc, test_daemon_unknown);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? 0 : 1;
}
