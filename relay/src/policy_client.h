/*
 * policy_client.h — Postfix's SMTP access policy delegation
 * (SMTPD_POLICY_README, check_policy_service), client side: the
 * smtpd_policy_service_* parameters, the request attributes (name=value
 * lines, one empty line ends a request), the reply's action=, and a pool
 * of connections per server (inet:HOST:PORT or unix:PATH).
 */
#ifndef RELAY_POLICY_CLIENT_H
#define RELAY_POLICY_CLIENT_H

#include <stddef.h>

#include "mxlab/xmem.h"

struct config;
struct event_base;

/* The smtpd_policy_service_* parameters (seconds for the times). */
struct policy_client_conf {
    long max_idle, max_ttl, timeout, retry_delay;
    long request_limit, try_limit;
    char *default_action;
    char *policy_context;
};
int policy_client_conf_load(struct policy_client_conf *c, struct config *cf,
                            char *err, size_t errlen);
void policy_client_conf_clear(struct policy_client_conf *c);
/* Postfix 3.7's defaults: one (NULL if name is not one of them), or all
 * into cf. */
const char *policy_client_default(const char *name);
void policy_client_set_defaults(struct config *cf);

/* What smtpd knows of the session when it asks (SMTPD_POLICY_README
 * "Protocol description"); NULL strings are sent empty. */
struct policy_attrs {
    const char *protocol_state, *protocol_name, *helo_name, *queue_id;
    const char *sender, *recipient, *client_address, *client_name;
    const char *reverse_client_name, *instance;
    const char *sasl_method, *sasl_username, *sasl_sender;
    const char *encryption_protocol, *encryption_cipher;
    const char *server_address;
    long recipient_count, size, encryption_keysize, server_port;
};
/* The request (with its final empty line) into out, in Postfix 3.7's
 * order. A value is cut at its first CR or LF: one attribute per line. */
void policy_client_request(struct strbuf *out, const struct policy_attrs *a,
                           const char *policy_context);

/* Reply parsing: feed one line (without LF); 1 when the empty line that
 * ends the reply came, then *action is the action= value ("" if none;
 * the caller frees it). */
struct policy_reply {
    char *action;
};
int policy_reply_line(struct policy_reply *r, const char *line, size_t len);
void policy_reply_clear(struct policy_reply *r);

/* The connections of one relay, per server. */
struct policy_pool;
struct policy_pool *policy_pool_new(struct event_base *base);
void policy_pool_free(struct policy_pool *p);
/* Ask server ("inet:127.0.0.1:10023", "unix:/path"). done(arg, action)
 * runs once: action is the server's action= text, or NULL when the
 * server could not be asked within try_limit tries (warn(arg, text) has
 * said why). Returns the query, for policy_query_cancel(). */
typedef void policy_query_fn(void *arg, const char *action);
typedef void policy_warn_fn(void *arg, const char *text);
struct policy_query;
struct policy_query *policy_query_start(struct policy_pool *p,
                                        const struct policy_client_conf *conf,
                                        const char *server, const char *request,
                                        policy_query_fn *done,
                                        policy_warn_fn *warn, void *arg);
/* done will not run; the connection is closed (its reply is unknown). */
void policy_query_cancel(struct policy_query *q);

#endif
