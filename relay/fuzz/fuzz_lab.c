/*
 * fuzz_lab.c — the relay's fuzz targets' lab (fuzz_lab.h).
 */
#include "fuzz_lab.h"

#include <event2/event.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fakedns/fakedns.h"
#include "mxlab/fsutil.h"
#include "relay/relay.h"

static int fuzz_free_port(int type)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof(sin);
    int fd = socket(AF_INET, type, 0), port = -1;

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sin, &len) == 0)
        port = ntohs(sin.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

static void fuzz_write(const char *dir, const char *name, const char *text)
{
    char path[128];

    snprintf(path, sizeof(path), "%s/%s", dir, name);
    if (fs_write_atomic(path, text, strlen(text)) < 0)
        abort();
}

static struct fuzz_lab lab;

/* At exit: the relay's temporary directory goes (queue, log, config). */
static void fuzz_lab_remove(void)
{
    if (lab.dir[0] != '\0')
        fs_rm_rf(lab.dir);
}

struct fuzz_lab *fuzz_lab_get(int start)
{
    static struct fakedns *dns;
    char err[1024], text[2048];
    int dns_port;

    if (lab.relay != NULL)
        return &lab;
    /* On tmpfs when there is one: the queue fsyncs every message, which
     * on a disk holds the target to tens of inputs a second. */
    snprintf(lab.dir, sizeof(lab.dir), "%s/mxlab-fuzz-relay.XXXXXX",
             access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
    if (mkdtemp(lab.dir) == NULL)
        abort();
    atexit(fuzz_lab_remove);
    lab.base = event_base_new();
    /* fakedns on a port the kernel picks (a port found free and bound
     * later can be taken meanwhile by a test running beside). */
    dns = fakedns_new(lab.base);
    if (fakedns_load_zone_text(dns, "fuzz", 1, "fuzz.test.",
                               "@ SOA ns hm 1 2 3 4 5\n@ MX 10 mx\n"
                               "mx A 127.0.0.1\n",
                               err, sizeof(err)) < 0 ||
        fakedns_listen(dns, "127.0.0.1:0", err, sizeof(err)) < 0) {
        fprintf(stderr, "fuzz lab: fakedns: %s\n", err);
        abort();
    }
    dns_port = fakedns_listen_port(dns, 0);
    /* Mail for elsewhere goes to a port where nobody listens: deferred,
     * never sent anywhere but loopback. */
    snprintf(text, sizeof(text),
             "queue_directory = %s/queue\n"
             "maillog_file = %s/maillog\n"
             "myhostname = relay.fuzz.test\n"
             "mydestination = fuzz.test, localhost\n"
             "mynetworks = 127.0.0.0/8\n"
             "relay_domains = relay.test\n"
             "relayhost = [127.0.0.1]:9\n"
             "local_recipient_maps =\n"
             "message_size_limit = 200000\n"
             "smtpd_error_sleep_time = 0s\n"
             "smtpd_recipient_restrictions = permit_mynetworks, "
             "reject_unauth_destination\n"
             "mxlab_dns_servers = 127.0.0.1:%d\n",
             lab.dir, lab.dir, dns_port);
    fuzz_write(lab.dir, "main.cf", text);
    /* master.cf names the port: one taken meanwhile is replaced by
     * another (a bounded number of times). */
    for (int tries = 0;; tries++) {
        lab.smtp_port = fuzz_free_port(SOCK_STREAM);
        snprintf(text, sizeof(text), "127.0.0.1:%d inet n - n - - smtpd\n",
                 lab.smtp_port);
        fuzz_write(lab.dir, "master.cf", text);
        lab.relay = relay_new(lab.base, lab.dir, err, sizeof(err));
        if (lab.relay != NULL &&
            (!start || relay_start(lab.relay, err, sizeof(err)) == 0))
            break;
        if (lab.relay == NULL || tries == 20) {
            fprintf(stderr, "fuzz lab: relay: %s\n", err);
            abort();
        }
        relay_free(lab.relay);
    }
    return &lab;
}
