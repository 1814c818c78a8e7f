/*
 * pcap_capture.h — "mxlab run --pcap": one scenario's packets on the
 * loopback interface, selected by a BPF filter on the lab's own ports and
 * addresses, written to a pcap file as they are read on the scenario's
 * event loop. Stopping reads up to a marker packet sent last, so the file
 * holds everything the scenario sent before it stopped.
 */
#ifndef HARNESS_PCAP_CAPTURE_H
#define HARNESS_PCAP_CAPTURE_H

#include <event2/event.h>
#include <stddef.h>

struct pcap_capture;

/* 1 if this process may capture on the loopback interface, else 0 with
 * why in err (the privileged open is tried, then closed). */
int pcap_capture_possible(char *err, size_t errlen);

/* Capture what filter (BPF syntax) selects on "lo" into path, reading on
 * base. NULL with why in err (no privilege, a bad filter, the file). */
struct pcap_capture *pcap_capture_start(struct event_base *base,
                                        const char *filter, const char *path,
                                        char *err, size_t errlen);

/* No more reads on the event loop (before the loop is freed: sockets
 * that libevent closes when it frees the loop send their last packets
 * after that); pcap_capture_stop reads the rest. NULL is a no-op. */
void pcap_capture_unwatch(struct pcap_capture *c);

/* Read the last packets (up to the marker, at most a bounded wait), close
 * the file and free c; NULL is a no-op. Returns the packets written and
 * sets *dropped to those the kernel dropped (0 normally). */
long pcap_capture_stop(struct pcap_capture *c, unsigned *dropped);

#endif
