/*
 * check.h — "mxlab check": the test batteries (open relay, SMTP
 * smuggling, STARTTLS, RFC 5321 basics) against one server, with a verdict
 * per test judged by reply class and by what arrived (see check --help).
 */
#ifndef HARNESS_CHECK_H
#define HARNESS_CHECK_H

/* "mxlab check ARGS": 0 no weakness, 1 a weakness (or the server could
 * not be reached), 2 a usage error. argv[0] is "check". */
int check_main(int argc, char **argv);

#endif
