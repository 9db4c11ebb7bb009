/*
 * log.h - the main log, in Exim's main-log style.
 *
 * Every record is one line "YYYY-MM-DD HH:MM:SS.mmm TEXT" written with a
 * single write(2) to the log file (O_APPEND, so lines from many threads never
 * interleave) and, when enabled, to stderr. Formatting happens in a per-thread
 * buffer; lines are cut at LOG_LINE_MAX bytes.
 *
 * Delivery records follow Exim's flags: "<=" arrival, "=>" delivery,
 * "->" further recipient on the same delivery, "==" deferral, "**" failure,
 * and "Completed". The message id is the first word after the time stamp.
 *
 * Thread rules: log_open()/log_close() before/after threads run; the rest are
 * safe from any thread.
 */
#ifndef SPATE_BASE_LOG_H
#define SPATE_BASE_LOG_H

#include <stdarg.h>
#include <stddef.h>

#define LOG_LINE_MAX 8192

enum log_level { LOG_DEBUG = 0, LOG_INFO = 1, LOG_WARN = 2, LOG_ERR = 3 };

/* log_open - open path for appending (NULL or "" = no file); 0 or -errno */
int log_open(const char *path, int to_stderr);
/* log_open_json - also write each record as a JSON line to path (json_log):
 * {"time","level","id","event","address","text"}, the middle three only for
 * message records; 0 or -errno */
int log_open_json(const char *path);
/* log_reopen_main - open the files of log_open()/log_open_json() again in
 * place of the current descriptors (after an external rename; SIGUSR1);
 * any thread; 0 or -errno (the old file stays in use then) */
int log_reopen_main(void);
/* log_close - close the files */
void log_close(void);
/* log_set_level - records below level are dropped (default LOG_INFO) */
void log_set_level(enum log_level level);

/* log_write - one record at the given level */
void log_write(enum log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void log_vwrite(enum log_level level, const char *fmt, va_list ap);

/* log tap (api/dashboard.c keeps its recent errors from it): fn, when set, is
 * called on the logging thread with every record that passes the level, as
 * written to the file without its newline; it must be quick, must not log,
 * and keeps nothing of line after it returns. NULL removes it. Any thread. */
typedef void (*log_tap_fn)(enum log_level level, const char *line, size_t len);
void log_set_tap(log_tap_fn fn);

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_err(...) log_write(LOG_ERR, __VA_ARGS__)

#endif
