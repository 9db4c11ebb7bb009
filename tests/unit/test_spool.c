/*
 * test_spool.c - the durable queue: record codec, group commit, recovery,
 *                bodies, ids.
 */
#include <dirent.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    struct spool_rcpt r[2] = {{.address = "x@y.example",
                               .state = SPOOL_RCPT_DELIVERED,
                               .dsn_notify = SPOOL_NOTIFY_SUCCESS | SPOOL_NOTIFY_FAILURE,
                               .dsn_orcpt = "rfc822;orig+2Bx@y.example"},
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
                          .flags = SPOOL_F_NOTICE,
                          .dsn_ret = SPOOL_RET_HDRS,
                          .dsn_envid = "env+2Did"};
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
    assert_int_equal(d->dsn_ret, SPOOL_RET_HDRS);
    assert_string_equal(d->dsn_envid, "env+2Did");
    assert_int_equal(d->rcpt[0].dsn_notify, SPOOL_NOTIFY_SUCCESS | SPOOL_NOTIFY_FAILURE);
    assert_string_equal(d->rcpt[0].dsn_orcpt, "rfc822;orig+2Bx@y.example");
    assert_int_equal(d->rcpt[1].dsn_notify, 0);
    assert_null(d->rcpt[1].dsn_orcpt);
    spool_msg_free(d);
    /* every truncation and a corrupted state byte are refused */
    for (size_t cut = 0; cut < len; cut++)
        assert_null(spool_msg_decode(rec, cut));
    ((unsigned char *)rec)[len - 28] = 9; /* last recipient's state byte */
    assert_null(spool_msg_decode(rec, len));
    free(rec);
}

/* v1_put / v1_str - build a record of the format before DSN fields */
static size_t
v1_put(unsigned char *b, size_t o, const void *d, size_t n)
{
    memcpy(b + o, d, n);
    return o + n;
}
static size_t
v1_str(unsigned char *b, size_t o, const char *s)
{
    uint32_t n = (uint32_t)strlen(s);
    o = v1_put(b, o, &n, 4);
    return v1_put(b, o, s, n);
}

/* test_codec_reads_version_1 - a record written before the DSN fields loads */
static void
test_codec_reads_version_1(void **state)
{
    unsigned char b[512];
    uint8_t ver = 1, st = 0;
    int64_t arr = 5, ff = 0, nt = 0;
    uint32_t flags = 0, seg = 1, nrcpt = 1;
    uint64_t blen = 10, off = 0;
    uint16_t att = 2;
    int32_t li = 0;
    size_t o = 0;
    (void)state;
    o = v1_put(b, o, &ver, 1);
    o = v1_put(b, o, "0123456789A-BCDE", 16);
    o = v1_put(b, o, &arr, 8);
    o = v1_put(b, o, &flags, 4);
    o = v1_put(b, o, &blen, 8);
    o = v1_put(b, o, &seg, 4);
    o = v1_put(b, o, &off, 8);
    o = v1_str(b, o, "s@example.org");
    o = v1_str(b, o, "esmtp");
    o = v1_str(b, o, "[127.0.0.1]:1");
    o = v1_str(b, o, "helo");
    o = v1_put(b, o, &nrcpt, 4);
    o = v1_str(b, o, "r@example.net");
    o = v1_put(b, o, &st, 1);
    o = v1_put(b, o, &att, 2);
    o = v1_put(b, o, &ff, 8);
    o = v1_put(b, o, &nt, 8);
    o = v1_put(b, o, &li, 4);
    struct spool_msg *d = spool_msg_decode(b, o);
    assert_non_null(d);
    assert_string_equal(d->rcpt[0].address, "r@example.net");
    assert_int_equal(d->rcpt[0].attempts, 2);
    assert_int_equal(d->dsn_ret, SPOOL_RET_NONE);
    assert_null(d->dsn_envid);
    assert_null(d->rcpt[0].dsn_orcpt);
    spool_msg_free(d);
    b[0] = 3; /* an unknown version is refused */
    assert_null(spool_msg_decode(b, o));
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

/* ------------------------------------------------------ state journal */

/* journal_bytes - the bytes in <dir>/journal's files; *nfiles their count;
 * last: the name of the largest file */
static long
journal_bytes(const char *dir, int *nfiles, char *last, size_t lastlen)
{
    char jdir[512], path[1024];
    struct dirent *de;
    long total = 0, max = -1;
    DIR *d;
    snprintf(jdir, sizeof(jdir), "%s/journal", dir);
    *nfiles = 0;
    if ((d = opendir(jdir)) == NULL)
        return 0;
    while ((de = readdir(d)) != NULL) {
        struct stat st;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "%s/%s", jdir, de->d_name);
        assert_int_equal(stat(path, &st), 0);
        (*nfiles)++;
        total += (long)st.st_size;
        if ((long)st.st_size > max && last != NULL) {
            max = (long)st.st_size;
            snprintf(last, lastlen, "%s", path);
        }
    }
    closedir(d);
    return total;
}

