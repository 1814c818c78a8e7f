/*
 * control.c — the admin control socket: queue_directory/public/mxlab-admin
 * (a Unix socket, mode 0600: only the relay's own user, or root, may
 * manage its queue). One request per connection: the client sends a
 * command line ending in LF; the relay answers
 *   "OUT <n>\n" <n bytes> "ERR <n>\n" <n bytes> "RC <status>\n"
 * and closes. The command runs through relay_admin() on the live queue.
 */
#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/listener.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "control.h"
#include "mxlab/xmem.h"
#include "relay.h"

#define CONTROL_REQUEST_MAX 4096

#define CONTROL_SOCKET "public/mxlab-admin" /* under queue_directory */

static char *control_socket_path(const struct relay *r)
{
    return xasprintf("%s/%s", r->p.queue_directory, CONTROL_SOCKET);
}

static void control_on_write(struct bufferevent *bev, void *arg)
{
    (void)arg;
    if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
        bufferevent_free(bev);
}

static void control_on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)what;
    (void)arg;
    bufferevent_free(bev);
}

static void control_on_read(struct bufferevent *bev, void *arg)
{
    struct relay *r = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer *out = bufferevent_get_output(bev);
    struct strbuf o, e;
    char *line;
    size_t len;
    int rc;

    line = evbuffer_readln(in, &len, EVBUFFER_EOL_LF);
    if (line == NULL) {
        if (evbuffer_get_length(in) > CONTROL_REQUEST_MAX)
            bufferevent_free(bev);
        return;
    }
    strbuf_init(&o);
    strbuf_init(&e);
    rc = relay_admin(r, line, &o, &e);
    free(line);
    evbuffer_add_printf(out, "OUT %zu\n", o.len);
    evbuffer_add(out, o.buf ? o.buf : "", o.len);
    evbuffer_add_printf(out, "ERR %zu\n", e.len);
    evbuffer_add(out, e.buf ? e.buf : "", e.len);
    evbuffer_add_printf(out, "RC %d\n", rc);
    strbuf_clear(&o);
    strbuf_clear(&e);
    bufferevent_disable(bev, EV_READ);
    bufferevent_setcb(bev, NULL, control_on_write, control_on_event, r);
}

static void control_on_accept(struct evconnlistener *lev, evutil_socket_t fd,
                              struct sockaddr *sa, int salen, void *arg)
{
    struct relay *r = arg;
    struct bufferevent *bev;
    struct timeval tv = {10, 0};

    (void)lev;
    (void)sa;
    (void)salen;
    bev = bufferevent_socket_new(r->base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(bev, control_on_read, NULL, control_on_event, r);
    bufferevent_set_timeouts(bev, &tv, &tv);
    bufferevent_enable(bev, EV_READ | EV_WRITE);
}

int relay_control_start(struct relay *r, char *err, size_t errlen)
{
    struct sockaddr_un sun;
    char *path = control_socket_path(r);
    mode_t old;
    int fd;

    if (chdir(r->p.queue_directory) < 0) {
        snprintf(err, errlen, "chdir %s: %s", r->p.queue_directory,
                 strerror(errno));
        free(path);
        return -1;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, CONTROL_SOCKET, sizeof(CONTROL_SOCKET));
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "control socket: %s", strerror(errno));
        free(path);
        return -1;
    }
    /* A socket left by a relay that died is stale: nobody listens. */
    unlink(CONTROL_SOCKET);
    old = umask(077);
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        listen(fd, 16) < 0) {
        snprintf(err, errlen, "control socket %s: %s", path, strerror(errno));
        umask(old);
        close(fd);
        free(path);
        return -1;
    }
    umask(old);
    r->control = evconnlistener_new(r->base, control_on_accept, r,
                                    LEV_OPT_CLOSE_ON_FREE, -1, fd);
    r->control_path = path;
    return 0;
}

void control_stop(struct relay *r)
{
    if (r->control != NULL)
        evconnlistener_free(r->control);
    r->control = NULL;
    if (r->control_path != NULL)
        unlink(r->control_path);
    free(r->control_path);
    r->control_path = NULL;
}

/* Read "TAG <n>\n" then n bytes from fp into sb. */
static int control_read_part(FILE *fp, const char *tag, struct strbuf *sb)
{
    char head[64], buf[4096];
    size_t n, taglen = strlen(tag);
    long v;

    if (fgets(head, sizeof(head), fp) == NULL ||
        strncmp(head, tag, taglen) != 0 || head[taglen] != ' ' ||
        str_to_long(head + taglen + 1, &v) < 0)
        return -1;
    n = (size_t)v;
    while (n > 0) {
        size_t want = n < sizeof(buf) ? n : sizeof(buf);
        size_t got = fread(buf, 1, want, fp);
        if (got == 0)
            return -1;
        strbuf_append(sb, buf, got);
        n -= got;
    }
    return 0;
}

int relay_control_call(struct relay *r, const char *cmdline, struct strbuf *out,
                       struct strbuf *err)
{
    struct sockaddr_un sun;
    char *path = control_socket_path(r);
    char tail[64];
    FILE *fp = NULL;
    int fd, rc = -1;
    long status;

    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, CONTROL_SOCKET, sizeof(CONTROL_SOCKET));
    if (chdir(r->p.queue_directory) < 0)
        goto done; /* no queue: nothing runs there */
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        goto done;
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        close(fd);
        goto done; /* ENOENT or ECONNREFUSED: the relay is not running */
    }
    fp = fdopen(fd, "r+");
    if (fp == NULL) {
        close(fd);
        goto done;
    }
    fprintf(fp, "%s\n", cmdline);
    fflush(fp);
    if (control_read_part(fp, "OUT", out) < 0 ||
        control_read_part(fp, "ERR", err) < 0 ||
        fgets(tail, sizeof(tail), fp) == NULL || strncmp(tail, "RC ", 3) != 0 ||
        str_to_long(tail + 3, &status) < 0)
        goto done;
    rc = (int)status;
done:
    if (fp != NULL)
        fclose(fp);
    free(path);
    return rc;
}
