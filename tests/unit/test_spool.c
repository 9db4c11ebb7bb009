/*
 * test_spool.c - the durable queue: record codec, group commit, recovery,
 *                bodies, ids.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "spool/spool.h"

#include <cmocka.h>

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done, status, hooked;
    struct spool_msg *msgs[128];
};

static void
on_done(struct spool_submission *sub, int status, void *arg)
{
    struct waiter *w = arg;
    (void)sub;
    pthread_mutex_lock(&w->mu);
    w->done++;
    w->status = status;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void
on_hook(struct spool_msg *m, void *arg)
{
    struct waiter *w = arg;
    pthread_mutex_lock(&w->mu);
    w->msgs[w->hooked++] = m;
    pthread_cond_broadcast(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static char *
tmpdir(void)
{
    char tmpl[] = "/tmp/spool-test-XXXXXX";
    char *d = mkdtemp(tmpl);
    assert_non_null(d);
    return strdup(d);
}

static struct spool_submission *
make_sub(spool *sp, const char *sender, const char *body, struct waiter *w)
{
    struct spool_submission *s = calloc(1, sizeof(*s));
    spool_new_id(sp, s->id);
    s->sender = strdup(sender);
    s->nrcpt = 2;
    s->rcpts = calloc(2, sizeof(char *));
    s->rcpts[0] = strdup("a@d1.example");
    s->rcpts[1] = strdup("b@d2.example");
    s->body = strdup(body);
    s->body_len = strlen(body);
    s->proto = strdup("esmtp");
    s->done = on_done;
    s->arg = w;
    return s;
}

static void
wait_done(struct waiter *w, int n)
{
    pthread_mutex_lock(&w->mu);
    while (w->done < n)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

static void
wait_hooked(struct waiter *w, int n)
{
    pthread_mutex_lock(&w->mu);
    while (w->hooked < n)
        pthread_cond_wait(&w->cv, &w->mu);
    pthread_mutex_unlock(&w->mu);
}

static void
test_codec_roundtrip(void **state)
{
    (void)state;
    struct spool_rcpt r[2] = {{.address = "x@y.example", .state = SPOOL_RCPT_DELIVERED},
                              {.address = "z@w.example",
                               .attempts = 3,
                               .next_try = 99,
                               .first_failure = 7,
                               .last_interval = 900}};
    struct spool_msg m = {.id = "0123456789A-BCDE",
                          .sender = "",
                          .proto = "http",
                          .host = "[127.0.0.1]:5",
                          .helo = "",
                          .body_len = 42,
                          .body_seg = 3,
                          .body_off = 1000,
                          .nrcpt = 2,
                          .rcpt = r,
                          .flags = SPOOL_F_NOTICE};
    size_t len;
    void *rec = spool_msg_encode(&m, &len);
    struct spool_msg *d = spool_msg_decode(rec, len);
    assert_non_null(d);
    assert_string_equal(d->id, m.id);
    assert_string_equal(d->sender, "");
    assert_string_equal(d->host, "[127.0.0.1]:5");
    assert_int_equal(d->body_off, 1000);
    assert_int_equal(d->flags, SPOOL_F_NOTICE);
    assert_int_equal(d->nrcpt, 2);
    assert_string_equal(d->rcpt[1].address, "z@w.example");
    assert_int_equal(d->rcpt[0].state, SPOOL_RCPT_DELIVERED);
    assert_int_equal(d->rcpt[1].attempts, 3);
    assert_int_equal(d->rcpt[1].last_interval, 900);
    spool_msg_free(d);
    /* every truncation and a corrupted state byte are refused */
    for (size_t cut = 0; cut < len; cut++)
        assert_null(spool_msg_decode(rec, cut));
    ((unsigned char *)rec)[len - 23] = 9; /* last recipient's state byte */
    assert_null(spool_msg_decode(rec, len));
    free(rec);
}

static void
test_ids_unique_and_sorted(void **state)
{
    (void)state;
    char *dir = tmpdir(), err[256], prev[SPOOL_ID_SIZE] = "", id[SPOOL_ID_SIZE];
    spool *sp = spool_open(dir, err, sizeof(err));
    assert_non_null(sp);
    for (int i = 0; i < 10000; i++) {
        spool_new_id(sp, id);
        assert_int_equal(strlen(id), SPOOL_ID_LEN);
        assert_true(strcmp(prev, id) < 0);
        memcpy(prev, id, sizeof(id));
    }
    spool_close(sp);
    free(dir);
}

