/*
 * test_spatectl_top.c - the data side of "spatectl top" (cmd/spatectl_topdata.c,
 * cmd/spatectl_toptext.c): the Prometheus text reader, well-formed and not,
 * rates over a counter reset, the frame built from two samples, and text
 * that holds terminal escapes reaching the output only as '?'.
 */
/* cmocka.h needs these before it */
/* clang-format off */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
/* clang-format on */

#include <jansson.h>
#include <math.h>

#include "cmd/spatectl_top.h"

/* What the reader handed back. */
struct seen {
    int n;
    char names[8][64], labels[8][128];
    double v[8];
};

/* collect - top_prom_each callback */
static void
collect(void *arg, const char *name, size_t nlen, const char *labels, size_t llen, double value)
{
    struct seen *s = arg;

    if (s->n >= 8)
        return;
    snprintf(s->names[s->n], sizeof(s->names[0]), "%.*s", (int)nlen, name);
    snprintf(s->labels[s->n], sizeof(s->labels[0]), "%.*s", (int)llen, labels);
    s->v[s->n++] = value;
}

/* each - top_prom_each over a NUL-terminated text */
static long
each(const char *text, struct seen *s)
{
    memset(s, 0, sizeof(*s));
    return top_prom_each(text, strlen(text), collect, s);
}

static void
test_prom_samples(void **state)
{
    struct seen s;
    const char *text = "# HELP spate_a_total A.\n"
                       "# TYPE spate_a_total counter\n"
                       "\n"
                       "spate_a_total 12\n"
                       "spate_b{destination=\"x \\\"q\\\" }\\\\\",le=\"0.5\"} 3.5 1700000000000\n"
                       "  spate_c{} +Inf\n"
                       "spate_d NaN\r\n"
                       "ns:e\t-2e3";

    (void)state;
    assert_int_equal(each(text, &s), 5);
    assert_string_equal(s.names[0], "spate_a_total");
    assert_string_equal(s.labels[0], "");
    assert_true(s.v[0] == 12);
    assert_string_equal(s.names[1], "spate_b");
    assert_string_equal(s.labels[1], "destination=\"x \\\"q\\\" }\\\\\",le=\"0.5\"");
    assert_true(s.v[1] == 3.5);
    assert_true(isinf(s.v[2]) && s.v[2] > 0);
    assert_true(isnan(s.v[3]));
    assert_string_equal(s.names[4], "ns:e");
    assert_true(s.v[4] == -2000);
    assert_int_equal(each("", &s), 0);
    assert_int_equal(each("# only\n\n", &s), 0);
}

static void
test_prom_malformed(void **state)
{
    static const char *const bad[] = {
        "spate_x",                    /* no value */
        "spate_x ",                   /* no value */
        "spate_x 12abc",              /* value not a number */
        "spate_x 1 2 3",              /* more after the timestamp */
        "spate_x 1 12.5",             /* timestamp not an integer */
        "spate_x{a=\"b} 1",           /* unterminated label value */
        "spate_x{a=b} 1",             /* unquoted label value */
        "spate_x{a=\"\\q\"} 1",       /* unknown escape */
        "spate_x{=\"v\"} 1",          /* no label name */
        "spate_x{a=\"v\" b=\"w\"} 1", /* no comma between labels */
        "spate_x{a=\"v\"",            /* no closing brace */
        "spate_x{a=\"v\"}1",          /* no blank before the value */
        "1spate 2",                   /* name starts with a digit */
        "spate-x 2",                  /* '-' in a name */
        "{a=\"v\"} 1",                /* no name */
    };
    char text[256];
    struct seen s;

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), "spate_ok 1\n# c\n%s\nspate_after 2\n", bad[i]);
        assert_int_equal(each(text, &s), -3);
        assert_int_equal(s.n, 1); /* nothing from the bad line or after it */
    }
}

