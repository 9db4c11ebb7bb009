/*
 * retry.h - Exim-style retry schedules (the "begin retry" section).
 *
 * A rule is a list of steps; each applies while the time since the first
 * failure is below its cutoff:
 *   F,cutoff,interval            fixed interval
 *   G,cutoff,first,factor        geometric: first, then previous * factor
 *   H,cutoff,first,factor        like G, but a random point between the
 *                                previous interval and the geometric one
 * After the last cutoff the address has timed out and fails.
 * The default rule when none matches is "F,2h,15m; G,16h,1h,1.5; F,4d,6h".
 * The syntax, and the default rule itself, live in conf/retry_syntax.h.
 */
#ifndef SPATE_ENGINE_RETRY_H
#define SPATE_ENGINE_RETRY_H

#include <stdint.h>

#include "conf/config.h"
#include "conf/retry_syntax.h"

/* retry_next_interval - seconds to wait before the next attempt, given the
 * seconds since the first failure and the previous interval (0 if none);
 * rnd in [0,1) is used by H steps only. Returns -1 when the rule's last
 * cutoff has passed: give up. Never returns less than 1. */
long retry_next_interval(const struct cfg_retry_rule *rule, long since_first_s,
                         long prev_interval_s, double rnd);

#endif
