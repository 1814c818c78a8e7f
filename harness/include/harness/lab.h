/*
 * lab.h — the lab of one scenario, without its steps: fakedns with the
 * scenario's zones, the fake MX hosts, the files, certificates and the
 * generated configuration, and the system under test (SUT) started on
 * them. "mxlab run" plays a scenario's steps on top of it; "mxlab check"
 * and "mxlab bench" use the same world and SUT with their own traffic.
 * Everything runs on the caller's event loop; lab_close() stops what
 * lab_open() started, whatever happened in between.
 */
#ifndef HARNESS_LAB_H
#define HARNESS_LAB_H

#include <event2/event.h>
#include <stddef.h>

#include "fakedns/fakedns.h"
#include "fakemx/fakemx.h"
#include "harness/scenario.h"
#include "mxlab/netaddr.h"
#include "mxlab/xmem.h"

/* What a SUT lets the lab do. A step that needs a capability the SUT
 * lacks is not played (mxlab run skips the scenario, naming the line). */
enum lab_cap {
    LAB_CAP_CONFIG = 1 << 0,     /* its configuration is the scenario's,
                                    its DNS is fakedns, it delivers to the
                                    fake MX hosts */
    LAB_CAP_CLOCK = 1 << 1,      /* [time passes] moves its timers */
    LAB_CAP_DELIVERIES = 1 << 2, /* its queue, log and deliveries can be
                                    watched ([expect]) */
    LAB_CAP_ADMIN = 1 << 3,      /* mailq, postqueue, postsuper... */
};

struct sut_ops; /* the SUT kinds' operation tables (private) */

/* A system under test as named on the command line. */
struct sut_spec {
    const struct sut_ops *ops;
    char name[300];      /* "relay", "postfix", "smtp://HOST:PORT" */
    struct netaddr addr; /* remote: the server's address and port */
    int tls;             /* remote: smtps://, TLS from the first byte */
};

/* --sut relay|postfix|smtp://HOST[:PORT]|smtps://HOST[:PORT] (HOST a
 * name, an address or [v6]; ports 25 and 465 by default). 0, or -1 with
 * "ARG: what was expected" in err. */
int sut_spec_parse(const char *arg, struct sut_spec *out, char *err,
                   size_t errlen);
/* The spec's capabilities (enum lab_cap bits). */
unsigned sut_spec_caps(const struct sut_spec *sut);
/* 1 if this machine can run the SUT with its work under workdir (NULL:
 * do not look at directories), else 0 with why in err. */
int sut_spec_usable(const struct sut_spec *sut, const char *workdir, char *err,
                    size_t errlen);
/* After a worker that ran a lab in workdir ended, however it ended: stop
 * what it may have left running (a private Postfix). */
void sut_spec_reap(const struct sut_spec *sut, const char *workdir);

struct lab;

/* Build the lab of s (its [session], [expect]... blocks are not looked
 * at) in workdir (created) on base, and start the SUT. Remote SUTs get
 * only the fakes. The reference relay and the fakes read the process
 * clock: a caller that lets time pass (lab_time_passes) makes it
 * simulated first (clock_simulate), as mxlab run does. NULL with
 * "file:line: what is wrong" in err. */
struct lab *lab_open(struct event_base *base, const struct scenario *s,
                     const char *workdir, const struct sut_spec *sut, char *err,
                     size_t errlen);
/* Stop the SUT and the fakes, free everything; NULL is a no-op. The
 * work directory stays. */
void lab_close(struct lab *lab);

/* Two or more systems (scenarios/README.md, "Several systems"): the SUT
 * and each [system NAME IP], of the same kind, sharing fakedns and the
 * fake MX hosts. lab_use(lab, NAME) makes the admin commands, queue, log,
 * configuration changes and session endpoint below act on that system
 * (NULL: the SUT) until the next call. 0, or -1 if there is none. */
int lab_use(struct lab *lab, const char *name);

unsigned lab_caps(const struct lab *lab);
const char *lab_sut_name(const struct lab *lab);
const char *lab_confdir(const struct lab *lab);
const char *lab_maillog(const struct lab *lab);
const char *lab_workdir(const struct lab *lab);

