/*
 * test_metrics.c - per-thread counters summed exactly, slots of exited
 * threads kept, gauges, histogram bucket placement, the name tables and the
 * Prometheus text they produce.
 *
 * Counters are process-wide, so every check compares against a snapshot
 * taken at the start of the test.
 */
/* cmocka.h needs these before it */
/* clang-format off */
#include <math.h>
#include <pthread.h>
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

#define NTHREADS 8
#define NINC 200000

/* worker - count on its own slot, then exit */
static void *
worker(void *arg)
{
    (void)arg;
    for (int i = 0; i < NINC; i++) {
        metrics_inc(MC_DELIVERED);
        metrics_add(MC_SPOOL_COMMIT_MSGS, 3);
    }
    metrics_inc(MC_CONN_OPENED);
    return NULL;
}

/* test_threads_summed - increments from many threads add up exactly */
static void
test_threads_summed(void **state)
{
    struct metrics_snapshot a, mid, b;
    pthread_t t[NTHREADS];

    (void)state;
    metrics_snapshot(&a);
    for (int i = 0; i < NTHREADS; i++)
        assert_int_equal(pthread_create(&t[i], NULL, worker, NULL), 0);
    metrics_snapshot(&mid); /* while they run: never more than the end */
    for (int i = 0; i < NTHREADS; i++)
        pthread_join(t[i], NULL);
    metrics_snapshot(&b);
    assert_true(mid.counter[MC_DELIVERED] <= b.counter[MC_DELIVERED]);
    assert_int_equal(b.counter[MC_DELIVERED] - a.counter[MC_DELIVERED], (uint64_t)NTHREADS * NINC);
    assert_int_equal(b.counter[MC_SPOOL_COMMIT_MSGS] - a.counter[MC_SPOOL_COMMIT_MSGS],
                     (uint64_t)NTHREADS * NINC * 3);
    assert_int_equal(b.counter[MC_CONN_OPENED] - a.counter[MC_CONN_OPENED], NTHREADS);
    /* counters nobody touched did not move */
    assert_int_equal(b.counter[MC_BOUNCES_SENT], a.counter[MC_BOUNCES_SENT]);
}

/* once - count a little on a fresh thread */
static void *
once(void *arg)
{
    metrics_add(MC_DNS_QUERIES, (uint64_t)(uintptr_t)arg);
    return NULL;
}

/* test_exited_thread_kept - a thread's counts survive its exit */
static void
test_exited_thread_kept(void **state)
{
    struct metrics_snapshot a, b;
    pthread_t t;

    (void)state;
    metrics_snapshot(&a);
    for (uintptr_t k = 1; k <= 50; k++) {
        assert_int_equal(pthread_create(&t, NULL, once, (void *)k), 0);
        pthread_join(t, NULL);
    }
    metrics_inc(MC_DNS_QUERIES); /* and this thread's own slot */
    metrics_snapshot(&b);
    assert_int_equal(b.counter[MC_DNS_QUERIES] - a.counter[MC_DNS_QUERIES], 50 * 51 / 2 + 1);
    metrics_snapshot(&a); /* a second read gives the same sums */
    assert_memory_equal(a.counter, b.counter, sizeof(a.counter));
}

/* test_bad_index_ignored - out-of-range counters and gauges are ignored */
static void
test_bad_index_ignored(void **state)
{
    struct metrics_snapshot a, b;

    (void)state;
    metrics_snapshot(&a);
    metrics_inc(MC__COUNT);
    metrics_add((enum metrics_counter) - 1, 5);
    metrics_gauge_set(MG__COUNT, 5);
    metrics_gauge_add((enum metrics_gauge) - 1, 5);
    metrics_snapshot(&b);
    assert_memory_equal(a.counter, b.counter, sizeof(a.counter));
    assert_memory_equal(a.gauge, b.gauge, sizeof(a.gauge));
    assert_null(metrics_counter_name(MC__COUNT));
    assert_null(metrics_gauge_name(MG__COUNT));
}

/* test_gauges - set and add, including below zero */
static void
test_gauges(void **state)
{
    struct metrics_snapshot s;

    (void)state;
    metrics_gauge_set(MG_QUEUED, 42);
    metrics_gauge_add(MG_QUEUED, 8);
    metrics_gauge_set(MG_CONN_OPEN, 3);
    metrics_gauge_add(MG_CONN_OPEN, -5);
    metrics_snapshot(&s);
    assert_int_equal(s.gauge[MG_QUEUED], 50);
    assert_int_equal(s.gauge[MG_CONN_OPEN], -2);
}

