/*
 * log.c - the main log: one line per record, one write(2) per line, to the
 *         log file (O_APPEND) and optionally stderr. See log.h.
 */
#include "engine/log.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static int log_fd = -1;
static int log_stderr = 1;
static atomic_int log_min = LOG_INFO;

/* log_open - open the main log file for appending */
int
log_open(const char *path, int to_stderr)
{
    log_stderr = to_stderr;
    if (path == NULL || *path == '\0')
        return 0;
    log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    return log_fd < 0 ? -errno : 0;
}

/* log_close - close the main log file */
void
log_close(void)
{
    if (log_fd >= 0)
        close(log_fd);
    log_fd = -1;
}

/* log_set_level - drop records below level */
void
log_set_level(enum log_level level)
{
    atomic_store(&log_min, level);
}

/* log_vwrite - format one record in a per-thread buffer and write it */
void
log_vwrite(enum log_level level, const char *fmt, va_list ap)
{
    static _Thread_local char buf[LOG_LINE_MAX];
    struct timeval tv;
    struct tm tm;
    size_t n;
    int k;

    if ((int)level < atomic_load(&log_min))
        return;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    n = strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S", &tm);
    n += (size_t)snprintf(buf + n, sizeof(buf) - n, ".%03d ", (int)(tv.tv_usec / 1000));
    k = vsnprintf(buf + n, sizeof(buf) - n - 1, fmt, ap);
    if (k < 0)
        k = 0;
    n += (size_t)k;
    if (n > sizeof(buf) - 2)
        n = sizeof(buf) - 2;
    buf[n++] = '\n';
    if (log_fd >= 0 && write(log_fd, buf, n) < 0)
        errno = 0; /* nowhere to report it */
    if (log_stderr && write(STDERR_FILENO, buf, n) < 0)
        errno = 0;
}

/* log_write - printf-style record */
void
log_write(enum log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, fmt, ap);
    va_end(ap);
}
