/*
 * test_spool_export.c - the spool export format (spool/export.c): a
 * round trip keeps the envelope, every recipient's state and DSN request
 * and the body octet for octet; the decoder refuses truncated, padded and
 * malformed exports; the encoder refuses what it cannot write; and
 * spool_exists answers for committed ids.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool/spool.h"
#include "testutil.h"

#include <cmocka.h>

#define ID "0Abc9defGhi-00zZ"
#define ORIGIN "0Abc9defGhh-0001"

static const char body[] = "Subject: t\r\n\r\nline one\r\n\0binary\r\n";
#define BODY_LEN (sizeof(body) - 1)

/* sample - a message with three recipients in each state */
static struct spool_msg *
sample(void)
{
    struct spool_msg *m = calloc(1, sizeof(*m));
    memcpy(m->id, ID, SPOOL_ID_SIZE);
    m->sender = strdup("\"a b\"@example.org");
    m->arrival_us = 1700000000123456;
    m->flags = SPOOL_F_8BITMIME;
    m->proto = strdup("esmtp");
    m->host = strdup("[192.0.2.1]:40000");
    m->helo = strdup("client.example");
    m->dsn_ret = SPOOL_RET_HDRS;
    m->dsn_envid = strdup("QQ+2B1");
    m->nrcpt = 3;
    m->rcpt = calloc(3, sizeof(*m->rcpt));
    m->rcpt[0].address = strdup("b@example.net");
    m->rcpt[0].dsn_notify = SPOOL_NOTIFY_SUCCESS | SPOOL_NOTIFY_FAILURE;
    m->rcpt[0].dsn_orcpt = strdup("rfc822;b+40example.net");
    m->rcpt[1].address = strdup("c@example.net");
    m->rcpt[1].state = SPOOL_RCPT_DELIVERED;
    m->rcpt[2].address = strdup("d@example.com");
    m->rcpt[2].state = SPOOL_RCPT_FAILED;
    m->rcpt[2].dsn_notify = SPOOL_NOTIFY_NEVER;
    return m;
}

/* encode - the sample's export */
static char *
encode(struct spool_msg *m, size_t *len)
{
    char *buf = spool_export_encode(m, ORIGIN, body, BODY_LEN, len);
    assert_non_null(buf);
    return buf;
}

/* decodes - does text (NUL-terminated, no body) decode? */
static int
decodes(const char *text)
{
    struct spool_export x;
    char err[200] = "";
    int rc = spool_export_decode(text, strlen(text), &x, err, sizeof(err));
    if (rc == 0)
        spool_export_clear(&x);
    else
        assert_true(err[0] != '\0');
    return rc == 0;
}

static void
test_roundtrip(void **state)
{
    struct spool_msg *m = sample();
    struct spool_export x;
    char err[200];
    size_t len;
    char *buf = encode(m, &len);
    (void)state;
    assert_int_equal(spool_export_decode(buf, len, &x, err, sizeof(err)), 0);
    assert_string_equal(x.msg->id, ID);
    assert_string_equal(x.origin, ORIGIN);
    assert_string_equal(x.msg->sender, m->sender);
    assert_true(x.msg->arrival_us == m->arrival_us);
    assert_int_equal(x.msg->flags, SPOOL_F_8BITMIME);
    assert_string_equal(x.msg->host, "[192.0.2.1]:40000");
    assert_string_equal(x.msg->helo, "client.example");
    assert_int_equal(x.msg->dsn_ret, SPOOL_RET_HDRS);
    assert_string_equal(x.msg->dsn_envid, "QQ+2B1");
    assert_int_equal(x.msg->nrcpt, 3);
    for (uint32_t i = 0; i < 3; i++) {
        assert_string_equal(x.msg->rcpt[i].address, m->rcpt[i].address);
        assert_int_equal(x.msg->rcpt[i].state, m->rcpt[i].state);
        assert_int_equal(x.msg->rcpt[i].dsn_notify, m->rcpt[i].dsn_notify);
    }
    assert_string_equal(x.msg->rcpt[0].dsn_orcpt, "rfc822;b+40example.net");
    assert_null(x.msg->rcpt[1].dsn_orcpt);
    assert_int_equal(x.body_len, BODY_LEN);
    assert_memory_equal(x.body, body, BODY_LEN);
    spool_export_clear(&x);
    free(buf);
    spool_msg_free(m);
}

static void
test_text_form(void **state)
{
    struct spool_msg *m = sample();
    size_t len;
    char *buf = encode(m, &len);
    (void)state;
    assert_true(strncmp(buf, "spate-export 1\nid: " ID "\n", 20 + SPOOL_ID_LEN) == 0);
    assert_non_null(strstr(buf, "\nrcpt: pending success,failure rfc822;b+40example.net "
                                "b@example.net\n"));
    assert_non_null(strstr(buf, "\nrcpt: delivered - - c@example.net\n"));
    assert_non_null(strstr(buf, "\nrcpt: failed never - d@example.com\n"));
    assert_non_null(strstr(buf, "\nret: hdrs\nenvid: QQ+2B1\n"));
    assert_memory_equal(buf + len - BODY_LEN, body, BODY_LEN);
    free(buf);
    spool_msg_free(m);
}

