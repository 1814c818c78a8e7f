/*
 * resolve.c — trivial-rewrite's resolver rules (ADDRESS_REWRITING_README,
 * postconf(5): allow_percent_hack, swap_bangpath, resolve_dequoted_address,
 * resolve_null_domain, resolve_numeric_domain), worked on strings: the
 * address is a local part (a dot-string, or one quoted string as
 * quote_822_local() makes it) and an optional domain. RFC 5321 section
 * 4.1.2 (Local-part, Quoted-string), RFC 1123 section 5.2.16 ("%" hack).
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>

#include "mxlab/smtp.h"
#include "resolve.h"

/* The address as tok822 would see it: the local part, whether it is one
 * quoted string (routing operators inside it are hidden), the domain. */
struct resolve_state {
    char local[RESOLVE_ADDR_MAX];
    int quoted;
    int has_domain;
    char domain[RESOLVE_ADDR_MAX];
};

/* RFC 822 dot-string, as quote_822_local() judges it (8-bit bytes pass). */
static int resolve_dot_string(const char *p, size_t n)
{
    if (n == 0 || p[0] == '.' || p[n - 1] == '.')
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)p[i];
        if ((c == '.' && i + 1 < n && p[i + 1] == '.') || c == ' ' ||
            c < 0x20 || c == 0x7f || strchr("()<>@,;:\\\"[]", c) != NULL)
            return 0;
    }
    return 1;
}

