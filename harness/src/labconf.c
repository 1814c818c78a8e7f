/*
 * labconf.c — the files the lab writes for its SUT. See labconf.h.
 * Configuration is readable as in /etc/postfix; keys are readable by
 * their owner only (both SUTs read them as root, or as the user running
 * mxlab).
 */
#include "labconf.h"

#include "daemon.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mxlab/config.h"
#include "mxlab/fsutil.h"
#include "mxlab/strutil.h"
#include "mxlab/tlsutil.h"

int sut_fail(struct sut_env *env, int line, const char *fmt, ...)
{
    char msg[1600];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    snprintf(env->err, env->errlen, "%s:%d: %s", env->s->path, line, msg);
    return -1;
}

long sut_time_scale(const struct sut_env *env)
{
    return env->s->postfix_time_scale > 0 ? env->s->postfix_time_scale : 60;
}

/* The lowest port the kernel hands out to clients (bind to port 0,
 * connect): ip_local_port_range's first number, 32768 by default. */
static int labconf_ephemeral_low(void)
{
    char *text = NULL;
    long low = 32768;

    if (fs_read_file("/proc/sys/net/ipv4/ip_local_port_range", &text, NULL) ==
        0) {
        text[strcspn(text, " \t\n")] = '\0';
        if (str_to_long(text, &low) < 0 || low < 2048 || low > 65535)
            low = 32768;
    }
    free(text);
    return (int)low;
}

/* 1 if port is free on every address for both TCP and UDP: bound to
 * the wildcard address, without SO_REUSEADDR, which fails while any
 * socket (a listener, a client, a TCP TIME_WAIT) holds it anywhere. */
static int labconf_port_free(int port)
{
    static const int types[] = {SOCK_STREAM, SOCK_DGRAM};
    struct sockaddr_in sin;
    int ok = 1;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_ANY);
    sin.sin_port = htons((uint16_t)port);
    for (size_t i = 0; i < sizeof(types) / sizeof(types[0]) && ok; i++) {
        int fd = socket(AF_INET, types[i], 0);
        ok = fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
        if (fd >= 0)
            close(fd);
    }
    return ok;
}

int labconf_free_port(int type)
{
    /* Below the ephemeral range, chosen at random, never twice in this
     * process (the last LABCONF_GIVEN): a port the kernel gave to some
     * test's client socket, or the port another lab probed a moment
     * ago, is not taken between this probe and the daemon's bind (the
     * race of "bind to port 0, close, bind again" under ctest -j). */
    enum { LABCONF_GIVEN = 512 };
    static int given[LABCONF_GIVEN];
    static size_t ngiven;
    int low = 10000, high = labconf_ephemeral_low() - 1;

    (void)type; /* free for both */
    if (high - low < 1000)
        low = 1024;
    for (int tries = 0; tries < 1000; tries++) {
        uint32_t r = 0;
        if (getrandom(&r, sizeof(r), 0) != (ssize_t)sizeof(r))
            r = ((uint32_t)getpid() + (uint32_t)tries) * 2654435761u;
        int port = low + (int)(r % (uint32_t)(high - low + 1)), seen = 0;
        for (size_t i = 0; i < ngiven && i < LABCONF_GIVEN && !seen; i++)
            seen = given[i] == port;
        if (seen || !labconf_port_free(port))
            continue;
        given[ngiven++ % LABCONF_GIVEN] = port;
        return port;
    }
    return -1;
}

int labconf_write(struct sut_env *env, const char *name, const char *text,
                  mode_t mode)
{
    char *path = xasprintf("%s/%s", env->confdir, name);
    int rc = fs_write_atomic(path, text, strlen(text));

    if (rc == 0)
        chmod(path, mode);
    if (rc < 0)
        sut_fail(env, 1, "cannot write %s: %s", path, strerror(errno));
    free(path);
    return rc;
}

/* [tls cert NAME]: a new self-signed key and certificate, as NAME.pem
 * (the key, then the certificate: what smtpd_tls_cert_file alone or
 * smtpd_tls_chain_files takes), NAME.key and NAME.crt. */
