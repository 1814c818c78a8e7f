/*
 * netaddr.h — socket addresses and CIDR networks: parsing "host:port",
 * "[v6]:port", Postfix's "[v6]/len" networks, matching, and the few socket
 * calls every component needs (listening and connecting, non-blocking).
 * Literal addresses only: name resolution is the DNS module's job.
 */
#ifndef MXLAB_NETADDR_H
#define MXLAB_NETADDR_H

#include <stddef.h>
#include <sys/socket.h>

struct netaddr {
    struct sockaddr_storage ss;
    socklen_t len;
};

/* "1.2.3.4", "1.2.3.4:25", "[::1]:25", "::1" (a bare v6 has no port).
 * default_port applies when none is given. Returns 0, or -1 if malformed. */
int netaddr_parse(const char *s, int default_port, struct netaddr *out);
/* A Postfix service endpoint: "inet:HOST:PORT" (a literal address and
 * a port) or "unix:PATH" (AF_UNIX). Returns 0, or -1 if malformed. */
int netaddr_parse_endpoint(const char *spec, struct netaddr *out);
/* Fill from a sockaddr. */
void netaddr_from_sa(struct netaddr *na, const struct sockaddr *sa,
                     socklen_t len);
int netaddr_port(const struct netaddr *na);
void netaddr_set_port(struct netaddr *na, int port);
int netaddr_family(const struct netaddr *na);
/* Address only, no port ("127.0.0.1", "::1"); returns buf. */
const char *netaddr_ip(const struct netaddr *na, char *buf, size_t len);
/* "127.0.0.1:25" or "[::1]:25"; returns buf. */
const char *netaddr_str(const struct netaddr *na, char *buf, size_t len);
int netaddr_equal(const struct netaddr *a, const struct netaddr *b);

/* Non-blocking, close-on-exec, SO_REUSEADDR listening TCP socket.
 * Returns the fd or -1 with errno. */
int netaddr_listen_tcp(const struct netaddr *na, int backlog);
/* Non-blocking, close-on-exec UDP socket bound to na; fd or -1. */
int netaddr_bind_udp(const struct netaddr *na);
/* Non-blocking TCP connect from an optional source address (may be NULL);
 * returns the fd (connection in progress) or -1 with errno. */
int netaddr_connect_tcp(const struct netaddr *dst, const struct netaddr *src);

struct cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned char addr[16];
    int bits;
};

/* "10.0.0.0/8", "1.2.3.4" (/32), "[::1]/128", "[2002:8ac3:8000::]/35",
 * "::1". Host bits outside the mask are cleared, as Postfix warns and
 * does. Returns 0 or -1. */
int cidr_parse(const char *s, struct cidr *out);
/* 1 if the address falls within the network (v4-mapped v6 compares as v4). */
int cidr_match(const struct cidr *c, const struct netaddr *na);
/* "10.0.0.0/8" or "2002:8ac3:8000::/35" into buf. */
const char *cidr_str(const struct cidr *c, char *buf, size_t len);

#endif
