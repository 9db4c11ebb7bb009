/*
 * log.c - the main log: one line per record, one write(2) per line, to the
 *         log file (O_APPEND) and optionally stderr. See log.h.
 */
#include "base/log.h"

#include <ctype.h>
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
static int log_json_fd = -1;
static int log_stderr = 1;
static char log_path[4096], log_json_path_mirror[4096]; /* for log_reopen_main() */
static atomic_int log_min = LOG_INFO;
static _Atomic(log_tap_fn) log_tap; /* log_set_tap */

/* log_open - open the main log file for appending */
int
log_open(const char *path, int to_stderr)
{
    log_stderr = to_stderr;
    if (path == NULL || *path == '\0')
        return 0;
    snprintf(log_path, sizeof(log_path), "%s", path);
    log_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    return log_fd < 0 ? -errno : 0;
}

/* log_open_json - also write every record as a JSON line to path */
int
log_open_json(const char *path)
{
    snprintf(log_json_path_mirror, sizeof(log_json_path_mirror), "%s", path);
    log_json_fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    return log_json_fd < 0 ? -errno : 0;
}

/* reopen_fd - open path again and put it in place of fd (dup2: writers on
 * other threads never see a closed descriptor) */
static int
reopen_fd(int fd, const char *path)
{
    int nfd, rc = 0;
    if (fd < 0 || path[0] == '\0')
        return 0;
    nfd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (nfd < 0)
        return -errno;
    if (dup3(nfd, fd, O_CLOEXEC) < 0)
        rc = -errno;
    close(nfd);
    return rc;
}

/* log_reopen_main - reopen the main log file and its json_log mirror */
int
log_reopen_main(void)
{
    int a = reopen_fd(log_fd, log_path);
    int b = reopen_fd(log_json_fd, log_json_path_mirror);
    return a < 0 ? a : b;
}

/* log_close - close the main log files */
void
log_close(void)
{
    if (log_fd >= 0)
        close(log_fd);
    if (log_json_fd >= 0)
        close(log_json_fd);
    log_fd = log_json_fd = -1;
}

/* json_put - append s (n bytes) as a JSON string body, escaped */
static size_t
json_put(char *out, size_t off, size_t cap, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    for (size_t i = 0; i < n && off + 7 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"' || c == '\\') {
            out[off++] = '\\';
            out[off++] = (char)c;
        } else if (c < 0x20) {
            memcpy(out + off, "\\u00", 4);
            out[off + 4] = hex[c >> 4];
            out[off + 5] = hex[c & 15];
            off += 6;
        } else {
            out[off++] = (char)c;
        }
    }
    return off;
}

/* json_field - append ,"name":"value" */
static size_t
json_field(char *out, size_t off, size_t cap, const char *name, const char *v, size_t n)
{
    int k = snprintf(out + off, cap - off, ",\"%s\":\"", name);
    if (k < 0 || (size_t)k >= cap - off)
        return off;
    off = json_put(out, off + (size_t)k, cap, v, n);
    if (off + 1 < cap)
        out[off++] = '"';
    return off;
}

/* is_msgid - does text start with a message id and a space? */
static int
is_msgid(const char *t, size_t n)
{
    if (n < 17 || t[11] != '-' || t[16] != ' ')
        return 0;
    for (int i = 0; i < 16; i++)
        if (i != 11 && !isalnum((unsigned char)t[i]))
            return 0;
    return 1;
}

/* log_json - the record as one JSON object: time, level, and for message
 * records the id, the event ("<=", "=>", "==", "**", "Completed") and the
 * address it concerns; the whole text is always kept in "text" */
static void
log_json(const char *stamp, size_t stamplen, enum log_level level, const char *text, size_t n)
{
    static const char *const lv[] = {"debug", "info", "warn", "error"};
    static _Thread_local char out[LOG_LINE_MAX * 2];
    size_t off = (size_t)snprintf(out, sizeof(out), "{\"time\":\"%.*s\",\"level\":\"%s\"",
                                  (int)stamplen, stamp, lv[level]);
    if (is_msgid(text, n)) {
        const char *ev = text + 17, *end = text + n;
        const char *sp = memchr(ev, ' ', (size_t)(end - ev));
        size_t evlen = sp ? (size_t)(sp - ev) : (size_t)(end - ev);
        off = json_field(out, off, sizeof(out), "id", text, 16);
        if (evlen == 2 && strchr("<=*-", ev[0]) != NULL) {
            const char *a = ev + 3, *aend = memchr(a, ' ', (size_t)(end - a));
            off = json_field(out, off, sizeof(out), "event", ev, 2);
            if (a < end)
                off = json_field(out, off, sizeof(out), "address", a,
                                 aend ? (size_t)(aend - a) : (size_t)(end - a));
        } else if (evlen == 9 && memcmp(ev, "Completed", 9) == 0) {
            off = json_field(out, off, sizeof(out), "event", ev, 9);
        }
    }
    off = json_field(out, off, sizeof(out), "text", text, n);
    if (off + 2 < sizeof(out)) {
        out[off++] = '}';
        out[off++] = '\n';
        if (write(log_json_fd, out, off) < 0)
            errno = 0;
    }
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
    log_tap_fn tap;

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
    if (log_json_fd >= 0)
        log_json(buf, 23, level, buf + 24, n - 24);
    tap = atomic_load(&log_tap);
    if (tap != NULL)
        tap(level, buf, n);
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

/* log_set_tap - hand every record to fn as well (NULL: stop) */
void
log_set_tap(log_tap_fn fn)
{
    atomic_store(&log_tap, fn);
}
