/*
 * admin.c — [admin] steps. See admin.h. The "> pattern" lines after a
 * command must match lines of its output (and error output), in order;
 * other lines may come between them.
 */
#include "admin.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "command.h"
#include "mxlab/strutil.h"

int admin_pflogsumm(struct lab *lab, const char *cmdline, struct strbuf *out,
                    struct strbuf *err)
{
    struct strlist w;
    char **argv;
    int rc;

    /* The log reader seed 003 feeds to Zabbix: the log's format is judged
     * by a real reader. */
    strlist_init(&w);
    strlist_split(&w, cmdline);
    argv = xcalloc(w.n + 3, sizeof(*argv));
    argv[0] = "/usr/sbin/pflogsumm";
    for (size_t i = 1; i < w.n; i++)
        argv[i] = w.v[i];
    argv[w.n ? w.n : 1] = (char *)lab_maillog(lab);
    rc = command_run(argv, out, err);
    if (rc < 0 || rc == 127)
        strbuf_puts(err, "pflogsumm: cannot run /usr/sbin/pflogsumm\n");
    free(argv);
    strlist_clear(&w);
    return rc;
}

/* "$ NAME [ARGS]", or "$ more /var/log/maillog | NAME [ARGS]" as the
 * documents write it (cat works too), where NAME is one of the scenario's
 * [file NAME] blocks: the file is run as a script (its #! line) with the
 * SUT's mail log on standard input — seed 000's Perl script that lists
 * the refused senders. Returns -2 if cmdline is not such a command. */
static int admin_script(struct lab *lab, const struct scenario *s,
                        const char *cmdline, struct strbuf *out,
                        struct strbuf *err)
{
    struct strlist w;
    size_t first = 0;
    const char *name = NULL;
    int rc = -2;

    strlist_init(&w);
    strlist_split(&w, cmdline);
    if (w.n >= 4 &&
        (strcmp(w.v[0], "more") == 0 || strcmp(w.v[0], "cat") == 0) &&
        strcmp(w.v[2], "|") == 0 && strncmp(w.v[1], "/var/log/mail", 13) == 0)
        first = 3;
    for (size_t i = 0; first < w.n && i < s->nblocks && name == NULL; i++)
        if (s->blocks[i].kind == SCN_FILE &&
            strcmp(s->blocks[i].arg, w.v[first]) == 0)
            name = s->blocks[i].arg;
    if (name != NULL) {
        char *path = xasprintf("%s/%s", lab_confdir(lab), name);
        char **argv = xcalloc(w.n - first + 1, sizeof(*argv));
        argv[0] = path;
        for (size_t i = first + 1; i < w.n; i++)
            argv[i - first] = w.v[i];
        if (chmod(path, 0755) < 0) {
            strbuf_printf(err, "%s: %s\n", path, strerror(errno));
            rc = 1;
        } else {
            rc = command_run_input(argv, lab_maillog(lab), out, err);
            if (rc < 0 || rc == 127)
                strbuf_printf(err, "%s: cannot run it as a script\n", name);
        }
        free(argv);
        free(path);
    }
    strlist_clear(&w);
    return rc;
}

/* "$config_directory" names the SUT's configuration directory, as in the
 * documents' "postmap /etc/postfix/virtual". */
static void admin_expand(struct lab *lab, struct strbuf *cmd)
{
    static const char var[] = "$config_directory";

    for (char *at; cmd->buf && (at = strstr(cmd->buf, var)) != NULL;) {
        struct strbuf sub;
        strbuf_init(&sub);
        strbuf_append(&sub, cmd->buf, (size_t)(at - cmd->buf));
        strbuf_puts(&sub, lab_confdir(lab));
        strbuf_puts(&sub, at + strlen(var));
        strbuf_clear(cmd);
        *cmd = sub;
    }
}

/* One command: its output and error output, line by line, into lines.
 * Its exit status. */
