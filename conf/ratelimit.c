/*
 * ratelimit.c - the ratelimit condition: parsing a spec, Exim's smoothed
 *               rate, the per-scope memory of results, and the bounded
 *               in-memory store. The Redis store is ratelimit_redis.c.
 *               See ratelimit.h for the syntax and the contract.
 *
 * The memory store is a chained hash table (RL_BUCKETS buckets, allocated on
 * first use) plus a doubly linked list in order of last use; a check that
 * would take the table over its bounds drops keys from the least recently
 * used end. One mutex guards the table, the scope memory and the bounds.
 */
#include "conf/ratelimit.h"

#include <ctype.h>
#include <float.h>
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>

#include "conf/config.h"

#define RL_BUCKETS 65536
#define RL_MEMO_SLOTS 16384
#define RL_BLOOM_MIN 40   /* Exim's smallest filter, bytes */
#define RL_BLOOM_MAX 8192 /* 16-bit hashes address 65536 bits */

enum { RL_LEAKY, RL_STRICT, RL_READONLY };

struct rl_spec {
    double limit, period, count;
    int has_count;
    int per, per_given;
    int update;     /* RL_LEAKY, RL_STRICT, RL_READONLY */
    int has_unique; /* unique= given, or per_addr */
    char *unique;   /* unique=VALUE, or NULL (per_addr: the scope) */
    char *key;      /* the key items, or NULL */
    char *limit_text, *period_text;
    char *dbkey; /* "PERIOD/per_xxx/[unique/]KEY" */
};

struct rl_ent {
    struct rl_ent *hnext, *lprev, *lnext;
    uint64_t h;
    double rate, stamp, epoch;
    uint8_t *bloom;
    size_t bloom_size, bytes;
    char key[];
};

struct rl_memo {
    uint64_t h; /* 0: empty */
    double rate;
};

static struct {
    pthread_mutex_t lock;
    struct rl_ent **buckets;
    struct rl_ent *head, *tail; /* most, least recently used */
    size_t nkeys, bytes, max_keys, max_bytes;
    struct rl_memo memo[RL_MEMO_SLOTS];
} rl = {.lock = PTHREAD_MUTEX_INITIALIZER};

static _Atomic int rl_use_redis;
static double (*_Atomic rl_clock)(void);

static const char *const rl_per_names[] = {"per_mail", "per_conn", "per_rcpt",
                                           "per_cmd",  "per_byte", "per_addr"};

/* ---- parsing ---- */

/* xstrdup - strdup; out of memory is fatal */
static char *
xstrdup(const char *s)
{
    char *p = strdup(s);
    if (p == NULL)
        abort();
    return p;
}

/* xasprintf - a formatted malloc'd string */
__attribute__((format(printf, 1, 2))) static char *
xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s;

    va_start(ap, fmt);
    if (vasprintf(&s, fmt, ap) < 0)
        abort();
    va_end(ap);
    return s;
}

/* next_item - the next '/'-separated item ("//" a literal '/'), trimmed; NULL at the end */
static char *
next_item(const char **pp)
{
    const char *p = *pp;
    size_t n = 0;
    char *out;

    while (isspace((unsigned char)*p))
        p++;
    if (*p == '\0')
        return NULL;
    out = malloc(strlen(p) + 1);
    if (out == NULL)
        abort();
    for (; *p != '\0'; p++) {
        if (*p == '/' && *++p != '/')
            break;
        out[n++] = *p;
    }
    while (n > 0 && isspace((unsigned char)out[n - 1]))
        n--;
    out[n] = '\0';
    *pp = p;
    return out;
}

/* parse_number - a finite number >= 0 with nothing after it; 0 or -1 */
static int
parse_number(const char *s, double *out)
{
    char *e;
    double v;

    if (*s == '\0' || isspace((unsigned char)*s))
        return -1;
    v = strtod(s, &e);
    if (*e != '\0' || !isfinite(v) || v < 0)
        return -1;
    *out = v;
    return 0;
}

