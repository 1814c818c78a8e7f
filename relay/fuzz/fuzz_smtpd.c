/*
 * fuzz_smtpd.c — what a client sends to the relay's smtpd, over a real
 * loopback connection into a running relay: commands, pipelined or not,
 * DATA and BDAT bodies, bare CR and LF, NULs, overlong lines. The relay
 * answers or closes; the sanitizers watch memory; the relay lives on for
 * the next input, as a server does.
 */
#include <errno.h>
#include <event2/event.h>
#include <poll.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fuzz_lab.h"
#include "mxlab/netaddr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct fuzz_lab *lab;
    struct netaddr dst;
    char sink[8192];
    size_t off = 0;
    int fd, closed = 0;

    if (size > 262144)
        return 0;
    lab = fuzz_lab_get(1);
    netaddr_parse("127.0.0.1", lab->smtp_port, &dst);
    fd = netaddr_connect_tcp(&dst, NULL);
    if (fd < 0)
        abort();
    /* Bounded: the relay ends the session once the input is over (it
     * sees the client's EOF), long before the last round. */
    for (int rounds = 0; rounds < 20000 && !closed; rounds++) {
        struct pollfd p = {fd, POLLIN, 0};
        if (off < size) {
            ssize_t n = write(fd, data + off, size - off);
            if (n > 0)
                off += (size_t)n;
            else if (n < 0 && errno != EAGAIN && errno != ENOTCONN)
                break;
            if (off == size)
                shutdown(fd, SHUT_WR);
        } else if (size == 0 && rounds == 0) {
            shutdown(fd, SHUT_WR);
        }
        event_base_loop(lab->base, EVLOOP_NONBLOCK);
        if (poll(&p, 1, 1) > 0) {
            ssize_t n = read(fd, sink, sizeof(sink));
            if (n == 0 || (n < 0 && errno != EAGAIN))
                closed = 1;
        }
    }
    close(fd);
    /* Let the relay see the close. */
    for (int i = 0; i < 8; i++)
        event_base_loop(lab->base, EVLOOP_NONBLOCK);
    return 0;
}
