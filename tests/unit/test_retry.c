/*
 * test_retry.c - unit tests for retry schedules (engine/retry.c).
 *
 * Walks the default rule and hand-made rules through retry_next_interval,
 * checking each step kind, the cutoffs, giving up, geometric growth, the
 * H step's bounds, and the step parser's refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine/retry.h"

#include <cmocka.h>

#define MIN 60L
#define HOUR 3600L
#define DAY 86400L

/* make_rule - a rule from step text (steps malloc'd; free with free_rule) */
static struct cfg_retry_rule
make_rule(const char *text)
{
    struct cfg_retry_rule r;
    const char *why = NULL;
    memset(&r, 0, sizeof r);
    if (retry_parse_steps(text, &r.steps, &r.nsteps, &why) != 0)
        fail_msg("\"%s\" refused: %s", text, why);
    return r;
}

/* free_rule - release make_rule's steps */
static void
free_rule(struct cfg_retry_rule *r)
{
    free(r->steps);
}

/* test_default_rule - the built-in rule F,2h,15m; G,16h,1h,1.5; F,4d,6h */
static void
test_default_rule(void **state)
{
    (void)state;
    const struct cfg_retry_rule *r = &retry_default_rule;
    assert_int_equal(r->nsteps, 3);
    assert_string_equal(r->error, "*");
    assert_int_equal(r->pattern.kind, 2);
    assert_int_equal(r->steps[0].kind, CFG_RETRY_F);
    assert_int_equal(r->steps[0].cutoff_s, 2 * HOUR);
    assert_int_equal(r->steps[0].interval_s, 15 * MIN);
    assert_int_equal(r->steps[1].kind, CFG_RETRY_G);
    assert_int_equal(r->steps[1].cutoff_s, 16 * HOUR);
    assert_int_equal(r->steps[1].interval_s, HOUR);
    assert_true(r->steps[1].factor > 1.4999 && r->steps[1].factor < 1.5001);
    assert_int_equal(r->steps[2].kind, CFG_RETRY_F);
    assert_int_equal(r->steps[2].cutoff_s, 4 * DAY);
    assert_int_equal(r->steps[2].interval_s, 6 * HOUR);
}

/* test_fixed_step - F steps return their interval */
static void
test_fixed_step(void **state)
{
    (void)state;
    const struct cfg_retry_rule *r = &retry_default_rule;
    assert_int_equal(retry_next_interval(r, 0, 0, 0.5), 15 * MIN);
    assert_int_equal(retry_next_interval(r, 15 * MIN, 15 * MIN, 0.5), 15 * MIN);
    assert_int_equal(retry_next_interval(r, 2 * HOUR - 1, 15 * MIN, 0.5), 15 * MIN);
    /* the last F step: fixed 6h whatever came before */
    assert_int_equal(retry_next_interval(r, 16 * HOUR, 10 * HOUR, 0.5), 6 * HOUR);
    assert_int_equal(retry_next_interval(r, 3 * DAY, 6 * HOUR, 0.5), 6 * HOUR);
    /* a NULL rule means the default */
    assert_int_equal(retry_next_interval(NULL, 0, 0, 0.5), 15 * MIN);
}

/* test_cutoffs_and_give_up - step boundaries and giving up after the last cutoff */
static void
test_cutoffs_and_give_up(void **state)
{
    (void)state;
    const struct cfg_retry_rule *r = &retry_default_rule;
    /* exactly at a cutoff the next step applies */
    assert_int_equal(retry_next_interval(r, 2 * HOUR, 15 * MIN, 0.5), HOUR);
    assert_int_equal(retry_next_interval(r, 4 * DAY - 1, 6 * HOUR, 0.5), 6 * HOUR);
    assert_int_equal(retry_next_interval(r, 4 * DAY, 6 * HOUR, 0.5), -1);
    assert_int_equal(retry_next_interval(r, 30 * DAY, 6 * HOUR, 0.5), -1);
    struct cfg_retry_rule none = {.nsteps = 0};
    assert_int_equal(retry_next_interval(&none, 0, 0, 0.5), -1);
}

