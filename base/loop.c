/*
 * loop.c - per-thread event loop: epoll for I/O, a binary min-heap of timers,
 *          and a wait-free inbox (liburcu wfcqueue + eventfd) for work posted
 *          by other threads. See loop.h for the contract.
 */
#include "base/loop.h"

#include <errno.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <urcu/wfcqueue.h>

#define LOOP_MAX_EVENTS 256

/* liburcu's queue synchronises with atomics ThreadSanitizer cannot see
 * (inline assembly in an uninstrumented library): tell it about the
 * hand-off explicitly. */
#if defined(__SANITIZE_THREAD__)
void __tsan_acquire(void *addr);
void __tsan_release(void *addr);
#define TSAN_ACQUIRE(p) __tsan_acquire(p)
#define TSAN_RELEASE(p) __tsan_release(p)
#else
#define TSAN_ACQUIRE(p) ((void)(p))
#define TSAN_RELEASE(p) ((void)(p))
#endif

struct loop_post {
    struct cds_wfcq_node node;
    eng_post_fn fn;
    void *arg;
};

struct eng_loop {
    int epfd;
    int wakefd; /* eventfd: posts and stop requests */
    struct eng_io wake_io;
    atomic_int stop;
    atomic_int sleeping; /* 1 while in epoll_wait: posters write wakefd only then */
    atomic_int posting;  /* eng_loop_post calls under way: eng_loop_free waits for them */
    struct eng_timer **heap;
    size_t nheap, heapcap;
    struct cds_wfcq_head inbox_head;
    struct cds_wfcq_tail inbox_tail;
    struct epoll_event *disp; /* events of the round being dispatched */
    int disp_n;
};

/* eng_now_ms - monotonic milliseconds */
uint64_t
eng_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* heap_swap - exchange two heap slots, keeping their indices right */
static void
heap_swap(eng_loop *l, size_t a, size_t b)
{
    struct eng_timer *t = l->heap[a];
    l->heap[a] = l->heap[b];
    l->heap[b] = t;
    l->heap[a]->heap_idx = a;
    l->heap[b]->heap_idx = b;
}

/* heap_up - restore order above slot i */
static void
heap_up(eng_loop *l, size_t i)
{
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (l->heap[p]->due_ms <= l->heap[i]->due_ms)
            break;
        heap_swap(l, p, i);
        i = p;
    }
}

/* heap_down - restore order below slot i */
static void
heap_down(eng_loop *l, size_t i)
{
    for (;;) {
        size_t c = 2 * i + 1, m = i;
        if (c < l->nheap && l->heap[c]->due_ms < l->heap[m]->due_ms)
            m = c;
        if (c + 1 < l->nheap && l->heap[c + 1]->due_ms < l->heap[m]->due_ms)
            m = c + 1;
        if (m == i)
            return;
        heap_swap(l, i, m);
        i = m;
    }
}

/* eng_timer_init - prepare a disarmed timer */
void
eng_timer_init(struct eng_timer *t, eng_timer_cb cb, void *data)
{
    t->due_ms = 0;
    t->heap_idx = SIZE_MAX;
    t->cb = cb;
    t->data = data;
}

/* eng_timer_armed - nonzero if armed */
int
eng_timer_armed(const struct eng_timer *t)
{
    return t->heap_idx != SIZE_MAX;
}

/* eng_timer_stop - take a timer out of the heap */
void
eng_timer_stop(eng_loop *l, struct eng_timer *t)
{
    size_t i = t->heap_idx;
    if (i == SIZE_MAX)
        return;
    t->heap_idx = SIZE_MAX;
    l->nheap--;
    if (i == l->nheap)
        return;
    l->heap[i] = l->heap[l->nheap];
    l->heap[i]->heap_idx = i;
    heap_up(l, i);
    heap_down(l, l->heap[i]->heap_idx);
}

/* eng_timer_start - (re)arm a timer; out of memory is fatal */
void
eng_timer_start(eng_loop *l, struct eng_timer *t, uint64_t delay_ms)
{
    eng_timer_stop(l, t);
    if (l->nheap == l->heapcap) {
        size_t cap = l->heapcap ? l->heapcap * 2 : 64;
        struct eng_timer **h = realloc(l->heap, cap * sizeof(*h));
        if (h == NULL)
            abort();
        l->heap = h;
        l->heapcap = cap;
    }
    t->due_ms = eng_now_ms() + delay_ms;
    t->heap_idx = l->nheap;
    l->heap[l->nheap++] = t;
    heap_up(l, t->heap_idx);
}

/* eng_loop_timer_count - armed timers */
size_t
eng_loop_timer_count(const eng_loop *l)
{
    return l->nheap;
}

/* run_timers - fire every due timer; returns ms until the next one or -1 */
static int
run_timers(eng_loop *l)
{
    uint64_t now = eng_now_ms();
    while (l->nheap > 0) {
        struct eng_timer *t = l->heap[0];
        if (t->due_ms > now)
            return (int)((t->due_ms - now) > 60000 ? 60000 : (t->due_ms - now));
        eng_timer_stop(l, t);
        t->cb(l, t);
    }
    return -1;
}

/* eng_io_init - prepare an unregistered watcher */
void
eng_io_init(struct eng_io *io, int fd, eng_io_cb cb, void *data)
{
    io->fd = fd;
    io->events = 0;
    io->cb = cb;
    io->data = data;
}

