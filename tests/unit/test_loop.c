/*
 * test_loop.c - the event loop: timer order and cancellation, posts from
 *               other threads, I/O dispatch and removal inside a round.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "base/loop.h"

#include <cmocka.h>

static int order[64], norder;

static void
on_timer(eng_loop *l, struct eng_timer *t)
{
    order[norder++] = (int)(intptr_t)t->data;
    if (norder == 3)
        eng_loop_stop(l);
}

static void
test_timers_fire_in_order(void **state)
{
    (void)state;
    eng_loop *l = eng_loop_new();
    struct eng_timer t[4];
    norder = 0;
    for (int i = 0; i < 4; i++)
        eng_timer_init(&t[i], on_timer, (void *)(intptr_t)i);
    eng_timer_start(l, &t[0], 30);
    eng_timer_start(l, &t[1], 10);
    eng_timer_start(l, &t[2], 20);
    eng_timer_start(l, &t[3], 5);
    eng_timer_stop(l, &t[3]); /* cancelled: never fires */
    assert_false(eng_timer_armed(&t[3]));
    assert_int_equal(eng_loop_timer_count(l), 3);
    eng_loop_run(l);
    assert_int_equal(norder, 3);
    assert_int_equal(order[0], 1);
    assert_int_equal(order[1], 2);
    assert_int_equal(order[2], 0);
    eng_loop_free(l);
}

static void
test_many_timers_heap(void **state)
{
    (void)state;
    eng_loop *l = eng_loop_new();
    enum { N = 20000 };
    struct eng_timer *t = calloc(N, sizeof(*t));
    for (int i = 0; i < N; i++) {
        eng_timer_init(&t[i], on_timer, NULL);
        eng_timer_start(l, &t[i], (uint64_t)(1000 + (i * 7919) % 5000));
    }
    for (int i = 0; i < N; i += 2)
        eng_timer_stop(l, &t[i]);
    assert_int_equal(eng_loop_timer_count(l), N / 2);
    for (int i = 1; i < N; i += 2)
        eng_timer_stop(l, &t[i]);
    assert_int_equal(eng_loop_timer_count(l), 0);
    free(t);
    eng_loop_free(l);
}

struct post_ctx {
    eng_loop *l;
    int count;
    int per_thread_last[4];
    int in_order;
};

struct post_item {
    struct post_ctx *c;
    int thread, seq;
};

static void
on_post(eng_loop *l, void *arg)
{
    struct post_item *p = arg;
    struct post_ctx *c = p->c;
    if (p->seq != c->per_thread_last[p->thread] + 1)
        c->in_order = 0;
    c->per_thread_last[p->thread] = p->seq;
    free(p);
    if (++c->count == 4 * 5000)
        eng_loop_stop(l);
}

struct poster {
    struct post_ctx *c;
    int thread;
};

static void *
poster_main(void *arg)
{
    struct poster *ps = arg;
    for (int i = 1; i <= 5000; i++) {
        struct post_item *p = malloc(sizeof(*p));
        *p = (struct post_item){.c = ps->c, .thread = ps->thread, .seq = i};
        eng_loop_post(ps->c->l, on_post, p);
    }
    return NULL;
}

static void
test_posts_from_threads_keep_order(void **state)
{
    (void)state;
    struct post_ctx c = {.l = eng_loop_new(), .in_order = 1};
    pthread_t th[4];
    struct poster ps[4];
    for (int i = 0; i < 4; i++) {
        ps[i] = (struct poster){.c = &c, .thread = i};
        pthread_create(&th[i], NULL, poster_main, &ps[i]);
    }
    eng_loop_run(c.l);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(c.count, 20000);
    assert_true(c.in_order);
    eng_loop_free(c.l);
}

struct pipe_ctx {
    struct eng_io a, b;
    int fired_a, fired_b;
};

static void
on_a(eng_loop *l, struct eng_io *io, uint32_t ev)
{
    struct pipe_ctx *c = io->data;
    (void)ev;
    c->fired_a++;
    eng_io_set(l, &c->b, 0); /* b had an event in the same round: must not fire */
    eng_io_set(l, io, 0);
    eng_loop_stop(l);
}

static void
on_b(eng_loop *l, struct eng_io *io, uint32_t ev)
{
    struct pipe_ctx *c = io->data;
    (void)ev;
    c->fired_b++;
    eng_io_set(l, &c->a, 0);
    eng_io_set(l, io, 0);
    eng_loop_stop(l);
}

static void
test_removed_io_does_not_fire(void **state)
{
    (void)state;
    eng_loop *l = eng_loop_new();
    int p1[2], p2[2];
    struct pipe_ctx c = {0};
    assert_int_equal(pipe(p1), 0);
    assert_int_equal(pipe(p2), 0);
    eng_io_init(&c.a, p1[0], on_a, &c);
    eng_io_init(&c.b, p2[0], on_b, &c);
    assert_int_equal(eng_io_set(l, &c.a, EPOLLIN), 0);
    assert_int_equal(eng_io_set(l, &c.b, EPOLLIN), 0);
    assert_int_equal(write(p1[1], "x", 1), 1);
    assert_int_equal(write(p2[1], "y", 1), 1);
    eng_loop_run(l);
    assert_int_equal(c.fired_a + c.fired_b, 1);
    close(p1[0]);
    close(p1[1]);
    close(p2[0]);
    close(p2[1]);
    eng_loop_free(l);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timers_fire_in_order),
        cmocka_unit_test(test_many_timers_heap),
        cmocka_unit_test(test_posts_from_threads_keep_order),
        cmocka_unit_test(test_removed_io_does_not_fire),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
