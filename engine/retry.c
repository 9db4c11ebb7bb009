/*
 * retry.c - Exim-style retry schedules: when to try an address again.
 *
 * The step in force is the first whose cutoff exceeds the time since the
 * first failure; past the last cutoff the address has timed out
 * (retry_next_interval returns -1).
 *
 * G grows geometrically inside its step: the first interval is the step's own,
 * each later one the previous times the factor. Whether the previous interval
 * came from the same step is worked out from the time it was chosen
 * (since_first - prev_interval), so entering a G step from an F step (or from
 * another G step) starts again at the G step's base interval. H picks a point,
 * uniformly by rnd, between the previous interval (the base when entering the
 * step) and the interval G would have chosen.
 *
 * The rules' syntax is the configuration's (conf/retry_syntax.c).
 * Thread rules: pure functions; safe from any thread.
 */
#include "engine/retry.h"

#include <limits.h>
#include <stdlib.h>

#define RETRY_MAX_INTERVAL (365L * 86400L) /* never schedule further than a year */

/* retry_step_at - index of the step in force at t seconds, or -1 past the end */
static long
retry_step_at(const struct cfg_retry_rule *rule, long t)
{
    for (size_t i = 0; i < rule->nsteps; i++)
        if (t < rule->steps[i].cutoff_s)
            return (long)i;
    return -1;
}

/* retry_next_interval - seconds until the next attempt, or -1 to give up */
long
retry_next_interval(const struct cfg_retry_rule *rule, long since_first_s, long prev_interval_s,
                    double rnd)
{
    if (rule == NULL)
        rule = &retry_default_rule;
    if (since_first_s < 0)
        since_first_s = 0;
    if (prev_interval_s < 0)
        prev_interval_s = 0;
    long i = retry_step_at(rule, since_first_s);
    if (i < 0)
        return -1;
    const struct cfg_retry_step *st = &rule->steps[i];
    double base = st->interval_s > 0 ? st->interval_s : 1;
    double next = base;
    if (st->kind != CFG_RETRY_F) {
        long chosen_at = since_first_s - prev_interval_s;
        int same = prev_interval_s > 0 && retry_step_at(rule, chosen_at < 0 ? 0 : chosen_at) == i;
        double grown = same ? (double)prev_interval_s * st->factor : base;
        if (grown < base)
            grown = base;
        next = grown;
        if (st->kind == CFG_RETRY_H) {
            double lo = same ? (double)prev_interval_s : base;
            if (lo > grown)
                lo = grown;
            if (!(rnd >= 0.0)) /* also catches NaN */
                rnd = 0.0;
            if (rnd >= 1.0)
                rnd = 0.999999;
            next = lo + rnd * (grown - lo);
        }
    }
    if (next > (double)RETRY_MAX_INTERVAL)
        next = (double)RETRY_MAX_INTERVAL;
    if (next < 1.0)
        next = 1.0;
    return (long)next;
}