static void
test_truncated_and_padded_refused(void **state)
{
    struct spool_msg *m = sample();
    struct spool_export x;
    char err[200];
    size_t len;
    char *buf = encode(m, &len);
    (void)state;
    for (size_t cut = 0; cut < len; cut++) /* every prefix: a torn file */
        assert_int_equal(spool_export_decode(buf, cut, &x, err, sizeof(err)), -1);
    buf = realloc(buf, len + 1);
    buf[len] = 'x';
    assert_int_equal(spool_export_decode(buf, len + 1, &x, err, sizeof(err)), -1);
    assert_non_null(strstr(err, "size"));
    free(buf);
    spool_msg_free(m);
}

static void
test_malformed_headers_refused(void **state)
{
    (void)state;
    assert_true(decodes("spate-export 1\nid: " ID "\nsender: \nrcpt: pending - - a@b\n"
                        "size: 0\n\n"));
    assert_false(decodes("spate-export 2\nid: " ID "\nsender: \nrcpt: pending - - a@b\n"
                         "size: 0\n\n"));
    assert_false(decodes("spate-export 1\nid: nope\nsender: \nrcpt: pending - - a@b\n"
                         "size: 0\n\n"));
    assert_false(decodes("spate-export 1\nid: " ID "\nid: " ID "\nsender: \n"
                         "rcpt: pending - - a@b\nsize: 0\n\n"));
    assert_false(decodes("spate-export 1\nid: " ID "\nsender: \nrcpt: sent - - a@b\n"
                         "size: 0\n\n"));
    assert_false(decodes("spate-export 1\nid: " ID "\nsender: \nrcpt: pending often - a@b\n"
                         "size: 0\n\n"));
    assert_false(decodes("spate-export 1\nid: " ID "\nsender: \nrcpt: pending - -\n"
                         "size: 0\n\n"));
    assert_false(decodes("spate-export 1\nid: " ID "\nsender: \nsize: 0\n\n"));
    assert_false(decodes("spate-export 1\nid: " ID "\nsender: \nrcpt: pending - - a@b\n"
                         "colour: blue\nsize: 0\n\n"));
    assert_false(decodes("spate-export 1\nid: " ID "\nsender: \nrcpt: pending - - a@b\n"
                         "size: -1\n\n"));
    assert_false(decodes("spate-export 1\nid: " ID "\nsender: \rx\nrcpt: pending - - a@b\n"
                         "size: 0\n\n"));
    assert_false(decodes("spate-export 1\nid: " ID "\nsender: \nrcpt: pending - - a@b\n"
                         "ret: all\nsize: 0\n\n"));
    assert_false(decodes(""));
}

static void
test_encoder_refuses_line_breaks(void **state)
{
    struct spool_msg *m = sample();
    size_t len;
    (void)state;
    free(m->rcpt[1].address);
    m->rcpt[1].address = strdup("x@y\nrcpt: pending - - evil@z");
    assert_null(spool_export_encode(m, NULL, body, BODY_LEN, &len));
    free(m->rcpt[1].address);
    m->rcpt[1].address = strdup("x@y");
    free(m->rcpt[0].dsn_orcpt);
    m->rcpt[0].dsn_orcpt = strdup("rfc822;a b");
    assert_null(spool_export_encode(m, NULL, body, BODY_LEN, &len));
    spool_msg_free(m);
}

/* on_done - a submission's status into *arg */
static void
on_done(struct spool_submission *sub, int status, void *arg)
{
    (void)sub;
    *(volatile int *)arg = status;
}

/* on_commit - the commit hook: not needed, free */
static void
on_commit(struct spool_msg *m, void *arg)
{
    (void)arg;
    spool_msg_free(m);
}

static void
test_exists_after_commit(void **state)
{
    char dir[] = "/tmp/spool_export_XXXXXX", err[200];
    volatile int status = 1;
    struct spool_submission *sub = calloc(1, sizeof(*sub));
    spool *sp;
    (void)state;
    assert_non_null(mkdtemp(dir));
    assert_non_null(sp = spool_open(dir, err, sizeof(err)));
    assert_int_equal(spool_start(sp, on_commit, NULL, 16), 0);
    memcpy(sub->id, ID, SPOOL_ID_SIZE);
    assert_int_equal(spool_exists(sp, ID), 0);
    sub->sender = strdup("");
    sub->nrcpt = 1;
    sub->rcpts = calloc(1, sizeof(char *));
    sub->rcpts[0] = strdup("a@b");
    sub->body = strdup("x\r\n");
    sub->body_len = 3;
    sub->done = on_done;
    sub->arg = (void *)&status;
    spool_submit(sp, sub);
    for (int i = 0; i < 500 && status == 1; i++)
        usleep(10000);
    assert_int_equal(status, 0);
    assert_int_equal(spool_exists(sp, ID), 1);
    assert_int_equal(spool_exists(sp, ORIGIN), 0);
    spool_close(sp);
    tu_rmtree(dir);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip),
        cmocka_unit_test(test_text_form),
        cmocka_unit_test(test_truncated_and_padded_refused),
        cmocka_unit_test(test_malformed_headers_refused),
        cmocka_unit_test(test_encoder_refuses_line_breaks),
        cmocka_unit_test(test_exists_after_commit),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
