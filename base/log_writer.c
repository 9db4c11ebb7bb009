/*
 * log_writer.c - the JSON delivery log's background writer: a wait-free
 *                queue of formatted lines, one thread that writes them,
 *                rotates the file by size and reopens it on request.
 *                See log_record.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>
#include <urcu/wfcqueue.h>

#include "base/log.h"
#include "base/log_record.h"

struct rec_line {
    struct cds_wfcq_node node;
    size_t len;
    char text[];
};

static struct {
    struct cds_wfcq_head head;
    struct cds_wfcq_tail tail;
    sem_t wake;
    pthread_t thread;
    char *path;
    uint64_t max_size, size;
    int fd;
    atomic_int open, stop, reopen;
    atomic_long pending;
    atomic_uint_fast64_t dropped;
} lw = {.fd = -1};

/* now_us - wall clock, unix microseconds */
static int64_t
now_us(void)
{
    struct timeval tv;
    gettimeofday(&tv, NULL);
    return (int64_t)tv.tv_sec * 1000000 + tv.tv_usec;
}

/* lw_open_file - open the path for appending; its current size counts */
static int
lw_open_file(void)
{
    struct stat st;
    int fd = open(lw.path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0)
        return -errno;
    lw.size = fstat(fd, &st) == 0 ? (uint64_t)st.st_size : 0;
    if (lw.fd >= 0)
        close(lw.fd);
    lw.fd = fd;
    return 0;
}

/* lw_rotate - PATH.(k) to PATH.(k+1), PATH to PATH.1, and a fresh PATH */
static void
lw_rotate(void)
{
    size_t n = strlen(lw.path) + 8;
    char from[n], to[n];
    for (int k = LOG_REC_KEEP - 1; k >= 1; k--) {
        snprintf(from, n, "%s.%d", lw.path, k);
        snprintf(to, n, "%s.%d", lw.path, k + 1);
        if (rename(from, to) < 0 && errno != ENOENT)
            log_warn("log_json_path: cannot rename %s: %s", from, strerror(errno));
    }
    snprintf(to, n, "%s.1", lw.path);
    if (rename(lw.path, to) < 0)
        log_warn("log_json_path: cannot rename %s: %s", lw.path, strerror(errno));
    if (lw_open_file() < 0)
        log_warn("log_json_path: cannot reopen %s: %s", lw.path, strerror(errno));
}

/* lw_write - one line to the file, rotating first when it would pass max_size */
static void
lw_write(const struct rec_line *l)
{
    if (lw.max_size > 0 && lw.size > 0 && lw.size + l->len > lw.max_size)
        lw_rotate();
    if (lw.fd >= 0 && write(lw.fd, l->text, l->len) == (ssize_t)l->len)
        lw.size += l->len;
}

/* lw_drain - write every queued line, in order */
static void
lw_drain(void)
{
    struct cds_wfcq_head h;
    struct cds_wfcq_tail t;
    struct cds_wfcq_node *node, *next;
    cds_wfcq_init(&h, &t);
    __cds_wfcq_splice_blocking(&h, &t, &lw.head, &lw.tail);
    __cds_wfcq_for_each_blocking_safe(&h, &t, node, next)
    {
        struct rec_line *l = caa_container_of(node, struct rec_line, node);
        lw_write(l);
        free(l);
        atomic_fetch_sub(&lw.pending, 1);
    }
}

/* lw_main - the writer thread: wait, reopen when asked, drain */
static void *
lw_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 200000000;
        if (ts.tv_nsec >= 1000000000)
            ts.tv_sec++, ts.tv_nsec -= 1000000000;
        while (sem_timedwait(&lw.wake, &ts) < 0 && errno == EINTR)
            ;
        if (atomic_exchange(&lw.reopen, 0) && lw_open_file() < 0)
            log_warn("log_json_path: cannot reopen %s: %s", lw.path, strerror(errno));
        lw_drain();
        if (atomic_load(&lw.stop)) {
            lw_drain();
            return NULL;
        }
    }
}

/* log_record_open - open the file and start the writer */
int
log_record_open(const char *path, uint64_t max_size)
{
    int rc;
    if (atomic_load(&lw.open))
        return -EBUSY;
    lw.path = strdup(path);
    if (lw.path == NULL)
        return -ENOMEM;
    lw.max_size = max_size;
    cds_wfcq_init(&lw.head, &lw.tail);
    rc = lw_open_file();
    if (rc == 0 && sem_init(&lw.wake, 0, 0) < 0)
        rc = -errno;
    if (rc == 0 && (rc = -pthread_create(&lw.thread, NULL, lw_main, NULL)) < 0)
        sem_destroy(&lw.wake);
    if (rc < 0) {
        if (lw.fd >= 0)
            close(lw.fd);
        lw.fd = -1;
        free(lw.path);
        lw.path = NULL;
        return rc;
    }
    atomic_store(&lw.stop, 0);
    atomic_store(&lw.open, 1);
    return 0;
}

/* log_record_close - drain, stop the writer, close */
void
log_record_close(void)
{
    if (!atomic_exchange(&lw.open, 0))
        return;
    atomic_store(&lw.stop, 1);
    sem_post(&lw.wake);
    pthread_join(lw.thread, NULL);
    sem_destroy(&lw.wake);
    close(lw.fd);
    lw.fd = -1;
    free(lw.path);
    lw.path = NULL;
}

/* log_record_enabled - is the JSON delivery log open? */
int
log_record_enabled(void)
{
    return atomic_load_explicit(&lw.open, memory_order_relaxed);
}

/* log_record_dropped - records lost to a full queue */
uint64_t
log_record_dropped(void)
{
    return atomic_load(&lw.dropped);
}

/* log_record - format r and queue it for the writer */
void
log_record(const struct log_rec *r)
{
    if (!log_record_enabled())
        return;
    if (atomic_fetch_add(&lw.pending, 1) >= LOG_REC_QUEUE_MAX) {
        atomic_fetch_sub(&lw.pending, 1);
        atomic_fetch_add(&lw.dropped, 1);
        return;
    }
    char *text = log_record_json(r, now_us());
    size_t n = text ? strlen(text) : 0;
    struct rec_line *l = text ? malloc(sizeof(*l) + n + 1) : NULL;
    if (l == NULL) {
        free(text);
        atomic_fetch_sub(&lw.pending, 1);
        atomic_fetch_add(&lw.dropped, 1);
        return;
    }
    cds_wfcq_node_init(&l->node);
    l->len = n;
    memcpy(l->text, text, n + 1);
    free(text);
    cds_wfcq_enqueue(&lw.head, &lw.tail, &l->node);
    sem_post(&lw.wake);
}

/* log_reopen - reopen the main log files now and ask the writer to reopen */
void
log_reopen(void)
{
    log_reopen_main();
    if (log_record_enabled()) {
        atomic_store(&lw.reopen, 1);
        sem_post(&lw.wake);
    }
}
