/*
 * priv.h — the harness's privileged acts, in one place (STYLE.md): each
 * is done before the event loop that uses it starts, and nothing else in
 * the harness needs root or a capability for its own sake.
 */
#ifndef HARNESS_PRIV_H
#define HARNESS_PRIV_H

#include <pcap/pcap.h>
#include <stddef.h>

/* A live capture on device dev (the loopback interface, "lo"): immediate
 * delivery (every packet readable as it is seen), a large kernel buffer,
 * whole packets, non-blocking. Needs root or CAP_NET_RAW. The caller
 * sets the filter and closes it (pcap_close). NULL with why in err. */
pcap_t *priv_pcap_open(const char *dev, char *err, size_t errlen);

#endif