/* test_histogram_buckets - each value lands in the first bucket whose bound
 * it does not exceed; bounds are inclusive (Prometheus "le") */
static void
test_histogram_buckets(void **state)
{
    static const struct {
        double v;
        int bucket;
    } cases[] = {
        {0.0, 0},   {0.0005, 0}, {0.00051, 1}, {0.001, 1}, {0.002, 2}, {0.0049, 3},
        {0.007, 4}, {0.02, 5},   {0.05, 6},    {0.09, 7},  {0.2, 8},   {0.99, 9},
        {1.0, 9},   {1.5, 10},   {3600, 10},   {-1.0, 0},  {NAN, 0},
    };
    size_t n = sizeof(cases) / sizeof(cases[0]);
    struct metrics_snapshot a, b;
    uint64_t want[METRICS_COMMIT_BUCKETS + 1] = {0};
    double sum = 0;

    (void)state;
    assert_true(metrics_commit_bounds[0] == 0.0005);
    assert_true(metrics_commit_bounds[METRICS_COMMIT_BUCKETS - 1] == 1.0);
    for (int i = 1; i < METRICS_COMMIT_BUCKETS; i++)
        assert_true(metrics_commit_bounds[i - 1] < metrics_commit_bounds[i]);
    metrics_snapshot(&a);
    for (size_t i = 0; i < n; i++) {
        metrics_commit_latency(cases[i].v);
        want[cases[i].bucket]++;
        if (cases[i].v > 0)
            sum += cases[i].v;
    }
    metrics_snapshot(&b);
    for (int i = 0; i <= METRICS_COMMIT_BUCKETS; i++)
        assert_int_equal(b.commit_bucket[i] - a.commit_bucket[i], want[i]);
    assert_int_equal(b.commit_count - a.commit_count, n);
    assert_true(fabs((b.commit_sum_s - a.commit_sum_s) - sum) < 1e-6);
}

/* valid_name - Prometheus metric name: [a-zA-Z_:][a-zA-Z0-9_:]* */
static int
valid_name(const char *s)
{
    if (s == NULL || *s == '\0' || strchr("0123456789", *s) != NULL)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') || (*s >= '0' && *s <= '9') ||
              *s == '_' || *s == ':'))
            return 0;
    return 1;
}

/* ends_with - does s end in suffix? */
static int
ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);

    return a >= b && strcmp(s + a - b, suffix) == 0;
}

/* test_name_tables - valid, unique, _total on counters only, help present */
static void
test_name_tables(void **state)
{
    const char *names[MC__COUNT + MG__COUNT + 1];
    size_t n = 0;

    (void)state;
    assert_true(valid_name("spate_x:y_1"));
    assert_false(valid_name("1abc"));
    assert_false(valid_name("a-b"));
    assert_false(valid_name(""));
    for (int i = 0; i < MC__COUNT; i++) {
        const char *h = metrics_counter_help(i);
        names[n++] = metrics_counter_name(i);
        assert_true(valid_name(names[n - 1]));
        assert_true(ends_with(names[n - 1], "_total"));
        assert_non_null(h);
        assert_true(strlen(h) > 5 && strchr(h, '\n') == NULL && strchr(h, '\\') == NULL);
    }
    for (int i = 0; i < MG__COUNT; i++) {
        const char *h = metrics_gauge_help(i);
        names[n++] = metrics_gauge_name(i);
        assert_true(valid_name(names[n - 1]));
        assert_false(ends_with(names[n - 1], "_total"));
        assert_non_null(h);
        assert_true(strlen(h) > 5 && strchr(h, '\n') == NULL && strchr(h, '\\') == NULL);
    }
    names[n++] = METRICS_COMMIT_NAME;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++)
            assert_string_not_equal(names[i], names[j]);
    assert_string_equal(metrics_counter_name(MC_RECEIVED), "messages_received_total");
    assert_string_equal(metrics_gauge_name(MG_QUEUED), "queue_messages");
}

/* sample_value - the value of the sample line "name value" in text, or -1 */
static double
sample_value(const char *text, const char *name)
{
    char key[256];
    const char *p;

    snprintf(key, sizeof(key), "\n%s ", name);
    p = strstr(text, key);
    return p != NULL ? strtod(p + strlen(key), NULL) : -1;
}

/* check_line - one exposition line: HELP/TYPE or a well-formed sample of a
 * family whose TYPE came before it */
