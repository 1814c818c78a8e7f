/*
 * clock.h — the one clock every timer reads. The wall clock by default; the
 * harness may switch a process to simulated time and advance it, so queue
 * lifetimes of days are tested in milliseconds (Unbound's fake_event idea).
 */
#ifndef MXLAB_CLOCK_H
#define MXLAB_CLOCK_H

#include <sys/time.h>
#include <time.h>

/* Current time (wall or simulated). */
void clock_now(struct timeval *tv);
time_t clock_time(void);
/* Monotonic milliseconds, for timeouts of real waits (never simulated). */
long long clock_mono_ms(void);
/* Switch to simulated time starting at start (0: now). */
void clock_simulate(time_t start);
/* Advance simulated time; no-op on the wall clock. */
void clock_advance(const struct timeval *delta);
int clock_is_simulated(void);
/* t as the date-time of a Date: header (RFC 5322 section 3.3) in local
 * time, as Postfix writes it: "Mon, 23 Nov 2026 08:59:46 +0000 (UTC)".
 * "" if len (> 0) is too short for it. */
void clock_date(time_t t, char *buf, size_t len);

#endif
