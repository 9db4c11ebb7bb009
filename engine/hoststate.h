/*
 * hoststate.h - which receiving hosts are down, shared by every worker.
 *
 * A host address (IP and port) that could not be connected to, or that
 * accepted the connection but sent no greeting or a refusal in time, is
 * marked down with a back-off: 30 s after its first failure, doubling with
 * each failure in a row up to 10 minutes. Sessions skip a down address and
 * go on to the next address or MX host at once, so a dead first MX costs
 * one connection attempt per back-off, not one per session (the role of
 * Exim's hints database and Postfix's dead-host cache). When the back-off
 * has passed, the first session to ask tries the address again (a probe)
 * while the others keep skipping it for probe_ms; a greeting clears it.
 *
 * Thread rules: any thread; a mutex guards the table (touched only when a
 * connection starts, fails or is greeted, never per message).
 */
#ifndef SPATE_ENGINE_HOSTSTATE_H
#define SPATE_ENGINE_HOSTSTATE_H

#include <stddef.h>
#include <stdint.h>

#define HOST_DOWN_MIN_MS 30000u  /* the first back-off */
#define HOST_DOWN_MAX_MS 600000u /* back-offs double up to this */

/* host_usable - may ip:port be tried now (monotonic now_ms)? 0: it is down;
 * why (when given) gets the failure that marked it, and *left_ms the time
 * still to wait. 1: try it; if its back-off has passed this caller is the
 * probe and others skip it for probe_ms. */
int host_usable(const char *ip, unsigned port, uint64_t now_ms, uint64_t probe_ms, char *why,
                size_t whylen, uint64_t *left_ms);
/* host_failed - ip:port failed (why: a short reason): mark it down; returns
 * the back-off in ms */
uint64_t host_failed(const char *ip, unsigned port, uint64_t now_ms, const char *why);
/* host_greeted - ip:port answered: forget it was down; 1 if it had been */
int host_greeted(const char *ip, unsigned port);
/* host_state_clear - forget every host (shut-down) */
void host_state_clear(void);

#endif
