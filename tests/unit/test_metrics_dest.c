/*
 * test_metrics_dest.c - the delivery latency and queue time histograms
 * (bucket placement, bad values), and the per-destination series: top
 * METRICS_DEST_TOP by traffic, the rest summed as "other", queue depth,
 * label escaping.
 */
/* cmocka.h needs these before it */
/* clang-format off */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
/* clang-format on */

#include "base/metrics.h"

/* text - the whole exposition text (caller frees) */
static char *
text(void)
{
    struct metrics_snapshot s;
    size_t len;
    metrics_snapshot(&s);
    char *t = metrics_prometheus_text(&s, &len);
    assert_non_null(t);
    assert_int_equal(strlen(t), len);
    return t;
}

/* has - does the text hold this exact line? */
static int
has(const char *t, const char *line)
{
    size_t n = strlen(line);
    for (const char *p = strstr(t, line); p != NULL; p = strstr(p + 1, line))
        if ((p == t || p[-1] == '\n') && p[n] == '\n')
            return 1;
    return 0;
}

static void
test_histograms(void **state)
{
    (void)state;
    metrics_observe(MH_DELIVERY_LATENCY, 0.03);
    metrics_observe(MH_DELIVERY_LATENCY, -1);   /* a clock step: counted as 0 */
    metrics_observe(MH_DELIVERY_LATENCY, NAN);  /* the same */
    metrics_observe(MH_DELIVERY_LATENCY, 1000); /* above every bound */
    metrics_observe(MH__COUNT, 1);              /* ignored */
    metrics_observe(MH_QUEUE_TIME, 120);
    char *t = text();
    assert_true(has(t, "# TYPE spate_delivery_duration_seconds histogram"));
    assert_true(has(t, "spate_delivery_duration_seconds_bucket{le=\"0.01\"} 2"));
    assert_true(has(t, "spate_delivery_duration_seconds_bucket{le=\"0.05\"} 3"));
    assert_true(has(t, "spate_delivery_duration_seconds_bucket{le=\"60\"} 3"));
    assert_true(has(t, "spate_delivery_duration_seconds_bucket{le=\"+Inf\"} 4"));
    assert_true(has(t, "spate_delivery_duration_seconds_count 4"));
    assert_true(has(t, "spate_delivery_duration_seconds_sum 1000.030000"));
    assert_true(has(t, "spate_queue_time_seconds_bucket{le=\"60\"} 0"));
    assert_true(has(t, "spate_queue_time_seconds_bucket{le=\"300\"} 1"));
    assert_true(has(t, "spate_queue_time_seconds_count 1"));
    free(t);
}

static void
test_top_and_other(void **state)
{
    char key[64], line[160];
    (void)state;
    for (int d = 1; d <= METRICS_DEST_TOP + 5; d++) {
        snprintf(key, sizeof(key), "smtp|25|mx%02d", d);
        for (int k = 0; k < d; k++)
            metrics_dest_count(key, MD_DELIVERED);
        metrics_dest_count(key, MD_DEFERRED);
        metrics_dest_queue(key, d);
    }
    metrics_dest_count(NULL, MD_DELIVERED);                      /* ignored */
    metrics_dest_count("x", (enum metrics_dest_event)MD__COUNT); /* ignored */
    char *t = text();
    /* the busiest (mx25 ... mx06) have their own series */
    assert_true(has(t, "spate_destination_delivered_total{destination=\"smtp|25|mx25\"} 25"));
    assert_true(has(t, "spate_destination_deferred_total{destination=\"smtp|25|mx06\"} 1"));
    assert_true(has(t, "spate_destination_queue_depth{destination=\"smtp|25|mx06\"} 6"));
    assert_null(strstr(t, "mx05\""));
    assert_null(strstr(t, "destination=\"x\""));
    /* mx01 ... mx05: 1+2+3+4+5 deliveries, 5 deferrals, depth 15 */
    assert_true(has(t, "spate_destination_delivered_total{destination=\"other\"} 15"));
    assert_true(has(t, "spate_destination_deferred_total{destination=\"other\"} 5"));
    assert_true(has(t, "spate_destination_queue_depth{destination=\"other\"} 15"));
    assert_true(has(t, "spate_destination_failed_total{destination=\"other\"} 0"));
    int series = 0;
    for (const char *p = strstr(t, "spate_destination_delivered_total{"); p != NULL;
         p = strstr(p + 1, "spate_destination_delivered_total{"))
        series++;
    assert_int_equal(series, METRICS_DEST_TOP + 1);
    snprintf(line, sizeof(line), "# TYPE spate_destination_queue_depth gauge");
    assert_true(has(t, line));
    free(t);
}

static void
test_label_escaped(void **state)
{
    (void)state;
    metrics_dest_count("a\"b\\c\nd", MD_FAILED);
    char *t = text();
    assert_true(has(t, "spate_destination_failed_total{destination=\"a\\\"b\\\\c\\nd\"} 1"));
    free(t);
}

int
main(int argc, char **argv)
{
    // clang-format off
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_histograms),
        cmocka_unit_test(test_top_and_other),
        cmocka_unit_test(test_label_escaped),
    };
    // clang-format on
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
