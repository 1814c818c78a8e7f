/*
 * runner.c — one scenario, one event loop. The lab: fakedns on
 * 127.0.0.53:<port>, each [mx IP] on IP:<port> (the relay's smtp_tcp_port),
 * the relay on 127.0.0.1:<port> with a config directory generated from the
 * scenario. Steps are a state machine driven by socket events, fakemx
 * deliveries, relay queue changes and one deadline timer per wait.
 * STARTTLS in a session: once the server answers 220 to a "STARTTLS"
 * line, the harness's side of the connection goes on under TLS (an
 * OpenSSL client that verifies nothing: the lab tests the server's SMTP,
 * not its PKI; the session's transcript names the server's certificate).
 */
#include "harness/runner.h"

#include <dirent.h>
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <ldns/ldns.h>
#include <netdb.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <regex.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "command.h"
#include "fakedns/fakedns.h"
#include "fakemx/fakemx.h"
#include "mxlab/clock.h"
#include "mxlab/config.h"
#include "mxlab/fsutil.h"
#include "mxlab/netaddr.h"
#include "mxlab/smtp.h"
#include "mxlab/strutil.h"
#include "mxlab/tlsutil.h"
#include "relay/relay.h"
#include "reports/logsum.h"
#include "sut_postfix.h"

#define RUNNER_DNS_IP "127.0.0.53"
#define RUNNER_SUT_IP "127.0.0.1"
#define RUNNER_RECHECK_MS 100

struct run {
    const struct scenario *s;
    struct runner_result *res;
    struct event_base *base;
    char *workdir, *confdir, *maillog;
    int sut_port, dns_port, mx_port;
    int *svc_ports; /* [master.cf] inet services, in order: their ports */
    size_t nsvc;
    char *master_extra; /* those lines, each service on its port */
    int maincf_header_lines;
    struct fakedns *dns;
    struct fakemx *mx;
    struct run_mx {
        const char *ip;
        struct fakemx_host *host;
    } * mxhosts;
    size_t nmxhosts;
    size_t observed;     /* fakemx messages already in the observations */
    long long step_t0;   /* when the current step began (monotonic ms) */
    struct relay *relay; /* --sut relay */
    enum runner_sut sut;
    struct pfsut *pf; /* --sut postfix */
    char dns_ip[64];
    char *queuedir; /* Postfix: a short private directory */
    /* step state */
    size_t step;
    int finished;
    struct event *deadline;
    struct event *time_timer; /* Postfix: [time passes] on scaled timers */
    time_t time_target;       /* relay: where [time passes] ends */
    long time_steps;          /* relay: the moments stepped through */
    struct event *recheck;
    /* session */
    struct bufferevent *bev;
    size_t item;
    int need_banner;
    /* STARTTLS: command lines sent and not answered yet, and which of
     * those replies (counting from 1) answers STARTTLS (0: none) */
    size_t awaited, starttls_reply;
    int tls_handshaking;
    SSL_CTX *tls_ctx; /* the harness's TLS client, made on first use */
    /* expect */
    size_t xi;
    /* captures: {name} */
    struct strlist var_names, var_values;
};

static void run_next_step(struct run *r);
static void run_continue(struct run *r);
static void run_time_step(struct run *r);

static void run_fail(struct run *r, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void run_fail(struct run *r, int line, const char *fmt, ...)
{
    char msg[1600];
    va_list ap;

    if (r->finished)
        return;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(r->res->message, sizeof(r->res->message), "%s:%d: %s", r->s->path,
             line, msg);
    strbuf_printf(&r->res->transcript, "!! %s\n", r->res->message);
    r->res->status = RUNNER_FAILED;
    r->finished = 1;
    event_base_loopbreak(r->base);
}

/* A free port on 127.0.0.1 for the given socket type. */
static int run_free_port(int type)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, type, 0), port = -1;

    if (fd < 0)
        return -1;
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
        port = ntohs(sin.sin_port);
    close(fd);
    return port;
}

static int run_write_mode(struct run *r, const char *name, const char *text,
                          mode_t mode)
{
    char *path = xasprintf("%s/%s", r->confdir, name);
    int rc = fs_write_atomic(path, text, strlen(text));

    if (rc == 0)
        chmod(path, mode);
    if (rc < 0)
        run_fail(r, 1, "cannot write %s: %s", path, strerror(errno));
    free(path);
    return rc;
}

static int run_write(struct run *r, const char *name, const char *text)
{
    /* Configuration, not secrets: readable as in /etc/postfix. */
    return run_write_mode(r, name, text, 0644);
}

/* [tls cert NAME]: a new self-signed key and certificate in the config
 * directory, as NAME.pem (the key, then the certificate: what
 * smtpd_tls_cert_file alone or smtpd_tls_chain_files takes), NAME.key
 * and NAME.crt. Keys are readable by their owner only (both SUTs read
 * them as root, or as the user running mxlab). */
static int run_write_cert(struct run *r, const struct scn_block *b)
{
    EVP_PKEY *key = NULL;
    X509 *crt = NULL;
    struct strbuf pem;
    char err[300], *name;
    int rc;

    if (tls_selfsigned(b->cert_cn ? b->cert_cn : "localhost",
                       b->cert_rsa ? TLS_KEY_RSA : TLS_KEY_EC, &key, &crt, err,
                       sizeof(err)) < 0) {
        run_fail(r, b->line, "[tls cert %s]: %s", b->arg, err);
        return -1;
    }
    static const struct {
        const char *suffix;
        int with_key, with_crt;
        mode_t mode;
    } files[] = {{"pem", 1, 1, 0600}, {"key", 1, 0, 0600}, {"crt", 0, 1, 0644}};
    rc = 0;
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]) && rc == 0; i++) {
        strbuf_init(&pem);
        tls_pem(&pem, files[i].with_key ? key : NULL,
                files[i].with_crt ? crt : NULL);
        name = xasprintf("%s.%s", b->arg, files[i].suffix);
        rc = run_write_mode(r, name, pem.buf ? pem.buf : "", files[i].mode);
        free(name);
        strbuf_clear(&pem);
    }
    EVP_PKEY_free(key);
    X509_free(crt);
    return rc;
}

static long run_time_scale(const struct run *r)
{
    return r->s->postfix_time_scale > 0 ? r->s->postfix_time_scale : 60;
}

/* Postfix's clock cannot be moved: when the scenario lets time pass, its
 * queue timers are divided by the time scale (whole seconds, at least 1),
 * and [time passes D] waits D / scale. The values are the scenario's, or
 * Postfix 3.7's defaults. Appended to sb (main.cf: the last setting wins). */
static int run_compress_timers(struct run *r, struct strbuf *sb)
{
    static const struct {
        const char *name, *def;
    } timers[] = {
        {"minimal_backoff_time", "300s"}, {"maximal_backoff_time", "4000s"},
        {"queue_run_delay", "300s"},      {"maximal_queue_lifetime", "5d"},
        {"bounce_queue_lifetime", "5d"},  {"delay_warning_time", "0h"},
    };
    struct config *cf = config_new();
    char err[512];
    int rc = 0, any = 0;

    for (size_t i = 0; i < r->s->nblocks; i++)
        any |= r->s->blocks[i].kind == SCN_TIME;
    if (!any) {
        config_free(cf);
        return 0;
    }
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
        config_set_default(cf, timers[i].name, timers[i].def);
    if (config_load_text(cf, "main.cf", sb->buf ? sb->buf : "", err,
                         sizeof(err)) < 0) {
        config_free(cf);
        return 0; /* Postfix itself will say what is wrong */
    }
    strbuf_printf(sb, "# Postfix's timers divided by %ld for [time passes]\n",
                  run_time_scale(r));
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]) && rc == 0; i++) {
        long v;
        if (str_to_seconds(config_get(cf, timers[i].name), 's', &v) < 0) {
            run_fail(r, 1, "%s: bad time value \"%s\"", timers[i].name,
                     config_get(cf, timers[i].name));
            rc = -1;
        } else if (v > 0) {
            long scaled = (v + run_time_scale(r) / 2) / run_time_scale(r);
            strbuf_printf(sb, "%s = %lds\n", timers[i].name,
                          scaled < 1 ? 1 : scaled);
        }
    }
    config_free(cf);
    return rc;
}

/* main.cf: a harness header, the scenario's lines, then the settings that
 * isolate this run (they come last so that they win, as in Postfix). */