/* parse_limit - "100", "0.5", "10k", "2M" */
static int
parse_limit(struct rl_spec *s, char *err, size_t errlen)
{
    static const char sfx[] = "kmg";
    char buf[64];
    size_t n = strlen(s->limit_text);
    double mult = 1;
    const char *u = n > 0 ? strchr(sfx, tolower((unsigned char)s->limit_text[n - 1])) : NULL;

    if (n >= sizeof buf)
        goto bad;
    memcpy(buf, s->limit_text, n + 1);
    if (u != NULL && *u != '\0') {
        mult = u == sfx ? 1024.0 : u == sfx + 1 ? 1024.0 * 1024 : 1024.0 * 1024 * 1024;
        buf[n - 1] = '\0';
    }
    if (parse_number(buf, &s->limit) == 0 && isfinite(s->limit *= mult))
        return 0;
bad:
    snprintf(err, errlen, "ratelimit: \"%.64s\" is not a positive number", s->limit_text);
    return -1;
}

/* parse_head - the limit and the period */
static int
parse_head(struct rl_spec *s, const char **pp, char *err, size_t errlen)
{
    long t;

    if ((s->limit_text = next_item(pp)) == NULL) {
        snprintf(err, errlen, "ratelimit: sender rate limit not set");
        return -1;
    }
    if (parse_limit(s, err, errlen) < 0)
        return -1;
    s->period_text = next_item(pp);
    t = s->period_text != NULL ? cfg_parse_time(s->period_text) : -1;
    if (t <= 0) {
        snprintf(err, errlen, "ratelimit: \"%.64s\" is not a time value",
                 s->period_text != NULL ? s->period_text : "");
        return -1;
    }
    s->period = (double)t;
    return 0;
}

/* set_per - a per_* option; -1 if one was given already */
static int
set_per(struct rl_spec *s, int per)
{
    if (s->per_given++)
        return -1;
    s->per = per;
    if (per == RL_PER_ADDR)
        s->has_unique = 1;
    return 0;
}

/* parse_option - one item after the period; 1 if it was an option, 0 if
 * it belongs to the key, -1 on error */
static int
parse_option(struct rl_spec *s, const char *it, int modes[3], int *noupdate, char *err,
             size_t errlen)
{
    static const char *const mode_names[] = {"leaky", "strict", "readonly"};

    for (int i = 0; i < 3; i++)
        if (strcasecmp(it, mode_names[i]) == 0)
            return modes[i] = 1;
    if (strcasecmp(it, "noupdate") == 0)
        return *noupdate = 1;
    for (int i = 0; i < 6; i++)
        if (strcasecmp(it, rl_per_names[i]) == 0) {
            if (set_per(s, i) == 0)
                return 1;
            snprintf(err, errlen, "ratelimit: conflicting per_* options");
            return -1;
        }
    if (strncasecmp(it, "count=", 6) == 0) {
        if (parse_number(it + 6, &s->count) == 0)
            return s->has_count = 1;
        snprintf(err, errlen, "ratelimit: \"%.64s\" is not a positive number", it);
        return -1;
    }
    if (strncasecmp(it, "unique=", 7) == 0) {
        free(s->unique);
        s->unique = xstrdup(it + 7);
        s->has_unique = 1;
        return 1;
    }
    return 0;
}

/* add_key_item - append an item to the key, '/' between items */
static void
add_key_item(struct rl_spec *s, const char *it)
{
    char *k = s->key == NULL ? xstrdup(it) : xasprintf("%s/%s", s->key, it);
    free(s->key);
    s->key = k;
}

/* parse_tail - the options and key items */
static int
parse_tail(struct rl_spec *s, const char **pp, char *err, size_t errlen)
{
    int modes[3] = {0, 0, 0}, noupdate = 0, rc = 0;
    char *it;

    while (rc >= 0 && (it = next_item(pp)) != NULL) {
        rc = parse_option(s, it, modes, &noupdate, err, errlen);
        if (rc == 0)
            add_key_item(s, it);
        free(it);
    }
    if (rc < 0)
        return -1;
    if (modes[0] + modes[1] + modes[2] > 1) {
        snprintf(err, errlen, "ratelimit: conflicting update modes");
        return -1;
    }
    s->update = noupdate || modes[2] ? RL_READONLY : modes[1] ? RL_STRICT : RL_LEAKY;
    return 0;
}

/* make_dbkey - Exim's state key */
static void
make_dbkey(struct rl_spec *s)
{
    free(s->dbkey);
    s->dbkey = xasprintf("%s/%s/%s%s", s->period_text, rl_per_names[s->per],
                         s->has_unique ? "unique/" : "", s->key != NULL ? s->key : "");
}