/* A BPF filter (pcap-filter(7)) that selects this lab's traffic on the
 * loopback interface and no other lab's: SMTP to the SUT and its
 * [master.cf] services, to the fake MX hosts, DNS to fakedns (each on
 * ports of its own). Appended to out. */
void lab_capture_filter(const struct lab *lab, struct strbuf *out);

/* Where SMTP clients connect: the SUT's main smtpd, or with service the
 * [master.cf] inet service of that name; tls: TLS from the first byte
 * (smtps, -o smtpd_tls_wrappermode=yes). 0, or -1 with err. */
struct lab_endpoint {
    struct netaddr addr;
    int tls;
};
int lab_endpoint(const struct lab *lab, const char *service,
                 struct lab_endpoint *out, char *err, size_t errlen);
/* The source address of a session "from" (NULL: the lab's default). *out
 * is set and 1 returned when the client must bind to it; 0 when any
 * source will do (a remote SUT, no "from"); -1 with err (which addresses
 * can be used) if from is not one this host can send from. */
int lab_source(const struct lab *lab, const char *from, struct netaddr *out,
               char *err, size_t errlen);

/* The fake MX hosts (fakemx_message_count/at: what arrived, in order) and
 * fakedns (its query log, faults). Borrowed until lab_close. */
struct fakemx *lab_fakemx(struct lab *lab);
struct fakedns *lab_fakedns(struct lab *lab);
/* A new behaviour for the fake MX host at ip ([change mx IP]). 0, or -1
 * with err. */
int lab_change_mx(struct lab *lab, const char *ip,
                  const struct fakemx_behaviour *b, char *err, size_t errlen);

/* [change main.cf]: text's parameters replace those of the same name in
 * the current system's main.cf, the others are added; main.cf is written
 * again (the system reads it at its next "postfix reload"). 0, or -1 with
 * err. */
int lab_change_maincf(struct lab *lab, const char *text, char *err,
                      size_t errlen);
/* [change file NAME]: the file replaced in the current system's
 * configuration directory; the system takes it when the scenario builds
 * it (postmap, postalias, newaliases) or reloads. 0, or -1 with err. */
int lab_change_file(struct lab *lab, const char *name, const char *text,
                    char *err, size_t errlen);

/* Called on each delivery to a fake MX host, and whenever the SUT's
 * queue changes; one of each (a new one replaces the old). */
typedef void lab_delivery_fn(void *arg, const struct fakemx_message *m);
typedef void lab_change_fn(void *arg);
void lab_on_delivery(struct lab *lab, lab_delivery_fn *fn, void *arg);
void lab_on_change(struct lab *lab, lab_change_fn *fn, void *arg);

/* Messages in the SUT's queue, and how many are not deferred or held:
 * 0, or -1 if it cannot be known. */
int lab_queue(struct lab *lab, size_t *total, size_t *busy);
/* 1 when the SUT has nothing to do now (a SUT that cannot be watched is
 * always idle). */
int lab_idle(struct lab *lab);
/* One admin command on the SUT (mailq, postqueue -f, postsuper -d ID...):
 * its exit status (64: not a command this SUT has), output in out/err. */
int lab_admin(struct lab *lab, const char *cmdline, struct strbuf *out,
              struct strbuf *err);

/* How the SUT's time passes: 0 on a simulated clock (a [time passes]
 * takes no real time), else N: it runs on real time and its timers were
 * divided by N, as is the wait. */
long lab_time_scale(const struct lab *lab);
/* [time passes SECONDS]: the SUT's clock (or its scaled timers) and the
 * fakes' move on; done is called once, from the loop or before this
 * returns, when the time has passed (ok 1) or it could not (ok 0, msg
 * says why). 0, or -1 without LAB_CAP_CLOCK. */
typedef void lab_time_fn(void *arg, int ok, const char *msg);
int lab_time_passes(struct lab *lab, long seconds, lab_time_fn *done,
                    void *arg);

#endif
