/*
 * notify.h - readiness and state for systemd (sd_notify(3), Type=notify).
 *
 * With libsystemd at build time (SPATE_WITH_LIBSYSTEMD) this is sd_notify();
 * without it, the same protocol by hand: one datagram of "KEY=value" lines to
 * the AF_UNIX socket named by $NOTIFY_SOCKET (a leading '@' names an abstract
 * socket). No $NOTIFY_SOCKET (not started by systemd): nothing is sent.
 *
 * spated sends READY=1 once its listeners are bound and privileges dropped,
 * RELOADING=1 / READY=1 around a SIGHUP, STOPPING=1 at SIGTERM, with a
 * STATUS= line each time. Main thread only. Errors are ignored: systemd's
 * start timeout is what notices a daemon that never got ready.
 */
#ifndef SPATE_CMD_NOTIFY_H
#define SPATE_CMD_NOTIFY_H

/* notify_state - send state (e.g. "READY=1\nSTATUS=serving"); 1 sent, 0 no
 * socket, -1 send failed */
int notify_state(const char *state);

#endif
