/*
 * import.h — "mxlab import": the SMTP conversations of a packet capture
 * (pcap or pcapng, as tcpdump writes them on a production relay) turned
 * into a scenario's [session] blocks, C: lines as the client sent them
 * and S: lines as the server answered, so that an incident becomes a
 * regression test. TCP is reassembled by tcpreasm.c; a session under
 * STARTTLS is kept up to the 220, then a note (RFC 3207).
 */
#ifndef HARNESS_IMPORT_H
#define HARNESS_IMPORT_H

#include <stdio.h>

#include "mxlab/netaddr.h"

struct import_opts {
    const char *name;   /* the scenario's name */
    const char *source; /* the capture's name, for comments and errors */
    int has_server;     /* keep only the sessions to server */
    struct netaddr server;
};

/* Read the capture in (any link type tcpdump writes on Linux: Ethernet,
 * Linux cooked v1/v2, loopback, raw IP) and write the scenario to out.
 * The text always parses (scenario_parse). in is closed. 0; 1 if the
 * file was cut short (what came before is written, the reason in err);
 * -1 with "SOURCE: what" in err if it is no capture mxlab can read or
 * holds no SMTP session (what was written then is no scenario). */
int import_capture(FILE *in, FILE *out, const struct import_opts *o, char *err,
                   size_t errlen);

/* "mxlab import [--server IP:PORT] [-o FILE] CAPTURE". Exit status. */
int import_main(int argc, char **argv);

#endif
