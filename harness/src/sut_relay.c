/*
 * sut_relay.c — mxlab's own reference relay as the system under test,
 * embedded in the worker on the lab's event loop: its DNS is fakedns on
 * any port, its clock is the process's simulated clock (the lab moves it
 * from one moment the relay has work at to the next), its admin commands
 * are relay_admin's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "labconf.h"
#include "relay/relay.h"
#include "sut.h"

#define SUT_RELAY_DNS_IP "127.0.0.53"

static int sut_relay_prepare(struct sut_env *env)
{
    env->smtp_port = labconf_free_port(SOCK_STREAM);
    env->mx_port = labconf_free_port(SOCK_STREAM);
    env->dns_port = labconf_free_port(SOCK_DGRAM);
    snprintf(env->dns_ip, sizeof(env->dns_ip), "%s", SUT_RELAY_DNS_IP);
    env->queuedir = xasprintf("%s/queue", env->workdir);
    return 0;
}

static int sut_relay_maincf(struct sut_env *env, struct strbuf *sb)
{
    strbuf_printf(sb,
                  "mxlab_dns_servers = %s:%d\n"
                  "mxlab_passwd_file = %s/passwd\n",
                  env->dns_ip, env->dns_port, env->confdir);
    return 0;
}

static void sut_relay_changed(void *arg)
{
    struct sut_env *env = arg;

    if (env->on_change != NULL)
        env->on_change(env->on_change_arg);
}

static int sut_relay_start(struct sut_env *env)
{
    struct relay *r;
    char err[1024];
    int line = env->maincf ? env->maincf->line : 1;
    char *master = xasprintf("%s:%d inet n - n - - smtpd\n%s", env->listen_ip,
                             env->smtp_port, env->master_extra);
    int rc = labconf_write(env, "master.cf", master, 0644);

    free(master);
    if (rc < 0)
        return -1;
    r = relay_new(env->base, env->confdir, err, sizeof(err));
    if (r == NULL)
        return labconf_config_error(env, err);
    env->priv = r;
    if (relay_start(r, err, sizeof(err)) < 0)
        return sut_fail(env, line, "relay: %s", err);
    relay_on_change(r, sut_relay_changed, env);
    return 0;
}

static void sut_relay_stop(struct sut_env *env)
{
    relay_free(env->priv);
    env->priv = NULL;
}

static int sut_relay_admin(struct sut_env *env, const char *cmdline,
                           struct strbuf *out, struct strbuf *err)
{
    return relay_admin(env->priv, cmdline, out, err);
}

static int sut_relay_queue(struct sut_env *env, size_t *total, size_t *busy)
{
    *total = relay_queue_count(env->priv);
    *busy = relay_busy(env->priv);
    return 0;
}

static int sut_relay_idle(struct sut_env *env)
{
    return relay_busy(env->priv) == 0;
}

static time_t sut_relay_next_event(struct sut_env *env)
{
    return relay_next_event(env->priv);
}

static void sut_relay_time_moved(struct sut_env *env)
{
    relay_time_changed(env->priv);
}

const struct sut_ops sut_relay_ops = {
    .name = "relay",
    .caps = LAB_CAP_CONFIG | LAB_CAP_CLOCK | LAB_CAP_DELIVERIES | LAB_CAP_ADMIN,
    .prepare = sut_relay_prepare,
    .maincf = sut_relay_maincf,
    .start = sut_relay_start,
    .stop = sut_relay_stop,
    .admin = sut_relay_admin,
    .queue = sut_relay_queue,
    .idle = sut_relay_idle,
    .next_event = sut_relay_next_event,
    .time_moved = sut_relay_time_moved,
};