static int run_write_config(struct run *r, const struct scn_block *maincf)
{
    struct strbuf sb;
    int rc;

    strbuf_init(&sb);
    strbuf_printf(&sb,
                  "# generated by mxlab for %s\n"
                  "compatibility_level = 3.6\n"
                  "# the lab's /etc/aliases and mail spool (Maildirs)\n"
                  "alias_maps = hash:$config_directory/aliases\n"
                  "alias_database = hash:$config_directory/aliases\n"
                  "mail_spool_directory = %s/mail/\n",
                  r->s->path, r->workdir);
    r->maincf_header_lines = 6;
    if (maincf != NULL && maincf->text != NULL)
        strbuf_puts(&sb, maincf->text);
    strbuf_printf(&sb,
                  "# isolation, set by the harness\n"
                  "queue_directory = %s\n"
                  "data_directory = %s/data\n"
                  "maillog_file = %s\n"
                  "smtp_tcp_port = %d\n",
                  r->queuedir, r->workdir, r->maillog, r->mx_port);
    if (r->sut == RUNNER_SUT_RELAY)
        strbuf_printf(&sb,
                      "mxlab_dns_servers = %s:%d\n"
                      "mxlab_passwd_file = %s/passwd\n",
                      r->dns_ip, r->dns_port, r->confdir);
    else
        /* Postfix: loopback only, its log where we read it; DNS comes
         * from the private resolv.conf. */
        strbuf_printf(&sb,
                      "maillog_file_prefixes = %s\n"
                      "inet_interfaces = 127.0.0.1\n"
                      "inet_protocols = ipv4\n",
                      r->workdir);
    if (r->sut == RUNNER_SUT_POSTFIX && run_compress_timers(r, &sb) < 0) {
        strbuf_clear(&sb);
        return -1;
    }
    rc = run_write(r, "main.cf", sb.buf);
    strbuf_reset(&sb);
    strbuf_printf(&sb, "%s:%d inet n - n - - smtpd\n%s", RUNNER_SUT_IP,
                  r->sut_port, r->master_extra);
    /* Postfix's master.cf is written by sut_postfix.c. */
    if (rc == 0 && r->sut == RUNNER_SUT_RELAY)
        rc = run_write(r, "master.cf", sb.buf);
    strbuf_clear(&sb);
    return rc;
}

/* [master.cf]: each inet service listens on 127.0.0.1 at a free port
 * whatever its name says (submission, 127.0.0.1:2587), so that parallel
 * runs never collide and no privileged port is needed; the rest of the
 * line is kept. Other lines are passed on as written. */
static int run_master_services(struct run *r)
{
    struct strbuf sb;
    int rc = 0;

    strbuf_init(&sb);
    for (size_t i = 0; i < r->s->nblocks; i++) {
        const struct scn_block *b = &r->s->blocks[i];
        for (size_t k = 0; b->kind == SCN_MASTERCF && k < b->nitems; k++) {
            const char *line = b->items[k].text;
            size_t index = r->nsvc;
            if (scenario_service(r->s, NULL, &index) != &b->items[k]) {
                strbuf_printf(&sb, "%s\n", line);
                continue;
            }
            int port = run_free_port(SOCK_STREAM);
            if (port < 0) {
                run_fail(r, b->items[k].line, "no free loopback port: %s",
                         strerror(errno));
                rc = -1;
                break;
            }
            r->svc_ports =
                xrealloc(r->svc_ports, (r->nsvc + 1) * sizeof(*r->svc_ports));
            r->svc_ports[r->nsvc++] = port;
            strbuf_printf(&sb, "%s:%d%s\n", RUNNER_SUT_IP, port,
                          line + strcspn(line, " \t"));
        }
    }
    r->master_extra = sb.buf ? strbuf_detach(&sb) : xstrdup("");
    strbuf_clear(&sb);
    return rc;
}

/* Local delivery's files: the passwd table is the host's users plus the
 * scenario's [file passwd] lines (the relay reads it as
 * mxlab_passwd_file, Postfix sees it as /etc/passwd in its namespace); an
 * empty aliases file unless the scenario has one; the mail spool, where
 * each user's Maildir is made by the delivery (as the user, for Postfix:
 * hence mode 1777, as /var/mail's sticky bit). */
static int run_write_local(struct run *r)
{
    const char *users = NULL;
    int have_aliases = 0, rc;
    char *host = NULL, *spool;
    struct strbuf sb;

    for (size_t i = 0; i < r->s->nblocks; i++) {
        const struct scn_block *b = &r->s->blocks[i];
        if (b->kind == SCN_FILE && strcmp(b->arg, "passwd") == 0)
            users = b->text ? b->text : "";
        if (b->kind == SCN_FILE && strcmp(b->arg, "aliases") == 0)
            have_aliases = 1;
    }
    strbuf_init(&sb);
    if (fs_read_file("/etc/passwd", &host, NULL) == 0) {
        strbuf_puts(&sb, host);
        if (sb.len > 0 && sb.buf[sb.len - 1] != '\n')
            strbuf_putc(&sb, '\n');
    }
    free(host);
    if (users != NULL)
        strbuf_puts(&sb, users);
    rc = run_write(r, "passwd", sb.buf ? sb.buf : "");
    strbuf_clear(&sb);
    if (rc == 0 && !have_aliases)
        rc = run_write(r, "aliases", "");
    spool = xasprintf("%s/mail", r->workdir);
    if (rc == 0 && (fs_mkdir_p(spool, 0755) < 0 || chmod(spool, 01777) < 0)) {
        run_fail(r, 1, "%s: %s", spool, strerror(errno));
        rc = -1;
    }
    free(spool);
    return rc;
}

/* Point a relay configuration error at the scenario's line. */
static void run_config_error(struct run *r, const struct scn_block *maincf,
                             const char *err)
{
    char *prefix = xasprintf("%s/main.cf:", r->confdir);
    long n;

    if (maincf != NULL && strncmp(err, prefix, strlen(prefix)) == 0) {
        const char *num = err + strlen(prefix);
        char buf[16];
        size_t k = strspn(num, "0123456789");
        snprintf(buf, sizeof(buf), "%.*s", (int)(k < 15 ? k : 15), num);
        if (str_to_long(buf, &n) == 0 && n > r->maincf_header_lines) {
            run_fail(r, maincf->text_line + (int)n - r->maincf_header_lines - 1,
                     "[main.cf]%s", num + k);
            free(prefix);
            return;
        }
    }
    run_fail(r, maincf ? maincf->line : 1, "%s", err);
    free(prefix);
}

static void run_on_change(void *arg)
{
    run_continue(arg);
}

static void run_on_delivery(void *arg, const struct fakemx_message *m)
{
    struct run *r = arg;
    struct strbuf *t = &r->res->transcript;

    strbuf_printf(t, "-- %s (%s) received from <%s> for", m->host_name, m->host,
                  m->mail_from);
    for (size_t i = 0; i < m->nrcpt; i++)
        strbuf_printf(t, " <%s>", m->rcpts[i]);
    strbuf_putc(t, '\n');
    run_continue(r);
}

/* The remote SUT of this process (run.c sets it once, before workers). */
static struct netaddr run_remote;
static char run_remote_url[300];

int runner_set_remote(const char *url, char *err, size_t errlen)
{
    const char *hp = str_casestart(url, "smtp://");
    char host[256];
    const char *colon, *end;
    long port;
    struct addrinfo hints, *ai = NULL;

    if (hp == NULL) {
        snprintf(err, errlen, "%s: expected smtp://HOST:PORT", url);
        return -1;
    }
    if (*hp == '[') {
        end = strchr(hp, ']');
        colon = end ? end + 1 : NULL;
        hp++;
    } else {
        colon = strrchr(hp, ':');
        end = colon;
    }
    if (end == NULL || colon == NULL || *colon != ':' ||
        (size_t)(end - hp) >= sizeof(host) || end == hp ||
        str_to_long(colon + 1, &port) < 0 || port < 1 || port > 65535) {
        snprintf(err, errlen, "%s: expected smtp://HOST:PORT", url);
        return -1;
    }
    memcpy(host, hp, (size_t)(end - hp));
    host[end - hp] = '\0';
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, NULL, &hints, &ai);
    if (rc != 0 || ai == NULL) {
        snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
        return -1;
    }
    netaddr_from_sa(&run_remote, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    netaddr_set_port(&run_remote, (int)port);
    snprintf(run_remote_url, sizeof(run_remote_url), "%s", url);
    return 0;
}

/* Against a server we do not run, only sessions make sense: NULL if s is
 * black-box, else the first block that needs the lab's own SUT. */
static const struct scn_block *run_needs_own_sut(const struct scenario *s)
{
    for (size_t i = 0; i < s->nblocks; i++)
        if (s->blocks[i].kind != SCN_SESSION)
            return &s->blocks[i];
    return NULL;
}

