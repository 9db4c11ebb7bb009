/*
 * lookup.h - lookups for expansion strings: Redis (query-style) and LMDB
 *            (single-key), behind one dispatch table.
 *
 * Redis (seed "Redis Lookup")
 *   lookup_redis_configure() takes the redis_servers option as written: an
 *   Exim list (items separated by ':', "::" a literal colon, a leading "<X"
 *   choosing X as separator), each item "host/db/password" as in the seed
 *   ("127.0.0.1/10/", "127.0.0.1//password", "127.0.0.1//"). The db and
 *   password fields are optional and split off from the right, so a Unix
 *   socket path is written with both slashes ("/run/redis.sock//"). The host
 *   may carry a port as "host(6379)" (Exim), "[v6addr]:6379", or, for names
 *   and IPv4, "host:6379" (written "127.0.0.1::6379//" in a ':' list, or use
 *   "<; 127.0.0.1:6379//"). Default port 6379, db 0, no password.
 *   Servers are tried in order until one answers. A server that cannot be
 *   reached is skipped for a second (process-wide), so a dead server costs at
 *   most one connect timeout per second. Connections are pooled per thread
 *   (a few per thread, keyed by server) with a connect and a command timeout
 *   (1 s by default); they are closed when the thread exits.
 *   The query is split at white space into the command's arguments; a
 *   backslash makes the next character part of the argument (see
 *   ${quote_redis:}). Replies: string and status give their text, integer its
 *   decimal form, array its elements joined with "\n" (nested arrays
 *   flattened), nil "not found"; an error reply is a defer with its text.
 *
 * LMDB (seed "LMDB Lookup support")
 *   ${lookup{KEY}lmdb{FILE}}: FILE is an LMDB data file (MDB_NOSUBDIR, with
 *   FILE-lock beside it, as mdb_load -n makes). Each file's environment is
 *   opened read-only once and shared by every thread (a process-wide table
 *   under a mutex; environments stay open until exit); each lookup is one
 *   read transaction (MDB_NOTLS). A missing or unreadable file is a defer.
 *
 * lsearch
 *   ${lookup{KEY}lsearch{FILE}}: a text file of "key: value", "key value" or
 *   bare "key" lines, keys case-insensitive (lookup_lsearch.c has the
 *   details); cached per file, re-read when it changes; missing: defer.
 *
 * Thread rules: lookup_run() from any thread. lookup_redis_configure() from
 * any thread; lookups already running finish with the list they started with.
 */
#ifndef SPATE_CONF_LOOKUP_H
#define SPATE_CONF_LOOKUP_H

#include <stddef.h>

enum lookup_rc {
    LOOKUP_OK = 0,       /* *result is the value (malloc'd) */
    LOOKUP_NOTFOUND = 1, /* no such key / nil reply */
    LOOKUP_DEFER = -1,   /* could not be done now (server down, file missing) */
    LOOKUP_ERROR = -2,   /* never works as written (empty query, ...) */
};

struct lookup_type; /* one entry of the dispatch table */

/* lookup_type_find - the lookup type named name[0..len), or NULL */
const struct lookup_type *lookup_type_find(const char *name, size_t len);
/* lookup_type_name - its name */
const char *lookup_type_name(const struct lookup_type *t);
/* lookup_type_is_query - 1 for query-style types (${lookup TYPE{query}}),
 * 0 for single-key ones (${lookup{key}TYPE{file}}) */
int lookup_type_is_query(const struct lookup_type *t);

/* lookup_run - do a lookup: key is NULL for query-style types, arg the query
 * or the file. LOOKUP_OK with *result malloc'd; otherwise *result is NULL
 * and err says why (DEFER and ERROR). */
enum lookup_rc lookup_run(const struct lookup_type *t, const char *key, const char *arg,
                          char **result, char *err, size_t errlen);

/* lookup_redis_configure - set redis_servers (NULL or "" removes them) and
 * the timeouts in milliseconds (<= 0: 1000). 0, or -1 with why in err (the
 * old list stays). */
int lookup_redis_configure(const char *servers, int connect_timeout_ms, int command_timeout_ms,
                           char *err, size_t errlen);
/* SPF (seed "SPF"): ${lookup{user@domain}spf{ip}} is the SPF result word
 * ("pass", "fail", "softfail", "neutral", "none", "permerror", "temperror")
 * for the MAIL FROM identity user@domain and the client address ip. The
 * evaluation lives in mailauth/, which conf/ cannot reach: the program sets
 * it with lookup_set_spf() at start (spated does; without it the lookup is
 * an error). It blocks the calling thread for the DNS queries.
 * lookup_hook_fn returns a LOOKUP_* value, *result malloc'd on LOOKUP_OK. */
typedef int (*lookup_hook_fn)(const char *key, const char *arg, char **result, char *err,
                              size_t errlen);
/* lookup_set_spf - the spf lookup's evaluator; once, before threads start */
void lookup_set_spf(lookup_hook_fn fn);

/* lookup_thread_done - close the calling thread's pooled connections now
 * (they are also closed when the thread exits) */
void lookup_thread_done(void);

/* backends (inside engine/ only) */
enum lookup_rc lookup__redis_query(const char *query, char **result, char *err, size_t errlen);
enum lookup_rc lookup__lmdb_find(const char *key, const char *file, char **result, char *err,
                                 size_t errlen);
void lookup__redis_thread_done(void);
/* lsearch (lookup_lsearch.c): "key: value" text files, cached per file and
 * re-read when the file changes; a missing file defers */
enum lookup_rc lookup__lsearch_find(const char *key, const char *file, char **result, char *err,
                                    size_t errlen);

/* lookup_redis_command - one Redis command given as argc arguments (lens:
 * their lengths, or NULL for strings) on the first server of redis_servers
 * that answers, through the same per-thread pool and timeouts as the lookup.
 * Replies convert as for the lookup (an array's elements joined with "\n").
 * LOOKUP_OK with *result malloc'd, LOOKUP_NOTFOUND for nil, or LOOKUP_DEFER
 * with err (no server answered; an error reply, its text). Any thread. */
enum lookup_rc lookup_redis_command(int argc, const char **argv, const size_t *lens, char **result,
                                    char *err, size_t errlen);

#endif
