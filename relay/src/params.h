/*
 * params.h — the main.cf parameters mxlab-relay implements, in one table
 * (name, type, Postfix 3.7 default, bounds, the struct relay_params field
 * it sets, what is missing when only partly implemented): defaults,
 * parsing, "postconf -d" and the start-up warnings about parameters
 * Postfix knows and the relay does not all come from it.
 */
#ifndef RELAY_PARAMS_H
#define RELAY_PARAMS_H

#include <stddef.h>

struct config;
struct relay_params;
struct strlist;

/* Set the default of every parameter in the table (those that depend on
 * compatibility_level or the host name are set by relay.c). */
void relay_params_defaults(struct config *cf);

/* Postfix 3.7's default for a parameter the relay implements, or NULL. */
const char *relay_params_default(const char *name);

/* strlist fields ready (before relay_params_load); _free releases what
 * the table-driven fields hold. */
void relay_params_init(struct relay_params *p);
void relay_params_free(struct relay_params *p);

/* Parse the table's typed parameters of cf into p. -1 with
 * "file:line: what" in err for a bad boolean, number or time, or one out
 * of its bounds. */
int relay_params_load(struct config *cf, struct relay_params *p, char *err,
                      size_t errlen);

/* The warnings of a start or reload, through log_warnx and into out (for
 * the mail log, which is not open yet), each naming the file:line that
 * set the parameter: one Postfix knows that the relay does not implement
 * ("... is not implemented by mxlab-relay; ..."), one it implements in
 * part (what is missing), and one neither knows nor any setting uses as
 * $name (postconf's "unused parameter"). overrides: the master.cf "-o"
 * settings as (where, name, value) triples. */
void relay_params_warn(struct config *cf, const struct strlist *overrides,
                       struct strlist *out);

#endif