static void
test_prom_fill(void **state)
{
    struct top_sample s = {0};
    const char *text = "spate_recipients_delivered_total 40\n"
                       "spate_destination_delivered_total{destination=\"a\"} 999\n"
                       "spate_recipients_delivered_total_other 5\n"
                       "other_recipients_failed_total 7\n"
                       "spate_recipients_failed_total 2\n"
                       "spate_queue_messages 17\n";

    (void)state;
    assert_int_equal(top_prom_fill(text, strlen(text), &s), 0);
    assert_true(s.v[TOP_DELIVERED] == 40);
    assert_true(s.v[TOP_FAILED] == 2);
    assert_true(s.v[TOP_QUEUED] == 17);
    assert_int_equal(s.have, (1u << TOP_DELIVERED) | (1u << TOP_FAILED) | (1u << TOP_QUEUED));
    assert_int_equal(top_prom_fill("spate_queue_messages x\n", 23, &s), -1);
}

static void
test_rate(void **state)
{
    (void)state;
    assert_true(top_rate(10, 30, 2) == 10);
    assert_true(top_rate(10, 10, 2) == 0);
    assert_true(top_rate(500, 3, 2) == 0); /* counter reset: the daemon restarted */
    assert_true(top_rate(1, 9, 0) == 0);
    assert_true(top_rate(1, 9, -1) == 0);
    assert_true(top_rate(1, NAN, 1) == 0);
}

static void
test_scrub(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(top_scrub("plain text", out, sizeof(out), -1), 10);
    assert_string_equal(out, "plain text");
    top_scrub("a\x1b[2Jb\x1b]0;t\x07", out, sizeof(out), -1);
    assert_string_equal(out, "a?[2Jb?]0;t?");
    top_scrub("c\xc2\x9b"
              "31m\x9b"
              "1m\x7f\n\t\r",
              out, sizeof(out), -1);
    assert_string_equal(out, "c?31m?1m????"); /* C1 CSI in UTF-8 and raw, DEL, C0 */
    top_scrub("caf\xc3\xa9 \xe2\x82\xac", out, sizeof(out), -1);
    assert_string_equal(out, "caf\xc3\xa9 \xe2\x82\xac"); /* valid UTF-8 kept */
    top_scrub("\xc0\xaf \xed\xa0\x80 \xf4\x90\x80\x80 \xe2\x82", out, sizeof(out), -1);
    assert_string_equal(out, "?? ??? ???? ??"); /* overlong, surrogate, > U+10FFFF, cut */
    assert_int_equal(top_scrub("\xc3\xa9\xc3\xa9\xc3\xa9", out, sizeof(out), 2), 2);
    assert_string_equal(out, "\xc3\xa9\xc3\xa9"); /* cols count characters */
    top_scrub("ab\xc3\xa9", out, 4, -1);
    assert_string_equal(out, "ab"); /* no half sequence at the end */
    top_scrub(NULL, out, sizeof(out), -1);
    assert_string_equal(out, "");
}

/* sample - a sample at mono seconds with delivered/deferred counters and two destinations */
static void
sample(struct top_sample *s, double mono, double delivered, double deferred, json_int_t a_dlv)
{
    memset(s, 0, sizeof(*s));
    s->mono = mono;
    s->wall = 1700000000;
    s->v[TOP_DELIVERED] = delivered;
    s->v[TOP_DEFERRED] = deferred;
    s->v[TOP_QUEUED] = 9;
    s->have = 1u << TOP_DELIVERED | 1u << TOP_DEFERRED | 1u << TOP_QUEUED;
    s->dests =
        json_pack("{s:i, s:i, s:[{s:s, s:s, s:i, s:I, s:b}, {s:s, s:s, s:i, s:i, s:b}]}",
                  "messages", 9, "recipients", 11, "destinations", "destination", "t:25:mx.a.test",
                  "domain", "a.test", "ready", 1, "delivered", a_dlv, "suspended", 0, "destination",
                  "t:25:mx.b.test", "domain", "b.test", "ready", 8, "delivered", 0, "suspended", 1);
    s->errors = json_pack("[{s:s, s:s, s:s}, {s:s, s:s, s:s}, {s:s, s:s, s:s}]", "time", "t3",
                          "kind", "defer", "text", "X == *@a.testing: 451 other domain", "time",
                          "t2", "kind", "defer", "text", "X == *@A.test R=r: 451 newest", "time",
                          "t1", "kind", "fail", "text", "X ** *@a.test: 550 older");
}

