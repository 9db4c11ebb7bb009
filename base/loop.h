/*
 * loop.h - one event loop per thread: epoll for I/O, a min-heap for timers,
 *          and a lock-free inbox for work posted from other threads.
 *
 * Contract
 *   - A loop belongs to the thread that calls eng_loop_run(); every function
 *     here except eng_loop_post() and eng_loop_stop() must be called on that
 *     thread (or before the loop runs, from the thread that will run it).
 *   - eng_loop_post() and eng_loop_stop() are safe from any thread. Posted
 *     functions run on the loop thread, in the order they were posted by any
 *     one thread (liburcu wfcqueue, wait-free enqueue).
 *   - Timers are caller-owned structures (no allocation per timer); a timer
 *     may be restarted from its own callback. Times are in milliseconds on
 *     CLOCK_MONOTONIC.
 *   - I/O watchers are caller-owned (struct eng_io); events are EPOLLIN,
 *     EPOLLOUT (level-triggered). EPOLLERR/EPOLLHUP are reported as given.
 *     Once eng_io_set(loop, io, 0) returns, no callback will be made for io
 *     (even one already fetched in the current round), so the owner may close
 *     the fd and free io right away, also from inside a callback.
 */
#ifndef SPATE_BASE_LOOP_H
#define SPATE_BASE_LOOP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>

typedef struct eng_loop eng_loop;
struct eng_io;
struct eng_timer;

typedef void (*eng_io_cb)(eng_loop *loop, struct eng_io *io, uint32_t events);
typedef void (*eng_timer_cb)(eng_loop *loop, struct eng_timer *t);
typedef void (*eng_post_fn)(eng_loop *loop, void *arg);

/* An fd watched by a loop. Fill with eng_io_init(); never copy while registered. */
struct eng_io {
    int fd;
    uint32_t events; /* currently registered events, 0 = not registered */
    eng_io_cb cb;
    void *data; /* owner's pointer */
};

/* A one-shot timer. Fill with eng_timer_init(). */
struct eng_timer {
    uint64_t due_ms;
    size_t heap_idx; /* SIZE_MAX when not armed */
    eng_timer_cb cb;
    void *data;
};

/* eng_now_ms - monotonic clock in milliseconds */
uint64_t eng_now_ms(void);

/* eng_loop_new - make a loop; NULL with errno set on failure */
eng_loop *eng_loop_new(void);
/* eng_loop_free - release a loop that is not running; pending posts are
 * dropped. It first waits for eng_loop_post() calls still under way on other
 * threads (the post that made the loop stop may still be waking it). */
void eng_loop_free(eng_loop *loop);
/* eng_loop_run - dispatch events until eng_loop_stop(); returns 0. The stop
 * request is consumed, so the loop may be run again afterwards. */
int eng_loop_run(eng_loop *loop);
/* eng_loop_run_once - one round of posts, timers and I/O, waiting at most
 * max_ms for I/O (for tools that drive a loop by hand, such as spated -bt) */
void eng_loop_run_once(eng_loop *loop, int max_ms);
/* eng_loop_stop - make eng_loop_run() return; any thread */
void eng_loop_stop(eng_loop *loop);
/* eng_loop_post - run fn(loop, arg) on the loop's thread; any thread; 0 or -ENOMEM */
int eng_loop_post(eng_loop *loop, eng_post_fn fn, void *arg);

/* eng_io_init - prepare a watcher for fd (not yet registered) */
void eng_io_init(struct eng_io *io, int fd, eng_io_cb cb, void *data);
/* eng_io_set - register, change or (events == 0) remove the watched events; 0 or -errno */
int eng_io_set(eng_loop *loop, struct eng_io *io, uint32_t events);

/* eng_timer_init - prepare a disarmed timer */
void eng_timer_init(struct eng_timer *t, eng_timer_cb cb, void *data);
/* eng_timer_start - (re)arm to fire once after delay_ms */
void eng_timer_start(eng_loop *loop, struct eng_timer *t, uint64_t delay_ms);
/* eng_timer_stop - disarm; harmless if not armed */
void eng_timer_stop(eng_loop *loop, struct eng_timer *t);
/* eng_timer_armed - nonzero if armed */
int eng_timer_armed(const struct eng_timer *t);
/* eng_loop_timer_count - number of armed timers (for metrics and tests) */
size_t eng_loop_timer_count(const eng_loop *loop);

#endif