static int labconf_cert(struct sut_env *env, const struct scn_block *b)
{
    static const struct {
        const char *suffix;
        int with_key, with_crt;
        mode_t mode;
    } files[] = {{"pem", 1, 1, 0600}, {"key", 1, 0, 0600}, {"crt", 0, 1, 0644}};
    EVP_PKEY *key = NULL;
    X509 *crt = NULL;
    struct strbuf pem;
    char err[300], *name;
    int rc = 0;

    if (tls_selfsigned(b->cert_cn ? b->cert_cn : "localhost",
                       b->cert_rsa ? TLS_KEY_RSA : TLS_KEY_EC, &key, &crt, err,
                       sizeof(err)) < 0)
        return sut_fail(env, b->line, "[tls cert %s]: %s", b->arg, err);
    for (size_t i = 0; i < sizeof(files) / sizeof(files[0]) && rc == 0; i++) {
        strbuf_init(&pem);
        tls_pem(&pem, files[i].with_key ? key : NULL,
                files[i].with_crt ? crt : NULL);
        name = xasprintf("%s.%s", b->arg, files[i].suffix);
        rc = labconf_write(env, name, pem.buf ? pem.buf : "", files[i].mode);
        free(name);
        strbuf_clear(&pem);
    }
    EVP_PKEY_free(key);
    X509_free(crt);
    return rc;
}

int labconf_files(struct sut_env *env)
{
    for (size_t i = 0; i < env->s->nblocks; i++) {
        const struct scn_block *b = &env->s->blocks[i];
        if (b->kind == SCN_FILE &&
            labconf_write(env, b->arg, b->text ? b->text : "", 0644) < 0)
            return -1;
        if (b->kind == SCN_TLS_CERT && labconf_cert(env, b) < 0)
            return -1;
    }
    return 0;
}

/* Postfix's clock cannot be moved: when the scenario lets time pass, its
 * queue timers are divided by the time scale (whole seconds, at least 1),
 * and [time passes D] waits D / scale (anvil_rate_time_unit too: the
 * client rate limits). The values are the scenario's, or
 * Postfix 3.7's defaults. Appended to sb (main.cf: the last setting wins). */
int labconf_compress_timers(struct sut_env *env, struct strbuf *sb)
{
    static const struct {
        const char *name, *def;
    } timers[] = {
        {"minimal_backoff_time", "300s"}, {"maximal_backoff_time", "4000s"},
        {"queue_run_delay", "300s"},      {"maximal_queue_lifetime", "5d"},
        {"bounce_queue_lifetime", "5d"},  {"delay_warning_time", "0h"},
        {"anvil_rate_time_unit", "60s"},
    };
    struct config *cf;
    char err[512];
    long scale = sut_time_scale(env);
    int rc = 0, any = 0;

    for (size_t i = 0; i < env->s->nblocks; i++)
        any |= env->s->blocks[i].kind == SCN_TIME;
    if (!any)
        return 0;
    cf = config_new();
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]); i++)
        config_set_default(cf, timers[i].name, timers[i].def);
    if (config_load_text(cf, "main.cf", sb->buf ? sb->buf : "", err,
                         sizeof(err)) < 0) {
        config_free(cf);
        return 0; /* Postfix itself will say what is wrong */
    }
    strbuf_printf(sb, "# Postfix's timers divided by %ld for [time passes]\n",
                  scale);
    for (size_t i = 0; i < sizeof(timers) / sizeof(timers[0]) && rc == 0; i++) {
        long v;
        if (str_to_seconds(config_get(cf, timers[i].name), 's', &v) < 0) {
            rc = sut_fail(env, 1, "%s: bad time value \"%s\"", timers[i].name,
                          config_get(cf, timers[i].name));
        } else if (v > 0) {
            long scaled = (v + scale / 2) / scale;
            strbuf_printf(sb, "%s = %lds\n", timers[i].name,
                          scaled < 1 ? 1 : scaled);
        }
    }
    config_free(cf);
    return rc;
}

/* 1 if ip (len bytes) is where a fake MX or a [system] of the scenario
 * listens: at the lab's delivery port (env->mx_port). */
static int labconf_lab_host(const struct sut_env *env, const char *ip,
                            size_t len)
{
    for (size_t i = 0; i < env->s->nblocks; i++) {
        const struct scn_block *b = &env->s->blocks[i];
        const char *host = b->kind == SCN_MX       ? b->arg
                           : b->kind == SCN_SYSTEM ? b->ip
                                                   : NULL;
        if (host != NULL && strlen(host) == len && memcmp(host, ip, len) == 0)
            return 1;
    }
    return 0;
}

