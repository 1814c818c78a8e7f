/*
 * priv.c — the harness's privileged acts (see priv.h): today only
 * opening a live capture for "mxlab run --pcap". Everything after the
 * open (filter, reads, the file) needs no privilege.
 */
#include "priv.h"

#include <stdio.h>

/* Whole loopback packets (MTU 65536, plus the link header), and no more:
 * the kernel's ring holds buffer / snaplen packets (TPACKET_V2 frames in
 * immediate mode), about 500 here, read as they come. */
#define PRIV_PCAP_SNAPLEN (65536 + 64)
#define PRIV_PCAP_BUFFER (32 * 1024 * 1024)

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
