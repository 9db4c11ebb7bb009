/*
 * test_dashboard.c - the dashboard's recent errors (api/dashboard.c): which
 * main-log records the tap keeps, how local parts are hidden, the ring's
 * bound and order, odd bytes and short lines.
 */
#include <jansson.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "api/http_int.h"
#include "base/log.h"

#include <cmocka.h>

#define STAMP "2024-05-01 12:00:00.123 "

/* errs - the errors array of http_dashboard_errors_json() (caller decrefs top) */
static json_t *
errs(json_t **top)
{
    *top = http_dashboard_errors_json();
    assert_non_null(*top);
    assert_true(json_integer_value(json_object_get(*top, "capacity")) > 0);
    return json_object_get(*top, "errors");
}

/* field - errors[i].name */
static const char *
field(json_t *list, size_t i, const char *name)
{
    const char *s = json_string_value(json_object_get(json_array_get(list, i), name));
    assert_non_null(s);
    return s;
}

/* note - hand line to the tap as the log would */
static void
note(enum log_level level, const char *line)
{
    http_dashboard_note(level, line, strlen(line));
}

static void
test_keeps_deferral_and_failure(void **state)
{
    json_t *top, *list;

    (void)state;
    log_open(NULL, 0);
    http_dashboard_init(); /* through base/log's tap */
    log_info("1AbCdEfGhIj-0001 == tempfail@d1.test R=dnslookup T=smtp defer (-44): 451 4.3.0");
    log_info("1AbCdEfGhIj-0002 ** bad.user@d2.test R=dnslookup T=smtp: 550 5.1.1 <bad.user@d2>");
    log_info("1AbCdEfGhIj-0003 => ok@d1.test R=dnslookup T=smtp H=mx.d1.test C=\"250 OK\"");
    log_info("1AbCdEfGhIj-0004 <= someone@example.org P=http S=300");
    log_info("1AbCdEfGhIj-0004 Completed");
    log_warn("HTTP: a warning is not kept");
    list = errs(&top);
    assert_true(json_array_size(list) >= 2);
    assert_string_equal(field(list, 0, "kind"), "fail");
    assert_string_equal(field(list, 0, "text"),
                        "1AbCdEfGhIj-0002 ** *@d2.test R=dnslookup T=smtp: 550 5.1.1 <*@d2>");
    assert_string_equal(field(list, 1, "kind"), "defer");
    assert_string_equal(field(list, 1, "text"),
                        "1AbCdEfGhIj-0001 == *@d1.test R=dnslookup T=smtp defer (-44): 451 4.3.0");
    assert_int_equal(strlen(field(list, 0, "time")), 23);
    assert_int_equal(field(list, 0, "time")[10], ' ');
    json_decref(top);
    log_set_tap(NULL);
}

static void
test_error_level_kept(void **state)
{
    json_t *top, *list;

    (void)state;
    note(LOG_ERR, STAMP "spool: commit failed: No space left on device");
    note(LOG_WARN, STAMP "TLS: a warning");
    list = errs(&top);
    assert_string_equal(field(list, 0, "kind"), "error");
    assert_string_equal(field(list, 0, "text"), "spool: commit failed: No space left on device");
    assert_string_equal(field(list, 0, "time"), "2024-05-01 12:00:00.123");
    json_decref(top);
}

static void
test_local_parts_hidden(void **state)
{
    static const char *const in[][2] = {
        {"<a.b+c@x.test>", "<*@x.test>"},
        {"(user@host)", "(*@host)"},
        {"x=foo@bar y", "x=*@bar y"},
        {"@only", "@only"},
        {"a@b@c", "*@*@c"},
        {"\"q u\"@d", "*@d"},
        {"no address here", "no address here"},
    };
    char line[256], want[256];
    json_t *top, *list;

    (void)state;
    for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
        snprintf(line, sizeof(line), STAMP "1AbCdEfGhIj-0009 == %s", in[i][0]);
        snprintf(want, sizeof(want), "1AbCdEfGhIj-0009 == %s", in[i][1]);
        note(LOG_INFO, line);
        list = errs(&top);
        assert_string_equal(field(list, 0, "text"), want);
        json_decref(top);
    }
}

static void
test_ring_is_bounded_newest_first(void **state)
{
    char line[128], want[64];
    json_t *top, *list;
    size_t cap;

    (void)state;
    for (int i = 0; i < 500; i++) {
        snprintf(line, sizeof(line), STAMP "1AbCdEfGhIj-%04d ** n%d@d.test", i, i);
        note(LOG_INFO, line);
    }
    list = errs(&top);
    cap = (size_t)json_integer_value(json_object_get(top, "capacity"));
    assert_int_equal(json_array_size(list), cap);
    assert_true(cap < 500);
    for (size_t k = 0; k < cap; k++) {
        snprintf(want, sizeof(want), "1AbCdEfGhIj-%04zu ** *@d.test", 499 - k);
        assert_string_equal(field(list, k, "text"), want);
    }
    json_decref(top);
}

static void
test_odd_bytes_and_long_lines(void **state)
{
    char line[3000];
    json_t *top, *list;
    const char *t;

    (void)state;
    snprintf(line, sizeof(line), STAMP "1AbCdEfGhIj-0010 == x@y.test ");
    for (size_t n = strlen(line); n < sizeof(line) - 1; n++)
        line[n] = (char)(n % 256 == 0 ? 1 : n % 256);
    line[sizeof(line) - 1] = '\0';
    note(LOG_INFO, line);
    list = errs(&top);
    t = field(list, 0, "text"); /* jansson took it: valid UTF-8 */
    assert_true(strlen(t) < 500);
    assert_memory_equal(t, "1AbCdEfGhIj-0010 == *@y.test ", 29);
    for (const char *p = t; *p; p++)
        assert_true(*p >= 0x20 && *p < 0x7f);
    json_decref(top);
}

static void
test_short_lines_ignored(void **state)
{
    json_t *top, *list;
    size_t before;
    char first[600];

    (void)state;
    note(LOG_INFO, STAMP "1AbCdEfGhIj-0011 == first@d.test");
    list = errs(&top);
    before = json_array_size(list);
    snprintf(first, sizeof(first), "%s", field(list, 0, "text"));
    json_decref(top);
    note(LOG_INFO, "");
    note(LOG_INFO, "x");
    note(LOG_INFO, STAMP);
    note(LOG_INFO, STAMP "1AbCdEfGhIj-0012 ==");
    note(LOG_INFO, STAMP "1AbCdEfGhIj-0013 =>= x");
    note(LOG_INFO, STAMP "nospace");
    list = errs(&top);
    assert_int_equal(json_array_size(list), before);
    assert_string_equal(field(list, 0, "text"), first);
    json_decref(top);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keeps_deferral_and_failure),
        cmocka_unit_test(test_error_level_kept),
        cmocka_unit_test(test_local_parts_hidden),
        cmocka_unit_test(test_ring_is_bounded_newest_first),
        cmocka_unit_test(test_odd_bytes_and_long_lines),
        cmocka_unit_test(test_short_lines_ignored),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