/* seed - a spool in a new folder with n messages committed (two recipients
 * each, all pending); w->msgs holds them, in id order */
static char *
seed(int n, struct waiter *w)
{
    char *dir = tmpdir(), err[256];
    spool *sp = spool_open(dir, err, sizeof(err));
    assert_non_null(sp);
    assert_int_equal(spool_recover(sp, on_hook, w), 0);
    assert_int_equal(spool_start(sp, on_hook, w, 0), 0);
    for (int i = 0; i < n; i++)
        spool_submit(sp, make_sub(sp, "s@x.example", "Subject: j\r\n\r\nj\r\n", w));
    wait_hooked(w, n);
    assert_int_equal(w->status, 0);
    spool_close(sp);
    return dir;
}

/* crashed - open the spool at dir and recover it into w without starting
 * the writer: what spool_update/spool_remove are given next is journaled
 * and never committed, as if the daemon were killed */
static spool *
crashed(const char *dir, struct waiter *w, long expect)
{
    char err[256];
    spool *sp = spool_open(dir, err, sizeof(err));
    assert_non_null(sp);
    assert_int_equal(spool_recover(sp, on_hook, w), expect);
    return sp;
}

/* find - the message with id in w, or NULL */
static struct spool_msg *
find(struct waiter *w, const char *id)
{
    for (int i = 0; i < w->hooked; i++)
        if (w->msgs[i] != NULL && strcmp(w->msgs[i]->id, id) == 0)
            return w->msgs[i];
    return NULL;
}

/* free_msgs - free the messages a waiter holds */
static void
free_msgs(struct waiter *w)
{
    for (int i = 0; i < w->hooked; i++)
        spool_msg_free(w->msgs[i]);
    w->hooked = 0;
}

#define WAITER(w)                                                                                  \
    struct waiter w = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER}

/* states and a removal journaled, never committed by the writer: recovery
 * replays them before it hands the messages out */
static void
test_journal_replay_after_crash(void **state)
{
    (void)state;
    WAITER(w);
    WAITER(w2);
    WAITER(w3);
    char *dir = seed(4, &w);
    int nf;
    spool *sp = crashed(dir, &w2, 4);
    struct spool_msg *m0 = find(&w2, w.msgs[0]->id), *m1 = find(&w2, w.msgs[1]->id);
    m0->rcpt[0].state = SPOOL_RCPT_DELIVERED;
    m0->rcpt[1].attempts = 3;
    m0->rcpt[1].first_failure = 1000;
    m0->rcpt[1].next_try = 2000;
    m0->rcpt[1].last_interval = 900;
    spool_update(sp, m0);
    m1->rcpt[0].state = SPOOL_RCPT_FAILED;
    spool_update(sp, m1); /* updated, then removed */
    spool_remove(sp, m1);
    assert_true(journal_bytes(dir, &nf, NULL, 0) > 0);
    spool_close(sp);
    assert_true(journal_bytes(dir, &nf, NULL, 0) > 0); /* not committed: kept */

    sp = crashed(dir, &w3, 3);
    assert_null(find(&w3, w.msgs[1]->id));
    m0 = find(&w3, w.msgs[0]->id);
    assert_non_null(m0);
    assert_int_equal(m0->rcpt[0].state, SPOOL_RCPT_DELIVERED);
    assert_int_equal(m0->rcpt[1].state, SPOOL_RCPT_PENDING);
    assert_int_equal(m0->rcpt[1].attempts, 3);
    assert_int_equal(m0->rcpt[1].first_failure, 1000);
    assert_int_equal(m0->rcpt[1].next_try, 2000);
    assert_int_equal(m0->rcpt[1].last_interval, 900);
    assert_string_equal(m0->rcpt[1].address, "b@d2.example");
    assert_int_equal(find(&w3, w.msgs[2]->id)->rcpt[0].state, SPOOL_RCPT_PENDING);
    assert_int_equal(journal_bytes(dir, &nf, NULL, 0), 0); /* applied: a fresh one */
    spool_close(sp);
    free_msgs(&w);
    free_msgs(&w2);
    free_msgs(&w3);
    free(dir);
}

