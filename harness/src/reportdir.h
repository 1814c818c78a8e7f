/*
 * reportdir.h — the directory a run's report goes to (reportdir.c): a
 * non-empty report directory is never silently replaced.
 */
#ifndef HARNESS_REPORTDIR_H
#define HARNESS_REPORTDIR_H

#include <stddef.h>
#include <time.h>

/* The directory this run writes its report to, made: dir itself when it
 * is new or empty, or when clean is set (what it held removed; refused
 * unless it looks like an mxlab report), else a new dir/YYYYmmddTHHMMSSZ
 * (from started). dir/latest then points at it. Caller frees; NULL with
 * "dir: what" in err. */
char *reportdir_claim(const char *dir, int clean, time_t started, char *err,
                      size_t errlen);

#endif