static int admin_command(struct lab *lab, const struct scenario *s,
                         const char *cmd, struct strbuf *t,
                         struct strlist *lines, struct strbuf *err)
{
    struct strbuf out;
    int rc;

    strbuf_init(&out);
    rc = admin_script(lab, s, cmd, &out, err);
    if (rc == -2)
        rc = str_casestart(cmd, "pflogsumm") != NULL
                 ? admin_pflogsumm(lab, cmd, &out, err)
                 : lab_admin(lab, cmd, &out, err);
    strbuf_printf(t, "$ %s\n%s%s", cmd, out.buf ? out.buf : "",
                  err->buf ? err->buf : "");
    strlist_clear(lines);
    strbuf_append(&out, err->buf ? err->buf : "", err->len);
    for (char *l = out.buf; l && *l;) {
        char *nl = strchr(l, '\n');
        if (nl)
            *nl = '\0';
        strlist_push(lines, l);
        l = nl ? nl + 1 : NULL;
    }
    strbuf_clear(&out);
    return rc;
}

/* "CMD && CMD ...", as the documents write "postmap transport && postfix
 * reload": each runs if the one before it exited 0; their output lines
 * are read as one. "/etc/init.d/postfix reload" is "postfix reload". 0,
 * or -1 with msg when a command is not one the SUT has. */
static int admin_chain(struct lab *lab, const struct scenario *s,
                       const char *cmdline, struct strbuf *t,
                       struct strlist *lines, char *msg, size_t msglen)
{
    struct strlist all;
    const char *p = cmdline;
    int status = 0, rc = 0;

    strlist_init(&all);
    while (p != NULL && status == 0 && rc == 0) {
        const char *and = strstr(p, "&&");
        char *one = and? xstrndup(p, (size_t)(and-p)) : xstrdup(p);
        const char *cmd = str_trim(one);
        struct strbuf err;
        if (strcmp(cmd, "/etc/init.d/postfix reload") == 0)
            cmd = "postfix reload";
        strbuf_init(&err);
        status = admin_command(lab, s, cmd, t, lines, &err);
        if (status == 64) {
            snprintf(msg, msglen, "%s", err.buf ? err.buf : "usage");
            rc = -1;
        }
        for (size_t i = 0; i < lines->n; i++)
            strlist_push(&all, lines->v[i]);
        strbuf_clear(&err);
        free(one);
        p = and? and+2 : NULL;
    }
    strlist_clear(lines);
    *lines = all;
    return rc;
}

int admin_play(struct lab *lab, const struct scenario *s,
               const struct scn_block *b, struct capture *vars,
               struct strbuf *t, int *line, char *msg, size_t msglen)
{
    struct strlist lines;
    size_t next_line = 0;
    int rc = 0;

    strbuf_printf(t, "== [admin] (line %d)\n", b->line);
    strlist_init(&lines);
    for (size_t i = 0; i < b->nitems && rc == 0; i++) {
        const struct scn_item *it = &b->items[i];
        struct strbuf cmd;
        char unknown[128];
        *line = it->line;
        if (it->kind == SCN_OUTPUT) {
            size_t k;
            for (k = next_line; k < lines.n; k++)
                if (capture_glob(vars, it->text, lines.v[k]))
                    break;
            if (k == lines.n) {
                snprintf(msg, msglen,
                         "no output line matches \"%s\" (see the transcript)",
                         it->text);
                rc = -1;
            }
            next_line = k + 1;
            continue;
        }
        strbuf_init(&cmd);
        if (capture_substitute(vars, it->text, &cmd, unknown, sizeof(unknown)) <
            0) {
            snprintf(msg, msglen, "unknown variable {%s}", unknown);
            rc = -1;
        } else {
            admin_expand(lab, &cmd);
            rc = admin_chain(lab, s, cmd.buf, t, &lines, msg, msglen);
            next_line = 0;
        }
        strbuf_clear(&cmd);
    }
    strlist_clear(&lines);
    return rc;
}
