/*
 * sut_remote.c — a server that is already running, named by a URL:
 * smtp://HOST[:PORT] (port 25 by default) or smtps://HOST[:PORT] (465,
 * TLS from the first byte, RFC 8314 section 3.3). The lab can neither
 * configure, clock, watch nor administer it: only sessions are played,
 * and the lab's fakes are started for callers that point it at them.
 */
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "mxlab/strutil.h"
#include "sut.h"

static const struct {
    const char *scheme;
    int port, tls;
} sut_remote_schemes[] = {
    {"smtp://", 25, 0},
    {"smtps://", 465, 1},
};

/* "HOST", "HOST:PORT", "[v6]", "[v6]:PORT" into host and *port. */
static int sut_remote_hostport(const char *hp, char *host, size_t hostlen,
                               long *port)
{
    const char *end, *colon;

    if (*hp == '[') {
        hp++;
        end = strchr(hp, ']');
        colon = end ? end + 1 : NULL;
        if (colon != NULL && *colon == '\0')
            colon = NULL;
        else if (colon == NULL || *colon != ':')
            return -1;
    } else {
        colon = strrchr(hp, ':');
        end = colon ? colon : hp + strlen(hp);
    }
    if (end == NULL || end == hp || (size_t)(end - hp) >= hostlen)
        return -1;
    if (colon != NULL &&
        (str_to_long(colon + 1, port) < 0 || *port < 1 || *port > 65535))
        return -1;
    memcpy(host, hp, (size_t)(end - hp));
    host[end - hp] = '\0';
    return 0;
}

int sut_remote_parse(const char *arg, struct sut_spec *out, char *err,
                     size_t errlen)
{
    char host[256];
    struct addrinfo hints, *ai = NULL;
    const char *hp = NULL;
    size_t k;
    long port;
    int rc;

    for (k = 0; k < sizeof(sut_remote_schemes) / sizeof(*sut_remote_schemes);
         k++)
        if ((hp = str_casestart(arg, sut_remote_schemes[k].scheme)) != NULL)
            break;
    if (hp == NULL)
        return -2; /* not a URL of ours */
    port = sut_remote_schemes[k].port;
    if (sut_remote_hostport(hp, host, sizeof(host), &port) < 0) {
        snprintf(err, errlen,
                 "%s: expected smtp://HOST[:PORT] or smtps://HOST[:PORT]", arg);
        return -1;
    }
    memset(&hints, 0, sizeof(hints));
    hints.ai_socktype = SOCK_STREAM;
    rc = getaddrinfo(host, NULL, &hints, &ai);
    if (rc != 0 || ai == NULL) {
        snprintf(err, errlen, "%s: %s", host, gai_strerror(rc));
        return -1;
    }
    memset(out, 0, sizeof(*out));
    out->ops = &sut_remote_ops;
    netaddr_from_sa(&out->addr, ai->ai_addr, ai->ai_addrlen);
    freeaddrinfo(ai);
    netaddr_set_port(&out->addr, (int)port);
    out->tls = sut_remote_schemes[k].tls;
    snprintf(out->name, sizeof(out->name), "%s%s%s%s:%ld",
             sut_remote_schemes[k].scheme, strchr(host, ':') ? "[" : "", host,
             strchr(host, ':') ? "]" : "", port);
    return 0;
}

const struct sut_ops sut_remote_ops = {
    .name = "remote",
    .caps = 0,
};
