/*
 * ratelimit.h - the "ratelimit" ACL condition: Exim's smoothed sending
 *               rates (Exim specification, "Access control lists",
 *               "Rate limiting incoming messages"), kept in memory or, for
 *               several nodes sharing one limit, in Redis.
 *
 * The condition's value, once expanded:
 *     LIMIT / PERIOD [/ OPTION ...] [/ KEY]
 *   LIMIT   a number >= 0, fractions allowed, with an optional k, m or g
 *           suffix (times 1024, 1024^2, 1024^3). 0 measures without limiting
 *           (every check is "over": a client at the limit is over it).
 *   PERIOD  an Exim time (30s, 5m, 1h, 1d, 1w, 1h30m) > 0: the smoothing
 *           time constant, and the unit the rate is counted in.
 *   OPTION  (case-insensitive)
 *           per_mail (the default), per_conn, per_rcpt, per_cmd, per_byte,
 *           per_addr - what is counted; at most one of them.
 *           leaky (the default) - the stored rate is updated only while the
 *             client is under the limit, so a sender that keeps retrying
 *             while blocked is let through again once it slows down;
 *           strict - the rate is updated on every check;
 *           readonly - the rate is read (and decays) but never updated;
 *           noupdate - readonly (Exim's older spelling, also accepted with
 *             leaky or strict);
 *           at most one of leaky, strict, readonly.
 *           count=N - each check counts N (>= 0, fractions allowed) instead
 *             of the caller's cost.
 *           unique=VALUE - count an event only the first time VALUE is seen
 *             within a period (per_addr does this with the recipient).
 *   KEY     any other items, joined again with '/'; absent: the key given to
 *           rl_spec_default_key() (the ACL engine passes the client address,
 *           as Exim uses $sender_host_address), else "".
 *   Items are split at '/' ("//" is a literal '/') and trimmed of white space.
 *
 * The rate (Exim's algorithm): each key keeps a rate r and the time t of
 * its last update. A check at time now with cost c (0 when readonly) does
 *     i = max(now - t, 1e-9);  a = exp(-i / PERIOD);
 *     r' = (1 - a) * c * PERIOD / i + a * r;  if (r' < c) r' = c;
 * and a key seen for the first time gets r' = c. The condition is true
 * (over the limit) when r' >= LIMIT. r' and now are stored only when
 * strict, or leaky and under the limit. The state of a key is shared by
 * every condition with the same PERIOD (as written), per_* option, unique
 * flag and KEY, whatever their limits (Exim's database key
 * "PERIOD/per_xxx/[unique/]KEY").
 * unique: a Bloom filter per key of max(40, 2 * LIMIT) bytes (at most
 * 8 KiB), 8 bits set per value (MD5 of it), started afresh once older than
 * PERIOD; a value whose bits are all set already costs 0.
 *
 * Scope: Exim computes a per_conn rate once per connection and a per_mail or
 * per_byte rate once per message, however often the condition is evaluated.
 * rl_check()'s scope is that connection or message id: a second check of the
 * same key in the same scope returns the first result without counting. The
 * process remembers the last 16384 (key, scope) results (a direct-mapped
 * table of 64-bit hashes; an evicted one counts again). For per_addr the
 * scope is instead the recipient address, the event to count once (NULL:
 * "*"), unless the spec has unique=.
 *
 * Stores (rl_configure):
 *   memory  one table per process under a mutex, bounded: at most
 *           RL_MAX_KEYS keys and RL_MAX_BYTES bytes of entries (key text and
 *           Bloom filters included); when full, the least recently checked
 *           key is forgotten (it then starts again as a new key). A key
 *           cycling attacker therefore costs at most that much memory.
 *   redis   the redis_servers option's first server that answers (conf/
 *           lookup.h: its connection pool and timeouts). Each check is one
 *           EVALSHA (EVAL when the server lacks the script) of a Lua script
 *           doing the computation above on the server, atomically, so
 *           several nodes share one rate. Keys "spate:rl:{KEY}" (a hash:
 *           rate, stamp, epoch, bsize) and "spate:rl:{KEY}:bloom", expiring
 *           10 periods after their last update (by then the rate has decayed
 *           to under 1/20000 of its value). The time is the node's clock:
 *           nodes must keep their clocks in step (NTP).
 *
 * Thread rules: rl_parse, rl_spec_free, the accessors and rl_check from any
 * thread (a spec is immutable after rl_parse and rl_spec_default_key);
 * rl_configure, rl_reset, rl_set_clock, rl_set_bounds from the main thread
 * (rl_configure may run while other threads check).
 */
