/*
 * testutil.c - helpers shared by the unit test programs. See testutil.h.
 */
#include "testutil.h"

#include <arpa/inet.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* tu_now_ms - monotonic milliseconds */
long long
tu_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* rm_entry - nftw callback removing one entry */
static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

/* tu_rmtree - remove a directory tree */
int
tu_rmtree(const char *dir)
{
    return nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
}

/* tu_port_free - can both UDP and TCP bind ip:port? */
int
tu_port_free(const char *ip, uint16_t port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    int ok = 1;
    inet_pton(AF_INET, ip, &sin.sin_addr);
    for (int t = 0; t < 2; t++) {
        int fd = socket(AF_INET, t ? SOCK_STREAM : SOCK_DGRAM, 0);
        if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0)
            ok = 0;
        if (fd >= 0)
            close(fd);
    }
    return ok;
}

/* tu_dns_ready - one ". SOA" query; any answer with our id means the
 * server is up (an authoritative server may refuse the root: still up) */
int
tu_dns_ready(const char *ip, uint16_t port)
{
    static const unsigned char q[] = {0x12, 0x34, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 6, 0, 1};
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(port)};
    unsigned char buf[512];
    struct pollfd p;
    int fd = socket(AF_INET, SOCK_DGRAM, 0), ok = 0;
    inet_pton(AF_INET, ip, &sin.sin_addr);
    if (fd < 0)
        return 0;
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0 && send(fd, q, sizeof(q), 0) > 0) {
        p.fd = fd;
        p.events = POLLIN;
        if (poll(&p, 1, 100) == 1 && recv(fd, buf, sizeof(buf), 0) >= 12 && buf[0] == 0x12 &&
            buf[1] == 0x34)
            ok = 1;
        else
            usleep(50000);
    }
    close(fd);
    return ok;
}

/* tu_stop - stop a child: SIGTERM, bounded reap, SIGKILL */
void
tu_stop(pid_t *pid)
{
    if (*pid <= 0)
        return;
    kill(*pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        if (waitpid(*pid, NULL, WNOHANG) == *pid) {
            *pid = 0;
            return;
        }
        usleep(10000);
    }
    kill(*pid, SIGKILL);
    waitpid(*pid, NULL, 0);
    *pid = 0;
}
