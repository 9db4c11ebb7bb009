/*
 * testutil.h - helpers the unit test programs share: clocks, temporary
 *              directories, loopback ports, and the real servers (nsd,
 *              redis-server) some of them start and stop.
 *
 * Linked into every unit test program (tests/CMakeLists.txt). Test code only.
 */
#ifndef SPATE_TESTS_TESTUTIL_H
#define SPATE_TESTS_TESTUTIL_H

#include <stdint.h>
#include <sys/types.h>

/* tu_now_ms - monotonic milliseconds */
long long tu_now_ms(void);
/* tu_rmtree - remove dir and everything below it; 0 or -1 */
int tu_rmtree(const char *dir);
/* tu_port_free - can both UDP and TCP bind ip:port right now? 1 or 0 */
int tu_port_free(const char *ip, uint16_t port);
/* tu_dns_ready - does a DNS server answer on ip:port? One query, waits at
 * most 100 ms (and 50 ms more on no answer, so callers may loop on it) */
int tu_dns_ready(const char *ip, uint16_t port);
/* tu_stop - SIGTERM *pid, reap it (up to 2 s), SIGKILL if it lingers; *pid = 0 */
void tu_stop(pid_t *pid);

#endif
