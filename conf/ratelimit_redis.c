/*
 * ratelimit_redis.c - the ratelimit condition's Redis store: one Lua script
 *                     does Exim's computation on the server, so that nodes
 *                     sharing a Redis share each key's rate atomically.
 *                     See ratelimit.h for the contract.
 *
 * The script is sent by EVALSHA; a server that does not know it yet
 * (NOSCRIPT: restarted, flushed, another server of the list) gets it once by
 * EVAL, which also loads it. Connections, server order and timeouts are
 * conf/lookup_redis.c's (lookup_redis_command).
 *
 * KEYS[1] "spate:rl:{KEY}": hash of rate, stamp (seconds), epoch (when the
 *         Bloom filter started) and bsize (its bytes);
 * KEYS[2] "spate:rl:{KEY}:bloom": the filter, a bit string.
 * ARGV: now, period, count, limit, mode (0 leaky, 1 strict, 2 readonly),
 *       bloom bytes for a new filter (0: no unique counting), the 8 hashes,
 *       expiry in milliseconds. Reply: {over (0/1), rate}, both as strings
 *       (Redis would truncate a Lua number to an integer).
 */
#include <math.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/lookup.h"
#include "conf/ratelimit.h"

#define RL_TTL_PERIODS 10 /* keys expire this many periods after their last update */

static const char rl_lua[] =
    "local now, period = tonumber(ARGV[1]), tonumber(ARGV[2])\n"
    "local count, limit = tonumber(ARGV[3]), tonumber(ARGV[4])\n"
    "local mode, bsize = tonumber(ARGV[5]), tonumber(ARGV[6])\n"
    "local st = redis.call('HMGET', KEYS[1], 'rate', 'stamp', 'epoch', 'bsize')\n"
    "local rate, stamp = tonumber(st[1]), tonumber(st[2])\n"
    "local epoch, fresh, bits = tonumber(st[3]), false, {}\n"
    "if bsize > 0 and mode ~= 2 then\n"
    "  local cur = tonumber(st[4])\n"
    "  if epoch == nil or cur == nil or now > epoch + period then\n"
    "    fresh, epoch = true, now\n"
    "  else\n"
    "    bsize = cur\n"
    "  end\n"
    "  local seen = not fresh\n"
    "  for i = 1, 8 do\n"
    "    bits[i] = tonumber(ARGV[6 + i]) % (bsize * 8)\n"
    "    if seen and redis.call('GETBIT', KEYS[2], bits[i]) == 0 then seen = false end\n"
    "  end\n"
    "  if seen then count = 0 end\n"
    "end\n"
    "if rate == nil or stamp == nil then\n"
    "  rate = count\n"
    "else\n"
    "  local interval = now - stamp\n"
    "  if interval <= 0 then interval = 1e-9 end\n"
    "  local a = math.exp(-interval / period)\n"
    "  rate = (1 - a) * count / (interval / period) + a * rate\n"
    "  if rate ~= rate or rate == math.huge then rate = 1.7976931348623157e308 end\n"
    "  if rate < count then rate = count end\n"
    "end\n"
    "local over = 0\n"
    "if rate >= limit then over = 1 end\n"
    "if mode == 1 or (mode == 0 and over == 0) then\n"
    "  local ttl = tonumber(ARGV[15])\n"
    "  redis.call('HSET', KEYS[1], 'rate', string.format('%.17g', rate),\n"
    "             'stamp', string.format('%.17g', now))\n"
    "  if bsize > 0 then\n"
    "    if fresh then\n"
    "      redis.call('DEL', KEYS[2])\n"
    "      redis.call('HSET', KEYS[1], 'epoch', string.format('%.17g', epoch), 'bsize', bsize)\n"
    "    end\n"
    "    for i = 1, 8 do redis.call('SETBIT', KEYS[2], bits[i], 1) end\n"
    "    redis.call('PEXPIRE', KEYS[2], ttl)\n"
    "  end\n"
    "  redis.call('PEXPIRE', KEYS[1], ttl)\n"
    "end\n"
    "return {tostring(over), string.format('%.17g', rate)}\n";

