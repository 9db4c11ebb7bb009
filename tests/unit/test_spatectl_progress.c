/*
 * test_spatectl_progress.c - spatectl's progress line (cmd/spatectl_progress.c):
 * the action picked out of GET /api/v1/admin/actions by op and domain or
 * first id, the newest of several, kept by id once seen; the line's text,
 * a long selector cut and control characters shown as '?'.
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

#include "cmd/spatectl.h"

/* answer - parsed JSON text (the test owns it) */
static json_t *
answer(const char *text)
{
    json_t *j = json_loads(text, 0, NULL);

    assert_non_null(j);
    return j;
}

static const char *const TWO =
    "{\"actions\":["
    "{\"id\":3,\"op\":\"bounce\",\"selector\":\"domain=x\",\"domain\":\"x\",\"visited\":10,"
    "\"queued\":100,\"affected\":4},"
    "{\"id\":4,\"op\":\"freeze\",\"selector\":\"domain=x\",\"domain\":\"x\",\"visited\":20,"
    "\"queued\":100,\"affected\":20},"
    "{\"id\":7,\"op\":\"bounce\",\"selector\":\"domain=x\",\"domain\":\"x\",\"visited\":40000,"
    "\"queued\":100000,\"affected\":12345},"
    "{\"id\":9,\"op\":\"bounce\",\"selector\":\"ids=AAA,BBB\",\"domain\":null,\"visited\":1,"
    "\"queued\":5,\"affected\":1}]}";

static void
picks_newest_by_op_and_domain(void **state)
{
    struct ctl_prog p = {.op = "bounce", .domain = "x"};
    json_t *j = answer(TWO);
    char line[128];

    (void)state;
    assert_int_equal(ctl_prog_pick(&p, j), 1);
    assert_int_equal(p.id, 7);
    ctl_prog_line(&p, 3, line, sizeof(line));
    assert_string_equal(line,
                        "bounce domain=x: 40000/100000 messages visited, 12345 affected, 3 s");
    json_decref(j);
}

static void
picks_by_first_id_and_then_by_id(void **state)
{
    struct ctl_prog p = {.op = "bounce", .id0 = "AAA"};
    json_t *j = answer(TWO), *k;

    (void)state;
    assert_int_equal(ctl_prog_pick(&p, j), 1);
    assert_int_equal(p.id, 9);
    assert_string_equal(p.selector, "ids=AAA,BBB");
    /* once seen, only its id counts: gone from the list, not found */
    k = answer("{\"actions\":[{\"id\":10,\"op\":\"bounce\",\"selector\":\"ids=AAA\","
               "\"domain\":null,\"visited\":1,\"queued\":1,\"affected\":1}]}");
    assert_int_equal(ctl_prog_pick(&p, k), 0);
    assert_int_equal(p.id, 9);
    assert_int_equal(p.visited, 1);
    json_decref(j);
    json_decref(k);
}

static void
not_listed(void **state)
{
    struct ctl_prog p = {.op = "thaw", .domain = "x"}, q = {.op = "bounce", .domain = "y"};
    json_t *j = answer(TWO), *e = answer("{\"actions\":[]}");

    (void)state;
    assert_int_equal(ctl_prog_pick(&p, j), 0);
    assert_int_equal(ctl_prog_pick(&q, j), 0);
    assert_int_equal(ctl_prog_pick(&q, e), 0);
    assert_int_equal(p.id, 0);
    json_decref(j);
    json_decref(e);
}

static void
long_selector_cut_and_controls_replaced(void **state)
{
    struct ctl_prog p = {.op = "freeze", .domain = "a\x1b[2Jb"};
    char text[600], sel[300], line[200];
    json_t *j;

    (void)state;
    snprintf(sel, sizeof(sel), "domain=a\\u001b[2Jb%0200d", 7);
    snprintf(text, sizeof(text),
             "{\"actions\":[{\"id\":1,\"op\":\"freeze\",\"selector\":\"%s\","
             "\"domain\":\"a\\u001b[2Jb\",\"visited\":0,\"queued\":0,\"affected\":0}]}",
             sel);
    j = answer(text);
    assert_int_equal(ctl_prog_pick(&p, j), 1);
    assert_int_equal(strlen(p.selector), sizeof(p.selector) - 1);
    assert_null(strchr(p.selector, '\x1b'));
    assert_memory_equal(p.selector, "domain=a?[2Jb", 13);
    assert_string_equal(p.selector + sizeof(p.selector) - 4, "...");
    ctl_prog_line(&p, 0, line, sizeof(line));
    assert_null(strchr(line, '\x1b'));
    json_decref(j);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(picks_newest_by_op_and_domain),
        cmocka_unit_test(picks_by_first_id_and_then_by_id),
        cmocka_unit_test(not_listed),
        cmocka_unit_test(long_selector_cut_and_controls_replaced),
    };

    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