/* eng_io_set - add, modify or remove a watcher's events */
int
eng_io_set(eng_loop *l, struct eng_io *io, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = io};
    int op, rc;
    if (events == io->events)
        return 0;
    if (events == 0)
        op = EPOLL_CTL_DEL;
    else
        op = io->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
    rc = epoll_ctl(l->epfd, op, io->fd, &ev);
    if (rc < 0 && !(op == EPOLL_CTL_DEL && (errno == ENOENT || errno == EBADF)))
        return -errno;
    io->events = events;
    if (events == 0) /* the owner may free io now: forget its pending events */
        for (int i = 0; i < l->disp_n; i++)
            if (l->disp[i].data.ptr == io)
                l->disp[i].data.ptr = NULL;
    return 0;
}

/* drain_inbox - run everything posted to this loop */
static void
drain_inbox(eng_loop *l)
{
    struct cds_wfcq_node *node;
    while ((node = __cds_wfcq_dequeue_blocking(&l->inbox_head, &l->inbox_tail)) != NULL) {
        struct loop_post *p = caa_container_of(node, struct loop_post, node);
        TSAN_ACQUIRE(p);
        p->fn(l, p->arg);
        free(p);
    }
}

/* on_wake - the eventfd fired: clear it; the inbox is drained by the loop */
static void
on_wake(eng_loop *l, struct eng_io *io, uint32_t events)
{
    uint64_t v;
    (void)l;
    (void)events;
    while (read(io->fd, &v, sizeof(v)) == sizeof(v))
        ;
}

/* wake - interrupt epoll_wait if the loop sleeps */
static void
wake(eng_loop *l)
{
    uint64_t one = 1;
    if (atomic_load(&l->sleeping)) {
        ssize_t n = write(l->wakefd, &one, sizeof(one));
        (void)n;
    }
}

/* eng_loop_post - queue fn for the loop's thread */
int
eng_loop_post(eng_loop *l, eng_post_fn fn, void *arg)
{
    struct loop_post *p = malloc(sizeof(*p));
    if (p == NULL)
        return -ENOMEM;
    cds_wfcq_node_init(&p->node);
    p->fn = fn;
    p->arg = arg;
    TSAN_RELEASE(p);
    /* the loop may run p, and its owner free the loop, as soon as p is
     * queued: eng_loop_free waits until this call no longer touches l */
    atomic_fetch_add(&l->posting, 1);
    cds_wfcq_enqueue(&l->inbox_head, &l->inbox_tail, &p->node);
    wake(l);
    atomic_fetch_sub(&l->posting, 1);
    return 0;
}

/* eng_loop_stop - ask the loop to return */
void
eng_loop_stop(eng_loop *l)
{
    uint64_t one = 1;
    ssize_t n;
    atomic_store(&l->stop, 1);
    n = write(l->wakefd, &one, sizeof(one));
    (void)n;
}

/* eng_loop_new - make a loop */
eng_loop *
eng_loop_new(void)
{
    eng_loop *l = calloc(1, sizeof(*l));
    if (l == NULL)
        return NULL;
    l->epfd = epoll_create1(EPOLL_CLOEXEC);
    l->wakefd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (l->epfd < 0 || l->wakefd < 0)
        goto fail;
    cds_wfcq_init(&l->inbox_head, &l->inbox_tail);
    eng_io_init(&l->wake_io, l->wakefd, on_wake, NULL);
    if (eng_io_set(l, &l->wake_io, EPOLLIN) < 0)
        goto fail;
    return l;
fail:
    if (l->epfd >= 0)
        close(l->epfd);
    if (l->wakefd >= 0)
        close(l->wakefd);
    free(l);
    return NULL;
}

/* eng_loop_free - release a stopped loop */
void
eng_loop_free(eng_loop *l)
{
    struct cds_wfcq_node *node;
    if (l == NULL)
        return;
    while (atomic_load(&l->posting) > 0) /* a poster still in eng_loop_post */
        sched_yield();
    while ((node = __cds_wfcq_dequeue_blocking(&l->inbox_head, &l->inbox_tail)) != NULL)
        free(caa_container_of(node, struct loop_post, node));
    cds_wfcq_destroy(&l->inbox_head, &l->inbox_tail);
    close(l->epfd);
    close(l->wakefd);
    free(l->heap);
    free(l);
}

/* loop_round - one round: posts, due timers, then wait for I/O at most max_ms
 * (-1: until the next timer) and dispatch it */
static void
loop_round(eng_loop *l, int max_ms)
{
    struct epoll_event evs[LOOP_MAX_EVENTS];
    int timeout, n;
    drain_inbox(l);
    timeout = run_timers(l);
    if (max_ms >= 0 && (timeout < 0 || timeout > max_ms))
        timeout = max_ms;
    atomic_store(&l->sleeping, 1);
    if (!cds_wfcq_empty(&l->inbox_head, &l->inbox_tail))
        timeout = 0; /* a post raced with going to sleep */
    n = epoll_wait(l->epfd, evs, LOOP_MAX_EVENTS, timeout);
    atomic_store(&l->sleeping, 0);
    l->disp = evs;
    l->disp_n = n;
    for (int i = 0; i < n; i++) {
        struct eng_io *io = evs[i].data.ptr;
        if (io != NULL)
            io->cb(l, io, evs[i].events);
    }
    l->disp_n = 0;
}

/* eng_loop_run - dispatch until stopped */
int
eng_loop_run(eng_loop *l)
{
    while (!atomic_load(&l->stop))
        loop_round(l, -1);
    atomic_store(&l->stop, 0); /* the loop may be run again */
    return 0;
}

/* eng_loop_run_once - one round, waiting at most max_ms */
void
eng_loop_run_once(eng_loop *l, int max_ms)
{
    loop_round(l, max_ms);
}