static char rl_lua_sha[41];
static pthread_once_t rl_sha_once = PTHREAD_ONCE_INIT;

/* sha_make - the script's SHA-1 in hex, as EVALSHA wants it */
static void
sha_make(void)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;

    if (EVP_Digest(rl_lua, strlen(rl_lua), md, &n, EVP_sha1(), NULL) != 1 || n != 20)
        abort();
    for (unsigned i = 0; i < n; i++)
        snprintf(rl_lua_sha + 2 * i, 3, "%02x", md[i]);
}

/* Numbers as arguments: 17 significant digits survive the round trip. */
struct rl_args {
    char *key1, *key2, num[6][40], hash[8][8], ttl[24];
    const char *argv[20];
};

/* args_make - the EVALSHA/EVAL arguments after the script (argv[2..]);
 * free the keys with args_free */
static void
args_make(struct rl_args *a, const char *key, const double nums[6], const unsigned hashes[8],
          double period)
{
    double ttl = ceil(period * RL_TTL_PERIODS * 1000);
    int k = 2;

    if (asprintf(&a->key1, "spate:rl:{%s}", key) < 0 ||
        asprintf(&a->key2, "spate:rl:{%s}:bloom", key) < 0)
        abort();
    a->argv[k++] = "2";
    a->argv[k++] = a->key1;
    a->argv[k++] = a->key2;
    for (int i = 0; i < 6; i++) {
        snprintf(a->num[i], sizeof a->num[i], "%.17g", nums[i]);
        a->argv[k++] = a->num[i];
    }
    for (int i = 0; i < 8; i++) {
        snprintf(a->hash[i], sizeof a->hash[i], "%u", hashes[i] & 0xffffu);
        a->argv[k++] = a->hash[i];
    }
    snprintf(a->ttl, sizeof a->ttl, "%.0f", ttl > 1e15 ? 1e15 : ttl);
    a->argv[k++] = a->ttl;
}

/* parse_reply - "over\nrate"; over or -1 */
static int
parse_reply(const char *r, double *rate, char *err, size_t errlen)
{
    char *e;

    if ((r[0] == '0' || r[0] == '1') && r[1] == '\n') {
        *rate = strtod(r + 2, &e);
        if (e != r + 2 && *e == '\0')
            return r[0] - '0';
    }
    snprintf(err, errlen, "ratelimit: unexpected reply from Redis: \"%.64s\"", r);
    return -1;
}

/* rl__redis_check - the computation on Redis */
int
rl__redis_check(const char *key, double now, double period, double count, double limit, int mode,
                size_t bloom_size, const unsigned hashes[8], double *rate, char *err, size_t errlen)
{
    const double nums[6] = {now, period, count, limit, mode, (double)bloom_size};
    struct rl_args a;
    char *res = NULL;
    enum lookup_rc rc;
    int over;

    pthread_once(&rl_sha_once, sha_make);
    args_make(&a, key, nums, hashes, period);
    a.argv[0] = "EVALSHA";
    a.argv[1] = rl_lua_sha;
    err[0] = '\0';
    rc = lookup_redis_command(20, a.argv, NULL, &res, err, errlen);
    if (rc != LOOKUP_OK && strstr(err, "NOSCRIPT") != NULL) {
        a.argv[0] = "EVAL";
        a.argv[1] = rl_lua;
        rc = lookup_redis_command(20, a.argv, NULL, &res, err, errlen);
    }
    free(a.key1);
    free(a.key2);
    if (rc != LOOKUP_OK) {
        if (rc == LOOKUP_NOTFOUND)
            snprintf(err, errlen, "ratelimit: no reply from Redis");
        free(res);
        return -1;
    }
    over = parse_reply(res, rate, err, errlen);
    free(res);
    return over;
}
