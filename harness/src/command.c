/*
 * command.c — run a short external command (Postfix's admin commands,
 * pflogsumm) and capture what it prints. See command.h.
 */
#include "command.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mxlab/clock.h"

int command_run(char *const argv[], struct strbuf *out, struct strbuf *err)
{
    return command_run_input(argv, NULL, out, err);
}

int command_run_input(char *const argv[], const char *input, struct strbuf *out,
                      struct strbuf *err)
{
    int po[2], pe[2], status;
    pid_t pid;

    if (pipe(po) < 0)
        return -1;
    if (pipe(pe) < 0) {
        close(po[0]);
        close(po[1]);
        return -1;
    }
    pid = fork();
    if (pid == 0) {
        int in = open(input ? input : "/dev/null", O_RDONLY | O_CLOEXEC);
        if (in < 0) {
            dprintf(pe[1], "%s: %s\n", input ? input : "/dev/null",
                    strerror(errno));
            _exit(127);
        }
        dup2(in, 0);
        dup2(po[1], 1);
        dup2(pe[1], 2);
        close(po[0]);
        close(pe[0]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(po[1]);
    close(pe[1]);
    struct pollfd fds[2] = {{po[0], POLLIN, 0}, {pe[0], POLLIN, 0}};
    int open_fds = 2;
    long long deadline = clock_mono_ms() + 20000;
    while (open_fds > 0 && clock_mono_ms() < deadline) {
        if (poll(fds, 2, 1000) <= 0)
            continue;
        for (int i = 0; i < 2; i++) {
            char buf[4096];
            if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP)))
                continue;
            ssize_t n = read(fds[i].fd, buf, sizeof(buf));
            if (n <= 0) {
                close(fds[i].fd);
                fds[i].fd = -1;
                open_fds--;
            } else if ((i == 0 ? out : err) != NULL) {
                strbuf_append(i == 0 ? out : err, buf, (size_t)n);
            }
        }
    }
    for (int i = 0; i < 2; i++)
        if (fds[i].fd >= 0)
            close(fds[i].fd);
    if (pid < 0)
        return -1;
    if (open_fds > 0)
        kill(pid, SIGKILL);
    if (waitpid(pid, &status, 0) < 0)
        return -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}