char *labconf_rewrite_ports(const struct sut_env *env, const char *text)
{
    struct strbuf sb;
    const char *p = text, *open;

    strbuf_init(&sb);
    while ((open = strchr(p, '[')) != NULL) {
        const char *close = strchr(open, ']');
        size_t digits =
            close && close[1] == ':' ? strspn(close + 2, "0123456789") : 0;
        if (digits == 0 ||
            !labconf_lab_host(env, open + 1, (size_t)(close - open - 1))) {
            strbuf_append(&sb, p, (size_t)(open - p) + 1);
            p = open + 1;
            continue;
        }
        strbuf_append(&sb, p, (size_t)(close - p) + 2);
        strbuf_printf(&sb, "%d", env->mx_port);
        p = close + 2 + digits;
    }
    strbuf_puts(&sb, p);
    return sb.buf ? strbuf_detach(&sb) : xstrdup("");
}

int labconf_write_maincf(struct sut_env *env,
                         int (*tail)(struct sut_env *, struct strbuf *))
{
    struct strbuf sb;
    int rc = 0;

    strbuf_init(&sb);
    strbuf_printf(&sb,
                  "# generated by mxlab for %s\n"
                  "compatibility_level = 3.6\n"
                  "# the lab's /etc/aliases and mail spool (Maildirs)\n"
                  "alias_maps = hash:$config_directory/aliases\n"
                  "alias_database = hash:$config_directory/aliases\n"
                  "mail_spool_directory = %s/mail/\n",
                  env->s->path, env->workdir);
    env->maincf_header_lines = 6;
    {
        /* The edited main.cf ([change main.cf]) or the scenario's, with
         * [daemon] endpoints as written replaced by where they listen. */
        const char *maincf = env->maincf_text != NULL ? env->maincf_text
                             : env->maincf != NULL    ? env->maincf->text
                                                      : NULL;
        if (maincf != NULL) {
            char *text = daemons_rewrite(env->daemons, maincf);
            char *ported = labconf_rewrite_ports(env, text);
            strbuf_puts(&sb, ported);
            free(ported);
            free(text);
        }
    }
    strbuf_printf(&sb,
                  "# isolation, set by the harness\n"
                  "queue_directory = %s\n"
                  "data_directory = %s/data\n"
                  "maillog_file = %s\n"
                  "smtp_tcp_port = %d\n"
                  "lmtp_tcp_port = %d\n",
                  env->queuedir, env->workdir, env->maillog, env->mx_port,
                  env->mx_port);
    if (tail != NULL)
        rc = tail(env, &sb);
    if (rc == 0)
        rc = labconf_write(env, "main.cf", sb.buf, 0644);
    strbuf_clear(&sb);
    return rc;
}

/* The parameter a main.cf line sets ("name = value" at column 1), into
 * name (NUL-terminated); 0 if the line sets none. */
static int labconf_param_name(const char *line, char *name, size_t size)
{
    size_t n = 0;

    while (line[n] != '\0' && line[n] != '\n' && line[n] != ' ' &&
           line[n] != '\t' && line[n] != '=' && line[n] != '#')
        n++;
    if (n == 0 || n >= size)
        return 0;
    memcpy(name, line, n);
    name[n] = '\0';
    line += n;
    line += strspn(line, " \t");
    return *line == '=';
}

/* The logical lines of text: each starts at a line that is not blank, a
 * comment or indented; its indented lines follow it. */
static void labconf_logical(const char *text, struct strlist *out)
{
    struct strbuf cur;

    strbuf_init(&cur);
    for (const char *l = text; *l != '\0';) {
        size_t len = strcspn(l, "\n");
        int cont = (*l == ' ' || *l == '\t') && l[strspn(l, " \t")] != '\n' &&
                   l[strspn(l, " \t")] != '\0' && l[strspn(l, " \t")] != '#';
        if (!cont && cur.len > 0) {
            strlist_push(out, cur.buf);
            strbuf_reset(&cur);
        }
        strbuf_append(&cur, l, len);
        strbuf_putc(&cur, '\n');
        l += len + (l[len] == '\n');
    }
    if (cur.len > 0)
        strlist_push(out, cur.buf);
    strbuf_clear(&cur);
}