static int run_setup(struct run *r)
{
    const struct scn_block *maincf = NULL;
    char err[1024], addr[128];

    if (r->sut == RUNNER_SUT_REMOTE) {
        /* Nothing of ours to start: the lab's servers exist, silent. */
        r->dns = fakedns_new(r->base);
        r->mx = fakemx_new(r->base);
        return 0;
    }
    r->sut_port = run_free_port(SOCK_STREAM);
    r->mx_port = run_free_port(SOCK_STREAM);
    if (r->sut == RUNNER_SUT_RELAY) {
        snprintf(r->dns_ip, sizeof(r->dns_ip), "%s", RUNNER_DNS_IP);
        r->dns_port = run_free_port(SOCK_DGRAM);
    } else {
        /* The libc resolver asks port 53 only: one 127.53.x.y address
         * per worker keeps parallel scenarios apart. */
        unsigned pid = (unsigned)getpid();
        snprintf(r->dns_ip, sizeof(r->dns_ip), "127.53.%u.%u", (pid >> 8) & 255,
                 pid & 255);
        r->dns_port = 53;
    }
    if (r->sut_port < 0 || r->mx_port < 0 || r->dns_port < 0) {
        run_fail(r, 1, "no free loopback port: %s", strerror(errno));
        return -1;
    }
    if (fs_mkdir_p(r->confdir, 0755) < 0) {
        run_fail(r, 1, "%s: %s", r->confdir, strerror(errno));
        return -1;
    }
    r->dns = fakedns_new(r->base);
    r->mx = fakemx_new(r->base);
    fakemx_on_delivery(r->mx, run_on_delivery, r);
    for (size_t i = 0; i < r->s->nblocks; i++) {
        const struct scn_block *b = &r->s->blocks[i];
        switch (b->kind) {
        case SCN_MAINCF:
            if (maincf != NULL) {
                run_fail(r, b->line, "a second [main.cf] (first at line %d)",
                         maincf->line);
                return -1;
            }
            maincf = b;
            break;
        case SCN_FILE:
            if (run_write(r, b->arg, b->text ? b->text : "") < 0)
                return -1;
            break;
        case SCN_TLS_CERT:
            if (run_write_cert(r, b) < 0)
                return -1;
            break;
        case SCN_ZONE:
            if (fakedns_load_zone_text(r->dns, r->s->path, b->text_line, b->arg,
                                       b->text ? b->text : "", err,
                                       sizeof(err)) < 0) {
                snprintf(r->res->message, sizeof(r->res->message), "%s", err);
                r->res->status = RUNNER_FAILED;
                r->finished = 1;
                return -1;
            }
            break;
        case SCN_MX: {
            snprintf(addr, sizeof(addr), "%s:%d", b->arg, r->mx_port);
            struct fakemx_host *h =
                fakemx_add_host(r->mx, addr, b->mx.name ? b->mx.name : b->arg,
                                &b->mx, err, sizeof(err));
            if (h == NULL) {
                run_fail(r, b->line, "[mx %s]: %s", b->arg, err);
                return -1;
            }
            r->mxhosts =
                xrealloc(r->mxhosts, (r->nmxhosts + 1) * sizeof(*r->mxhosts));
            r->mxhosts[r->nmxhosts].ip = b->arg;
            r->mxhosts[r->nmxhosts].host = h;
            r->nmxhosts++;
            break;
        }
        default:
            break;
        }
    }
    snprintf(addr, sizeof(addr), "%s:%d", r->dns_ip, r->dns_port);
    if (fakedns_listen(r->dns, addr, err, sizeof(err)) < 0) {
        run_fail(r, 1, "fakedns: %s", err);
        return -1;
    }
    if (r->sut == RUNNER_SUT_POSTFIX) {
        /* Postfix's commands reach $queue_directory/public/postlog by
         * absolute path, within sun_path's 108 bytes: a short private
         * directory, removed after the run. */
        char tmpl[] = "/tmp/mxlab-pf.XXXXXX";
        if (mkdtemp(tmpl) == NULL) {
            run_fail(r, 1, "mkdtemp: %s", strerror(errno));
            return -1;
        }
        chmod(tmpl, 0755);
        r->queuedir = xstrdup(tmpl);
    } else {
        r->queuedir = xasprintf("%s/queue", r->workdir);
    }
    if (run_master_services(r) < 0 || run_write_config(r, maincf) < 0 ||
        run_write_local(r) < 0)
        return -1;
    if (r->sut == RUNNER_SUT_POSTFIX) {
        const char **maps = xcalloc(r->s->nblocks + 2, sizeof(*maps));
        size_t nmaps = 0;
        int have_aliases = 0;
        for (size_t i = 0; i < r->s->nblocks; i++)
            if (r->s->blocks[i].kind == SCN_FILE &&
                strcmp(r->s->blocks[i].arg, "passwd") != 0) {
                maps[nmaps++] = r->s->blocks[i].arg;
                have_aliases |= strcmp(r->s->blocks[i].arg, "aliases") == 0;
            }
        if (!have_aliases)
            maps[nmaps++] = "aliases";
        r->pf = pfsut_start(r->confdir, r->workdir, r->dns_ip, r->sut_port,
                            r->master_extra, maps, nmaps, err, sizeof(err));
        free(maps);
        if (r->pf == NULL) {
            run_fail(r, maincf ? maincf->line : 1, "%s", err);
            return -1;
        }
        return 0;
    }
    r->relay = relay_new(r->base, r->confdir, err, sizeof(err));
    if (r->relay == NULL) {
        run_config_error(r, maincf, err);
        return -1;
    }
    if (relay_start(r->relay, err, sizeof(err)) < 0) {
        run_fail(r, maincf ? maincf->line : 1, "relay: %s", err);
        return -1;
    }
    relay_on_change(r->relay, run_on_change, r);
    return 0;
}

/* ---- captures and patterns ---- */

static const char *run_var(struct run *r, const char *name, size_t len)
{
    for (size_t i = 0; i < r->var_names.n; i++)
        if (strlen(r->var_names.v[i]) == len &&
            memcmp(r->var_names.v[i], name, len) == 0)
            return r->var_values.v[i];
    return NULL;
}

/* Substitute {name} in a line to send. -1 names an unknown variable. */
static int run_substitute(struct run *r, const char *in, struct strbuf *out,
                          char *unknown, size_t ulen)
{
    for (const char *p = in; *p;) {
        const char *end;
        if (*p == '{' && (end = strchr(p, '}')) != NULL && end > p + 1) {
            const char *v = run_var(r, p + 1, (size_t)(end - p - 1));
            if (v == NULL) {
                snprintf(unknown, ulen, "%.*s", (int)(end - p - 1), p + 1);
                return -1;
            }
            strbuf_puts(out, v);
            p = end + 1;
            continue;
        }
        strbuf_putc(out, *p++);
    }
    return 0;
}

/* Glob with captures: '*' any run, '?' one byte, "{name}" captures a
 * token (or matches its earlier value), '\' quotes. Built as an anchored
 * POSIX ERE. */
static int run_glob_match(struct run *r, const char *pattern, const char *line)
{
    struct strbuf re;
    struct strlist names;
    regex_t rx;
    regmatch_t m[10];
    int ok;

    strbuf_init(&re);
    strlist_init(&names);
    strbuf_putc(&re, '^');
    for (const char *p = pattern; *p; p++) {
        const char *end;
        if (*p == '*') {
            strbuf_puts(&re, ".*");
        } else if (*p == '?') {
            strbuf_putc(&re, '.');
        } else if (*p == '{' && (end = strchr(p, '}')) != NULL && end > p + 1 &&
                   names.n < 9) {
            const char *v = run_var(r, p + 1, (size_t)(end - p - 1));
            char *name = xstrndup(p + 1, (size_t)(end - p - 1));
            if (v != NULL) {
                for (const char *q = v; *q; q++) {
                    if (strchr(".[]()*+?{}|^$\\", *q))
                        strbuf_putc(&re, '\\');
                    strbuf_putc(&re, *q);
                }
            } else {
                strbuf_puts(&re, "([^ ]+)");
                strlist_push(&names, name);
            }
            free(name);
            p = end;
        } else {
            if (*p == '\\' && p[1] != '\0')
                p++;
            if (strchr(".[]()*+?{}|^$\\", *p))
                strbuf_putc(&re, '\\');
            strbuf_putc(&re, *p);
        }
    }
    strbuf_putc(&re, '$');
    if (regcomp(&rx, re.buf, REG_EXTENDED) != 0) {
        strbuf_clear(&re);
        strlist_clear(&names);
        return 0;
    }
    ok = regexec(&rx, line, 10, m, 0) == 0;
    for (size_t i = 0; ok && i < names.n; i++) {
        strlist_push(&r->var_names, names.v[i]);
        char *val = xstrndup(line + m[i + 1].rm_so,
                             (size_t)(m[i + 1].rm_eo - m[i + 1].rm_so));
        strlist_push(&r->var_values, val);
        free(val);
    }
    regfree(&rx);
    strbuf_clear(&re);
    strlist_clear(&names);
    return ok;
}

static int run_regex_match(const char *re, const char *line)
{
    regex_t rx;
    int ok;

    if (regcomp(&rx, re, REG_EXTENDED | REG_NOSUB) != 0)
        return 0;
    ok = regexec(&rx, line, 0, NULL, 0) == 0;
    regfree(&rx);
    return ok;
}

/* ---- waits ---- */

static void run_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;
    const struct scn_block *b = &r->s->blocks[r->step];

    (void)fd;
    (void)what;
    if (b->kind == SCN_SESSION) {
        const struct scn_item *it =
            &b->items[r->item < b->nitems ? r->item : b->nitems - 1];
        run_fail(r, it->line, "timed out after %ld ms waiting for \"%s\"",
                 r->s->timeout_ms, r->need_banner ? "220 greeting" : it->text);
    } else {
        run_continue(r); /* expectations report their own failure */
        if (!r->finished && b->kind == SCN_EXPECT && r->xi < b->nexpects)
            run_fail(r, b->expects[r->xi].line, "timed out after %ld ms",
                     r->s->timeout_ms);
    }
}

static void run_arm_deadline(struct run *r)
{
    struct timeval tv = {r->s->timeout_ms / 1000,
                         (r->s->timeout_ms % 1000) * 1000};

    if (!evtimer_pending(r->deadline, NULL))
        evtimer_add(r->deadline, &tv);
}

static void run_disarm_deadline(struct run *r)
{
    evtimer_del(r->deadline);
}

/* ---- sessions ---- */

static void run_session_close(struct run *r)
{
    if (r->bev != NULL) {
        bufferevent_free(r->bev);
        r->bev = NULL;
    }
    r->awaited = r->starttls_reply = 0;
    r->tls_handshaking = 0;
}

/* Command lines that went out: each awaits a reply; STARTTLS's (sent
 * with "C:", not as raw bytes) is the one that decides whether the session
 * goes on under TLS. */
static void run_note_sent(struct run *r, const char *data, size_t len,
                          int may_starttls)
{
    const char *p = data, *end = data + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t n;
        if (nl == NULL)
            break; /* not a whole line: not a command yet */
        n = (size_t)(nl - p);
        if (n > 0 && p[n - 1] == '\r')
            n--;
        r->awaited++;
        if (may_starttls && n == 8 && str_ncasecmp(p, "STARTTLS", 8) == 0)
            r->starttls_reply = r->awaited;
        p = nl + 1;
    }
}