/* journal updates of messages 0..n-1 of w (rcpt 0 delivered), then a crash */
static void
journal_updates(const char *dir, struct waiter *w, int n)
{
    WAITER(w2);
    spool *sp = crashed(dir, &w2, w->hooked);
    for (int i = 0; i < n; i++) {
        struct spool_msg *m = find(&w2, w->msgs[i]->id);
        m->rcpt[0].state = SPOOL_RCPT_DELIVERED;
        spool_update(sp, m);
    }
    spool_close(sp);
    free_msgs(&w2);
}

/* check_delivered - after recovery, messages 0..n-1 of w have rcpt 0
 * delivered and the others not */
static void
check_delivered(const char *dir, struct waiter *w, int n)
{
    WAITER(w2);
    spool *sp = crashed(dir, &w2, w->hooked);
    for (int i = 0; i < w->hooked; i++) {
        struct spool_msg *m = find(&w2, w->msgs[i]->id);
        assert_non_null(m);
        assert_int_equal(m->rcpt[0].state, i < n ? SPOOL_RCPT_DELIVERED : SPOOL_RCPT_PENDING);
    }
    spool_close(sp);
    free_msgs(&w2);
}

/* the last entry cut short (a kill -9 in the middle of its write): the
 * entries before it are replayed, it is ignored */
static void
test_journal_torn_last_entry(void **state)
{
    (void)state;
    WAITER(w);
    char *dir = seed(3, &w), path[1024];
    struct stat st;
    int nf;
    journal_updates(dir, &w, 3);
    journal_bytes(dir, &nf, path, sizeof(path));
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(truncate(path, st.st_size - 5), 0);
    check_delivered(dir, &w, 2);
    free_msgs(&w);
    free(dir);
}

/* a corrupt entry in the middle: replay stops there, later ones ignored */
static void
test_journal_bad_checksum_stops(void **state)
{
    (void)state;
    WAITER(w);
    char *dir = seed(3, &w), path[1024];
    struct stat st;
    int nf;
    FILE *f;
    journal_updates(dir, &w, 3);
    journal_bytes(dir, &nf, path, sizeof(path));
    assert_int_equal(stat(path, &st), 0);
    f = fopen(path, "r+b");
    assert_non_null(f);
    fseek(f, st.st_size / 3 + 20, SEEK_SET); /* the second entry's id */
    int c = fgetc(f);
    fseek(f, st.st_size / 3 + 20, SEEK_SET);
    fputc(c ^ 0x20, f);
    fclose(f);
    check_delivered(dir, &w, 1);
    free_msgs(&w);
    free(dir);
}

/* a journaled removal drops the record at recovery; an update never does */
static void
test_journal_removal_replayed(void **state)
{
    (void)state;
    WAITER(w);
    WAITER(w2);
    WAITER(w3);
    char *dir = seed(3, &w);
    spool *sp = crashed(dir, &w2, 3);
    spool_remove(sp, find(&w2, w.msgs[1]->id));
    find(&w2, w.msgs[2]->id)->rcpt[0].state = SPOOL_RCPT_DELIVERED;
    find(&w2, w.msgs[2]->id)->rcpt[1].state = SPOOL_RCPT_FAILED;
    spool_update(sp, find(&w2, w.msgs[2]->id)); /* all done, not removed */
    spool_close(sp);
    sp = crashed(dir, &w3, 2);
    assert_non_null(find(&w3, w.msgs[0]->id));
    assert_null(find(&w3, w.msgs[1]->id));
    assert_int_equal(find(&w3, w.msgs[2]->id)->rcpt[1].state, SPOOL_RCPT_FAILED);
    spool_close(sp);
    free_msgs(&w);
    free_msgs(&w2);
    free_msgs(&w3);
    free(dir);
}

/* copy - the file at from to to */
static void
copy(const char *from, const char *to)
{
    char buf[65536];
    size_t n;
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    assert_non_null(a);
    assert_non_null(b);
    while ((n = fread(buf, 1, sizeof(buf), a)) > 0)
        assert_int_equal(fwrite(buf, 1, n, b), n);
    fclose(a);
    fclose(b);
}