/* rl_parse - parse an expanded condition value */
struct rl_spec *
rl_parse(const char *text, char *err, size_t errlen)
{
    struct rl_spec *s = calloc(1, sizeof *s);
    const char *p = text != NULL ? text : "";

    if (s == NULL)
        abort();
    if (parse_head(s, &p, err, errlen) < 0 || parse_tail(s, &p, err, errlen) < 0) {
        rl_spec_free(s);
        return NULL;
    }
    make_dbkey(s);
    return s;
}

/* rl_spec_free - release a spec */
void
rl_spec_free(struct rl_spec *s)
{
    if (s == NULL)
        return;
    free(s->limit_text);
    free(s->period_text);
    free(s->unique);
    free(s->key);
    free(s->dbkey);
    free(s);
}

/* rl_spec_default_key - the key when the spec names none */
void
rl_spec_default_key(struct rl_spec *s, const char *key)
{
    if (s->key != NULL || key == NULL)
        return;
    s->key = xstrdup(key);
    make_dbkey(s);
}

/* rl_per - what is counted */
int
rl_per(const struct rl_spec *s)
{
    return s->per;
}

/* rl_readonly - never updates? */
int
rl_readonly(const struct rl_spec *s)
{
    return s->update == RL_READONLY;
}

/* rl_limit - the limit */
double
rl_limit(const struct rl_spec *s)
{
    return s->limit;
}

/* rl_limit_text - the limit as written */
const char *
rl_limit_text(const struct rl_spec *s)
{
    return s->limit_text;
}

/* rl_period_text - the period as written */
const char *
rl_period_text(const struct rl_spec *s)
{
    return s->period_text;
}

/* rl_key - the state key */
const char *
rl_key(const struct rl_spec *s)
{
    return s->dbkey;
}

/* ---- the computation ---- */

/* rl_smooth - Exim's smoothed rate after an event of cost count at now,
 * the previous rate having been old at prev */
static double
rl_smooth(double old, double prev, double now, double period, double count)
{
    double interval = now - prev <= 0.0 ? 1e-9 : now - prev;
    double i_over_p = interval / period;
    double a = exp(-i_over_p);
    double rate = (1 - a) * count / i_over_p + a * old;

    if (!isfinite(rate)) /* absurd costs: stay a number */
        rate = DBL_MAX;
    return rate < count ? count : rate;
}

/* rl_bloom_size - bytes of a new filter for this limit */
static size_t
rl_bloom_size(double limit)
{
    size_t n = limit >= RL_BLOOM_MAX / 2 ? RL_BLOOM_MAX : (size_t)limit * 2;
    return n < RL_BLOOM_MIN ? RL_BLOOM_MIN : n;
}

/* rl_bloom_hashes - the 8 16-bit hashes of a unique value */
static void
rl_bloom_hashes(const char *value, unsigned h[8])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;

    if (EVP_Digest(value, strlen(value), md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen < 16)
        abort();
    for (int i = 0; i < 8; i++)
        h[i] = (unsigned)md[2 * i] << 8 | md[2 * i + 1];
}

