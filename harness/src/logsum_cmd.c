/*
 * logsum_cmd.c — "mxlab logsum [--zabbix HOST] MAILLOG" (logsum_cmd.h).
 * The counting is reports/logsum.c's, the same that scenarios' "log
 * totals" assert on and that agrees with pflogsumm 1.1.5.
 */
#include "logsum_cmd.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness/run.h"
#include "mxlab/fsutil.h"
#include "mxlab/xmem.h"
#include "reports/logsum.h"

static void logsum_usage(FILE *fp)
{
    fprintf(fp,
            "usage: mxlab logsum [--zabbix HOST] MAILLOG\n"
            "\n"
            "The Grand Totals of a Postfix-format mail log, counted as\n"
            "pflogsumm counts them, one \"name value\" line each (exact\n"
            "numbers, not pflogsumm's k and m).\n"
            "\n"
            "  --zabbix HOST  instead, the items of a Postfix Zabbix\n"
            "                 template (postfix[received] ...\n"
            "                 postfix[recipients]) as zabbix_sender -i\n"
            "                 reads them: \"HOST KEY VALUE\" per line; HOST\n"
            "                 \"-\" takes the name from zabbix_sender's\n"
            "                 configuration. E.g.\n"
            "                   mxlab logsum --zabbix mx1 /var/log/mail.log |\n"
            "                     zabbix_sender -z SERVER -i -\n"
            "  -h, --help     this text\n");
}

int logsum_main(int argc, char **argv)
{
    static const struct option opts[] = {{"zabbix", required_argument, 0, 'z'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    const char *host = NULL;
    struct logsum s;
    struct strbuf out;
    char *text;
    size_t len;
    int c;

    optind = 1;
    opterr = 0; /* our own messages, with our name */
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case 'z':
            host = optarg;
            break;
        case 'h':
            logsum_usage(stdout);
            return 0;
        default:
            return run_option_error("mxlab logsum", c, argv, logsum_usage);
        }
    }
    if (optind != argc - 1 ||
        (host != NULL && (*host == '\0' || strpbrk(host, " \t\n") != NULL))) {
        logsum_usage(stderr);
        return 2;
    }
    if (fs_read_file(argv[optind], &text, &len) < 0) {
        fprintf(stderr, "mxlab logsum: %s: %s\n", argv[optind],
                strerror(errno));
        return 1;
    }
    if (memchr(text, '\0', len) != NULL) {
        fprintf(stderr, "mxlab logsum: %s: a NUL byte: not a mail log\n",
                argv[optind]);
        free(text);
        return 1;
    }
    logsum_read(text, &s);
    free(text);
    strbuf_init(&out);
    if (host != NULL)
        logsum_zabbix(&s, host, &out);
    else
        for (int k = 0; k < LOGSUM_NKEYS; k++)
            strbuf_printf(&out, "%s %ld\n", logsum_name(k), s.v[k]);
    fputs(out.buf ? out.buf : "", stdout);
    strbuf_clear(&out);
    return 0;
}
