/*
 * resolve.h — the address resolver of Postfix's trivial-rewrite
 * (ADDRESS_REWRITING_README, "Address resolution"): strip this host's
 * domains, take routing operators in the local part ("%", "!", a quoted
 * "@") as routes, and say whether the address names its own route.
 * Knows nothing of the relay object: which domains are local is asked
 * through a callback, so the rules are unit-tested alone.
 */
#ifndef RELAY_RESOLVE_H
#define RELAY_RESOLVE_H

#include <stddef.h>

/* Longer addresses (SMTP allows 256 bytes) are a syntax error. */
#define RESOLVE_ADDR_MAX 1024

/* 1 if domain (no trailing dot, or "[literal]") is this host's. */
typedef int resolve_local_fn(void *arg, const char *domain);

/* The main.cf parameters that decide resolution (postconf(5)). */
struct resolve_opts {
    int allow_percent_hack;       /* user%domain is user@domain */
    int swap_bangpath;            /* site!user is user@site */
    int resolve_dequoted_address; /* look for routes in a quoted local part */
    int resolve_null_domain;      /* user@ is user */
    int resolve_numeric_domain;   /* user@1.2.3.4 is user@[1.2.3.4] */
    int append_at_myorigin;       /* user is user@$myorigin */
    int append_dot_mydomain;      /* user@host is user@host.$mydomain */
    const char *myhostname, *myorigin, *mydomain;
    resolve_local_fn *is_local;
    void *arg;
};

enum {
    RESOLVE_FLAG_ROUTED = 1 << 0, /* the local part holds a route */
    RESOLVE_FLAG_ERROR = 1 << 1,  /* bad syntax: 501 5.1.3 */
};

struct resolve_result {
    char addr[RESOLVE_ADDR_MAX]; /* user@domain, internal (unquoted) form */
    const char *domain;          /* into addr: after its last '@' */
    int local;                   /* the domain is this host's */
    int flags;                   /* RESOLVE_FLAG_* */
};

/* Resolve an address in internal form (resolve_internalize) into res. */
void resolve_addr(const struct resolve_opts *o, const char *addr,
                  struct resolve_result *res);

/* RFC 5321 form (quoted strings, backslash escapes) to Postfix's internal
 * form (the text the quotes held). 0, or -1 if it does not fit. */
int resolve_internalize(const char *ext, char *out, size_t len);

/* Internal form to RFC 5321 form: the local part (before the last '@')
 * quoted when it is not a dot-string (RFC 5321 section 4.1.2), as
 * Postfix's quote_822_local() does. 0, or -1 if it does not fit. */
int resolve_externalize(const char *addr, char *out, size_t len);

#endif