static void run_on_read(struct bufferevent *bev, void *arg);
static void run_on_event(struct bufferevent *bev, short what, void *arg);

/* The server said 220 to STARTTLS (RFC 3207 section 4): the handshake
 * starts on the same socket; the session waits for it. A server that
 * sent anything more in plain text is wrong (and would be exploitable,
 * CVE-2011-0411): that fails the step. */
static void run_starttls(struct run *r, int line)
{
    size_t extra = evbuffer_get_length(bufferevent_get_input(r->bev));
    evutil_socket_t fd = bufferevent_getfd(r->bev);
    struct bufferevent *tb = NULL;
    SSL *ssl;

    if (extra > 0) {
        run_fail(r, line,
                 "the server sent %zu more bytes in plain text after its "
                 "220 to STARTTLS",
                 extra);
        return;
    }
    if (r->tls_ctx == NULL) {
        r->tls_ctx = SSL_CTX_new(TLS_client_method());
        if (r->tls_ctx != NULL)
            SSL_CTX_set_verify(r->tls_ctx, SSL_VERIFY_NONE, NULL);
    }
    ssl = r->tls_ctx ? SSL_new(r->tls_ctx) : NULL;
    if (ssl != NULL)
        tb = bufferevent_openssl_socket_new(r->base, fd, ssl,
                                            BUFFEREVENT_SSL_CONNECTING,
                                            BEV_OPT_CLOSE_ON_FREE);
    if (tb == NULL) {
        if (ssl != NULL)
            SSL_free(ssl);
        ERR_clear_error();
        run_fail(r, line, "cannot start TLS (OpenSSL or libevent failure)");
        return;
    }
    /* The plain bufferevent lets go of the socket, which tb now owns. */
    bufferevent_setfd(r->bev, -1);
    bufferevent_free(r->bev);
    r->bev = tb;
    r->tls_handshaking = 1;
    bufferevent_openssl_set_allow_dirty_shutdown(tb, 1);
    bufferevent_setcb(tb, run_on_read, NULL, run_on_event, r);
    bufferevent_enable(tb, EV_READ | EV_WRITE);
    run_arm_deadline(r);
}

/* The handshake is done: its parameters and the server's certificate
 * go to the transcript. */
static void run_tls_established(struct run *r)
{
    SSL *ssl = bufferevent_openssl_get_ssl(r->bev);
    struct strbuf sum, details;
    X509 *crt;
    char subject[256] = "none";

    r->tls_handshaking = 0;
    run_disarm_deadline(r);
    strbuf_init(&sum);
    strbuf_init(&details);
    tls_describe(ssl, &sum, &details);
    if ((crt = SSL_get1_peer_certificate(ssl)) != NULL) {
        X509_NAME_oneline(X509_get_subject_name(crt), subject, sizeof(subject));
        X509_free(crt);
    }
    strbuf_printf(&r->res->transcript,
                  "== TLS: %s%s, server certificate %s (not verified)\n",
                  sum.buf, details.len ? details.buf : "", subject);
    strbuf_clear(&sum);
    strbuf_clear(&details);
}

static size_t run_queue_count(struct run *r);

static const char *run_block_kind(enum scn_block_kind k)
{
    switch (k) {
    case SCN_SESSION:
        return "session";
    case SCN_EXPECT:
        return "expect";
    case SCN_ADMIN:
        return "admin";
    case SCN_CHANGE_MX:
        return "change-mx";
    case SCN_CHANGE_DNS:
        return "change-dns";
    case SCN_TIME:
        return "time-passes";
    default:
        return "setup";
    }
}

/* The current step is over: its timing goes to the results, and the
 * next one starts. */
static void run_step_next(struct run *r)
{
    long long now = clock_mono_ms();
    const struct scn_block *b = &r->s->blocks[r->step];

    if (strcmp(run_block_kind(b->kind), "setup") != 0)
        strbuf_printf(&r->res->steps, "%d %s %lld\n", b->line,
                      run_block_kind(b->kind), now - r->step_t0);
    r->step++;
    r->step_t0 = now;
}

/* mxlab diff's observations (runner.h). */
static void run_observe_reply(struct run *r, int line, const char *reply)
{
    int code = atoi(reply);
    const char *e = reply + 3;
    size_t n;

    while (*e == ' ' || *e == '-')
        e++;
    n = strspn(e, "0123456789.");
    /* An enhanced status code is "class.subject.detail" (RFC 3463). */
    if (n < 5 || (e[0] != '2' && e[0] != '4' && e[0] != '5') || e[1] != '.')
        n = 0;
    strbuf_printf(&r->res->observations, "%d reply %d%s%.*s\n", line, code,
                  n ? " " : "", (int)n, e);
}

static int run_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The messages that arrived since the last look, sorted, and the queue. */
static void run_observe_state(struct run *r, int line)
{
    size_t n = fakemx_message_count(r->mx);
    struct strlist got;

    strlist_init(&got);
    for (; r->observed < n; r->observed++) {
        const struct fakemx_message *m = fakemx_message_at(r->mx, r->observed);
        struct netaddr na;
        char ip[64] = "?";
        struct strbuf one;
        if (netaddr_parse(m->host, 0, &na) == 0)
            netaddr_ip(&na, ip, sizeof(ip));
        strbuf_init(&one);
        strbuf_printf(&one, "%s <%s>", ip, m->mail_from);
        for (size_t k = 0; k < m->nrcpt; k++)
            strbuf_printf(&one, " <%s>", m->rcpts[k]);
        strlist_push(&got, one.buf);
        strbuf_clear(&one);
    }
    if (got.n > 1)
        qsort(got.v, got.n, sizeof(*got.v), run_cmp_str);
    for (size_t i = 0; i < got.n; i++)
        strbuf_printf(&r->res->observations, "%d delivered %s\n", line,
                      got.v[i]);
    strbuf_printf(&r->res->observations, "%d queue %zu\n", line,
                  run_queue_count(r));
    strlist_clear(&got);
}

static void run_session_advance(struct run *r)
{
    const struct scn_block *b = &r->s->blocks[r->step];
    struct strbuf *t = &r->res->transcript;
    struct evbuffer *in;

    if (r->bev == NULL || r->tls_handshaking)
        return;
    in = bufferevent_get_input(r->bev);
    while (!r->finished && r->item < b->nitems) {
        const struct scn_item *it = &b->items[r->item];
        if (it->kind == SCN_SEND_RAW && !r->need_banner) {
            struct strbuf raw;
            strbuf_init(&raw);
            scenario_unescape(it->text, &raw);
            strbuf_printf(t, "C= %s\n", it->text);
            bufferevent_write(r->bev, raw.buf ? raw.buf : "", raw.len);
            run_note_sent(r, raw.buf ? raw.buf : "", raw.len, 0);
            strbuf_clear(&raw);
            r->item++;
            continue;
        }
        if (it->kind == SCN_SEND && !r->need_banner) {
            struct strbuf line;
            char unknown[128];
            strbuf_init(&line);
            if (run_substitute(r, it->text, &line, unknown, sizeof(unknown)) <
                0) {
                strbuf_clear(&line);
                run_fail(r, it->line, "unknown variable {%s}", unknown);
                return;
            }
            strbuf_printf(t, "C: %s\n", line.buf ? line.buf : "");
            strbuf_append(&line, "\r\n", 2);
            bufferevent_write(r->bev, line.buf, line.len);
            run_note_sent(r, line.buf, line.len, 1);
            strbuf_clear(&line);
            r->item++;
            continue;
        }
        size_t len;
        char *line = evbuffer_readln(in, &len, EVBUFFER_EOL_CRLF);
        if (line == NULL) {
            run_arm_deadline(r);
            return;
        }
        run_disarm_deadline(r);
        strbuf_printf(t, "S: %s\n", line);
        int last = 1;
        int code = smtp_reply_code(line, &last);
        if (r->need_banner) {
            if (code >= 0 && !last) {
                free(line);
                continue;
            }
            r->need_banner = 0;
            if (code < 200 || code > 299) {
                run_fail(r, it->line, "expected a 2xx greeting, got \"%s\"",
                         line);
                free(line);
                return;
            }
            free(line);
            continue;
        }
        if (it->kind == SCN_EXPECT_CLOSED) {
            run_fail(r, it->line,
                     "expected the server to close the connection, got "
                     "\"%s\"",
                     line);
            free(line);
            return;
        }
        /* "S! regex": every line of the reply is looked at. */
        if (it->kind == SCN_EXPECT_NO_LINE && run_regex_match(it->text, line)) {
            run_fail(r, it->line, "a line of the reply matches \"%s\": \"%s\"",
                     it->text, line);
            free(line);
            return;
        }
        /* An "S: 250 ..." line matches a whole reply: continuation lines
         * are skipped unless the scenario lists them ("S: 250-..."). */
        int pattern_continues = strlen(it->text) > 3 && it->text[3] == '-';
        if (code >= 0 && !last && !pattern_continues &&
            it->kind != SCN_EXPECT_REGEX) {
            free(line);
            continue;
        }
        int ok = it->kind == SCN_EXPECT_NO_LINE ? 1
                 : it->kind == SCN_EXPECT_REGEX
                     ? run_regex_match(it->text, line)
                     : run_glob_match(r, it->text, line);
        /* An "S~" regex looks for its line within the reply: other
         * continuation lines before it are skipped (EHLO's extensions
         * come in any order). */
        if (!ok && it->kind == SCN_EXPECT_REGEX && code >= 0 && !last) {
            free(line);
            continue;
        }
        /* Observed for mxlab diff: the line that the S:, S~ or S! line
         * judged (not the extensions an S~ looked past, which differ in
         * number between servers). */
        run_observe_reply(r, it->line, line);
        if (!ok) {
            run_fail(r, it->line, "expected \"%s\", got \"%s\"", it->text,
                     line);
            free(line);
            return;
        }
        free(line);
        r->item++;
        /* A whole reply is in: was it the answer to STARTTLS? */
        if (code >= 0 && last && r->awaited > 0) {
            r->awaited--;
            if (r->starttls_reply > 0 && --r->starttls_reply == 0 &&
                code == 220) {
                run_starttls(r, it->line);
                /* The rest waits for the handshake. */
                return;
            }
        }
    }
    if (!r->finished && r->item >= b->nitems) {
        run_session_close(r);
        run_step_next(r);
        run_next_step(r);
    }
}