char *labconf_maincf_merge(const char *text, const char *change)
{
    struct strlist old, add;
    struct strbuf sb;
    char a[128], b[128];
    char *used;

    strlist_init(&old);
    strlist_init(&add);
    strbuf_init(&sb);
    labconf_logical(text, &old);
    labconf_logical(change, &add);
    used = xcalloc(add.n + 1, 1);
    for (size_t i = 0; i < old.n; i++) {
        size_t k = add.n;
        if (labconf_param_name(old.v[i], a, sizeof(a)))
            for (k = 0; k < add.n; k++)
                if (labconf_param_name(add.v[k], b, sizeof(b)) &&
                    strcmp(a, b) == 0)
                    break;
        if (k < add.n && !used[k]) {
            strbuf_puts(&sb, add.v[k]);
            used[k] = 1;
        } else if (k == add.n) {
            strbuf_puts(&sb, old.v[i]);
        } /* else a second setting of a replaced name: dropped */
    }
    for (size_t k = 0; k < add.n; k++)
        if (!used[k] && labconf_param_name(add.v[k], b, sizeof(b)))
            strbuf_puts(&sb, add.v[k]);
    free(used);
    strlist_clear(&old);
    strlist_clear(&add);
    return sb.buf ? strbuf_detach(&sb) : xstrdup("");
}

int labconf_master_services(struct sut_env *env, int **ports, size_t *nports)
{
    struct strbuf sb;
    int rc = 0;

    strbuf_init(&sb);
    for (size_t i = 0; i < env->s->nblocks && rc == 0; i++) {
        const struct scn_block *b = &env->s->blocks[i];
        for (size_t k = 0; b->kind == SCN_MASTERCF && k < b->nitems; k++) {
            const char *line = b->items[k].text;
            size_t index = *nports;
            char *ported = labconf_rewrite_ports(env, line);
            if (scenario_service(env->s, NULL, &index) != &b->items[k]) {
                strbuf_printf(&sb, "%s\n", ported);
                free(ported);
                continue;
            }
            /* Whatever its name says (submission, 127.0.0.1:2587): a
             * free port, so that parallel runs never collide. */
            int port = labconf_free_port(SOCK_STREAM);
            if (port < 0) {
                rc = sut_fail(env, b->items[k].line,
                              "no free loopback port: %s", strerror(errno));
                free(ported);
                break;
            }
            *ports = xrealloc(*ports, (*nports + 1) * sizeof(**ports));
            (*ports)[(*nports)++] = port;
            strbuf_printf(&sb, "%s:%d%s\n", SUT_IP, port,
                          ported + strcspn(ported, " \t"));
            free(ported);
        }
    }
    env->master_extra = sb.buf ? strbuf_detach(&sb) : xstrdup("");
    strbuf_clear(&sb);
    return rc;
}

/* Local delivery's files: the passwd table is the host's users plus the
 * scenario's [file passwd] lines (the relay reads it as
 * mxlab_passwd_file, Postfix sees it as /etc/passwd in its namespace); an
 * empty aliases file unless the scenario has one; the mail spool, where
 * each user's Maildir is made by the delivery (as the user, for Postfix:
 * hence mode 1777, as /var/mail's sticky bit). */
int labconf_write_local(struct sut_env *env)
{
    const char *users = NULL;
    int have_aliases = 0, rc;
    char *host = NULL, *spool;
    struct strbuf sb;

    for (size_t i = 0; i < env->s->nblocks; i++) {
        const struct scn_block *b = &env->s->blocks[i];
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
    rc = labconf_write(env, "passwd", sb.buf ? sb.buf : "", 0644);
    strbuf_clear(&sb);
    if (rc == 0 && !have_aliases)
        rc = labconf_write(env, "aliases", "", 0644);
    spool = xasprintf("%s/mail", env->workdir);
    if (rc == 0 && (fs_mkdir_p(spool, 0755) < 0 || chmod(spool, 01777) < 0))
        rc = sut_fail(env, 1, "%s: %s", spool, strerror(errno));
    free(spool);
    return rc;
}

int labconf_config_error(struct sut_env *env, const char *err)
{
    const struct scn_block *maincf = env->maincf;
    char *prefix = xasprintf("%s/main.cf:", env->confdir);
    long n;
    int line = maincf ? maincf->line : 1;

    if (maincf != NULL && strncmp(err, prefix, strlen(prefix)) == 0) {
        const char *num = err + strlen(prefix);
        char buf[16];
        size_t k = strspn(num, "0123456789");
        snprintf(buf, sizeof(buf), "%.*s", (int)(k < 15 ? k : 15), num);
        if (str_to_long(buf, &n) == 0 && n > env->maincf_header_lines) {
            free(prefix);
            return sut_fail(
                env, maincf->text_line + (int)n - env->maincf_header_lines - 1,
                "[main.cf]%s", num + k);
        }
    }
    free(prefix);
    return sut_fail(env, line, "%s", err);
}
