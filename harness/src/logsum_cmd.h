/*
 * logsum_cmd.h — "mxlab logsum": a Postfix (or mxlab-relay) mail log's
 * Grand Totals as pflogsumm counts them, or the Zabbix items of seed
 * 003's monitoring script in zabbix_sender's input format.
 */
#ifndef HARNESS_LOGSUM_CMD_H
#define HARNESS_LOGSUM_CMD_H

int logsum_main(int argc, char **argv);

#endif