static void
test_frame(void **state)
{
    struct top_sample a, b;
    json_t *f, *d, *r;

    (void)state;
    sample(&a, 100.0, 50, 10, 20);
    sample(&b, 102.0, 70, 4, 26); /* deferred went back: a reset */
    f = top_frame(NULL, &a, 10);
    assert_true(json_is_null(json_object_get(f, "rates")));
    assert_int_equal(json_integer_value(json_object_get(json_object_get(f, "totals"), "delivered")),
                     50);
    json_decref(f);
    f = top_frame(&a, &b, 2);
    r = json_object_get(f, "rates");
    assert_true(json_real_value(json_object_get(r, "delivered")) == 10.0);
    assert_true(json_real_value(json_object_get(r, "deferred")) == 0.0);
    assert_null(json_object_get(r, "bounced")); /* not served: left out */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(f, "queue"), "messages")),
                     9);
    d = json_object_get(f, "destinations");
    assert_int_equal(json_array_size(d), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(d, 0), "domain")),
                        "b.test"); /* most ready first */
    assert_true(json_is_null(json_object_get(json_array_get(d, 0), "last_error")));
    assert_true(json_real_value(json_object_get(json_array_get(d, 1), "rate")) == 3.0);
    assert_string_equal(json_string_value(json_object_get(json_array_get(d, 1), "last_error")),
                        "X == *@A.test R=r: 451 newest");
    assert_int_equal(json_array_size(json_object_get(f, "errors")), 2);
    assert_string_equal(json_string_value(json_object_get(f, "time")), "2023-11-14T22:13:20Z");
    json_decref(f);
    top_sample_clear(&a);
    top_sample_clear(&b);
}

/* render - top_render into a malloc'd string */
static char *
render(json_t *frame, int rows, int cols)
{
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);

    assert_non_null(f);
    top_render(f, frame, rows, cols);
    fclose(f);
    return buf;
}

static void
test_render_scrubs(void **state)
{
    struct top_sample a, b;
    json_t *f, *e;
    char *out;

    (void)state;
    sample(&a, 1.0, 1, 1, 1);
    sample(&b, 2.0, 2, 2, 2);
    e = json_array_get(b.errors, 1);
    json_object_set_new(e, "text",
                        json_string("X == *@a.test: \x1b]0;owned\x07\x1b[2J\xc2\x9b"
                                    "31m"));
    json_object_set_new(json_array_get(json_object_get(b.dests, "destinations"), 0), "destination",
                        json_string("mx\x1b[1;1Hevil"));
    f = top_frame(&a, &b, 10);
    out = render(f, 0, 0);
    assert_non_null(strstr(out, "mx?[1;1Hevil"));
    assert_non_null(strstr(out, "*@a.test: ?]0;owned??[2J?31m"));
    for (const char *p = out; *p; p++)
        assert_true((unsigned char)*p >= 0x20 || *p == '\n');
    assert_null(strstr(out, "\xc2\x9b"));
    free(out);
    json_decref(f);
    top_sample_clear(&a);
    top_sample_clear(&b);
}

static void
test_render_fits(void **state)
{
    struct top_sample a, b;
    json_t *f;
    char *out;
    int lines = 0;

    (void)state;
    sample(&a, 1.0, 1, 1, 1);
    sample(&b, 2.0, 2, 2, 2);
    f = top_frame(&a, &b, 10);
    out = render(f, 7, 30);
    for (char *line = out, *nl; (nl = strchr(line, '\n')) != NULL; line = nl + 1) {
        assert_true(nl - line <= 30);
        lines++;
    }
    assert_int_equal(lines, 7);
    free(out);
    out = render(f, 0, 0); /* no limit: everything, the rates too */
    assert_non_null(strstr(out, "delivered 1.0"));
    assert_non_null(strstr(out, "t:25:mx.a.test"));
    assert_non_null(strstr(out, "recent errors"));
    free(out);
    json_decref(f);
    top_sample_clear(&a);
    top_sample_clear(&b);
}

int
main(int argc, char **argv)
{
    // clang-format off
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prom_samples),
        cmocka_unit_test(test_prom_malformed),
        cmocka_unit_test(test_prom_fill),
        cmocka_unit_test(test_rate),
        cmocka_unit_test(test_scrub),
        cmocka_unit_test(test_frame),
        cmocka_unit_test(test_render_scrubs),
        cmocka_unit_test(test_render_fits),
    };
    // clang-format on
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