#ifndef SPATE_CONF_RATELIMIT_H
#define SPATE_CONF_RATELIMIT_H

#include <stddef.h>

#define RL_MAX_KEYS 100000               /* memory store: keys kept at most */
#define RL_MAX_BYTES (32u * 1024 * 1024) /* memory store: bytes of entries at most */

struct rl_spec; /* a parsed condition value */

enum { RL_PER_MAIL, RL_PER_CONN, RL_PER_RCPT, RL_PER_CMD, RL_PER_BYTE, RL_PER_ADDR };

/* rl_parse - parse an already-expanded condition value, e.g.
 * "100 / 1h / per_rcpt / strict / 192.0.2.1". A malloc'd spec (free with
 * rl_spec_free), or NULL with why in err (no limit, a limit that is not a
 * number >= 0, a bad or zero period, conflicting per_* or update options, a
 * bad count=). */
struct rl_spec *rl_parse(const char *text, char *err, size_t errlen);
/* rl_spec_free - release a spec (NULL is fine) */
void rl_spec_free(struct rl_spec *s);
/* rl_spec_default_key - the key to use when the spec names none (Exim: the
 * client's address); no effect when it names one. Call before sharing s. */
void rl_spec_default_key(struct rl_spec *s, const char *key);

/* rl_per - what the spec counts: RL_PER_* (RL_PER_MAIL when not written) */
int rl_per(const struct rl_spec *s);
/* rl_readonly - 1 if the spec never updates (readonly or noupdate) */
int rl_readonly(const struct rl_spec *s);
/* rl_limit - the limit as a number */
double rl_limit(const struct rl_spec *s);
/* rl_limit_text, rl_period_text - as written ($sender_rate_limit,
 * $sender_rate_period); valid as long as s */
const char *rl_limit_text(const struct rl_spec *s);
const char *rl_period_text(const struct rl_spec *s);
/* rl_key - the state key, "PERIOD/per_xxx/[unique/]KEY"; valid as long as s */
const char *rl_key(const struct rl_spec *s);

/* rl_check - update and test the rate for the spec's key. cost: 1, or the
 * byte count for per_byte, or the number of recipients for per_rcpt outside
 * the RCPT ACL (count= in the spec overrides it; readonly makes it 0; it
 * must be a finite number >= 0). scope: see "Scope" above (NULL: always
 * count). *rate (may be NULL) gets the smoothed rate ($sender_rate).
 * 1: over the limit (the condition is true); 0: under; -1: could not be done
 * (Redis down or answering an error: the ACL defers; a bad cost), err set. */
int rl_check(const struct rl_spec *s, double cost, const char *scope, double *rate, char *err,
             size_t errlen);

/* rl_configure - choose the store: memory (use_redis 0, the default) or
 * Redis (the servers and timeouts given to lookup_redis_configure()).
 * Called at load and on SIGHUP. The memory table is kept across a switch.
 * 0 (it cannot fail today; -1 with err is reserved). */
int rl_configure(int use_redis, char *err, size_t errlen);
/* rl_reset - forget every in-memory rate and remembered scope (tests) */
void rl_reset(void);
/* rl_set_clock - the clock in seconds since the epoch (tests; NULL: the real
 * one, gettimeofday) */
void rl_set_clock(double (*now)(void));
/* rl_set_bounds - the memory store's bounds (tests; 0: the defaults above) */
void rl_set_bounds(size_t max_keys, size_t max_bytes);
/* rl_mem_usage - keys and bytes the memory store holds now */
void rl_mem_usage(size_t *keys, size_t *bytes);

/* inside conf/ only: the Redis store (ratelimit_redis.c). key: the state
 * key; mode 0 leaky, 1 strict, 2 readonly; bloom_size: bytes of a new filter,
 * 0 when not counting unique events; hashes: the value's 8 16-bit hashes.
 * Over (1) or not (0) with *rate set, or -1 with err. */
int rl__redis_check(const char *key, double now, double period, double count, double limit,
                    int mode, size_t bloom_size, const unsigned hashes[8], double *rate, char *err,
                    size_t errlen);

#endif