/* test_geometric_growth - G growth, restarting at the base on entering the step */
static void
test_geometric_growth(void **state)
{
    (void)state;
    const struct cfg_retry_rule *r = &retry_default_rule;
    /* entering G from the F step starts at G's own interval */
    long t = 2 * HOUR, prev = 15 * MIN;
    long want[] = {HOUR, 90 * MIN, 135 * MIN, 12150, 18225};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        long next = retry_next_interval(r, t, prev, 0.5);
        assert_int_equal(next, want[i]);
        t += next;
        prev = next;
    }
    /* from a larger interval chosen in another step, G still restarts at its base */
    struct cfg_retry_rule two = make_rule("F,1h,2h; G,10h,30m,2");
    assert_int_equal(retry_next_interval(&two, 2 * HOUR, 2 * HOUR, 0.5), 30 * MIN);
    assert_int_equal(retry_next_interval(&two, 150 * MIN, 30 * MIN, 0.5), HOUR);
    assert_int_equal(retry_next_interval(&two, 210 * MIN, HOUR, 0.5), 2 * HOUR);
    /* the first attempt inside a G rule uses the base interval */
    struct cfg_retry_rule g = make_rule("G,1d,10m,3");
    assert_int_equal(retry_next_interval(&g, 0, 0, 0.5), 10 * MIN);
    assert_int_equal(retry_next_interval(&g, 10 * MIN, 10 * MIN, 0.5), 30 * MIN);
    assert_int_equal(retry_next_interval(&g, 40 * MIN, 30 * MIN, 0.5), 90 * MIN);
    free_rule(&two);
    free_rule(&g);
}

/* test_h_bounds - H picks between the previous interval and the G value */
static void
test_h_bounds(void **state)
{
    (void)state;
    struct cfg_retry_rule h = make_rule("F,1h,10m; H,10d,1h,2");
    /* entering the H step: the base interval */
    assert_int_equal(retry_next_interval(&h, HOUR, 10 * MIN, 0.9), HOUR);
    /* inside it: between the previous interval and previous * factor */
    assert_int_equal(retry_next_interval(&h, 5 * HOUR, 2 * HOUR, 0.0), 2 * HOUR);
    long top = retry_next_interval(&h, 5 * HOUR, 2 * HOUR, 0.999999);
    assert_true(top > 4 * HOUR - 2 && top <= 4 * HOUR);
    assert_int_equal(retry_next_interval(&h, 5 * HOUR, 2 * HOUR, 0.5), 3 * HOUR);
    for (int i = 0; i < 1000; i++) {
        double rnd = i / 1000.0;
        long v = retry_next_interval(&h, 5 * HOUR, 2 * HOUR, rnd);
        assert_true(v >= 2 * HOUR && v <= 4 * HOUR);
    }
    /* out-of-range rnd is clamped, never escapes the bounds */
    long lo = retry_next_interval(&h, 5 * HOUR, 2 * HOUR, -3.0);
    long hi = retry_next_interval(&h, 5 * HOUR, 2 * HOUR, 7.0);
    assert_int_equal(lo, 2 * HOUR);
    assert_true(hi <= 4 * HOUR);
    free_rule(&h);
}

/* test_never_below_one - odd inputs still give at least one second, huge growth is capped */
static void
test_never_below_one(void **state)
{
    (void)state;
    struct cfg_retry_rule f = make_rule("F,1h,1s");
    assert_int_equal(retry_next_interval(&f, -50, -3, 0.5), 1);
    struct cfg_retry_rule bad = {.steps = f.steps, .nsteps = 1};
    bad.steps[0].interval_s = 0; /* a hand-built rule with a zero interval */
    assert_int_equal(retry_next_interval(&bad, 0, 0, 0.5), 1);
    /* huge growth is capped rather than overflowing */
    struct cfg_retry_rule g = make_rule("G,1000w,1d,1000");
    long v = retry_next_interval(&g, 100 * DAY, 50 * DAY, 0.5);
    assert_true(v > 0 && v <= 365 * DAY);
    free_rule(&f);
    free_rule(&g);
}

