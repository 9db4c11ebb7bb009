/*
 * nodelay_preload.c - a diagnostic LD_PRELOAD shim: every socket returned by
 * accept(2)/accept4(2) gets TCP_NODELAY, so that a server's small replies
 * are not held back by Nagle's algorithm. Used by perf/README.md ("Inbound")
 * to show what spated's SMTP listener loses when an ACL suspends a pipelined
 * command; not built by CMake, not part of spate:
 *     cc -shared -fPIC -O2 -o /tmp/nodelay.so perf/nodelay_preload.c -ldl
 *     LD_PRELOAD=/tmp/nodelay.so perf/bench.sh --only inbound_noacl,inbound_acl6
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stddef.h>
#include <sys/socket.h>

/* accept4 - the real accept4, then TCP_NODELAY (ignored where it does not apply) */
int
accept4(int fd, struct sockaddr *addr, socklen_t *len, int flags)
{
    static int (*real)(int, struct sockaddr *, socklen_t *, int);
    int one = 1, c;

    if (real == NULL)
        real = (int (*)(int, struct sockaddr *, socklen_t *, int))dlsym(RTLD_NEXT, "accept4");
    c = real(fd, addr, len, flags);
    if (c >= 0)
        setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return c;
}

/* accept - as accept4 with no flags */
int
accept(int fd, struct sockaddr *addr, socklen_t *len)
{
    return accept4(fd, addr, len, 0);
}
