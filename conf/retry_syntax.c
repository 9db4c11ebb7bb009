/*
 * retry_syntax.c - the "begin retry" rule syntax and the default rule.
 *
 * A rule is a list of steps "F,cutoff,interval", "G,cutoff,first,factor" and
 * "H,cutoff,first,factor" separated by ';' (Exim's retry rules).
 *
 * Diagnostics: retry_parse_steps sets *why to a constant string.
 * Thread rules: pure functions; safe from any thread.
 */
#include "conf/retry_syntax.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define RETRY_STEP_TEXT_MAX 256
#define RETRY_MAX_STEPS 64

static struct cfg_retry_step retry_default_steps[] = {
    {CFG_RETRY_F, 2 * 3600, 15 * 60, 0.0},
    {CFG_RETRY_G, 16 * 3600, 3600, 1.5},
    {CFG_RETRY_F, 4 * 86400, 6 * 3600, 0.0},
};
static char retry_star[] = "*";

const struct cfg_retry_rule retry_default_rule = {
    .pattern = {.negate = 0, .kind = 2, .name = retry_star, .sub = NULL},
    .error = retry_star,
    .steps = retry_default_steps,
    .nsteps = sizeof retry_default_steps / sizeof retry_default_steps[0],
};

/* retry_fail - record why parsing failed; returns -1 */
static int
retry_fail(const char **why, const char *reason)
{
    *why = reason;
    return -1;
}

/* retry_parse_factor - "1.5" to a double without locale surprises; -1 if bad */
static double
retry_parse_factor(const char *s)
{
    double v = 0.0, scale = 1.0;
    int digits = 0, dot = 0;
    for (; *s; s++) {
        if (*s == '.' && !dot) {
            dot = 1;
        } else if (isdigit((unsigned char)*s)) {
            if (dot) {
                scale /= 10.0;
                v += (*s - '0') * scale;
            } else {
                v = v * 10.0 + (*s - '0');
            }
            if (++digits > 12)
                return -1.0;
        } else {
            return -1.0;
        }
    }
    return digits > 0 ? v : -1.0;
}

/* retry_trim - strip white space at both ends of s in place */
static char *
retry_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* retry_parse_one - one step "X,a,b[,c]" (buffer modified) into st */
static int
retry_parse_one(char *text, struct cfg_retry_step *st, const char **why)
{
    char *f[3];
    size_t nf = 0;
    char *s = retry_trim(text);
    if (s[0] != 'F' && s[0] != 'G' && s[0] != 'H')
        return retry_fail(why, "a step must start with F, G or H");
    st->kind = (enum cfg_retry_kind)s[0];
    s = retry_trim(s + 1);
    if (*s != ',')
        return retry_fail(why, "a comma must follow the step letter");
    for (s++;;) {
        char *c = strchr(s, ',');
        if (nf == 3)
            return retry_fail(why, "too many values in a step");
        if (c != NULL)
            *c = '\0';
        f[nf++] = retry_trim(s);
        if (c == NULL)
            break;
        s = c + 1;
    }
    size_t want = st->kind == CFG_RETRY_F ? 2 : 3;
    if (nf != want)
        return retry_fail(why, st->kind == CFG_RETRY_F
                                   ? "F needs a cutoff and an interval"
                                   : "G and H need a cutoff, an interval and a factor");
    long cutoff = cfg_parse_time(f[0]), interval = cfg_parse_time(f[1]);
    if (cutoff <= 0)
        return retry_fail(why, "bad cutoff time");
    if (interval <= 0)
        return retry_fail(why, "bad interval time");
    st->cutoff_s = (int)cutoff;
    st->interval_s = (int)interval;
    st->factor = 0.0;
    if (want == 3) {
        double fac = retry_parse_factor(f[2]);
        if (!(fac > 1.0) || fac > 1000.0)
            return retry_fail(why, "the factor must be a number above 1");
        st->factor = fac;
    }
    return 0;
}

/* retry_parse_steps - "F,2h,15m; G,16h,1h,1.5" into a malloc'd step array */
int
retry_parse_steps(const char *text, struct cfg_retry_step **steps, size_t *nsteps, const char **why)
{
    static const char *ignored;
    struct cfg_retry_step buf[RETRY_MAX_STEPS];
    size_t n = 0;
    if (why == NULL)
        why = &ignored;
    if (text == NULL || steps == NULL || nsteps == NULL)
        return retry_fail(why, "no steps");
    for (const char *p = text; *p;) {
        const char *e = strchr(p, ';');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        char one[RETRY_STEP_TEXT_MAX];
        if (len >= sizeof one)
            return retry_fail(why, "step too long");
        memcpy(one, p, len);
        one[len] = '\0';
        p += len + (e != NULL);
        if (*retry_trim(one) == '\0')
            continue; /* empty piece, e.g. after a final ';' */
        if (n == RETRY_MAX_STEPS)
            return retry_fail(why, "too many steps");
        if (retry_parse_one(one, &buf[n], why) < 0)
            return -1;
        if (n > 0 && buf[n].cutoff_s <= buf[n - 1].cutoff_s)
            return retry_fail(why, "cutoff times must increase from step to step");
        n++;
    }
    if (n == 0)
        return retry_fail(why, "no steps");
    *steps = malloc(n * sizeof **steps);
    if (*steps == NULL)
        abort(); /* out of memory is fatal in the engine */
    memcpy(*steps, buf, n * sizeof **steps);
    *nsteps = n;
    return 0;
}