static void
test_commit_then_recover(void **state)
{
    (void)state;
    struct waiter w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    char *dir = tmpdir(), err[256], ids[10][SPOOL_ID_SIZE];
    spool *sp = spool_open(dir, err, sizeof(err));
    assert_non_null(sp);
    assert_int_equal(spool_recover(sp, on_hook, &w), 0);
    assert_int_equal(spool_start(sp, on_hook, &w, 4), 0);
    for (int i = 0; i < 10; i++) {
        char body[64];
        snprintf(body, sizeof(body), "Subject: %d\r\n\r\nbody %d\r\n", i, i);
        struct spool_submission *s = make_sub(sp, i ? "s@x.example" : "", body, &w);
        memcpy(ids[i], s->id, SPOOL_ID_SIZE);
        spool_submit(sp, s);
    }
    wait_done(&w, 10);
    assert_int_equal(w.status, 0);
    spool_close(sp); /* drains */
    assert_int_equal(w.hooked, 10);
    /* mark one delivered, remove another, then reopen */
    struct spool_msg *m0 = w.msgs[0], *m1 = w.msgs[1];
    sp = spool_open(dir, err, sizeof(err));
    assert_non_null(sp);
    struct waiter w2 = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    assert_int_equal(spool_recover(sp, on_hook, &w2), 10);
    assert_int_equal(spool_start(sp, NULL, NULL, 0), 0);
    m0->rcpt[0].state = SPOOL_RCPT_DELIVERED;
    spool_update(sp, m0);
    spool_remove(sp, m1);
    spool_close(sp);
    for (int i = 0; i < 10; i++)
        spool_msg_free(w2.msgs[i]);

    sp = spool_open(dir, err, sizeof(err));
    struct waiter w3 = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    assert_int_equal(spool_recover(sp, on_hook, &w3), 9);
    for (int i = 0; i < 9; i++) {
        struct spool_msg *m = w3.msgs[i];
        char *b;
        size_t len;
        assert_string_not_equal(m->id, ids[1]);
        assert_int_equal(spool_body_read(sp, m, &b, &len), 0);
        assert_int_equal(len, m->body_len);
        assert_non_null(strstr(b, "Subject: "));
        if (strcmp(m->id, ids[0]) == 0) {
            assert_int_equal(m->rcpt[0].state, SPOOL_RCPT_DELIVERED);
            assert_string_equal(m->sender, "");
            assert_string_equal(b, "Subject: 0\r\n\r\nbody 0\r\n");
        }
        free(b);
        spool_msg_free(m);
    }
    spool_close(sp);
    for (int i = 0; i < 10; i++)
        spool_msg_free(w.msgs[i]);
    free(dir);
}

/* recipient states are committed ahead of the submissions gathered with them;
 * they keep their own order, and submissions past max_batch wait for later
 * rounds: every update and removal lands, in order, next to new mail */
static void
test_states_and_submissions_interleaved(void **state)
{
    (void)state;
    struct waiter w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    struct waiter w2 = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};
    char *dir = tmpdir(), err[256];
    spool *sp = spool_open(dir, err, sizeof(err));
    assert_non_null(sp);
    assert_int_equal(spool_recover(sp, on_hook, &w), 0);
    assert_int_equal(spool_start(sp, on_hook, &w, 2), 0);
    for (int i = 0; i < 20; i++)
        spool_submit(sp, make_sub(sp, "s@x.example", "Subject: old\r\n\r\nold\r\n", &w));
    wait_hooked(&w, 20); /* the hook runs after the done callback */
    assert_int_equal(w.status, 0);
    /* one burst: new mail, and states of the old mail between it */
    for (int i = 0; i < 20; i++) {
        struct spool_msg *m = w.msgs[i];
        spool_submit(sp, make_sub(sp, "n@x.example", "Subject: new\r\n\r\nnew\r\n", &w));
        if (i < 10) {
            m->rcpt[0].state = SPOOL_RCPT_DELIVERED;
            spool_update(sp, m);
            m->rcpt[1].attempts = 7; /* a second update of the same message wins */
            spool_update(sp, m);
        } else {
            m->rcpt[1].state = SPOOL_RCPT_FAILED;
            spool_update(sp, m); /* then removed: the removal comes last */
            spool_remove(sp, m);
        }
    }
    spool_close(sp); /* drains */
    assert_int_equal(w.done, 40);
    assert_int_equal(w.status, 0);

    sp = spool_open(dir, err, sizeof(err));
    assert_non_null(sp);
    assert_int_equal(spool_recover(sp, on_hook, &w2), 30);
    int old = 0, fresh = 0;
    for (int i = 0; i < 30; i++) {
        struct spool_msg *m = w2.msgs[i];
        if (strcmp(m->sender, "s@x.example") == 0) {
            old++;
            assert_int_equal(m->rcpt[0].state, SPOOL_RCPT_DELIVERED);
            assert_int_equal(m->rcpt[1].state, SPOOL_RCPT_PENDING);
            assert_int_equal(m->rcpt[1].attempts, 7);
        } else {
            fresh++;
            assert_string_equal(m->sender, "n@x.example");
            assert_int_equal(m->rcpt[0].state, SPOOL_RCPT_PENDING);
            char *b;
            size_t len;
            assert_int_equal(spool_body_read(sp, m, &b, &len), 0);
            assert_string_equal(b, "Subject: new\r\n\r\nnew\r\n");
            free(b);
        }
        spool_msg_free(m);
    }
    assert_int_equal(old, 10);
    assert_int_equal(fresh, 20);
    spool_close(sp);
    for (int i = 0; i < w.hooked; i++)
        spool_msg_free(w.msgs[i]);
    free(dir);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_roundtrip),
        cmocka_unit_test(test_ids_unique_and_sorted),
        cmocka_unit_test(test_commit_then_recover),
        cmocka_unit_test(test_states_and_submissions_interleaved),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
