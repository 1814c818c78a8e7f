/*
 * netaddr.c — literal socket addresses, CIDR networks and non-blocking
 * sockets. See netaddr.h.
 */
#include "mxlab/netaddr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

#include "mxlab/strutil.h"

static int netaddr_parse_port(const char *s, int *port)
{
    long v;

    if (str_to_long(s, &v) < 0 || v < 0 || v > 65535)
        return -1;
    *port = (int)v;
    return 0;
}

static int netaddr_set_ip(struct netaddr *out, const char *ip, int port)
{
    struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;

    memset(out, 0, sizeof(*out));
    if (inet_pton(AF_INET, ip, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((unsigned short)port);
        out->len = sizeof(*sin);
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((unsigned short)port);
        out->len = sizeof(*sin6);
        return 0;
    }
    return -1;
}

int netaddr_parse(const char *s, int default_port, struct netaddr *out)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *colon;
    int port = default_port;
    size_t hl;

    if (s == NULL)
        return -1;
    while (str_isspace((unsigned char)*s))
        s++;
    if (*s == '[') {
        const char *end = strchr(s, ']');
        if (end == NULL)
            return -1;
        hl = (size_t)(end - s - 1);
        if (hl >= sizeof(host))
            return -1;
        memcpy(host, s + 1, hl);
        host[hl] = '\0';
        if (end[1] == ':') {
            if (netaddr_parse_port(end + 2, &port) < 0)
                return -1;
        } else if (end[1] != '\0') {
            return -1;
        }
        return netaddr_set_ip(out, host, port);
    }
    colon = strchr(s, ':');
    if (colon != NULL && strchr(colon + 1, ':') == NULL) {
        hl = (size_t)(colon - s);
        if (hl >= sizeof(host))
            return -1;
        memcpy(host, s, hl);
        host[hl] = '\0';
        if (netaddr_parse_port(colon + 1, &port) < 0)
            return -1;
        return netaddr_set_ip(out, host, port);
    }
    if (strlen(s) >= sizeof(host))
        return -1;
    return netaddr_set_ip(out, s, port);
}

int netaddr_parse_endpoint(const char *spec, struct netaddr *out)
{
    struct sockaddr_un *sun = (struct sockaddr_un *)&out->ss;
    size_t n;

    memset(out, 0, sizeof(*out));
    if (strncmp(spec, "inet:", 5) == 0)
        return netaddr_parse(spec + 5, 0, out) == 0 && netaddr_port(out) > 0
                   ? 0
                   : -1;
    if (strncmp(spec, "unix:", 5) != 0 || (n = strlen(spec + 5)) == 0 ||
        n >= sizeof(sun->sun_path))
        return -1;
    sun->sun_family = AF_UNIX;
    memcpy(sun->sun_path, spec + 5, n + 1);
    out->len = (socklen_t)sizeof(*sun);
    return 0;
}

void netaddr_from_sa(struct netaddr *na, const struct sockaddr *sa,
                     socklen_t len)
{
    memset(na, 0, sizeof(*na));
    if (len > sizeof(na->ss))
        len = sizeof(na->ss);
    memcpy(&na->ss, sa, len);
    na->len = len;
}

int netaddr_family(const struct netaddr *na)
{
    return na->ss.ss_family;
}

int netaddr_port(const struct netaddr *na)
{
    if (na->ss.ss_family == AF_INET)
        return ntohs(((const struct sockaddr_in *)&na->ss)->sin_port);
    if (na->ss.ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)&na->ss)->sin6_port);
    return 0;
}

void netaddr_set_port(struct netaddr *na, int port)
{
    if (na->ss.ss_family == AF_INET)
        ((struct sockaddr_in *)&na->ss)->sin_port = htons((unsigned short)port);
    else if (na->ss.ss_family == AF_INET6)
        ((struct sockaddr_in6 *)&na->ss)->sin6_port =
            htons((unsigned short)port);
}

const char *netaddr_ip(const struct netaddr *na, char *buf, size_t len)
{
    const void *a;

    if (na->ss.ss_family == AF_INET)
        a = &((const struct sockaddr_in *)&na->ss)->sin_addr;
    else if (na->ss.ss_family == AF_INET6)
        a = &((const struct sockaddr_in6 *)&na->ss)->sin6_addr;
    else {
        snprintf(buf, len, "unknown");
        return buf;
    }
    if (inet_ntop(na->ss.ss_family, a, buf, (socklen_t)len) == NULL)
        snprintf(buf, len, "unknown");
    return buf;
}

