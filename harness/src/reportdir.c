/*
 * reportdir.c — where a run writes its report. A report directory is
 * never silently replaced: a run into an empty (or new) directory writes
 * there; into one that holds something, it writes a new timestamped
 * subdirectory, unless --clean asked to empty it first (only a directory
 * that looks like an mxlab report is emptied). DIR/latest always points
 * at the last run's report ("." when it is DIR itself).
 */
#include "reportdir.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "mxlab/fsutil.h"
#include "mxlab/strutil.h"
#include "mxlab/xmem.h"

/* Names a report directory of mxlab's holds: --clean empties only a
 * directory with one of them, so that "--report ~ --clean" removes
 * nothing. */
static const char *const reportdir_marks[] = {
    "results.json", "junit.xml", "index.html", "latest", "work", "cases",
};

static int reportdir_is_report(const char *dir)
{
    for (size_t i = 0; i < sizeof(reportdir_marks) / sizeof(*reportdir_marks);
         i++) {
        char *p = xasprintf("%s/%s", dir, reportdir_marks[i]);
        struct stat st;
        int there = lstat(p, &st) == 0;
        free(p);
        if (there)
            return 1;
    }
    return 0;
}

/* DIR/latest := target, replaced in one rename. */
static int reportdir_link_latest(const char *dir, const char *target)
{
    char *tmp = xasprintf("%s/.latest.%ld", dir, (long)getpid());
    char *latest = xasprintf("%s/latest", dir);
    int rc = 0;

    unlink(tmp);
    if (symlink(target, tmp) < 0 || rename(tmp, latest) < 0) {
        rc = -1;
        unlink(tmp);
    }
    free(tmp);
    free(latest);
    return rc;
}

/* A new DIR/STAMP (STAMP-2, -3... if a run of the same second has it). */
static char *reportdir_new_sub(const char *dir, time_t started, char **name)
{
    char stamp[32];
    struct tm tm;

    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", gmtime_r(&started, &tm));
    for (int i = 1; i < 1000; i++) {
        *name = i == 1 ? xstrdup(stamp) : xasprintf("%s-%d", stamp, i);
        char *sub = xasprintf("%s/%s", dir, *name);
        if (mkdir(sub, 0755) == 0)
            return sub;
        free(sub);
        free(*name);
        *name = NULL;
        if (errno != EEXIST)
            return NULL;
    }
    errno = EEXIST;
    return NULL;
}

static int reportdir_empty(const char *dir, int *empty)
{
    struct strlist names;

    strlist_init(&names);
    if (fs_list_dir(dir, &names) < 0) {
        strlist_clear(&names);
        return -1;
    }
    *empty = names.n == 0;
    strlist_clear(&names);
    return 0;
}

/* Remove what dir holds, keeping dir. */
static void reportdir_clean(const char *dir)
{
    struct strlist names;

    strlist_init(&names);
    fs_list_dir(dir, &names);
    for (size_t i = 0; i < names.n; i++) {
        char *p = xasprintf("%s/%s", dir, names.v[i]);
        fs_rm_rf(p);
        free(p);
    }
    strlist_clear(&names);
}

char *reportdir_claim(const char *dir, int clean, time_t started, char *err,
                      size_t errlen)
{
    char *name = NULL, *out = NULL;
    int empty = 1;

    if (fs_mkdir_p(dir, 0755) < 0 || reportdir_empty(dir, &empty) < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return NULL;
    }
    if (!empty && clean && !reportdir_is_report(dir)) {
        snprintf(err, errlen,
                 "%s: --clean: not emptied, it does not look like an mxlab "
                 "report (no results.json, junit.xml, work or latest)",
                 dir);
        return NULL;
    }
    if (!empty && clean)
        reportdir_clean(dir);
    if (empty || clean) {
        out = xstrdup(dir);
        name = xstrdup(".");
    } else if ((out = reportdir_new_sub(dir, started, &name)) == NULL) {
        snprintf(err, errlen, "%s: a new subdirectory: %s", dir,
                 strerror(errno));
        return NULL;
    }
    if (reportdir_link_latest(dir, name) < 0) {
        snprintf(err, errlen, "%s/latest: %s", dir, strerror(errno));
        free(out);
        out = NULL;
    }
    free(name);
    return out;
}