static void run_on_read(struct bufferevent *bev, void *arg)
{
    (void)bev;
    run_session_advance(arg);
}

static void run_on_event(struct bufferevent *bev, short what, void *arg)
{
    struct run *r = arg;
    const struct scn_block *b = &r->s->blocks[r->step];

    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        if (r->tls_handshaking)
            run_tls_established(r);
        run_session_advance(r);
        return;
    }
    if (r->tls_handshaking) {
        unsigned long e;
        char buf[256] = "the server closed the connection";
        /* libevent also queues SSL_get_error()'s code: skip it. */
        while ((e = bufferevent_get_openssl_error(bev)) != 0)
            if (ERR_GET_LIB(e) != 0)
                ERR_error_string_n(e, buf, sizeof(buf));
        run_fail(r, b->items[r->item ? r->item - 1 : 0].line,
                 "TLS handshake with the server failed: %s", buf);
        return;
    }
    /* Read what is left before judging the close. */
    run_session_advance(r);
    if (r->finished || r->bev == NULL)
        return;
    const struct scn_item *it = &b->items[r->item];
    if (it->kind == SCN_EXPECT_CLOSED) {
        /* "S= closed" is the session's last line (scenario.c). */
        strbuf_printf(&r->res->transcript, "S= closed\n");
        run_disarm_deadline(r);
        run_session_close(r);
        run_step_next(r);
        run_next_step(r);
        return;
    }
    if (what & BEV_EVENT_EOF)
        run_fail(r, it->line,
                 "connection closed by the server while "
                 "waiting for \"%s\"",
                 it->text);
    else
        run_fail(r, it->line, "connection to the server failed: %s",
                 evutil_socket_error_to_string(EVUTIL_SOCKET_ERROR()));
}

/* 1 if a [master.cf] service line sets smtpd_tls_wrappermode = yes (in
 * "-o name=value" or "-o { name = value }" form). */
static int run_service_wrapper(const char *text)
{
    const char *p = strstr(text, "smtpd_tls_wrappermode");

    if (p == NULL)
        return 0;
    p += strlen("smtpd_tls_wrappermode");
    p += strspn(p, " \t");
    if (*p != '=')
        return 0;
    p++;
    p += strspn(p, " \t");
    return str_ncasecmp(p, "yes", 3) == 0 || str_ncasecmp(p, "true", 4) == 0 ||
           *p == '1';
}