const char *netaddr_str(const struct netaddr *na, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];

    netaddr_ip(na, ip, sizeof(ip));
    if (na->ss.ss_family == AF_INET6)
        snprintf(buf, len, "[%s]:%d", ip, netaddr_port(na));
    else
        snprintf(buf, len, "%s:%d", ip, netaddr_port(na));
    return buf;
}

int netaddr_equal(const struct netaddr *a, const struct netaddr *b)
{
    return a->len == b->len && memcmp(&a->ss, &b->ss, a->len) == 0;
}

static int netaddr_socket(int family, int type)
{
    return socket(family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
}

int netaddr_listen_tcp(const struct netaddr *na, int backlog)
{
    int one = 1;
    int fd = netaddr_socket(na->ss.ss_family, SOCK_STREAM);

    if (fd < 0)
        return -1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (na->ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&na->ss, na->len) < 0 ||
        listen(fd, backlog) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int netaddr_bind_udp(const struct netaddr *na)
{
    int one = 1;
    int fd = netaddr_socket(na->ss.ss_family, SOCK_DGRAM);

    if (fd < 0)
        return -1;
    if (na->ss.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (bind(fd, (const struct sockaddr *)&na->ss, na->len) < 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    return fd;
}

int netaddr_connect_tcp(const struct netaddr *dst, const struct netaddr *src)
{
    int fd = netaddr_socket(dst->ss.ss_family, SOCK_STREAM);

    if (fd < 0)
        return -1;
    if (src != NULL) {
        struct netaddr s = *src;
        netaddr_set_port(&s, 0);
        if (bind(fd, (const struct sockaddr *)&s.ss, s.len) < 0)
            goto fail;
    }
    if (connect(fd, (const struct sockaddr *)&dst->ss, dst->len) < 0 &&
        errno != EINPROGRESS)
        goto fail;
    return fd;
fail:;
    int saved = errno;
    close(fd);
    errno = saved;
    return -1;
}

int cidr_parse(const char *s, struct cidr *out)
{
    char buf[INET6_ADDRSTRLEN + 8];
    const char *slash;
    const char *ip = buf;
    long bits = -1;
    size_t len;

    memset(out, 0, sizeof(*out));
    slash = strchr(s, '/');
    len = slash ? (size_t)(slash - s) : strlen(s);
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    if (buf[0] == '[') {
        if (len < 3 || buf[len - 1] != ']')
            return -1;
        buf[len - 1] = '\0';
        ip = buf + 1;
    }
    if (slash != NULL && (str_to_long(slash + 1, &bits) < 0))
        return -1;
    if (inet_pton(AF_INET, ip, out->addr) == 1) {
        out->family = AF_INET;
        if (bits < 0)
            bits = 32;
        if (bits > 32)
            return -1;
    } else if (inet_pton(AF_INET6, ip, out->addr) == 1) {
        out->family = AF_INET6;
        if (bits < 0)
            bits = 128;
        if (bits > 128)
            return -1;
    } else {
        return -1;
    }
    out->bits = (int)bits;
    /* Clear host bits: Postfix warns "non-null host address bits" and
     * uses the network. */
    int nbytes = out->family == AF_INET ? 4 : 16;
    for (int i = 0; i < nbytes; i++) {
        int keep = out->bits - i * 8;
        if (keep >= 8)
            continue;
        out->addr[i] &= keep <= 0 ? 0 : (unsigned char)(0xff << (8 - keep));
    }
    return 0;
}

int cidr_match(const struct cidr *c, const struct netaddr *na)
{
    const unsigned char *a;
    int family = na->ss.ss_family;

    if (family == AF_INET) {
        a = (const unsigned char *)&((const struct sockaddr_in *)&na->ss)
                ->sin_addr;
    } else if (family == AF_INET6) {
        const struct in6_addr *a6 =
            &((const struct sockaddr_in6 *)&na->ss)->sin6_addr;
        a = (const unsigned char *)a6;
        if (IN6_IS_ADDR_V4MAPPED(a6) && c->family == AF_INET) {
            a += 12;
            family = AF_INET;
        }
    } else {
        return 0;
    }
    if (family != c->family)
        return 0;
    int full = c->bits / 8, rest = c->bits % 8;
    if (memcmp(a, c->addr, (size_t)full) != 0)
        return 0;
    if (rest == 0)
        return 1;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[full] & mask) == c->addr[full];
}

const char *cidr_str(const struct cidr *c, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN];

    if (inet_ntop(c->family, c->addr, ip, sizeof(ip)) == NULL)
        snprintf(ip, sizeof(ip), "?");
    snprintf(buf, len, "%s/%d", ip, c->bits);
    return buf;
}
