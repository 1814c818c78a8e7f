/*
 * merge.h — "mxlab merge": the reports of a sharded suite joined into one
 * (merge.c).
 */
#ifndef HARNESS_MERGE_H
#define HARNESS_MERGE_H

int merge_main(int argc, char **argv);

#endif