static void run_session_start(struct run *r, const struct scn_block *b)
{
    struct netaddr dst, src;
    int fd;

    size_t svc = 0;
    const struct scn_item *service = NULL;
    if (r->sut == RUNNER_SUT_REMOTE)
        dst = run_remote;
    else if (b->to != NULL &&
             (service = scenario_service(r->s, b->to, &svc)) != NULL &&
             svc < r->nsvc)
        netaddr_parse(RUNNER_SUT_IP, r->svc_ports[svc], &dst);
    else
        netaddr_parse(RUNNER_SUT_IP, r->sut_port, &dst);
    if (netaddr_parse(b->arg ? b->arg : RUNNER_SUT_IP, 0, &src) < 0) {
        run_fail(r, b->line, "bad source address \"%s\"", b->arg);
        return;
    }
    strbuf_printf(&r->res->transcript, "== [session from %s%s%s] (line %d)\n",
                  b->arg ? b->arg : RUNNER_SUT_IP, b->to ? " to " : "",
                  b->to ? b->to : "", b->line);
    /* A remote SUT sees the session from wherever this host routes to
     * it, unless the scenario names a source address. */
    fd = netaddr_connect_tcp(
        &dst, r->sut == RUNNER_SUT_REMOTE && b->arg == NULL ? NULL : &src);
    if (fd < 0) {
        run_fail(r, b->line, "connect from %s: %s",
                 b->arg ? b->arg : RUNNER_SUT_IP, strerror(errno));
        return;
    }
    r->item = 0;
    /* A transcript that starts by sending expects the greeting first. */
    r->need_banner =
        b->items[0].kind == SCN_SEND || b->items[0].kind == SCN_SEND_RAW;
    r->bev = bufferevent_socket_new(r->base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(r->bev, run_on_read, NULL, run_on_event, r);
    bufferevent_enable(r->bev, EV_READ | EV_WRITE);
    run_arm_deadline(r);
    /* An smtps service (-o smtpd_tls_wrappermode=yes): TLS from the first
     * byte, the greeting comes under it. */
    if (service != NULL && run_service_wrapper(service->text))
        run_starttls(r, b->line);
}

/* ---- expectations ---- */

static int run_relay_idle(struct run *r)
{
    size_t total, busy;

    if (r->pf != NULL)
        return pfsut_queue(r->pf, &total, &busy) == 0 && busy == 0;
    if (r->relay == NULL)
        return 1; /* a remote SUT: nothing we can see */
    return relay_busy(r->relay) == 0;
}

static size_t run_queue_count(struct run *r)
{
    size_t total = 0, busy;

    if (r->pf != NULL)
        return pfsut_queue(r->pf, &total, &busy) == 0 ? total : (size_t)-1;
    if (r->relay == NULL)
        return 0;
    return relay_queue_count(r->relay);
}

static int run_message_has(const struct fakemx_message *m, const char *rcpt)
{
    for (size_t i = 0; i < m->nrcpt; i++)
        if (str_casecmp(m->rcpts[i], rcpt) == 0)
            return 1;
    return 0;
}

/* 1 if m was received by the [mx] host at ip (any host if ip is NULL). */
static int run_message_at(const struct fakemx_message *m, const char *ip)
{
    char buf[64];
    struct netaddr na;

    return ip == NULL || (netaddr_parse(m->host, 0, &na) == 0 &&
                          strcmp(netaddr_ip(&na, buf, sizeof(buf)), ip) == 0);
}

static void run_describe_deliveries(struct run *r, struct strbuf *sb)
{
    size_t n = fakemx_message_count(r->mx);

    if (n == 0) {
        strbuf_puts(sb, "nothing was delivered");
        return;
    }
    strbuf_puts(sb, "delivered:");
    for (size_t i = 0; i < n; i++) {
        const struct fakemx_message *m = fakemx_message_at(r->mx, i);
        strbuf_printf(sb, " [to %s from <%s> rcpt", m->client_ip ? m->host : "",
                      m->mail_from);
        for (size_t k = 0; k < m->nrcpt; k++)
            strbuf_printf(sb, " <%s>", m->rcpts[k]);
        strbuf_putc(sb, ']');
    }
}

/* 1 if a line of text contains pattern (glob: '*' and '?'). */
static int run_text_has_line(const char *text, const char *pattern)
{
    char *copy = xstrdup(text), *glob = xasprintf("*%s*", pattern);
    int found = 0;

    for (char *line = copy; line && *line && !found;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        found = str_glob(glob, line);
        line = nl ? nl + 1 : NULL;
    }
    free(copy);
    free(glob);
    return found;
}

/* A delivered message's content (CRs as spaces), or with env its
 * envelope as "MAIL FROM:<a> PARAMS" and "RCPT TO:<b> PARAMS" lines. */
static char *run_message_lines(const struct fakemx_message *m, int env)
{
    struct strbuf sb;

    strbuf_init(&sb);
    if (!env) {
        strbuf_append(&sb, m->data, m->data_len);
        for (size_t i = 0; i < sb.len; i++)
            if (sb.buf[i] == '\r')
                sb.buf[i] = ' ';
    } else {
        strbuf_printf(&sb, "MAIL FROM:<%s>%s%s\n", m->mail_from,
                      m->mail_params && *m->mail_params ? " " : "",
                      m->mail_params ? m->mail_params : "");
        for (size_t k = 0; k < m->nrcpt; k++) {
            const char *pr = m->rcpt_params ? m->rcpt_params[k] : NULL;
            strbuf_printf(&sb, "RCPT TO:<%s>%s%s\n", m->rcpts[k],
                          pr && *pr ? " " : "", pr ? pr : "");
        }
    }
    return strbuf_detach(&sb);
}

static int run_log_contains(struct run *r, const char *text)
{
    char *log;
    int found;

    if (fs_read_file(r->maillog, &log, NULL) < 0)
        return 0;
    found = run_text_has_line(log, text);
    free(log);
    return found;
}

/* The messages in a local user's mailbox under the lab's spool: the
 * files of a Maildir's new/ and cur/, or the "From " blocks of an mbox.
 * Each message's text is pushed to msgs. */
static void run_mailbox(struct run *r, const char *user, struct strlist *msgs)
{
    char *path = xasprintf("%s/mail/%s", r->workdir, user);
    static const char *subs[] = {"new", "cur"};
    char *text;
    size_t len;

    if (fs_read_file(path, &text, &len) == 0) {
        /* mbox: a message starts at each "From " line after a blank. */
        struct strbuf one;
        strbuf_init(&one);
        for (char *line = text; line && *line;) {
            char *nl = strchr(line, '\n');
            size_t n = nl ? (size_t)(nl - line) + 1 : strlen(line);
            if (strncmp(line, "From ", 5) == 0 && one.len > 0) {
                strlist_push(msgs, one.buf);
                strbuf_reset(&one);
            }
            strbuf_append(&one, line, n);
            line += n;
        }
        if (one.len > 0)
            strlist_push(msgs, one.buf);
        strbuf_clear(&one);
        free(text);
    }
    for (size_t i = 0; i < 2; i++) {
        char *dir = xasprintf("%s/%s", path, subs[i]);
        DIR *d = opendir(dir);
        struct dirent *de;
        while (d != NULL && (de = readdir(d)) != NULL) {
            if (de->d_name[0] == '.')
                continue;
            char *f = xasprintf("%s/%s", dir, de->d_name);
            if (fs_read_file(f, &text, &len) == 0) {
                strlist_push(msgs, text);
                free(text);
            }
            free(f);
        }
        if (d != NULL)
            closedir(d);
        free(dir);
    }
    free(path);
}

static int run_pflogsumm(struct run *r, const char *cmdline, struct strbuf *out,
                         struct strbuf *err);

/* The SUT's log totals (logsum.h) and, for "as pflogsumm", pflogsumm's
 * reading of the same log with seed 003's options. Differences go to
 * why; 1 if none. */
static int run_log_totals(struct run *r, const struct scn_expect *x,
                          struct strbuf *why)
{
    struct logsum mine, want;
    char *log = NULL;
    int same = 1;

    if (fs_read_file(r->maillog, &log, NULL) < 0) {
        strbuf_printf(why, "cannot read the log %s", r->maillog);
        return 0;
    }
    logsum_read(log, &mine);
    free(log);
    if (x->kind == SCN_X_LOG_PFLOGSUMM) {
        struct strbuf out, err;
        strbuf_init(&out);
        strbuf_init(&err);
        int rc = run_pflogsumm(r,
                               "pflogsumm -h 0 -u 0 --bounce_detail=0 "
                               "--deferral_detail=0 --reject_detail=0 "
                               "--no_no_msg_size --smtpd_warning_detail=0",
                               &out, &err);
        if (rc != 0 || logsum_parse_pflogsumm(out.buf, &want) < 0) {
            strbuf_printf(why, "pflogsumm gave no totals (exit %d): %s", rc,
                          err.buf ? err.buf : "");
            same = 0;
        } else {
            logsum_round_like_pflogsumm(&mine);
            for (int k = 0; k < LOGSUM_NKEYS; k++)
                if (mine.v[k] != want.v[k]) {
                    strbuf_printf(why, "%s%s: mxlab counts %ld, pflogsumm %ld",
                                  same ? "" : "; ", logsum_name(k), mine.v[k],
                                  want.v[k]);
                    same = 0;
                }
        }
        strbuf_clear(&out);
        strbuf_clear(&err);
        return same;
    }
    for (size_t i = 0; i < x->nkeys; i++)
        if (mine.v[x->keys[i]] != x->values[i]) {
            strbuf_printf(why, "%slog totals: %s is %ld, expected %ld",
                          same ? "" : "; ", logsum_name(x->keys[i]),
                          mine.v[x->keys[i]], x->values[i]);
            same = 0;
        }
    return same;
}

/* 1: satisfied, 0: not yet (wait), -1: failed (reported). */
static int run_check(struct run *r, const struct scn_expect *x, int final_try)
{
    struct strbuf why;
    size_t n = fakemx_message_count(r->mx);

    switch (x->kind) {
    case SCN_X_DELIVERED:
        for (size_t i = 0; i < n; i++) {
            const struct fakemx_message *m = fakemx_message_at(r->mx, i);
            if (!run_message_at(m, x->host))
                continue;
            /* "from <>" names the null sender. */
            if (x->from &&
                str_casecmp(strcmp(x->from, "<>") == 0 ? "" : x->from,
                            m->mail_from) != 0)
                continue;
            size_t k;
            for (k = 0; k < x->nrcpt; k++)
                if (!run_message_has(m, x->rcpts[k]))
                    break;
            if (k == x->nrcpt)
                return 1;
        }
        break;
    case SCN_X_NOT_DELIVERED:
        if (!run_relay_idle(r) && !final_try)
            return 0;
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < x->nrcpt; k++)
                if (run_message_at(fakemx_message_at(r->mx, i), x->host) &&
                    run_message_has(fakemx_message_at(r->mx, i), x->rcpts[k])) {
                    run_fail(r, x->line, "<%s> was delivered (to %s)",
                             x->rcpts[k], fakemx_message_at(r->mx, i)->host);
                    return -1;
                }
        return 1;
    case SCN_X_QUEUE_EMPTY:
        if (run_queue_count(r) == 0)
            return 1;
        break;
    case SCN_X_DELIVERIES:
        if (!run_relay_idle(r) && !final_try)
            return 0;
        if ((long)n == x->count)
            return 1;
        if ((long)n < x->count && !final_try)
            return 0;
        break;
    case SCN_X_DATA_HAS:
    case SCN_X_DATA_LACKS:
    case SCN_X_ENVELOPE_HAS:
    case SCN_X_ENVELOPE_LACKS: {
        /* A line of some delivered message's content (headers included)
         * or envelope. */
        int has = x->kind == SCN_X_DATA_HAS || x->kind == SCN_X_ENVELOPE_HAS;
        int env =
            x->kind == SCN_X_ENVELOPE_HAS || x->kind == SCN_X_ENVELOPE_LACKS;
        int found = 0;
        if (!has && !run_relay_idle(r) && !final_try)
            return 0;
        for (size_t i = 0; i < n && !found; i++) {
            char *text = run_message_lines(fakemx_message_at(r->mx, i), env);
            found = run_text_has_line(text, x->text);
            free(text);
        }
        if (found == has)
            return 1;
        if (!final_try && has)
            return 0;
        run_fail(r, x->line, "%s delivered %s has a line with \"%s\"",
                 found ? "a" : "no", env ? "envelope" : "message", x->text);
        return -1;
    }
    case SCN_X_DNS_QUERIES: {
        long count = 0;
        for (size_t i = 0; i < fakedns_query_count(r->dns); i++) {
            const struct fakedns_query *q = fakedns_query_at(r->dns, i);
            size_t nl = strlen(q->name);
            /* the log keeps the name as asked, maybe with its final dot */
            if ((strcmp(q->name, x->mailbox) == 0 ||
                 (nl == strlen(x->mailbox) + 1 && q->name[nl - 1] == '.' &&
                  strncmp(q->name, x->mailbox, nl - 1) == 0)) &&
                (x->dns_type == 0 || q->type == x->dns_type))
                count++;
        }
        if (x->count < 0 ? count > 0 : count == x->count)
            return 1;
        if (!final_try &&
            (x->count < 0 || count < x->count || !run_relay_idle(r)))
            return 0;
        strbuf_init(&why);
        if (x->count < 0)
            strbuf_printf(&why, "fakedns was never asked for %s", x->mailbox);
        else
            strbuf_printf(&why,
                          "fakedns was asked for %s %ld time%s, "
                          "expected %ld",
                          x->mailbox, count, count == 1 ? "" : "s", x->count);
        if (x->dns_type != 0)
            strbuf_printf(&why, " (type %d)", x->dns_type);
        run_fail(r, x->line, "%s", why.buf);
        strbuf_clear(&why);
        return -1;
    }
    case SCN_X_LOG_TOTALS:
    case SCN_X_LOG_PFLOGSUMM: {
        int ok;
        if (!run_relay_idle(r) && !final_try)
            return 0;
        strbuf_init(&why);
        ok = run_log_totals(r, x, &why);
        if (ok || !final_try) {
            strbuf_clear(&why);
            return ok;
        }
        run_fail(r, x->line, "%s", why.buf);
        strbuf_clear(&why);
        return -1;
    }
    case SCN_X_MAILBOX_COUNT:
    case SCN_X_MAILBOX_HAS: {
        struct strlist msgs;
        int ok = 0;
        if (!run_relay_idle(r) && !final_try)
            return 0;
        strlist_init(&msgs);
        run_mailbox(r, x->mailbox, &msgs);
        if (x->kind == SCN_X_MAILBOX_COUNT)
            ok = (long)msgs.n == x->count;
        for (size_t i = 0; i < msgs.n && !ok; i++)
            ok = run_text_has_line(msgs.v[i], x->text);
        n = msgs.n;
        strlist_clear(&msgs);
        if (ok)
            return 1;
        break;
    }
    case SCN_X_LOG_CONTAINS: {
        struct strbuf text;
        char unknown[128];
        int found;
        strbuf_init(&text);
        if (run_substitute(r, x->text, &text, unknown, sizeof(unknown)) < 0) {
            strbuf_clear(&text);
            run_fail(r, x->line, "unknown variable {%s}", unknown);
            return -1;
        }
        found = run_log_contains(r, text.buf ? text.buf : "");
        strbuf_clear(&text);
        if (found)
            return 1;
        break;
    }
    }
    if (!final_try)
        return 0;
    strbuf_init(&why);
    switch (x->kind) {
    case SCN_X_DELIVERED:
        strbuf_printf(&why, "no message to %s", x->host);
        if (x->from)
            strbuf_printf(&why, " from <%s>", x->from);
        if (x->nrcpt > 0)
            strbuf_puts(&why, " with rcpt");
        for (size_t k = 0; k < x->nrcpt; k++)
            strbuf_printf(&why, " <%s>", x->rcpts[k]);
        strbuf_puts(&why, "; ");
        run_describe_deliveries(r, &why);
        break;
    case SCN_X_QUEUE_EMPTY:
        strbuf_printf(&why, "queue holds %zu message(s)", run_queue_count(r));
        break;
    case SCN_X_DELIVERIES:
        strbuf_printf(&why, "expected %ld deliveries, got %zu; ", x->count, n);
        run_describe_deliveries(r, &why);
        break;
    case SCN_X_LOG_CONTAINS:
        strbuf_printf(&why, "no log line contains \"%s\" (log: %s)", x->text,
                      r->maillog);
        break;
    case SCN_X_MAILBOX_COUNT:
        strbuf_printf(&why, "mailbox %s holds %zu message(s), expected %ld",
                      x->mailbox, n, x->count);
        break;
    case SCN_X_MAILBOX_HAS:
        strbuf_printf(&why,
                      "no message in mailbox %s (%zu message(s)) has a "
                      "line with \"%s\"",
                      x->mailbox, n, x->text);
        break;
    default:
        break;
    }
    run_fail(r, x->line, "%s", why.buf);
    strbuf_clear(&why);
    return -1;
}

