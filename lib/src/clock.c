/*
 * clock.c — the process clock: wall time, or simulated time driven by the
 * harness. See clock.h.
 */
#include "mxlab/clock.h"

static int clock_sim;
static struct timeval clock_sim_now;

void clock_now(struct timeval *tv)
{
    if (clock_sim)
        *tv = clock_sim_now;
    else
        gettimeofday(tv, NULL);
}

time_t clock_time(void)
{
    struct timeval tv;

    clock_now(&tv);
    return tv.tv_sec;
}

long long clock_mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_simulate(time_t start)
{
    if (start == 0)
        gettimeofday(&clock_sim_now, NULL);
    else {
        clock_sim_now.tv_sec = start;
        clock_sim_now.tv_usec = 0;
    }
    clock_sim = 1;
}

void clock_advance(const struct timeval *delta)
{
    if (!clock_sim)
        return;
    timeradd(&clock_sim_now, delta, &clock_sim_now);
}

int clock_is_simulated(void)
{
    return clock_sim;
}

void clock_date(time_t t, char *buf, size_t len)
{
    struct tm tm;

    localtime_r(&t, &tm);
    /* Postfix's mail_date(): "%e", the day of the month padded with a
     * space, not a zero ("Wed,  2 Dec 2026"). */
    if (strftime(buf, len, "%a, %e %b %Y %H:%M:%S %z (%Z)", &tm) == 0)
        buf[0] = '\0';
}
