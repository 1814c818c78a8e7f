/*
 * fuzz_session.c — libFuzzer target for fakemx's SMTP server side: the
 * first byte picks a behaviour, the rest is what a client sends, through a
 * socketpair into a real session on a real event loop. Whatever comes,
 * fakemx answers or closes; the sanitizers watch memory. A fresh fakemx
 * per input, so nothing carries over.
 */
#include <event2/event.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakemx_int.h"
#include "mxlab/clock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char *const fuzz_behaviours[] = {
    "",
    ("size = 200\nreply = RCPT #2 452 4.5.3 Too many\n"
     "reply = MAIL match *@spam* 550 5.7.1 No"),
    "greylist = 0s,1h\nrate = 2 messages per 1m",
    ("tarpit = RCPT 1s\ndrop = data 64\n"
     "reply = DOT every 2 554 5.7.1 no"),
    "tls_required = yes\nhang = QUIT\ndrop = after EHLO #2",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct event_base *base;
    struct fakemx_behaviour b;
    struct fakemx *fm;
    struct fakemx_host *h;
    struct netaddr peer;
    char err[256], sink[4096];
    int sv[2];

    if (size < 1 || size > 65536)
        return 0;
    if (base == NULL) {
        clock_simulate(1700000000); /* tarpits wait for ever: fine */
        base = event_base_new();
    }
    memset(&b, 0, sizeof(b));
    fakemx_behaviour_parse(
        &b, "fuzz", 1,
        fuzz_behaviours[data[0] %
                        (sizeof(fuzz_behaviours) / sizeof(fuzz_behaviours[0]))],
        err, sizeof(err));
    fm = fakemx_new(base);
    h = fakemx_add_host(fm, "127.0.0.1:0", "fuzz.test", &b, err, sizeof(err));
    fakemx_behaviour_clear(&b);
    if (h == NULL ||
        socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) < 0) {
        fakemx_free(fm);
        return 0;
    }
    netaddr_parse("127.0.0.9", 0, &peer);
    fakemx_session_start(h, sv[0], &peer);
    for (size_t off = 1, rounds = 0; rounds < 10000; rounds++) {
        ssize_t n = 0;
        if (off < size) {
            n = write(sv[1], data + off, size - off);
            if (n > 0)
                off += (size_t)n;
            if (off == size)
                shutdown(sv[1], SHUT_WR);
        }
        event_base_loop(base, EVLOOP_NONBLOCK);
        while (read(sv[1], sink, sizeof(sink)) > 0)
            ;
        if (h->fm->sessions == NULL || (off == size && n <= 0 && rounds > 64))
            break;
    }
    close(sv[1]);
    fakemx_free(fm);
    return 0;
}