static void run_expect_advance(struct run *r, int final_try)
{
    const struct scn_block *b = &r->s->blocks[r->step];

    while (!r->finished && r->xi < b->nexpects) {
        int rc = run_check(r, &b->expects[r->xi], final_try);
        if (rc < 0)
            return;
        if (rc == 0) {
            run_arm_deadline(r);
            return;
        }
        strbuf_printf(&r->res->transcript, "ok line %d\n",
                      b->expects[r->xi].line);
        run_disarm_deadline(r);
        r->xi++;
    }
    if (!r->finished) {
        run_observe_state(r, b->line);
        run_step_next(r);
        run_next_step(r);
    }
}

static void run_on_recheck(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    run_continue(arg);
}

/* Something happened in the lab: let the current step look again. */
static void run_continue(struct run *r)
{
    if (r->finished || r->step >= r->s->nblocks)
        return;
    const struct scn_block *b = &r->s->blocks[r->step];
    if (b->kind == SCN_EXPECT)
        run_expect_advance(r, evtimer_pending(r->deadline, NULL) ? 0 : 1);
    if (b->kind == SCN_TIME && r->sut != RUNNER_SUT_POSTFIX)
        run_time_step(r);
}

/* [change mx IP]: the host's behaviour becomes what the block says. */
static void run_change_mx(struct run *r, const struct scn_block *b)
{
    for (size_t i = 0; i < r->nmxhosts; i++)
        if (strcmp(r->mxhosts[i].ip, b->arg) == 0 &&
            fakemx_host_set_behaviour(r->mxhosts[i].host, &b->mx) < 0)
            run_fail(r, b->line, "[change mx %s]: cannot listen again", b->arg);
    strbuf_printf(&r->res->transcript, "== [change mx %s] (line %d)\n", b->arg,
                  b->line);
}

/* "$ pflogsumm [options]": Debian's pflogsumm on the SUT's mail log (the
 * log reader seed 003 feeds to Zabbix), so the log's format is judged by
 * a real reader. */
static int run_pflogsumm(struct run *r, const char *cmdline, struct strbuf *out,
                         struct strbuf *err)
{
    struct strlist w;
    char **argv;
    int rc;

    strlist_init(&w);
    strlist_split(&w, cmdline);
    argv = xcalloc(w.n + 2, sizeof(*argv));
    argv[0] = "/usr/sbin/pflogsumm";
    for (size_t i = 1; i < w.n; i++)
        argv[i] = w.v[i];
    argv[w.n] = r->maillog;
    rc = command_run(argv, out, err);
    if (rc < 0 || rc == 127)
        strbuf_puts(err, "pflogsumm: cannot run /usr/sbin/pflogsumm\n");
    free(argv);
    strlist_clear(&w);
    return rc;
}

/* "$ NAME [ARGS]", or "$ more /var/log/maillog | NAME [ARGS]" as the
 * documents write it (cat works too), where NAME is one of the scenario's
 * [file NAME] blocks: the file is run as a script (its #! line) with the
 * SUT's mail log on standard input — seed 000's Perl script that lists
 * the refused senders. Returns -2 if cmdline is not such a command. */
static int run_script(struct run *r, const char *cmdline, struct strbuf *out,
                      struct strbuf *err)
{
    struct strlist w;
    size_t first = 0;
    const char *name = NULL;
    int rc = -2;

    strlist_init(&w);
    strlist_split(&w, cmdline);
    if (w.n >= 4 &&
        (strcmp(w.v[0], "more") == 0 || strcmp(w.v[0], "cat") == 0) &&
        strcmp(w.v[2], "|") == 0 && strncmp(w.v[1], "/var/log/mail", 13) == 0)
        first = 3;
    for (size_t i = 0; first < w.n && i < r->s->nblocks && name == NULL; i++)
        if (r->s->blocks[i].kind == SCN_FILE &&
            strcmp(r->s->blocks[i].arg, w.v[first]) == 0)
            name = r->s->blocks[i].arg;
    if (name != NULL) {
        char *path = xasprintf("%s/%s", r->confdir, name);
        char **argv = xcalloc(w.n - first + 1, sizeof(*argv));
        argv[0] = path;
        for (size_t i = first + 1; i < w.n; i++)
            argv[i - first] = w.v[i];
        if (chmod(path, 0755) < 0) {
            strbuf_printf(err, "%s: %s\n", path, strerror(errno));
            rc = 1;
        } else {
            rc = command_run_input(argv, r->maillog, out, err);
            if (rc < 0 || rc == 127)
                strbuf_printf(err, "%s: cannot run it as a script\n", name);
        }
        free(argv);
        free(path);
    }
    strlist_clear(&w);
    return rc;
}

/* [admin]: run each "$ command" on the SUT; the "> pattern" lines after
 * it must match lines of its output, in order (other lines may come
 * between them). */
static void run_admin(struct run *r, const struct scn_block *b)
{
    struct strbuf *t = &r->res->transcript;
    struct strlist lines;
    size_t next_line = 0;

    strbuf_printf(t, "== [admin] (line %d)\n", b->line);
    strlist_init(&lines);
    for (size_t i = 0; i < b->nitems && !r->finished; i++) {
        const struct scn_item *it = &b->items[i];
        struct strbuf cmd, out, err;
        char unknown[128];

        if (it->kind == SCN_OUTPUT) {
            size_t k;
            for (k = next_line; k < lines.n; k++)
                if (run_glob_match(r, it->text, lines.v[k]))
                    break;
            if (k == lines.n) {
                run_fail(r, it->line,
                         "no output line matches \"%s\" (see the "
                         "transcript)",
                         it->text);
                break;
            }
            next_line = k + 1;
            continue;
        }
        strbuf_init(&cmd);
        strbuf_init(&out);
        strbuf_init(&err);
        if (run_substitute(r, it->text, &cmd, unknown, sizeof(unknown)) < 0) {
            run_fail(r, it->line, "unknown variable {%s}", unknown);
        } else {
            /* "$config_directory" names the SUT's configuration directory,
             * as in the documents' "postmap /etc/postfix/virtual". */
            for (char *at;
                 cmd.buf && (at = strstr(cmd.buf, "$config_directory"));) {
                struct strbuf sub;
                strbuf_init(&sub);
                strbuf_append(&sub, cmd.buf, (size_t)(at - cmd.buf));
                strbuf_puts(&sub, r->confdir);
                strbuf_puts(&sub, at + strlen("$config_directory"));
                strbuf_clear(&cmd);
                cmd = sub;
            }
            int rc = run_script(r, cmd.buf, &out, &err);
            if (rc == -2)
                rc = str_casestart(cmd.buf, "pflogsumm") != NULL
                         ? run_pflogsumm(r, cmd.buf, &out, &err)
                     : r->pf ? pfsut_admin(r->pf, cmd.buf, &out, &err)
                             : relay_admin(r->relay, cmd.buf, &out, &err);
            strbuf_printf(t, "$ %s\n%s%s", cmd.buf, out.buf ? out.buf : "",
                          err.buf ? err.buf : "");
            if (rc == 64)
                run_fail(r, it->line, "%s", err.buf ? err.buf : "usage");
            strlist_clear(&lines);
            strbuf_append(&out, err.buf ? err.buf : "", err.len);
            for (char *l = out.buf; l && *l;) {
                char *nl = strchr(l, '\n');
                if (nl)
                    *nl = '\0';
                strlist_push(&lines, l);
                l = nl ? nl + 1 : NULL;
            }
            next_line = 0;
        }
        strbuf_clear(&cmd);
        strbuf_clear(&out);
        strbuf_clear(&err);
    }
    strlist_clear(&lines);
}

/* The relay acts at most this many times within one [time passes]
 * (five days of retries every 300 s are 1440). */
#define RUNNER_MAX_TIME_STEPS 100000