/* now_s - the clock in seconds */
static double
now_s(void)
{
    double (*clk)(void) = atomic_load(&rl_clock);
    struct timeval tv;

    if (clk != NULL)
        return clk();
    gettimeofday(&tv, NULL);
    return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* fnv - 64-bit FNV-1a of s, continuing from h */
static uint64_t
fnv(uint64_t h, const char *s)
{
    for (; *s != '\0'; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ULL;
    return h;
}

/* ---- the memory store ---- */

/* lru_unlink - take e out of the use list */
static void
lru_unlink(struct rl_ent *e)
{
    if (e->lprev != NULL)
        e->lprev->lnext = e->lnext;
    else
        rl.head = e->lnext;
    if (e->lnext != NULL)
        e->lnext->lprev = e->lprev;
    else
        rl.tail = e->lprev;
    e->lprev = e->lnext = NULL;
}

/* lru_front - make e the most recently used */
static void
lru_front(struct rl_ent *e)
{
    e->lnext = rl.head;
    if (rl.head != NULL)
        rl.head->lprev = e;
    rl.head = e;
    if (rl.tail == NULL)
        rl.tail = e;
}

/* ent_drop - remove e from the table and free it */
static void
ent_drop(struct rl_ent *e)
{
    struct rl_ent **pp = &rl.buckets[e->h % RL_BUCKETS];

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    lru_unlink(e);
    rl.nkeys--;
    rl.bytes -= e->bytes;
    free(e->bloom);
    free(e);
}

/* ent_find - the entry for key, or NULL */
static struct rl_ent *
ent_find(const char *key, uint64_t h)
{
    if (rl.buckets == NULL)
        return NULL;
    for (struct rl_ent *e = rl.buckets[h % RL_BUCKETS]; e != NULL; e = e->hnext)
        if (e->h == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

/* ent_new - a new entry for key, in the table and first in use order */
static struct rl_ent *
ent_new(const char *key, uint64_t h)
{
    size_t kl = strlen(key);
    struct rl_ent *e = calloc(1, sizeof *e + kl + 1);

    if (rl.buckets == NULL)
        rl.buckets = calloc(RL_BUCKETS, sizeof *rl.buckets);
    if (e == NULL || rl.buckets == NULL)
        abort();
    memcpy(e->key, key, kl + 1);
    e->h = h;
    e->bytes = sizeof *e + kl + 1;
    e->hnext = rl.buckets[h % RL_BUCKETS];
    rl.buckets[h % RL_BUCKETS] = e;
    lru_front(e);
    rl.nkeys++;
    rl.bytes += e->bytes;
    return e;
}

/* mem_bound - drop least recently used keys (never keep) while over a bound */
static void
mem_bound(const struct rl_ent *keep)
{
    size_t mk = rl.max_keys ? rl.max_keys : RL_MAX_KEYS;
    size_t mb = rl.max_bytes ? rl.max_bytes : RL_MAX_BYTES;

    while ((rl.nkeys > mk || rl.bytes > mb) && rl.tail != NULL && rl.tail != keep)
        ent_drop(rl.tail);
}

/* One check's inputs, resolved from the spec. */
struct rl_req {
    const struct rl_spec *s;
    double count, now;
    const char *unique; /* NULL: not counting unique events */
};

/* bloom_seen - are all the value's bits set in e's filter? */
static int
bloom_seen(const struct rl_ent *e, const unsigned h[8])
{
    for (int i = 0; i < 8; i++) {
        size_t bit = h[i] % (e->bloom_size * 8);
        if (!(e->bloom[bit / 8] & 1u << (bit % 8)))
            return 0;
    }
    return 1;
}

/* bloom_store - record the value in e's filter, starting a new one if fresh */
static void
bloom_store(struct rl_ent *e, const struct rl_req *q, int fresh, const unsigned h[8])
{
    if (fresh) {
        size_t n = rl_bloom_size(q->s->limit);
        rl.bytes += n - e->bloom_size;
        e->bytes += n - e->bloom_size;
        free(e->bloom);
        if ((e->bloom = calloc(1, n)) == NULL)
            abort();
        e->bloom_size = n;
        e->epoch = q->now;
    }
    for (int i = 0; i < 8; i++) {
        size_t bit = h[i] % (e->bloom_size * 8);
        e->bloom[bit / 8] |= (uint8_t)(1u << (bit % 8));
    }
}

/* mem_check - the computation on the memory store (lock held); over or not */
static int
mem_check(const struct rl_req *q, double *rate)
{
    const struct rl_spec *s = q->s;
    uint64_t h = fnv(0xcbf29ce484222325ULL, s->dbkey);
    struct rl_ent *e = ent_find(s->dbkey, h);
    double count = q->count;
    unsigned bh[8];
    int fresh = 0, over;

    if (q->unique != NULL && s->update != RL_READONLY) {
        fresh = e == NULL || e->bloom == NULL || q->now > e->epoch + s->period;
        rl_bloom_hashes(q->unique, bh);
        if (!fresh && bloom_seen(e, bh))
            count = 0;
    }
    *rate = e == NULL ? count : rl_smooth(e->rate, e->stamp, q->now, s->period, count);
    over = *rate >= s->limit;
    if (s->update == RL_STRICT || (s->update == RL_LEAKY && !over)) {
        if (e == NULL)
            e = ent_new(s->dbkey, h);
        e->rate = *rate;
        e->stamp = q->now;
        if (q->unique != NULL)
            bloom_store(e, q, fresh, bh);
    }
    if (e != NULL) {
        lru_unlink(e);
        lru_front(e);
        mem_bound(e);
    }
    return over;
}

/* ---- checking ---- */

/* memo_slot - the scope memory's slot for (key, scope); its hash in *h */
static struct rl_memo *
memo_slot(const struct rl_spec *s, const char *scope, uint64_t *h)
{
    uint64_t x = fnv(0xcbf29ce484222325ULL, s->dbkey);
    x = fnv(x * 0x100000001b3ULL, scope); /* a NUL between the two */
    *h = x != 0 ? x : 1;
    return &rl.memo[*h % RL_MEMO_SLOTS];
}

/* store_check - run the request on the store in force; over, or -1 with err */
static int
store_check(const struct rl_req *q, double *rate, char *err, size_t errlen)
{
    const struct rl_spec *s = q->s;
    int over;

    if (atomic_load(&rl_use_redis)) {
        unsigned bh[8] = {0};
        int mode = s->update == RL_READONLY ? 2 : s->update == RL_STRICT ? 1 : 0;
        if (q->unique != NULL)
            rl_bloom_hashes(q->unique, bh);
        return rl__redis_check(s->dbkey, q->now, s->period, q->count, s->limit, mode,
                               q->unique != NULL ? rl_bloom_size(s->limit) : 0, bh, rate, err,
                               errlen);
    }
    pthread_mutex_lock(&rl.lock);
    over = mem_check(q, rate);
    pthread_mutex_unlock(&rl.lock);
    return over;
}

/* rl_check - update and test the rate for the spec's key */
int
rl_check(const struct rl_spec *s, double cost, const char *scope, double *rate, char *err,
         size_t errlen)
{
    struct rl_req q = {.s = s, .count = s->has_count ? s->count : cost, .now = now_s()};
    int memo = scope != NULL && s->per != RL_PER_ADDR && s->update != RL_READONLY;
    double r = 0;
    uint64_t h = 0;
    int over;

    if (!isfinite(q.count) || q.count < 0) {
        snprintf(err, errlen, "ratelimit: bad cost %g", q.count);
        return -1;
    }
    if (s->update == RL_READONLY)
        q.count = 0;
    if (s->has_unique)
        q.unique = s->unique != NULL ? s->unique : scope != NULL ? scope : "*";
    if (memo) {
        pthread_mutex_lock(&rl.lock);
        struct rl_memo *m = memo_slot(s, scope, &h);
        int hit = m->h == h;
        r = m->rate;
        pthread_mutex_unlock(&rl.lock);
        if (hit) {
            if (rate != NULL)
                *rate = r;
            return r >= s->limit;
        }
    }
    if ((over = store_check(&q, &r, err, errlen)) < 0)
        return -1;
    if (memo) {
        pthread_mutex_lock(&rl.lock);
        struct rl_memo *m = memo_slot(s, scope, &h);
        m->h = h;
        m->rate = r;
        pthread_mutex_unlock(&rl.lock);
    }
    if (rate != NULL)
        *rate = r;
    return over;
}

/* ---- administration ---- */

/* rl_configure - choose the store */
int
rl_configure(int use_redis, char *err, size_t errlen)
{
    (void)err;
    (void)errlen;
    atomic_store(&rl_use_redis, use_redis != 0);
    return 0;
}

/* rl_reset - forget every in-memory rate and remembered scope */
void
rl_reset(void)
{
    pthread_mutex_lock(&rl.lock);
    while (rl.tail != NULL)
        ent_drop(rl.tail);
    memset(rl.memo, 0, sizeof rl.memo);
    pthread_mutex_unlock(&rl.lock);
}

/* rl_set_clock - the clock (tests) */
void
rl_set_clock(double (*now)(void))
{
    atomic_store(&rl_clock, now);
}

/* rl_set_bounds - the memory store's bounds (tests) */
void
rl_set_bounds(size_t max_keys, size_t max_bytes)
{
    pthread_mutex_lock(&rl.lock);
    rl.max_keys = max_keys;
    rl.max_bytes = max_bytes;
    mem_bound(NULL);
    pthread_mutex_unlock(&rl.lock);
}

/* rl_mem_usage - what the memory store holds */
void
rl_mem_usage(size_t *keys, size_t *bytes)
{
    pthread_mutex_lock(&rl.lock);
    if (keys != NULL)
        *keys = rl.nkeys;
    if (bytes != NULL)
        *bytes = rl.bytes;
    pthread_mutex_unlock(&rl.lock);
}