static void
check_line(const char *line, char types[][128], size_t *ntypes)
{
    char name[128], rest[256];

    if (strncmp(line, "# HELP ", 7) == 0) {
        assert_int_equal(sscanf(line + 7, "%127s %255[^\n]", name, rest), 2);
        assert_true(valid_name(name) && strncmp(name, "spate_", 6) == 0);
        return;
    }
    if (strncmp(line, "# TYPE ", 7) == 0) {
        assert_int_equal(sscanf(line + 7, "%127s %255s", name, rest), 2);
        assert_true(valid_name(name));
        for (size_t i = 0; i < *ntypes; i++)
            assert_string_not_equal(types[i], name); /* one TYPE per family */
        assert_true(strcmp(rest, "counter") == 0 || strcmp(rest, "gauge") == 0 ||
                    strcmp(rest, "histogram") == 0);
        assert_true(*ntypes < 64);
        snprintf(types[(*ntypes)++], 128, "%s", name);
        return;
    }
    size_t k = strcspn(line, "{ ");
    assert_true(k > 0 && k < sizeof(name));
    memcpy(name, line, k);
    name[k] = '\0';
    assert_true(valid_name(name));
    char *end;
    const char *v = strrchr(line, ' ') + 1;
    strtod(v, &end);
    assert_true(end != v && *end == '\0');
    int found = 0;
    for (size_t i = 0; i < *ntypes && !found; i++)
        found = strncmp(name, types[i], strlen(types[i])) == 0;
    assert_true(found);
}

/* test_prometheus_text - the exposition text is well formed and current */
static void
test_prometheus_text(void **state)
{
    struct metrics_snapshot s;
    char types[64][128], line[512];
    size_t ntypes = 0, len;
    char *text;

    (void)state;
    metrics_inc(MC_RECEIVED);
    metrics_commit_latency(0.003);
    metrics_snapshot(&s);
    text = metrics_prometheus_text(&s, &len);
    assert_non_null(text);
    assert_int_equal(strlen(text), len);
    assert_true(len > 0 && text[len - 1] == '\n');
    for (const char *p = text; *p;) {
        size_t k = strcspn(p, "\n");
        assert_true(k > 0 && k < sizeof(line));
        memcpy(line, p, k);
        line[k] = '\0';
        check_line(line, types, &ntypes);
        p += k + 1;
    }
    /* + commit histogram, 2 process figures, 2 latency histograms, 4 destination families */
    assert_int_equal(ntypes, MC__COUNT + MG__COUNT + 3 + MH__COUNT + MD__COUNT + 1);
    assert_true(sample_value(text, "spate_messages_received_total") ==
                (double)s.counter[MC_RECEIVED]);
    assert_non_null(strstr(text, "# TYPE spate_messages_received_total counter\n"));
    assert_non_null(strstr(text, "# TYPE spate_queue_messages gauge\n"));
    assert_non_null(strstr(text, "# TYPE spate_spool_commit_duration_seconds histogram\n"));
    /* cumulative buckets: +Inf equals the count */
    assert_true(sample_value(text, "spate_spool_commit_duration_seconds_bucket{le=\"+Inf\"}") ==
                (double)s.commit_count);
    assert_true(sample_value(text, "spate_spool_commit_duration_seconds_count") ==
                (double)s.commit_count);
    assert_true(sample_value(text, "spate_spool_commit_duration_seconds_bucket{le=\"0.005\"}") >=
                1);
    assert_true(sample_value(text, "spate_process_resident_memory_bytes") > 0);
    assert_true(sample_value(text, "spate_process_cpu_seconds_total") >= 0);
    free(text);
}

/* test_process - resident memory and CPU time are plausible */
static void
test_process(void **state)
{
    uint64_t rss;
    double cpu;

    (void)state;
    assert_int_equal(metrics_process(&rss, &cpu), 0);
    assert_true(rss > 4096 && rss < (1ull << 40));
    assert_true(cpu >= 0 && cpu < 1e6);
}

int
main(int argc, char **argv)
{
    // clang-format off
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads_summed),
        cmocka_unit_test(test_exited_thread_kept),
        cmocka_unit_test(test_bad_index_ignored),
        cmocka_unit_test(test_gauges),
        cmocka_unit_test(test_histogram_buckets),
        cmocka_unit_test(test_name_tables),
        cmocka_unit_test(test_prometheus_text),
        cmocka_unit_test(test_process),
    };
    // clang-format on
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
