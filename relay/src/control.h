/*
 * control.h — the admin control socket (control.c), on which a running
 * relay takes admin commands; its start is in relay/relay.h.
 */
#ifndef RELAY_CONTROL_H
#define RELAY_CONTROL_H

struct relay;

/* Close the socket and remove its file; a no-op if it is not open. */
void control_stop(struct relay *r);

#endif