/* test_parse_steps - step text with blanks, fractions and combined times */
static void
test_parse_steps(void **state)
{
    (void)state;
    struct cfg_retry_rule r = make_rule(" F, 2h ,15m ;G,16h,1h,1.5;  H,4d,6h,2.25 ; ");
    assert_int_equal(r.nsteps, 3);
    assert_int_equal(r.steps[0].kind, CFG_RETRY_F);
    assert_int_equal(r.steps[0].cutoff_s, 2 * HOUR);
    assert_int_equal(r.steps[0].interval_s, 15 * MIN);
    assert_int_equal(r.steps[1].kind, CFG_RETRY_G);
    assert_true(r.steps[1].factor > 1.4999 && r.steps[1].factor < 1.5001);
    assert_int_equal(r.steps[2].kind, CFG_RETRY_H);
    assert_int_equal(r.steps[2].cutoff_s, 4 * DAY);
    assert_int_equal(r.steps[2].interval_s, 6 * HOUR);
    assert_true(r.steps[2].factor > 2.2499 && r.steps[2].factor < 2.2501);
    free_rule(&r);
    r = make_rule("F,1h30m,90");
    assert_int_equal(r.steps[0].cutoff_s, 90 * MIN);
    assert_int_equal(r.steps[0].interval_s, 90);
    free_rule(&r);
}

/* test_parse_errors - each kind of malformed step text is refused with a reason */
static void
test_parse_errors(void **state)
{
    (void)state;
    const struct {
        const char *text, *why;
    } cases[] = {
        {"", "no steps"},
        {" ; ;", "no steps"},
        {"F,2h", "F needs"},
        {"F,2h,15m,3", "F needs"},
        {"G,2h,15m", "G and H need"},
        {"H,2h,15m,2,9", "too many"},
        {"X,2h,15m", "F, G or H"},
        {"f,2h,15m", "F, G or H"},
        {"F 2h,15m", "comma"},
        {"F,2x,15m", "cutoff"},
        {"F,0,15m", "cutoff"},
        {"F,2h,", "interval"},
        {"F,2h,0s", "interval"},
        {"G,2h,15m,1", "factor"},
        {"G,2h,15m,0.5", "factor"},
        {"G,2h,15m,1.5.1", "factor"},
        {"H,2h,15m,abc", "factor"},
        {"F,2h,15m; F,2h,30m", "cutoff"},
        {"F,2h,15m; G,1h,1h,1.5", "cutoff"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct cfg_retry_step *steps = NULL;
        size_t n = 99;
        const char *why = NULL;
        if (retry_parse_steps(cases[i].text, &steps, &n, &why) != -1) {
            free(steps);
            fail_msg("\"%s\" accepted", cases[i].text);
        }
        assert_non_null(why);
        if (strstr(why, cases[i].why) == NULL)
            fail_msg("\"%s\": reason \"%s\" lacks \"%s\"", cases[i].text, why, cases[i].why);
    }
    struct cfg_retry_step *steps;
    size_t n;
    assert_int_equal(retry_parse_steps(NULL, &steps, &n, NULL), -1);
    char longtext[400];
    memset(longtext, ' ', sizeof longtext - 1);
    longtext[sizeof longtext - 1] = '\0';
    longtext[0] = 'F';
    assert_int_equal(retry_parse_steps(longtext, &steps, &n, NULL), -1);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_default_rule),
    cmocka_unit_test(test_fixed_step),
    cmocka_unit_test(test_cutoffs_and_give_up),
    cmocka_unit_test(test_geometric_growth),
    cmocka_unit_test(test_h_bounds),
    cmocka_unit_test(test_never_below_one),
    cmocka_unit_test(test_parse_steps),
    cmocka_unit_test(test_parse_errors),
};

/* clang-format off */
int main(int argc, char **argv) { if (argc > 1) cmocka_set_test_filter(argv[1]); return cmocka_run_group_tests(tests, NULL, NULL); }
/* clang-format on */