static void resolve_copy(char *dst, const char *src, size_t n)
{
    if (n >= RESOLVE_ADDR_MAX)
        n = RESOLVE_ADDR_MAX - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* quote_822_local() then tok822_scan_addr(): split at the last '@'. */
static void resolve_split(struct resolve_state *st, const char *addr)
{
    const char *at = strrchr(addr, '@');
    size_t n = at ? (size_t)(at - addr) : strlen(addr);
    char local[RESOLVE_ADDR_MAX];

    resolve_copy(local, addr, n);
    st->quoted = !resolve_dot_string(local, strlen(local));
    memcpy(st->local, local, sizeof(local));
    st->has_domain = at != NULL;
    if (at != NULL)
        resolve_copy(st->domain, at + 1, strlen(at + 1));
    else
        st->domain[0] = '\0';
}

/* Strip one trailing dot, but not from "..", nor a lone "." after '@'. */
static void resolve_strip_dot(char *s)
{
    size_t n = strlen(s);

    if (n >= 2 && s[n - 1] == '.' && s[n - 2] != '.')
        s[n - 1] = '\0';
}

/* rewrite_tree() in the "local" context: bang path, percent hack or
 * @$myorigin for an address without a domain; .$mydomain; trailing dot. */
static void resolve_rewrite(const struct resolve_opts *o,
                            struct resolve_state *st)
{
    char *op;

    if (st->quoted && st->local[0] == '\0' && !st->has_domain)
        return; /* the null address */
    if (!st->has_domain && !st->quoted && o->swap_bangpath &&
        (op = strchr(st->local, '!')) != NULL) {
        char user[RESOLVE_ADDR_MAX];
        resolve_copy(st->domain, st->local, (size_t)(op - st->local));
        resolve_copy(user, op + 1, strlen(op + 1));
        memcpy(st->local, user, sizeof(user));
        st->has_domain = 1;
    } else if (!st->has_domain && !st->quoted && o->allow_percent_hack &&
               (op = strrchr(st->local, '%')) != NULL) {
        resolve_copy(st->domain, op + 1, strlen(op + 1));
        *op = '\0';
        st->has_domain = 1;
    } else if (!st->has_domain && o->append_at_myorigin &&
               o->myorigin[0] != '\0') {
        resolve_copy(st->domain, o->myorigin, strlen(o->myorigin));
        st->has_domain = 1;
    }
    if (o->append_dot_mydomain && o->mydomain[0] != '\0' && st->has_domain &&
        st->domain[0] != '\0' && st->domain[0] != '[' &&
        strchr(st->domain, '.') == NULL &&
        strlen(st->domain) + strlen(o->mydomain) + 1 < RESOLVE_ADDR_MAX) {
        strcat(st->domain, ".");
        strcat(st->domain, o->mydomain);
    }
    if (st->has_domain)
        resolve_strip_dot(st->domain);
    else if (!st->quoted)
        resolve_strip_dot(st->local);
}

/* A quoted local part with a routing operator in it: open it up as
 * resolve_dequoted_address says. 1 if it was opened. */
static int resolve_dequote(const struct resolve_opts *o,
                           struct resolve_state *st)
{
    char *op = NULL, text[RESOLVE_ADDR_MAX];

    if (!o->resolve_dequoted_address || !st->quoted)
        return 0;
    if ((op = strrchr(st->local, '@')) == NULL &&
        !(o->allow_percent_hack && (op = strrchr(st->local, '%')) != NULL) &&
        !(o->swap_bangpath && (op = strrchr(st->local, '!')) != NULL))
        return 0;
    if (*op == '%')
        *op = '@';
    memcpy(text, st->local, sizeof(text));
    if (*op == '@') {
        resolve_split(st, text);
    } else {
        /* site!user: its tokens as they come, operators visible. */
        memcpy(st->local, text, sizeof(text));
        st->quoted = 0;
        st->has_domain = 0;
    }
    return 1;
}

/* The loop of resolve_addr(): strip local domains, follow routes. Returns
 * 1 if it stopped at a remote domain (left in st), 0 if the address is
 * local (*saved: the last local domain stripped, or none). */
static int resolve_loop(const struct resolve_opts *o, struct resolve_state *st,
                        char *saved, int *has_saved, size_t max)
{
    for (size_t loop = 0; loop <= max; loop++) {
        if (st->has_domain)
            resolve_strip_dot(st->domain);
        if (o->resolve_null_domain && st->has_domain && st->domain[0] == '\0')
            st->has_domain = 0;
        if (st->has_domain) {
            if (st->domain[0] != '\0' && !o->is_local(o->arg, st->domain))
                return 1;
            memcpy(saved, st->domain, RESOLVE_ADDR_MAX);
            *has_saved = 1;
            st->has_domain = 0;
        }
        if (!st->quoted &&
            ((o->swap_bangpath && strchr(st->local, '!') != NULL) ||
             (o->allow_percent_hack && strchr(st->local, '%') != NULL))) {
            resolve_rewrite(o, st);
            continue;
        }
        if (resolve_dequote(o, st)) {
            resolve_rewrite(o, st);
            continue;
        }
        /* An empty local part is the local MAILER-DAEMON. */
        if (st->local[0] == '\0') {
            snprintf(st->local, sizeof(st->local), "MAILER-DAEMON");
            st->quoted = 0;
            continue;
        }
        if (!*has_saved) {
            resolve_copy(st->domain, o->myhostname, strlen(o->myhostname));
            st->has_domain = 1;
            continue;
        }
        return 0;
    }
    return -1;
}

/* A bare IPv4 or IPv6 address (valid_hostaddr()). */
static int resolve_hostaddr(const char *s)
{
    unsigned char bin[16];

    return inet_pton(AF_INET, s, bin) == 1 || inet_pton(AF_INET6, s, bin) == 1;
}

/* Non-ASCII domains are judged by the next hop (smtputf8_enable). */
static int resolve_valid_domain(const char *d)
{
    for (const char *p = d; *p != '\0'; p++)
        if ((unsigned char)*p >= 0x80)
            return 1;
    return smtp_valid_hostname(d);
}

/* The result's domain: syntax, a numeric domain, the routed flag. */
static void resolve_finish(const struct resolve_opts *o,
                           struct resolve_result *res)
{
    char *d = strrchr(res->addr, '@') + 1;
    size_t n;

    res->domain = d;
    if (*d == '[') {
        if (!smtp_valid_hostname(d))
            res->flags |= RESOLVE_FLAG_ERROR;
    } else if (!resolve_valid_domain(d)) {
        n = strlen(res->addr);
        if (o->resolve_numeric_domain && resolve_hostaddr(d) &&
            n + 2 < sizeof(res->addr)) {
            memmove(d + 1, d, strlen(d) + 1);
            *d = '[';
            strcat(res->addr, "]");
            if (o->is_local(o->arg, d))
                res->local = 1;
        } else {
            res->flags |= RESOLVE_FLAG_ERROR;
        }
    }
    if (res->flags & RESOLVE_FLAG_ERROR) {
        res->local = 0;
        return;
    }
    /* Routing operators in the local part, even those this host does not
     * honour: the next hop may (a backup MX relaying through a primary). */
    if (strcmp(res->addr + strcspn(res->addr, "@!%") + 1, d) != 0)
        res->flags |= RESOLVE_FLAG_ROUTED;
}

void resolve_addr(const struct resolve_opts *o, const char *addr,
                  struct resolve_result *res)
{
    struct resolve_state st;
    char saved[RESOLVE_ADDR_MAX] = "";
    int has_saved = 0, remote;
    size_t len = strlen(addr);

    memset(res, 0, sizeof(*res));
    if (len >= RESOLVE_ADDR_MAX / 2) {
        snprintf(res->addr, sizeof(res->addr), "@");
        res->domain = res->addr + 1;
        res->flags = RESOLVE_FLAG_ERROR;
        return;
    }
    resolve_split(&st, addr);
    remote = resolve_loop(o, &st, saved, &has_saved, len + 100);
    if (remote < 0) {
        snprintf(res->addr, sizeof(res->addr), "%s", addr);
        res->flags = RESOLVE_FLAG_ERROR;
        if (strchr(res->addr, '@') == NULL)
            snprintf(res->addr, sizeof(res->addr), "@");
        res->domain = strrchr(res->addr, '@') + 1;
        return;
    }
    if (!remote) {
        const char *d = has_saved ? saved : o->myhostname;
        resolve_copy(st.domain, d, strlen(d));
    }
    res->local = !remote;
    size_t ln = strlen(st.local), dn = strlen(st.domain);
    if (ln + dn + 2 > sizeof(res->addr)) {
        snprintf(res->addr, sizeof(res->addr), "@");
        res->domain = res->addr + 1;
        res->flags = RESOLVE_FLAG_ERROR;
        res->local = 0;
        return;
    }
    memcpy(res->addr, st.local, ln);
    res->addr[ln] = '@';
    memcpy(res->addr + ln + 1, st.domain, dn + 1);
    resolve_finish(o, res);
}

int resolve_internalize(const char *ext, char *out, size_t len)
{
    size_t n = 0;
    int quoted = 0;

    for (const char *p = ext; *p != '\0'; p++) {
        if (*p == '"') {
            quoted = !quoted;
            continue;
        }
        if (*p == '\\' && quoted && p[1] != '\0')
            p++;
        if (n + 1 >= len)
            return -1;
        out[n++] = *p;
    }
    out[n] = '\0';
    return 0;
}

int resolve_externalize(const char *addr, char *out, size_t len)
{
    const char *at = strrchr(addr, '@');
    size_t n = at ? (size_t)(at - addr) : strlen(addr), k = 0;

    if (resolve_dot_string(addr, n) || (n == 0 && at != NULL)) {
        if (strlen(addr) >= len)
            return -1;
        memcpy(out, addr, strlen(addr) + 1);
        return 0;
    }
    if (len < 3)
        return -1;
    out[k++] = '"';
    for (size_t i = 0; i < n; i++) {
        if (k + 3 >= len)
            return -1;
        if (addr[i] == '"' || addr[i] == '\\')
            out[k++] = '\\';
        out[k++] = addr[i];
    }
    out[k++] = '"';
    if (k + strlen(addr + n) >= len)
        return -1;
    memcpy(out + k, addr + n, strlen(addr + n) + 1);
    return 0;
}
