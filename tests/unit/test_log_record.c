/*
 * test_log_record.c - the JSON delivery log: record shape (time stamp,
 * response split, TLS split, left-out fields, bad UTF-8 repaired), the
 * background writer (order, drain at close), size rotation, reopen after a
 * rename, and refusal of a path that cannot be opened.
 */
/* cmocka.h needs these before it */
/* clang-format off */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>
/* clang-format on */

#include <jansson.h>

#include "base/log_record.h"
#include "testutil.h"

/* parse - the line as a JSON object (one line, newline-terminated) */
static json_t *
parse(char *line)
{
    json_error_t err;
    assert_non_null(line);
    size_t n = strlen(line);
    assert_true(n > 2 && line[n - 1] == '\n');
    assert_null(memchr(line, '\n', n - 1));
    json_t *j = json_loads(line, 0, &err);
    assert_non_null(j);
    free(line);
    return j;
}

static const char *
sget(json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static void
test_rfc3339(void **state)
{
    char out[25];
    (void)state;
    log_rfc3339(1714564800123456LL, out);
    assert_string_equal(out, "2024-05-01T12:00:00.123Z");
    log_rfc3339(0, out);
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
    log_rfc3339(-5, out); /* before the epoch: clamped */
    assert_string_equal(out, "1970-01-01T00:00:00.000Z");
}

static void
test_parse_response(void **state)
{
    int code;
    char enh[16];
    const char *rest;
    (void)state;
    log_parse_response("250 2.0.0 OK id=1", &code, enh, &rest);
    assert_int_equal(code, 250);
    assert_string_equal(enh, "2.0.0");
    assert_string_equal(rest, "OK id=1");
    log_parse_response("SMTP error from remote mail server after RCPT TO:<a@b>: 550 5.1.1 no",
                       &code, enh, &rest);
    assert_int_equal(code, 550);
    assert_string_equal(enh, "5.1.1");
    assert_string_equal(rest, "no");
    log_parse_response("451 Try later", &code, enh, &rest);
    assert_int_equal(code, 451);
    assert_string_equal(enh, "");
    assert_string_equal(rest, "Try later");
    log_parse_response("550 4.1.1 class mismatch", &code, enh, &rest); /* not enhanced */
    assert_int_equal(code, 550);
    assert_string_equal(enh, "");
    log_parse_response("connection refused", &code, enh, &rest);
    assert_int_equal(code, 0);
    assert_string_equal(rest, "connection refused");
    const char *bad[] = {"", "25", "2500 x", "650 x", "abc: 12", "x: 1a0 y", "421"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++) {
        log_parse_response(bad[i], &code, enh, &rest);
        assert_int_equal(code, i == 6 ? 421 : 0);
    }
    log_parse_response("5.1.1 x: 421 4.3.2 5.5.5.5", &code, enh, &rest);
    assert_int_equal(code, 421);
    assert_string_equal(enh, "4.3.2");
    log_parse_response("250 2.1234.0 bad", &code, enh, &rest);
    assert_string_equal(enh, "");
}

static void
test_delivery_record(void **state)
{
    (void)state;
    struct log_rec r = {.kind = LOG_REC_DELIVERY,
                        .id = "1a2b3c4d5e6-0001",
                        .sender = "",
                        .recipient = "bob@example.net",
                        .destination = "remote_smtp|25|mx.ex",
                        .host = "mx.ex",
                        .ip = "192.0.2.1",
                        .port = 25,
                        .response = "250 2.0.0 queued",
                        .tls = "TLS1.3:TLS_AES_256_GCM_SHA384:256",
                        .verify = "dane",
                        .attempt = 2,
                        .size = 1234,
                        .arrival_us = 1714564800000000LL};
    json_t *j = parse(log_record_json(&r, 1714564801500000LL));
    assert_string_equal(sget(j, "time"), "2024-05-01T12:00:01.500Z");
    assert_string_equal(sget(j, "event"), "delivery");
    assert_string_equal(sget(j, "sender"), ""); /* the null sender is kept */
    assert_int_equal(json_integer_value(json_object_get(j, "port")), 25);
    assert_int_equal(json_integer_value(json_object_get(j, "queue_time_ms")), 1500);
    assert_int_equal(json_integer_value(json_object_get(j, "attempt")), 2);
    json_t *resp = json_object_get(j, "response"), *tls = json_object_get(j, "tls");
    assert_int_equal(json_integer_value(json_object_get(resp, "code")), 250);
    assert_string_equal(sget(resp, "enhanced"), "2.0.0");
    assert_string_equal(sget(resp, "text"), "250 2.0.0 queued");
    assert_string_equal(sget(tls, "version"), "TLS1.3");
    assert_string_equal(sget(tls, "cipher"), "TLS_AES_256_GCM_SHA384");
    assert_int_equal(json_integer_value(json_object_get(tls, "bits")), 256);
    assert_string_equal(sget(j, "verify"), "dane");
    assert_null(json_object_get(j, "protocol")); /* NULL members are left out */
    assert_null(json_object_get(j, "messages"));
    json_decref(j);
}

static void
test_sparse_and_bad_utf8(void **state)
{
    (void)state;
    struct log_rec r = {.kind = LOG_REC_DEFERRAL,
                        .id = "",
                        .recipient = "a\xff\xc3(@x\"\n",
                        .response = "connection refused",
                        .tls = "",
                        .verify = "",
                        .size = -1};
    json_t *j = parse(log_record_json(&r, 0));
    assert_null(json_object_get(j, "id"));   /* "" left out */
    assert_null(json_object_get(j, "tls"));  /* clear text */
    assert_null(json_object_get(j, "size")); /* unknown */
    assert_null(json_object_get(j, "port"));
    assert_null(json_object_get(j, "queue_time_ms"));
    assert_null(json_object_get(json_object_get(j, "response"), "code"));
    assert_string_equal(sget(j, "recipient"), "a\xef\xbf\xbd\xef\xbf\xbd(@x\"\n");
    json_decref(j);
    r.kind = LOG_REC__COUNT; /* out of range */
    assert_null(log_record_json(&r, 0));
    r.kind = LOG_REC_ADMIN;
    j = parse(log_record_json(&r, 0));
    assert_int_equal(json_integer_value(json_object_get(j, "messages")), 0);
    json_decref(j);
}

/* read_lines - the lines of path into out (up to max); how many */
static int
read_lines(const char *path, char out[][512], int max)
{
    FILE *f = fopen(path, "r");
    int n = 0;
    if (f == NULL)
        return -1;
    while (n < max && fgets(out[n], 512, f) != NULL)
        n++;
    fclose(f);
    return n;
}

/* tmpdir - a fresh directory for one test */
static char *
tmpdir(void)
{
    static char d[64];
    strcpy(d, "/tmp/test_log_record.XXXXXX");
    assert_non_null(mkdtemp(d));
    return d;
}

static void
emit(int k)
{
    char id[17];
    snprintf(id, sizeof(id), "0000000000%d-%04d", 0, k);
    log_record(&(struct log_rec){.kind = LOG_REC_RECEPTION,
                                 .id = id,
                                 .sender = "a@b",
                                 .size = k,
                                 .nrcpt = 1,
                                 .protocol = "esmtp"});
}

static void
test_writer_order(void **state)
{
    char path[128], lines[300][512];
    (void)state;
    char *d = tmpdir();
    snprintf(path, sizeof(path), "%s/j.log", d);
    emit(0); /* not open: nothing happens */
    assert_int_equal(log_record_enabled(), 0);
    assert_int_equal(log_record_open(path, 0), 0);
    assert_int_equal(log_record_open(path, 0), -EBUSY);
    for (int k = 0; k < 200; k++)
        emit(k);
    log_record_close();
    assert_int_equal(read_lines(path, lines, 300), 200);
    for (int k = 0; k < 200; k++) {
        json_t *j = parse(strdup(lines[k]));
        assert_int_equal(json_integer_value(json_object_get(j, "size")), k);
        json_decref(j);
    }
    assert_int_equal(log_record_dropped(), 0);
    tu_rmtree(d);
}

static void
test_rotation(void **state)
{
    char path[128], p1[140], p2[140], lines[300][512];
    struct stat st;
    (void)state;
    char *d = tmpdir();
    snprintf(path, sizeof(path), "%s/j.log", d);
    snprintf(p1, sizeof(p1), "%s.1", path);
    snprintf(p2, sizeof(p2), "%s.2", path);
    assert_int_equal(log_record_open(path, 1000), 0);
    for (int k = 0; k < 30; k++)
        emit(k);
    log_record_close();
    assert_int_equal(stat(p1, &st), 0);
    assert_true(st.st_size <= 1000);
    assert_int_equal(stat(p2, &st), 0);
    assert_int_equal(stat(path, &st), 0);
    assert_true(st.st_size > 0 && st.st_size <= 1000);
    /* nothing lost: the newest file ends with the last record */
    int n = read_lines(path, lines, 300);
    assert_true(n > 0);
    json_t *j = parse(strdup(lines[n - 1]));
    assert_int_equal(json_integer_value(json_object_get(j, "size")), 29);
    json_decref(j);
    tu_rmtree(d);
}

static void
test_reopen(void **state)
{
    char path[128], old[140], lines[10][512];
    (void)state;
    char *d = tmpdir();
    snprintf(path, sizeof(path), "%s/j.log", d);
    snprintf(old, sizeof(old), "%s/j.log.old", d);
    assert_int_equal(log_record_open(path, 0), 0);
    emit(1);
    usleep(400000); /* the writer wakes at least every 200 ms */
    assert_int_equal(rename(path, old), 0);
    log_reopen();
    usleep(400000);
    emit(2);
    log_record_close();
    assert_int_equal(read_lines(old, lines, 10), 1);
    assert_int_equal(read_lines(path, lines, 10), 1);
    json_t *j = parse(strdup(lines[0]));
    assert_int_equal(json_integer_value(json_object_get(j, "size")), 2);
    json_decref(j);
    tu_rmtree(d);
}

static void
test_open_fails(void **state)
{
    (void)state;
    assert_int_equal(log_record_open("/nonexistent-dir/x/j.log", 0), -ENOENT);
    assert_int_equal(log_record_enabled(), 0);
    log_record_close(); /* harmless when not open */
}

int
main(int argc, char **argv)
{
    // clang-format off
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339),
        cmocka_unit_test(test_parse_response),
        cmocka_unit_test(test_delivery_record),
        cmocka_unit_test(test_sparse_and_bad_utf8),
        cmocka_unit_test(test_writer_order),
        cmocka_unit_test(test_rotation),
        cmocka_unit_test(test_reopen),
        cmocka_unit_test(test_open_fails),
    };
    // clang-format on
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
