/*
 * base.h - the ground floor: what every other part of spate stands on and
 *          that knows nothing of mail.
 *
 * Owns
 *   loop.h      one event loop per thread (epoll, a timer heap, a wait-free
 *               inbox for work posted from other threads), and the monotonic
 *               clock in milliseconds (eng_now_ms)
 *   log.h       the main log: one line per record, one write(2) each, from
 *               any thread; optional JSON lines
 *   metrics.h   the metrics registry: counters kept per thread and summed on
 *               read, gauges, the commit latency histogram, Prometheus text
 *   sockaddr.h  socket addresses written as text ("ip:port", "[v6]:port")
 *
 * Rules
 *   - base/ includes nothing of the project, and its library links no other
 *     project library (tests/lint/floors.py checks this on every build).
 *   - Every folder above may include these headers; the thread rules of each
 *     are stated at the top of its own header.
 */
#ifndef SPATE_BASE_BASE_H
#define SPATE_BASE_BASE_H

#include "base/log.h"
#include "base/loop.h"
#include "base/metrics.h"
#include "base/sockaddr.h"

#endif