/* [time passes D] on the relay, whose clock the lab drives: time goes on
 * from one moment at which the relay has work (a retry, a deferred-queue
 * scan that finds mail due) to the next, the relay doing it before the
 * clock moves again, as it would in real time; then to the end of D.
 * Resumed by run_continue while the relay is busy. */
static void run_time_step(struct run *r)
{
    const struct scn_block *b = &r->s->blocks[r->step];

    while (!r->finished) {
        if (!run_relay_idle(r))
            return; /* the relay's changes bring us back */
        time_t now = clock_time();
        time_t next = r->relay ? relay_next_event(r->relay) : 0;
        time_t to = next > now && next < r->time_target ? next : r->time_target;
        if (to > now) {
            struct timeval tv = {to - now, 0};
            clock_advance(&tv);
            if (r->relay != NULL)
                relay_time_changed(r->relay);
            fakemx_time_changed(r->mx);
        }
        if (to >= r->time_target) {
            run_step_next(r);
            run_next_step(r);
            return;
        }
        if (++r->time_steps > RUNNER_MAX_TIME_STEPS) {
            run_fail(r, b->line,
                     "[time passes]: the relay had work at more than %d "
                     "moments",
                     RUNNER_MAX_TIME_STEPS);
            return;
        }
    }
}

static void run_time_passes(struct run *r, const struct scn_block *b)
{
    strbuf_printf(&r->res->transcript, "== [time passes %lds] (line %d)\n",
                  b->seconds, b->line);
    r->time_target = clock_time() + b->seconds;
    r->time_steps = 0;
    run_time_step(r);
}

/* On Postfix, whose clock cannot be moved, the timers were divided by the
 * time scale (run_compress_timers): the same share of real time passes. */
static void run_time_passes_postfix(struct run *r, const struct scn_block *b)
{
    double secs = (double)b->seconds / (double)run_time_scale(r);
    struct timeval tv = {(time_t)secs,
                         (suseconds_t)((secs - (double)(time_t)secs) * 1e6)};

    struct timeval lab = {b->seconds, 0};

    strbuf_printf(&r->res->transcript,
                  "== [time passes %lds] (line %d): %.3fs on Postfix's "
                  "timers, divided by %ld\n",
                  b->seconds, b->line, secs, run_time_scale(r));
    /* The lab's own servers (fakemx greylisting, rate windows) read the
     * simulated clock: for them the whole duration passes at once. */
    clock_advance(&lab);
    fakemx_time_changed(r->mx);
    evtimer_add(r->time_timer, &tv);
}

static void run_on_time_passed(evutil_socket_t fd, short what, void *arg)
{
    struct run *r = arg;

    (void)fd;
    (void)what;
    run_step_next(r);
    run_next_step(r);
}

/* [change dns]: faults set or cleared in the running fakedns. */
static void run_change_dns(struct run *r, const struct scn_block *b)
{
    strbuf_printf(&r->res->transcript, "== [change dns] (line %d)\n", b->line);
    for (size_t i = 0; i < b->nitems && !r->finished; i++) {
        const struct scn_item *it = &b->items[i];
        struct strlist w;
        char err[512] = "", *name;
        int type = 0;
        size_t k = 2;

        strlist_init(&w);
        strlist_split(&w, it->text);
        if (strcmp(w.v[0], "clear") == 0 && strcmp(w.v[1], "all") == 0) {
            fakedns_clear_faults(r->dns, NULL, 0);
        } else {
            name = str_lower(xstrdup(w.v[1]));
            if (name[strlen(name) - 1] != '.') {
                char *abs = xasprintf("%s.", name);
                free(name);
                name = abs;
            }
            if (w.n > 2) {
                ldns_rr_type t = ldns_get_rr_type_by_name(w.v[2]);
                if (strcmp(w.v[2], "*") == 0 || str_casecmp(w.v[2], "ANY") == 0)
                    k = 3;
                else if (t != 0 && (strcmp(w.v[0], "clear") == 0 || w.n > 3)) {
                    type = (int)t;
                    k = 3;
                }
            }
            if (strcmp(w.v[0], "clear") == 0) {
                fakedns_clear_faults(r->dns, name, type);
            } else {
                /* The spec: the rest of the line after NAME [TYPE]. */
                const char *spec = it->text;
                for (size_t f = 0; f < k; f++) {
                    spec += strspn(spec, " \t");
                    spec += strcspn(spec, " \t");
                }
                spec += strspn(spec, " \t");
                if (fakedns_set_fault(r->dns, name, type, spec, err,
                                      sizeof(err)) < 0)
                    run_fail(r, it->line, "[change dns]: %s", err);
            }
            free(name);
        }
        strbuf_printf(&r->res->transcript, "%s\n", it->text);
        strlist_clear(&w);
    }
}

static void run_next_step(struct run *r)
{
    while (!r->finished && r->step < r->s->nblocks) {
        const struct scn_block *b = &r->s->blocks[r->step];
        if (b->kind == SCN_TIME && r->sut == RUNNER_SUT_POSTFIX) {
            run_time_passes_postfix(r, b);
            return;
        }
        if (b->kind == SCN_TIME) {
            run_time_passes(r, b);
            return;
        }
        if (b->kind == SCN_CHANGE_MX)
            run_change_mx(r, b);
        if (b->kind == SCN_CHANGE_DNS)
            run_change_dns(r, b);
        if (b->kind == SCN_ADMIN) {
            run_admin(r, b);
            run_observe_state(r, b->line);
        }
        if (b->kind == SCN_SESSION) {
            run_session_start(r, b);
            return;
        }
        if (b->kind == SCN_EXPECT) {
            strbuf_printf(&r->res->transcript, "== [expect] (line %d)\n",
                          b->line);
            r->xi = 0;
            run_arm_deadline(r);
            run_expect_advance(r, 0);
            return;
        }
        run_step_next(r);
    }
    if (!r->finished && r->step >= r->s->nblocks) {
        r->finished = 1;
        r->res->status = RUNNER_PASSED;
        event_base_loopbreak(r->base);
    }
}

enum runner_status runner_run(const struct scenario *s, const char *workdir,
                              enum runner_sut sut, struct runner_result *res)
{
    struct run r;
    long long t0 = clock_mono_ms();
    struct timeval recheck = {0, RUNNER_RECHECK_MS * 1000};

    memset(res, 0, sizeof(*res));
    strbuf_init(&res->transcript);
    strbuf_init(&res->observations);
    strbuf_init(&res->steps);
    /* The embedded relay reads the process clock: simulated, so that
     * hours of retries pass in a [time passes] step. Each scenario runs
     * in its own worker process. */
    clock_simulate(0);
    memset(&r, 0, sizeof(r));
    r.s = s;
    r.res = res;
    r.sut = sut;
    if (sut == RUNNER_SUT_REMOTE) {
        const struct scn_block *b = run_needs_own_sut(s);
        if (b != NULL) {
            res->status = RUNNER_SKIPPED;
            snprintf(res->message, sizeof(res->message),
                     "%s:%d: needs its own system under test (this block "
                     "configures or inspects it); %s runs black-box "
                     "scenarios only",
                     s->path, b->line, run_remote_url);
            return res->status;
        }
    }
    r.base = event_base_new();
    r.workdir = xstrdup(workdir);
    r.confdir = xasprintf("%s/config", workdir);
    r.maillog = xasprintf("%s/maillog", workdir);
    strlist_init(&r.var_names);
    strlist_init(&r.var_values);
    r.deadline = evtimer_new(r.base, run_on_deadline, &r);
    r.time_timer = evtimer_new(r.base, run_on_time_passed, &r);
    /* Re-look at waiting expectations now and then as well as on every
     * lab event: a bounded re-check of a real condition, not a sleep. */
    r.recheck = event_new(r.base, -1, EV_PERSIST, run_on_recheck, &r);
    evtimer_add(r.recheck, &recheck);
    r.step_t0 = clock_mono_ms();
    if (run_setup(&r) == 0) {
        run_next_step(&r);
        if (!r.finished)
            event_base_dispatch(r.base);
    }
    /* What the fake MX hosts received stays with the work directory
     * (kept when the scenario fails), one JSON object per message. */
    if (r.mx != NULL && fakemx_message_count(r.mx) > 0) {
        char *path = xasprintf("%s/fakemx.jsonl", workdir);
        FILE *fp = fopen(path, "w");
        for (size_t i = 0; fp && i < fakemx_message_count(r.mx); i++)
            fakemx_message_write_json(fakemx_message_at(r.mx, i), fp);
        if (fp != NULL)
            fclose(fp);
        free(path);
    }
    /* One teardown path, whatever happened. */
    run_session_close(&r);
    SSL_CTX_free(r.tls_ctx);
    event_free(r.deadline);
    event_free(r.time_timer);
    event_free(r.recheck);
    relay_free(r.relay);
    pfsut_stop(r.pf);
    if (r.sut == RUNNER_SUT_POSTFIX && r.queuedir != NULL)
        fs_rm_rf(r.queuedir);
    free(r.queuedir);
    fakemx_free(r.mx);
    fakedns_free(r.dns);
    event_base_free(r.base);
    strlist_clear(&r.var_names);
    strlist_clear(&r.var_values);
    free(r.mxhosts);
    free(r.svc_ports);
    free(r.master_extra);
    free(r.workdir);
    free(r.confdir);
    free(r.maillog);
    res->seconds = (double)(clock_mono_ms() - t0) / 1000.0;
    return res->status;
}
