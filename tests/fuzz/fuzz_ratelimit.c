/*
 * fuzz_ratelimit.c - libFuzzer target for conf/ratelimit.c's parser: any
 *                    octets (up to the first NUL) as an expanded ratelimit
 *                    condition. A refused spec must say why ("ratelimit: ...");
 *                    an accepted one must have a finite limit >= 0, a per_*
 *                    value in range, a state key starting with its period,
 *                    and must survive two checks on the memory store (held to
 *                    1000 keys) at a fixed time, the second one scoped.
 */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/ratelimit.h"

/* fuzz_clock - a fixed time */
static double
fuzz_clock(void)
{
    return 1700000000.0;
}

/* check_spec - the invariants of an accepted spec */
static void
check_spec(struct rl_spec *s)
{
    const char *key = rl_key(s), *period = rl_period_text(s);
    char err[256];
    double rate;

    if (!isfinite(rl_limit(s)) || rl_limit(s) < 0 || rl_per(s) < RL_PER_MAIL ||
        rl_per(s) > RL_PER_ADDR || key == NULL || period == NULL || rl_limit_text(s) == NULL ||
        strncmp(key, period, strlen(period)) != 0 || key[strlen(period)] != '/')
        abort();
    rl_spec_default_key(s, "192.0.2.1");
    if (rl_check(s, 1, NULL, &rate, err, sizeof err) < 0 || !isfinite(rate) || rate < 0)
        abort();
    if (rl_check(s, 2, "scope", &rate, err, sizeof err) < 0 || !isfinite(rate))
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1), err[256] = "";
    struct rl_spec *s;

    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    rl_set_clock(fuzz_clock);
    rl_set_bounds(1000, 0);
    s = rl_parse(text, err, sizeof err);
    if (s == NULL && strncmp(err, "ratelimit: ", 11) != 0)
        abort();
    if (s != NULL)
        check_spec(s);
    rl_spec_free(s);
    free(text);
    return 0;
}
