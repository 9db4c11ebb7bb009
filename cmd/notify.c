/*
 * notify.c - sd_notify, with or without libsystemd. See notify.h.
 */
#include "cmd/notify.h"

#ifdef SPATE_WITH_LIBSYSTEMD
#include <systemd/sd-daemon.h>

/* notify_state - libsystemd's sd_notify */
int
notify_state(const char *state)
{
    int rc = sd_notify(0, state);
    return rc < 0 ? -1 : rc > 0;
}

#else
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* notify_state - one datagram to $NOTIFY_SOCKET */
int
notify_state(const char *state)
{
    const char *path = getenv("NOTIFY_SOCKET");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    size_t n;
    socklen_t len;
    ssize_t sent;
    int fd;
    if (path == NULL || (path[0] != '/' && path[0] != '@'))
        return 0;
    if ((n = strlen(path)) >= sizeof(sa.sun_path))
        return -1;
    memcpy(sa.sun_path, path, n);
    if (path[0] == '@')
        sa.sun_path[0] = '\0'; /* abstract: no terminating NUL counts */
    len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + (path[0] == '/'));
    if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
        return -1;
    sent = sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sa, len);
    close(fd);
    return sent < 0 ? -1 : 1;
}
#endif
