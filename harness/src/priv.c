/*
 * priv.c — the harness's privileged acts (see priv.h): today only
 * opening a live capture for "mxlab run --pcap". Everything after the
 * open (filter, reads, the file) needs no privilege.
 */
#include "priv.h"

#include <stdio.h>

#define PRIV_PCAP_SNAPLEN 262144 /* whole loopback packets (64 KiB MTU) */
#define PRIV_PCAP_BUFFER (8 * 1024 * 1024) /* bursts of a load step */

pcap_t *priv_pcap_open(const char *dev, char *err, size_t errlen)
{
    char ebuf[PCAP_ERRBUF_SIZE] = "";
    pcap_t *p = pcap_create(dev, ebuf);
    int rc;

    if (p == NULL) {
        snprintf(err, errlen, "%s: %s", dev, ebuf);
        return NULL;
    }
    pcap_set_snaplen(p, PRIV_PCAP_SNAPLEN);
    pcap_set_buffer_size(p, PRIV_PCAP_BUFFER);
    pcap_set_immediate_mode(p, 1);
    pcap_set_timeout(p, 10);
    rc = pcap_activate(p);
    if (rc < 0) {
        snprintf(err, errlen, "%s: %s%s", dev,
                 rc == PCAP_ERROR_PERM_DENIED ? "needs root or CAP_NET_RAW: "
                                              : "",
                 pcap_geterr(p));
        pcap_close(p);
        return NULL;
    }
    if (pcap_setnonblock(p, 1, ebuf) < 0) {
        snprintf(err, errlen, "%s: %s", dev, ebuf);
        pcap_close(p);
        return NULL;
    }
    return p;
}
