/*
 * loop.c — run an event loop until SIGTERM/SIGINT. See loop.h.
 */
#include "mxlab/loop.h"

#include <event2/event.h>
#include <signal.h>

#include "mxlab/log.h"

static void loop_on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

int loop_run_until_signal(struct event_base *base)
{
    struct event *term = evsignal_new(base, SIGTERM, loop_on_signal, base);
    struct event *intr = evsignal_new(base, SIGINT, loop_on_signal, base);
    int rc = -1;

    if (term == NULL || intr == NULL || event_add(term, NULL) < 0 ||
        event_add(intr, NULL) < 0)
        log_warnx("cannot watch SIGTERM and SIGINT");
    else if (event_base_dispatch(base) < 0)
        log_warnx("event loop failure");
    else
        rc = 0;
    if (term != NULL)
        event_free(term);
    if (intr != NULL)
        event_free(intr);
    return rc;
}
