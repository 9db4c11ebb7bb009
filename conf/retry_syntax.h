/*
 * retry_syntax.h - Exim-style retry rules as written in "begin retry".
 *
 * A rule is a list of steps; each applies while the time since the first
 * failure is below its cutoff:
 *   F,cutoff,interval            fixed interval
 *   G,cutoff,first,factor        geometric: first, then previous * factor
 *   H,cutoff,first,factor        like G, but a random point between the
 *                                previous interval and the geometric one
 * The default rule when none matches is "F,2h,15m; G,16h,1h,1.5; F,4d,6h".
 * What the steps mean at run time is engine/retry.h's business.
 * Thread rules: pure functions and constant data; any thread.
 */
#ifndef SPATE_CONF_RETRY_SYNTAX_H
#define SPATE_CONF_RETRY_SYNTAX_H

#include <stddef.h>

#include "conf/config.h"

/* The rule used when no "begin retry" rule matches a domain. */
extern const struct cfg_retry_rule retry_default_rule;

/* retry_parse_steps - parse "F,2h,15m; G,16h,1h,1.5" into *steps (malloc'd,
 * *nsteps of them; the caller frees); 0, or -1 with a constant reason in
 * *why (why may be NULL) */
int retry_parse_steps(const char *text, struct cfg_retry_step **steps, size_t *nsteps,
                      const char **why);

#endif