/* a crash after the replay's commit, before the journal was unlinked: the
 * next recovery finds it again and changes nothing; entries journaled
 * after that recovery still apply on top */
static void
test_journal_replay_twice(void **state)
{
    (void)state;
    WAITER(w);
    WAITER(w2);
    WAITER(w3);
    char *dir = seed(3, &w), path[1024], saved[1100];
    int nf;
    spool *sp = crashed(dir, &w2, 3);
    struct spool_msg *m0 = find(&w2, w.msgs[0]->id);
    m0->rcpt[0].state = SPOOL_RCPT_DELIVERED;
    spool_update(sp, m0);
    spool_remove(sp, find(&w2, w.msgs[1]->id));
    spool_close(sp);
    free_msgs(&w2);
    journal_bytes(dir, &nf, path, sizeof(path));
    assert_int_equal(nf, 1);
    snprintf(saved, sizeof(saved), "%s.saved", path);
    copy(path, saved);

    sp = crashed(dir, &w2, 2); /* replays, commits, unlinks */
    m0 = find(&w2, w.msgs[0]->id);
    assert_int_equal(m0->rcpt[0].state, SPOOL_RCPT_DELIVERED);
    m0->rcpt[1].attempts = 9; /* journaled in the fresh file, then a crash */
    spool_update(sp, m0);
    spool_close(sp);
    free_msgs(&w2);
    assert_int_equal(rename(saved, path), 0); /* the old journal is back */

    for (int round = 0; round < 2; round++) {
        sp = crashed(dir, &w3, 2);
        m0 = find(&w3, w.msgs[0]->id);
        assert_non_null(m0);
        assert_int_equal(m0->rcpt[0].state, SPOOL_RCPT_DELIVERED);
        assert_int_equal(m0->rcpt[1].attempts, 9);
        assert_null(find(&w3, w.msgs[1]->id));
        assert_non_null(find(&w3, w.msgs[2]->id));
        spool_close(sp);
        free_msgs(&w3);
    }
    free_msgs(&w);
    free(dir);
}

/* under steady updates the journal stays bounded: a file is retired past
 * its size limit and unlinked once its states are committed; a clean stop
 * leaves no journal */
static void
test_journal_truncated_after_commit(void **state)
{
    (void)state;
    WAITER(w);
    WAITER(w2);
    WAITER(w3);
    char *dir = seed(8, &w), err[256];
    long most = 0, bytes;
    int nf;
    spool *sp = spool_open(dir, err, sizeof(err));
    assert_non_null(sp);
    assert_int_equal(spool_recover(sp, on_hook, &w2), 8);
    assert_int_equal(spool_start(sp, NULL, NULL, 0), 0);
    for (int round = 0; round < 40; round++) {
        for (int i = 0; i < 200; i++) {
            struct spool_msg *m = w2.msgs[i % 8];
            m->rcpt[1].attempts++;
            spool_update(sp, m);
        }
        /* a submission's answer comes after the states posted before it */
        spool_submit(sp, make_sub(sp, "t@x.example", "Subject: t\r\n\r\nt\r\n", &w2));
        wait_done(&w2, round + 1);
        bytes = journal_bytes(dir, &nf, NULL, 0);
        if (bytes > most)
            most = bytes;
    }
    /* 8,000 entries of 87 octets were written */
    assert_true(most < 2 * (64 << 10) + 200 * 87);
    spool_close(sp);
    assert_int_equal(journal_bytes(dir, &nf, NULL, 0), 0);
    assert_int_equal(nf, 0);
    sp = crashed(dir, &w3, 48);
    assert_int_equal(find(&w3, w2.msgs[3]->id)->rcpt[1].attempts, 1000);
    spool_close(sp);
    free_msgs(&w);
    free_msgs(&w2);
    free_msgs(&w3);
    free(dir);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_codec_roundtrip),
        cmocka_unit_test(test_codec_reads_version_1),
        cmocka_unit_test(test_ids_unique_and_sorted),
        cmocka_unit_test(test_commit_then_recover),
        cmocka_unit_test(test_states_and_submissions_interleaved),
        cmocka_unit_test(test_journal_replay_after_crash),
        cmocka_unit_test(test_journal_torn_last_entry),
        cmocka_unit_test(test_journal_bad_checksum_stops),
        cmocka_unit_test(test_journal_removal_replayed),
        cmocka_unit_test(test_journal_replay_twice),
        cmocka_unit_test(test_journal_truncated_after_commit),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
