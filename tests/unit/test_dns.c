/*
 * test_dns.c - unit tests for dns/: MX ordering, name checks, reply parsing
 *              on malformed input, and real resolution against an nsd that
 *              each case starts on 127.0.0.153 (a free high port) with the
 *              made-up zone "spate-dns-test.".
 *
 * Every case that talks DNS runs the engine loop once, as a chain of steps:
 * a step starts lookups (or stops nsd, or waits); when all of a step's
 * results are in, the next step runs; after the last, the loop stops. A
 * safety timer bounds every run.
 */
#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dns/dns.h"
#include "testutil.h"

#include <cmocka.h>

#define NSD_BIN "/usr/sbin/nsd"
#define NSD_ADDR "127.0.0.153"
#define ZONE "spate-dns-test"
#define MAX_RES 32
#define MAX_STEPS 8
#define SAFETY_MS 10000

static const char zone_text[] = "$ORIGIN " ZONE ".\n"
                                "$TTL 300\n"
                                "@ IN SOA ns admin 1 3600 600 86400 1\n"
                                "@ IN NS ns\n"
                                "ns IN A " NSD_ADDR "\n"
                                "two IN MX 20 mx2\n"
                                "two IN MX 10 mx1\n"
                                "eq IN MX 10 mx1\n"
                                "eq IN MX 10 mx2\n"
                                "eq IN MX 10 mx3\n"
                                "nullmx IN MX 0 .\n"
                                "implicit IN A 127.0.1.10\n"
                                "implicit IN AAAA 2001:db8::10\n"
                                "txtonly IN TXT \"no mail here\"\n"
                                "mxc IN MX 10 alias\n"
                                "alias IN CNAME mx1\n"
                                "partial IN MX 10 ghost\n"
                                "partial IN MX 20 mx2\n"
                                "noaddr IN MX 10 ghost\n"
                                "noaddr IN MX 20 txtonly\n"
                                "short 1 IN MX 10 mx1\n"
                                "many IN MX 160 long-mail-exchanger-name-number-00\n"
                                "long-mail-exchanger-name-number-00 IN A 127.0.2.0\n"
                                "many IN MX 150 long-mail-exchanger-name-number-01\n"
                                "long-mail-exchanger-name-number-01 IN A 127.0.2.1\n"
                                "many IN MX 140 long-mail-exchanger-name-number-02\n"
                                "long-mail-exchanger-name-number-02 IN A 127.0.2.2\n"
                                "many IN MX 130 long-mail-exchanger-name-number-03\n"
                                "long-mail-exchanger-name-number-03 IN A 127.0.2.3\n"
                                "many IN MX 120 long-mail-exchanger-name-number-04\n"
                                "long-mail-exchanger-name-number-04 IN A 127.0.2.4\n"
                                "many IN MX 110 long-mail-exchanger-name-number-05\n"
                                "long-mail-exchanger-name-number-05 IN A 127.0.2.5\n"
                                "many IN MX 100 long-mail-exchanger-name-number-06\n"
                                "long-mail-exchanger-name-number-06 IN A 127.0.2.6\n"
                                "many IN MX 90 long-mail-exchanger-name-number-07\n"
                                "long-mail-exchanger-name-number-07 IN A 127.0.2.7\n"
                                "many IN MX 80 long-mail-exchanger-name-number-08\n"
                                "long-mail-exchanger-name-number-08 IN A 127.0.2.8\n"
                                "many IN MX 70 long-mail-exchanger-name-number-09\n"
                                "long-mail-exchanger-name-number-09 IN A 127.0.2.9\n"
                                "many IN MX 60 long-mail-exchanger-name-number-10\n"
                                "long-mail-exchanger-name-number-10 IN A 127.0.2.10\n"
                                "many IN MX 50 long-mail-exchanger-name-number-11\n"
                                "long-mail-exchanger-name-number-11 IN A 127.0.2.11\n"
                                "many IN MX 40 long-mail-exchanger-name-number-12\n"
                                "long-mail-exchanger-name-number-12 IN A 127.0.2.12\n"
                                "many IN MX 30 long-mail-exchanger-name-number-13\n"
                                "long-mail-exchanger-name-number-13 IN A 127.0.2.13\n"
                                "many IN MX 20 long-mail-exchanger-name-number-14\n"
                                "long-mail-exchanger-name-number-14 IN A 127.0.2.14\n"
                                "many IN MX 10 long-mail-exchanger-name-number-15\n"
                                "long-mail-exchanger-name-number-15 IN A 127.0.2.15\n"
                                "mx1 IN A 127.0.1.1\n"
                                "mx1 IN AAAA 2001:db8::1\n"
                                "mx2 IN A 127.0.1.2\n"
                                "mx3 IN A 127.0.1.3\n"
                                "dual IN A 127.0.1.4\n"
                                "dual IN AAAA 2001:db8::4\n";

struct fx;
typedef void (*step_fn)(struct fx *f);

struct fx {
    char dir[64];
    pid_t nsd;
    uint16_t port;
    eng_loop *loop;
    dns_resolver *r;
    struct eng_timer safety, delay;
    int timed_out;
    step_fn steps[MAX_STEPS];
    size_t nsteps, cur;
    int outstanding;
    struct dns_result *res[MAX_RES];
    size_t nres;
    int in_call; /* set while a dns_resolve_*() call runs */
    int reentered;
};

/* ---- helpers: nsd ---- */

/* write_file - create path with text */
static void
write_file(const char *path, const char *text)
{
    FILE *fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    assert_int_equal(fclose(fp), 0);
}

/* nsd_try - start nsd on port and wait (bounded) until it answers; 0 or -1 */
static int
nsd_try(struct fx *f, uint16_t port)
{
    char conf[2048], path[128];
    snprintf(conf, sizeof(conf),
             "server:\n  ip-address: %s@%u\n  username: \"\"\n  database: \"\"\n"
             "  zonesdir: \"%s\"\n  pidfile: \"%s/nsd.pid\"\n  xfrdfile: \"%s/xfrd.state\"\n"
             "  zonelistfile: \"%s/zone.list\"\n  verbosity: 0\n"
             "remote-control:\n  control-enable: no\n"
             "zone:\n  name: " ZONE ".\n  zonefile: zone\n",
             NSD_ADDR, port, f->dir, f->dir, f->dir, f->dir);
    snprintf(path, sizeof(path), "%s/nsd.conf", f->dir);
    write_file(path, conf);
    f->nsd = fork();
    assert_true(f->nsd >= 0);
    if (f->nsd == 0) {
        char log[128];
        int fd;
        snprintf(log, sizeof(log), "%s/nsd.log", f->dir);
        fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execl(NSD_BIN, "nsd", "-d", "-c", path, (char *)NULL);
        _exit(127);
    }
    f->port = port;
    for (int i = 0; i < 30; i++) {
        if (tu_dns_ready(NSD_ADDR, port))
            return 0;
        if (waitpid(f->nsd, NULL, WNOHANG) == f->nsd) {
            f->nsd = 0;
            return -1;
        }
    }
    tu_stop(&f->nsd);
    return -1;
}

/* nsd_start - zone files in a fresh directory, nsd on a free port */
static int
nsd_start(struct fx *f)
{
    char path[128];
    uint16_t port = (uint16_t)(15400 + (unsigned)getpid() % 1500);
    snprintf(f->dir, sizeof(f->dir), "/tmp/spate-dns-test.XXXXXX");
    if (mkdtemp(f->dir) == NULL)
        return -1;
    snprintf(path, sizeof(path), "%s/zone", f->dir);
    write_file(path, zone_text);
    for (int attempt = 0; attempt < 5; attempt++, port = (uint16_t)(port + 97)) {
        if (tu_port_free(NSD_ADDR, port) && nsd_try(f, port) == 0)
            return 0;
    }
    return -1;
}

/* rm_dir - remove the fixture directory and what nsd left there */
static void
rm_dir(struct fx *f)
{
    static const char *names[] = {"zone",    "nsd.conf",   "nsd.log",
                                  "nsd.pid", "xfrd.state", "zone.list"};
    char path[128];
    if (f->dir[0] == '\0')
        return;
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", f->dir, names[i]);
        unlink(path);
    }
    rmdir(f->dir);
}

/* server_addr - a net_addr for ip:port */
static struct net_addr
server_addr(const char *ip, uint16_t port)
{
    struct net_addr s;
    memset(&s, 0, sizeof(s));
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&s.ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        inet_pton(AF_INET6, ip, &sin6->sin6_addr);
        s.len = sizeof(*sin6);
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&s.ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        inet_pton(AF_INET, ip, &sin->sin_addr);
        s.len = sizeof(*sin);
    }
    snprintf(s.text, sizeof(s.text), strchr(ip, ':') ? "[%s]:%u" : "%s:%u", ip, port);
    return s;
}

/* new_resolver - a resolver for loop pointed at ip:port with short timeouts */
static dns_resolver *
new_resolver(eng_loop *loop, const char *ip, uint16_t port, int timeout_ms, int tries)
{
    struct net_addr s = server_addr(ip, port);
    struct dns_opts o = {.timeout_ms = timeout_ms, .tries = tries};
    char err[256] = "";
    dns_resolver *r = dns_resolver_new_opts(loop, &s, 1, &o, err, sizeof(err));
    if (r == NULL)
        fail_msg("dns_resolver_new_opts: %s", err);
    return r;
}

/* ---- helpers: running the loop ---- */

/* on_safety - a run took too long */
static void
on_safety(eng_loop *loop, struct eng_timer *t)
{
    struct fx *f = t->data;
    f->timed_out = 1;
    eng_loop_stop(loop);
}

/* advance - run steps while nothing is outstanding; stop after the last */
static void
advance(struct fx *f)
{
    while (f->outstanding == 0 && f->cur < f->nsteps)
        f->steps[f->cur++](f);
    if (f->outstanding == 0 && f->cur == f->nsteps)
        eng_loop_stop(f->loop);
}

/* on_result - collect a result; the step's last one moves on */
static void
on_result(struct dns_result *res, void *arg)
{
    struct fx *f = arg;
    if (f->in_call)
        f->reentered = 1;
    assert_true(f->nres < MAX_RES);
    f->res[f->nres++] = res;
    f->outstanding--;
    advance(f);
}

/* on_delay - a wait step is over */
static void
on_delay(eng_loop *loop, struct eng_timer *t)
{
    struct fx *f = t->data;
    (void)loop;
    f->outstanding--;
    advance(f);
}

/* wait_ms - a step body: wait ms before the next step */
static void
wait_ms(struct fx *f, uint64_t ms)
{
    f->outstanding++;
    eng_timer_start(f->loop, &f->delay, ms);
}

/* mx - start an MX lookup in a step */
static void
mx(struct fx *f, const char *domain)
{
    f->outstanding++;
    f->in_call = 1;
    assert_int_equal(dns_resolve_mx(f->r, domain, on_result, f), 0);
    f->in_call = 0;
}

/* run - run the given steps on the loop, bounded by SAFETY_MS */
static void
run(struct fx *f, size_t n, ...)
{
    va_list ap;
    va_start(ap, n);
    for (size_t i = 0; i < n && i < MAX_STEPS; i++)
        f->steps[i] = va_arg(ap, step_fn);
    va_end(ap);
    f->nsteps = n;
    f->cur = 0;
    eng_timer_init(&f->safety, on_safety, f);
    eng_timer_init(&f->delay, on_delay, f);
    eng_timer_start(f->loop, &f->safety, SAFETY_MS);
    advance(f);
    eng_loop_run(f->loop);
    eng_timer_stop(f->loop, &f->safety);
    eng_timer_stop(f->loop, &f->delay);
    assert_false(f->timed_out);
    assert_false(f->reentered);
}

/* ---- helpers: checking results ---- */

/* addr_is - is ss the address text? */
static int
addr_is(const struct sockaddr_storage *ss, const char *text)
{
    char buf[INET6_ADDRSTRLEN] = "";
    if (ss->ss_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, buf, sizeof(buf));
    else if (ss->ss_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, buf, sizeof(buf));
    return strcmp(buf, text) == 0;
}

/* host_is - name, preference and the exact address list of a host */
static void
host_is(const struct dns_host *h, const char *name, uint16_t pref, size_t naddr, ...)
{
    va_list ap;
    assert_string_equal(h->name, name);
    assert_int_equal(h->pref, pref);
    assert_int_equal(h->naddr, naddr);
    va_start(ap, naddr);
    for (size_t i = 0; i < naddr; i++) {
        const char *want = va_arg(ap, const char *);
        if (!addr_is(&h->addrs[i], want))
            fail_msg("%s address %zu is not %s", name, i, want);
    }
    va_end(ap);
}

/* stats - queries and hits of the fixture's resolver */
static uint64_t
queries(struct fx *f)
{
    uint64_t q;
    dns_cache_stats(f->r, NULL, &q);
    return q;
}
static uint64_t
hits(struct fx *f)
{
    uint64_t h;
    dns_cache_stats(f->r, &h, NULL);
    return h;
}

/* ---- fixtures ---- */

/* setup_nsd - nsd with the test zone, a loop and a resolver pointed at it */
static int
setup_nsd(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (f == NULL || access(NSD_BIN, X_OK) != 0) {
        free(f);
        return -1;
    }
    assert_int_equal(dns_init(), 0);
    if (nsd_start(f) < 0) {
        rm_dir(f);
        free(f);
        return -1;
    }
    f->loop = eng_loop_new();
    assert_non_null(f->loop);
    f->r = new_resolver(f->loop, NSD_ADDR, f->port, 500, 2);
    *state = f;
    return 0;
}

/* setup_plain - a loop only (cases that make their own resolver) */
static int
setup_plain(void **state)
{
    struct fx *f = calloc(1, sizeof(*f));
    if (f == NULL)
        return -1;
    assert_int_equal(dns_init(), 0);
    f->loop = eng_loop_new();
    assert_non_null(f->loop);
    *state = f;
    return 0;
}

/* teardown - free results, resolver, loop; stop nsd */
static int
teardown(void **state)
{
    struct fx *f = *state;
    dns_resolver_free(f->r);
    for (size_t i = 0; i < f->nres; i++)
        dns_result_free(f->res[i]);
    eng_loop_free(f->loop);
    tu_stop(&f->nsd);
    rm_dir(f);
    free(f);
    return 0;
}

/* ---- dns_mx_order ---- */

/* lcg - deterministic "random" source for the ordering tests */
static uint32_t
lcg(void *arg)
{
    uint64_t *s = arg;
    *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)(*s >> 32);
}

/* counting_rnd - counts calls */
static uint32_t
counting_rnd(void *arg)
{
    (*(int *)arg)++;
    return 0;
}

static void
test_mx_order_sorted(void **state)
{
    struct dns_host h[6] = {{.name = "c", .pref = 30},    {.name = "a", .pref = 10},
                            {.name = "b", .pref = 20},    {.name = "z", .pref = 0},
                            {.name = "m", .pref = 65535}, {.name = "y", .pref = 5}};
    int calls = 0;
    (void)state;
    dns_mx_order(h, 6, counting_rnd, &calls);
    assert_string_equal(h[0].name, "z");
    assert_string_equal(h[1].name, "y");
    assert_string_equal(h[2].name, "a");
    assert_string_equal(h[3].name, "b");
    assert_string_equal(h[4].name, "c");
    assert_string_equal(h[5].name, "m");
    assert_int_equal(calls, 0); /* no equal preferences: nothing to shuffle */
}

static void
test_mx_order_equal_shuffled(void **state)
{
    const char *perms[6] = {NULL};
    int seen[6] = {0}, kinds = 0;
    uint64_t seed = 42;
    (void)state;
    for (int run = 0; run < 300; run++) {
        struct dns_host h[4] = {{.name = "x", .pref = 10},
                                {.name = "b", .pref = 5},
                                {.name = "y", .pref = 10},
                                {.name = "z", .pref = 10}};
        char key[4];
        size_t k;
        dns_mx_order(h, 4, lcg, &seed);
        assert_string_equal(h[0].name, "b"); /* the lone best preference first */
        for (int i = 1; i < 4; i++)
            assert_int_equal(h[i].pref, 10);
        snprintf(key, sizeof(key), "%s%s%s", h[1].name, h[2].name, h[3].name);
        for (k = 0; k < 6 && perms[k] != NULL && strcmp(perms[k], key) != 0; k++)
            ;
        assert_true(k < 6);
        if (perms[k] == NULL) {
            perms[k] = strdup(key);
            kinds++;
        }
        seen[k]++;
    }
    assert_int_equal(kinds, 6); /* every order of the three equals occurs */
    for (int k = 0; k < 6; k++) {
        assert_true(seen[k] > 20); /* and none is rare (300 runs, ~50 each) */
        free((void *)perms[k]);
    }
}

static void
test_mx_order_single_and_empty(void **state)
{
    struct dns_host one = {.name = "only", .pref = 7};
    int calls = 0;
    (void)state;
    dns_mx_order(&one, 1, counting_rnd, &calls);
    assert_string_equal(one.name, "only");
    assert_int_equal(one.pref, 7);
    dns_mx_order(NULL, 0, counting_rnd, &calls);
    assert_int_equal(calls, 0);
}

static void
test_mx_order_large(void **state)
{
    enum { N = 20000 };
    struct dns_host *h = calloc(N, sizeof(*h));
    uint64_t seed = 7, sum = 0, sum2 = 0;
    size_t moved = 0;
    (void)state;
    assert_non_null(h);
    for (size_t i = 0; i < N; i++) {
        h[i].pref = (uint16_t)(lcg(&seed) % 50);
        h[i].naddr = i; /* identity, to check nothing is lost or duplicated */
        sum += i;
    }
    dns_mx_order(h, N, lcg, &seed);
    for (size_t i = 0; i < N; i++) {
        if (i > 0)
            assert_true(h[i - 1].pref <= h[i].pref);
        sum2 += h[i].naddr;
        moved += h[i].naddr != i;
    }
    assert_int_equal(sum, sum2);
    assert_true(moved > N / 2);
    free(h);
}

/* ---- names and replies ---- */

static void
test_name_norm(void **state)
{
    char out[256], longname[300];
    (void)state;
    assert_int_equal(dns__name_norm("Example.COM.", out, sizeof(out)), 0);
    assert_string_equal(out, "example.com");
    assert_int_equal(dns__name_norm("mx_1-a.example", out, sizeof(out)), 0);
    assert_int_equal(dns__name_norm("", out, sizeof(out)), -1);
    assert_int_equal(dns__name_norm(".", out, sizeof(out)), -1);
    assert_int_equal(dns__name_norm("a..b", out, sizeof(out)), -1);
    assert_int_equal(dns__name_norm(".a", out, sizeof(out)), -1);
    assert_int_equal(dns__name_norm("a..", out, sizeof(out)), -1);
    assert_int_equal(dns__name_norm("a b.example", out, sizeof(out)), -1);
    assert_int_equal(dns__name_norm("bad\\.example", out, sizeof(out)), -1);
    assert_int_equal(dns__name_norm("caf\xc3\xa9.example", out, sizeof(out)), -1);
    assert_int_equal(dns__name_norm(NULL, out, sizeof(out)), -1);
    /* 63-octet labels pass, 64 do not */
    memset(longname, 'a', 64);
    longname[64] = '\0';
    assert_int_equal(dns__name_norm(longname, out, sizeof(out)), -1);
    longname[63] = '\0';
    assert_int_equal(dns__name_norm(longname, out, sizeof(out)), 0);
    /* 253 octets pass (with or without the trailing dot), 254 do not */
    for (int i = 0; i < 253; i++)
        longname[i] = (i % 50 == 49) ? '.' : 'b';
    longname[253] = '\0';
    assert_int_equal(dns__name_norm(longname, out, sizeof(out)), 0);
    longname[253] = '.';
    longname[254] = '\0';
    assert_int_equal(dns__name_norm(longname, out, sizeof(out)), 0);
    longname[253] = 'c';
    assert_int_equal(dns__name_norm(longname, out, sizeof(out)), -1);
}

/* put_rr - append name (pre-encoded), type, class IN, ttl and rdata */
static size_t
put_rr(unsigned char *m, size_t off, const char *name, size_t nlen, int type, uint32_t ttl,
       const unsigned char *rd, size_t rdlen)
{
    memcpy(m + off, name, nlen);
    off += nlen;
    m[off++] = (unsigned char)(type >> 8);
    m[off++] = (unsigned char)type;
    m[off++] = 0;
    m[off++] = 1;
    m[off++] = (unsigned char)(ttl >> 24);
    m[off++] = (unsigned char)(ttl >> 16);
    m[off++] = (unsigned char)(ttl >> 8);
    m[off++] = (unsigned char)ttl;
    m[off++] = (unsigned char)(rdlen >> 8);
    m[off++] = (unsigned char)rdlen;
    memcpy(m + off, rd, rdlen);
    return off + rdlen;
}

/* build_reply - an MX reply for "d.t": two MX (TTL 900 and 120) or, when
 * nodata, none and an SOA (TTL 600, MINIMUM 45) in the authority section */
static size_t
build_reply(unsigned char *m, int nodata)
{
    static const char qname[] = "\1d\1t";
    static const unsigned char mx1[] = {0, 10, 2, 'm', 'x', 0xc0, 12};
    static const unsigned char mx2[] = {0, 20, 3, 'm', 'x', '2', 0xc0, 12};
    static const unsigned char soa[] = {0xc0, 12, 0xc0, 12, 0, 0, 0, 1, 0, 0, 0, 2,
                                        0,    0,  0,    3,  0, 0, 0, 4, 0, 0, 0, 45};
    static const unsigned char ptr[] = {0xc0, 12};
    size_t off = 12;
    memset(m, 0, 12);
    m[0] = 0xab;
    m[2] = 0x81;
    m[3] = 0x80;
    m[5] = 1;
    m[7] = nodata ? 0 : 2;
    m[9] = nodata ? 1 : 0;
    memcpy(m + off, qname, sizeof(qname));
    off += sizeof(qname);
    m[off++] = 0, m[off++] = T_MX, m[off++] = 0, m[off++] = 1;
    if (nodata)
        return put_rr(m, off, (const char *)ptr, 2, T_SOA, 600, soa, sizeof(soa));
    off = put_rr(m, off, (const char *)ptr, 2, T_MX, 900, mx1, sizeof(mx1));
    return put_rr(m, off, (const char *)ptr, 2, T_MX, 120, mx2, sizeof(mx2));
}

static void
test_parse_reply_ttls(void **state)
{
    unsigned char m[512];
    size_t len = build_reply(m, 0);
    long ans, neg;
    struct dns__answer *a;
    (void)state;
    assert_int_equal(dns__scan_ttls(m, len, T_MX, &ans, &neg), 0);
    assert_int_equal(ans, 120);
    assert_int_equal(neg, -1);
    a = dns__answer_parse(T_MX, ARES_SUCCESS, m, (int)len);
    assert_int_equal(a->status, DNS__ANS_OK);
    assert_int_equal(a->ttl, 120);
    assert_int_equal(a->n, 2);
    assert_string_equal(a->mx[0].name, "mx.d.t");
    assert_int_equal(a->mx[0].pref, 10);
    assert_string_equal(a->mx[1].name, "mx2.d.t");
    dns__answer_unref(a);

    len = build_reply(m, 1);
    assert_int_equal(dns__scan_ttls(m, len, T_MX, &ans, &neg), 0);
    assert_int_equal(neg, 45);
    a = dns__answer_parse(T_MX, ARES_ENODATA, m, (int)len);
    assert_int_equal(a->status, DNS__ANS_NODATA);
    assert_int_equal(a->ttl, 45);
    dns__answer_unref(a);
    a = dns__answer_parse(T_A, ARES_ENOTFOUND, NULL, 0); /* no SOA: 60 s */
    assert_int_equal(a->status, DNS__ANS_NXDOMAIN);
    assert_int_equal(a->ttl, 60);
    dns__answer_unref(a);
    a = dns__answer_parse(T_A, ARES_ESERVFAIL, NULL, 0);
    assert_int_equal(a->status, DNS__ANS_TEMP);
    assert_int_equal(a->ares_status, ARES_ESERVFAIL);
    dns__answer_unref(a);
}

static void
test_parse_reply_malformed(void **state)
{
    unsigned char m[512], bad[512];
    size_t len = build_reply(m, 0);
    long ans, neg;
    struct dns__answer *a;
    (void)state;
    /* every truncation is rejected or parsed without reading past the end */
    for (size_t cut = 0; cut < len; cut++) {
        unsigned char *copy = malloc(cut ? cut : 1);
        memcpy(copy, m, cut);
        (void)dns__scan_ttls(copy, cut, T_MX, &ans, &neg);
        a = dns__answer_parse(T_MX, ARES_SUCCESS, copy, (int)cut);
        assert_int_not_equal(a->status, DNS__ANS_OK);
        dns__answer_unref(a);
        free(copy);
    }
    assert_int_equal(dns__scan_ttls(m, 5, T_MX, &ans, &neg), -1);
    /* a label running past the end, an unknown label type */
    memcpy(bad, m, len);
    bad[12] = 60;
    assert_int_equal(dns__scan_ttls(bad, len, T_MX, &ans, &neg), -1);
    bad[12] = 0x80;
    assert_int_equal(dns__scan_ttls(bad, len, T_MX, &ans, &neg), -1);
    /* answer count larger than the records present */
    memcpy(bad, m, len);
    bad[7] = 200;
    assert_int_equal(dns__scan_ttls(bad, len, T_MX, &ans, &neg), -1);
    a = dns__answer_parse(T_MX, ARES_SUCCESS, bad, (int)len);
    assert_int_equal(a->status, DNS__ANS_TEMP);
    dns__answer_unref(a);
    /* rdlength past the end */
    memcpy(bad, m, len);
    bad[len - 10] = 0xff; /* high byte of the last RR's rdlength */
    assert_int_equal(dns__scan_ttls(bad, len, T_MX, &ans, &neg), -1);
    /* a TTL with the top bit set counts as 0, and keeps at least 1 s */
    memcpy(bad, m, len);
    bad[len - 14] = 0x80;
    assert_int_equal(dns__scan_ttls(bad, len, T_MX, &ans, &neg), 0);
    assert_int_equal(ans, 0);
    a = dns__answer_parse(T_MX, ARES_SUCCESS, bad, (int)len);
    assert_int_equal(a->ttl, 1);
    dns__answer_unref(a);
    /* an A query type over an MX reply: no addresses (NODATA), not a crash */
    a = dns__answer_parse(T_A, ARES_SUCCESS, m, (int)len);
    assert_int_not_equal(a->status, DNS__ANS_OK);
    dns__answer_unref(a);
    a = dns__answer_parse(T_MX, ARES_SUCCESS, NULL, 0);
    assert_int_equal(a->status, DNS__ANS_TEMP);
    dns__answer_unref(a);
}

/* ---- real resolution ---- */

static void
s_two(struct fx *f)
{
    mx(f, "Two." ZONE ".");
}
static void
test_mx_two_prefs(void **state)
{
    struct fx *f = *state;
    struct dns_result *res;
    run(f, 1, s_two);
    res = f->res[0];
    assert_int_equal(res->status, DNS_OK);
    assert_false(res->implicit_mx);
    assert_int_equal(res->nhosts, 2);
    host_is(&res->hosts[0], "mx1." ZONE, 10, 2, "127.0.1.1", "2001:db8::1");
    host_is(&res->hosts[1], "mx2." ZONE, 20, 1, "127.0.1.2");
    assert_int_equal(queries(f), 5); /* MX, then A and AAAA of both targets */
}

static void
s_eq12(struct fx *f)
{
    for (int i = 0; i < 12; i++)
        mx(f, "eq." ZONE);
}
static void
test_mx_equal_prefs(void **state)
{
    struct fx *f = *state;
    int different = 0;
    run(f, 1, s_eq12);
    assert_int_equal(f->nres, 12);
    for (size_t i = 0; i < f->nres; i++) {
        struct dns_result *res = f->res[i];
        int seen = 0;
        assert_int_equal(res->status, DNS_OK);
        assert_int_equal(res->nhosts, 3);
        for (size_t k = 0; k < 3; k++) {
            assert_int_equal(res->hosts[k].pref, 10);
            assert_int_equal(res->hosts[k].naddr, res->hosts[k].name[2] == '1' ? 2 : 1);
            seen |= 1 << (res->hosts[k].name[2] - '1');
        }
        assert_int_equal(seen, 7); /* mx1, mx2, mx3 each once */
        if (strcmp(res->hosts[0].name, f->res[0]->hosts[0].name) != 0 ||
            strcmp(res->hosts[1].name, f->res[0]->hosts[1].name) != 0)
            different = 1;
    }
    assert_true(different);          /* all 12 in one order: chance 6^-11 */
    assert_int_equal(queries(f), 7); /* coalesced: MX + 3 x (A, AAAA) */
}

static void
s_nullmx(struct fx *f)
{
    mx(f, "nullmx." ZONE);
}
static void
test_mx_null(void **state)
{
    struct fx *f = *state;
    run(f, 1, s_nullmx);
    assert_int_equal(f->res[0]->status, DNS_NULLMX);
    assert_int_equal(f->res[0]->nhosts, 0);
    assert_non_null(strstr(f->res[0]->why, "null MX"));
}

static void
s_implicit(struct fx *f)
{
    mx(f, "implicit." ZONE);
}
static void
s_txtonly(struct fx *f)
{
    mx(f, "txtonly." ZONE);
}
static void
test_mx_implicit(void **state)
{
    struct fx *f = *state;
    run(f, 2, s_implicit, s_txtonly);
    assert_int_equal(f->res[0]->status, DNS_OK);
    assert_true(f->res[0]->implicit_mx);
    assert_int_equal(f->res[0]->nhosts, 1);
    host_is(&f->res[0]->hosts[0], "implicit." ZONE, 0, 2, "127.0.1.10", "2001:db8::10");
    /* no MX and no address: permanent */
    assert_int_equal(f->res[1]->status, DNS_FAIL);
    assert_true(f->res[1]->implicit_mx);
    assert_int_equal(f->res[1]->nhosts, 0);
}

static void
s_nx(struct fx *f)
{
    mx(f, "nx." ZONE);
}
static void
test_mx_nxdomain(void **state)
{
    struct fx *f = *state;
    run(f, 1, s_nx);
    assert_int_equal(f->res[0]->status, DNS_FAIL);
    assert_string_equal(f->res[0]->why, "domain does not exist");
    assert_int_equal(f->res[0]->nhosts, 0);
    assert_null(f->res[0]->hosts);
}

static void
s_cname(struct fx *f)
{
    mx(f, "mxc." ZONE);
}
static void
test_mx_target_cname(void **state)
{
    struct fx *f = *state;
    run(f, 1, s_cname);
    assert_int_equal(f->res[0]->status, DNS_OK);
    assert_int_equal(f->res[0]->nhosts, 1);
    host_is(&f->res[0]->hosts[0], "alias." ZONE, 10, 2, "127.0.1.1", "2001:db8::1");
}

static void
s_partial(struct fx *f)
{
    mx(f, "partial." ZONE);
}
static void
s_noaddr(struct fx *f)
{
    mx(f, "noaddr." ZONE);
}
static void
test_mx_target_without_address(void **state)
{
    struct fx *f = *state;
    run(f, 2, s_partial, s_noaddr);
    /* ghost (NXDOMAIN) is dropped, mx2 stays */
    assert_int_equal(f->res[0]->status, DNS_OK);
    assert_int_equal(f->res[0]->nhosts, 1);
    host_is(&f->res[0]->hosts[0], "mx2." ZONE, 20, 1, "127.0.1.2");
    /* no target has an address, for permanent reasons: DNS_FAIL */
    assert_int_equal(f->res[1]->status, DNS_FAIL);
    assert_int_equal(f->res[1]->nhosts, 0);
    assert_non_null(strstr(f->res[1]->why, "no address"));
}

static void
s_refused(struct fx *f)
{
    mx(f, "not-served.example");
}
static void
test_mx_refused_is_retry(void **state)
{
    struct fx *f = *state;
    run(f, 2, s_refused, s_refused);
    /* nsd answers REFUSED outside its zone: temporary, and never cached */
    assert_int_equal(f->res[0]->status, DNS_RETRY);
    assert_int_equal(f->res[1]->status, DNS_RETRY);
    assert_non_null(strstr(f->res[0]->why, "MX lookup failed"));
    assert_int_equal(queries(f), 2);
    assert_int_equal(hits(f), 0);
}

/* hosts - start a host-list lookup in a step */
static void
hosts(struct fx *f, const char *const *names, size_t n)
{
    f->outstanding++;
    f->in_call = 1;
    assert_int_equal(dns_resolve_hosts(f->r, names, n, on_result, f), 0);
    f->in_call = 0;
}
static void
s_hosts(struct fx *f)
{
    static const char *const names[] = {"192.0.2.1",     "[2001:db8::5]", ("DUAL." ZONE "."),
                                        ("ghost." ZONE), "bad..name",     "2001:db8::6"};
    hosts(f, names, 6);
}
static void
test_hosts_in_order(void **state)
{
    struct fx *f = *state;
    struct dns_result *res;
    run(f, 1, s_hosts);
    res = f->res[0];
    assert_int_equal(res->status, DNS_OK);
    assert_int_equal(res->nhosts, 4);
    host_is(&res->hosts[0], "192.0.2.1", 0, 1, "192.0.2.1");
    host_is(&res->hosts[1], "2001:db8::5", 0, 1, "2001:db8::5");
    host_is(&res->hosts[2], "dual." ZONE, 0, 2, "127.0.1.4", "2001:db8::4");
    host_is(&res->hosts[3], "2001:db8::6", 0, 1, "2001:db8::6");
    assert_int_equal(queries(f), 4); /* dual and ghost: A + AAAA each */
}

static void
s_lit(struct fx *f)
{
    static const char *const lit[] = {"127.0.0.9"};
    hosts(f, lit, 1);
}
static void
s_lit_bad(struct fx *f)
{
    static const char *const bad[] = {"[127.0.0.1]", "a..b"};
    hosts(f, bad, 2);
}
static void
s_lit_none(struct fx *f)
{
    hosts(f, NULL, 0);
}
static void
test_hosts_literals_and_malformed(void **state)
{
    struct fx *f = *state;
    f->r = new_resolver(f->loop, "127.0.0.1", 9, 200, 1); /* never asked */
    run(f, 3, s_lit, s_lit_bad, s_lit_none);
    assert_int_equal(f->nres, 3);
    assert_int_equal(f->res[0]->status, DNS_OK);
    host_is(&f->res[0]->hosts[0], "127.0.0.9", 0, 1, "127.0.0.9");
    /* a bracketed IPv4 literal is no literal and no name; an empty label */
    assert_int_equal(f->res[1]->status, DNS_FAIL);
    assert_int_equal(f->res[2]->status, DNS_FAIL);
    assert_string_equal(f->res[2]->why, "no hosts given");
    assert_int_equal(queries(f), 0);
}

static void
s_malformed(struct fx *f)
{
    char longname[300];
    memset(longname, 'a', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    mx(f, "");
    mx(f, "a..example");
    mx(f, ".");
    mx(f, longname);
    mx(f, "sp ace.example");
}
static void
test_mx_malformed_domain(void **state)
{
    struct fx *f = *state;
    f->r = new_resolver(f->loop, "127.0.0.1", 9, 200, 1);
    run(f, 1, s_malformed);
    assert_int_equal(f->nres, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(f->res[i]->status, DNS_FAIL);
        assert_string_equal(f->res[i]->why, "malformed domain name");
    }
    assert_int_equal(queries(f), 0);
}

static void
s_many(struct fx *f)
{
    mx(f, "many." ZONE);
}
static void
test_mx_large_answer_over_tcp(void **state)
{
    struct fx *f = *state;
    struct dns_result *res;
    /* 16 MX records do not fit 512 octets: truncated over UDP, asked again over TCP */
    run(f, 1, s_many);
    res = f->res[0];
    assert_int_equal(res->status, DNS_OK);
    assert_int_equal(res->nhosts, 16);
    for (size_t i = 0; i < 16; i++) {
        char name[80], ip[32];
        snprintf(name, sizeof(name), "long-mail-exchanger-name-number-%02zu." ZONE, 15 - i);
        snprintf(ip, sizeof(ip), "127.0.2.%zu", 15 - i);
        host_is(&res->hosts[i], name, (uint16_t)(10 * (i + 1)), 1, ip);
    }
}

static void
test_cache_bounded(void **state)
{
    struct fx *f = *state;
    struct dns_opts o = {.timeout_ms = 500, .tries = 2, .cache_max = 3};
    struct net_addr s = server_addr(NSD_ADDR, f->port);
    char err[256];
    dns_resolver_free(f->r);
    f->r = dns_resolver_new_opts(f->loop, &s, 1, &o, err, sizeof(err));
    assert_non_null(f->r);
    run(f, 2, s_two, s_two);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(f->res[i]->status, DNS_OK);
        assert_int_equal(f->res[i]->nhosts, 2);
    }
    assert_true(dns_cache_size(f->r) <= 3);
    /* the second lookup found at most the 3 answers that were kept */
    assert_true(hits(f) <= 3);
    assert_true(queries(f) >= 5 + 2);
}

static void
s_stop_nsd(struct fx *f)
{
    tu_stop(&f->nsd);
}
static void
test_cache_hit_without_server(void **state)
{
    struct fx *f = *state;
    run(f, 3, s_two, s_stop_nsd, s_two);
    assert_int_equal(f->res[1]->status, DNS_OK);
    assert_int_equal(f->res[1]->nhosts, 2);
    host_is(&f->res[1]->hosts[0], "mx1." ZONE, 10, 2, "127.0.1.1", "2001:db8::1");
    host_is(&f->res[1]->hosts[1], "mx2." ZONE, 20, 1, "127.0.1.2");
    assert_int_equal(queries(f), 5);
    assert_int_equal(hits(f), 5); /* MX and four address answers */
    assert_int_equal(dns_cache_size(f->r), 5);
}

static void
s_two_twice(struct fx *f)
{
    mx(f, "two." ZONE);
    mx(f, "TWO." ZONE);
}
static void
test_coalesce_concurrent(void **state)
{
    struct fx *f = *state;
    run(f, 1, s_two_twice);
    assert_int_equal(f->nres, 2);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(f->res[i]->status, DNS_OK);
        assert_int_equal(f->res[i]->nhosts, 2);
    }
    assert_int_equal(queries(f), 5); /* one query per (name, type) */
    assert_int_equal(hits(f), 5);
}

static void
s_wait_1200(struct fx *f)
{
    wait_ms(f, 1200);
}
static void
s_short(struct fx *f)
{
    mx(f, "short." ZONE);
}
static void
test_ttl_expiry(void **state)
{
    struct fx *f = *state;
    /* nx: NXDOMAIN kept for the SOA minimum (1 s), not 60 s; short: MX TTL 1 */
    run(f, 6, s_nx, s_short, s_nx, s_wait_1200, s_short, s_nx);
    assert_int_equal(f->res[0]->status, DNS_FAIL);
    assert_int_equal(f->res[1]->status, DNS_OK);
    assert_int_equal(f->res[2]->status, DNS_FAIL);
    assert_int_equal(f->res[3]->status, DNS_OK);
    assert_int_equal(f->res[4]->status, DNS_FAIL);
    assert_int_equal(f->nres, 5);
    /* nx MX; short MX + mx1 A/AAAA; nx again from cache; after 1.2 s both
     * MX answers are asked again, mx1's addresses (TTL 300) still cached */
    assert_int_equal(queries(f), 6);
    assert_int_equal(hits(f), 3);
}

static void
test_server_down_retry(void **state)
{
    struct fx *f = *state;
    uint64_t t0;
    uint16_t port = 15399;
    while (port > 15300 && !tu_port_free(NSD_ADDR, port))
        port--;
    f->r = new_resolver(f->loop, NSD_ADDR, port, 300, 2); /* nothing listens there */
    t0 = eng_now_ms();
    run(f, 1, s_two);
    assert_int_equal(f->res[0]->status, DNS_RETRY);
    assert_true(eng_now_ms() - t0 < 3000);
}

static void
test_timeout_retry(void **state)
{
    struct fx *f = *state;
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sin);
    int hole = socket(AF_INET, SOCK_DGRAM, 0);
    uint64_t t0, q;
    /* a bound UDP socket that never answers: queries time out */
    inet_pton(AF_INET, NSD_ADDR, &sin.sin_addr);
    assert_int_equal(bind(hole, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(hole, (struct sockaddr *)&sin, &sl), 0);
    f->r = new_resolver(f->loop, NSD_ADDR, ntohs(sin.sin_port), 150, 2);
    t0 = eng_now_ms();
    run(f, 2, s_two, s_two);
    close(hole);
    assert_int_equal(f->res[0]->status, DNS_RETRY);
    assert_int_equal(f->res[1]->status, DNS_RETRY);
    assert_non_null(strstr(f->res[0]->why, "MX lookup failed"));
    assert_true(eng_now_ms() - t0 >= 2 * 150);
    assert_true(eng_now_ms() - t0 < 5000);
    dns_cache_stats(f->r, NULL, &q);
    assert_int_equal(q, 2); /* the timeout was not cached */
    assert_int_equal(dns_cache_size(f->r), 0);
}

/* on_result_only - collect a result, nothing else */
static void
on_result_only(struct dns_result *res, void *arg)
{
    struct fx *f = arg;
    f->res[f->nres++] = res;
}

/* on_free_timer - free the resolver while a lookup is in flight */
static void
on_free_timer(eng_loop *loop, struct eng_timer *t)
{
    struct fx *f = t->data;
    (void)loop;
    dns_resolver_free(f->r);
    f->r = NULL;
}
static void
s_free_soon(struct fx *f)
{
    mx(f, "two." ZONE);
    eng_timer_start(f->loop, &f->delay, 50);
}
static void
test_free_cancels(void **state)
{
    struct fx *f = *state;
    static const char *const lit[] = {"192.0.2.7"};
    int hole = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sin);
    inet_pton(AF_INET, NSD_ADDR, &sin.sin_addr);
    assert_int_equal(bind(hole, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(getsockname(hole, (struct sockaddr *)&sin, &sl), 0);
    f->r = new_resolver(f->loop, NSD_ADDR, ntohs(sin.sin_port), 5000, 2);
    /* a finished lookup still waiting for its delivery: freed before the loop runs */
    assert_int_equal(dns_resolve_hosts(f->r, lit, 1, on_result_only, f), 0);
    assert_int_equal(f->nres, 0);
    dns_resolver_free(f->r);
    assert_int_equal(f->nres, 1);
    assert_int_equal(f->res[0]->status, DNS_OK);
    /* a lookup waiting on the network: cancelled with DNS_RETRY */
    f->r = new_resolver(f->loop, NSD_ADDR, ntohs(sin.sin_port), 5000, 2);
    eng_timer_init(&f->delay, on_free_timer, f);
    f->steps[0] = s_free_soon;
    f->nsteps = 1;
    f->cur = 0;
    eng_timer_init(&f->safety, on_safety, f);
    eng_timer_start(f->loop, &f->safety, SAFETY_MS);
    advance(f);
    eng_loop_run(f->loop);
    close(hole);
    assert_false(f->timed_out);
    assert_null(f->r);
    assert_int_equal(f->nres, 2);
    assert_int_equal(f->res[1]->status, DNS_RETRY);
    assert_non_null(strstr(f->res[1]->why, "shut down"));
    eng_timer_stop(f->loop, &f->safety);
}

static void
test_resolver_servers(void **state)
{
    struct fx *f = *state;
    struct net_addr sv[3] = {server_addr("127.0.0.1", 5353), server_addr("::1", 0),
                                 server_addr("127.0.0.2", 0)};
    char err[256] = "";
    dns_resolver *r = dns_resolver_new(f->loop, sv, 3, err, sizeof(err));
    assert_non_null(r);
    dns_resolver_free(r);
    /* resolv.conf when no servers are configured */
    r = dns_resolver_new(f->loop, NULL, 0, err, sizeof(err));
    assert_non_null(r);
    dns_resolver_free(r);
    /* an address family c-ares cannot use */
    sv[1].ss.ss_family = AF_UNIX;
    assert_null(dns_resolver_new(f->loop, sv, 3, err, sizeof(err)));
    assert_true(strlen(err) > 0);
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mx_order_sorted),
    cmocka_unit_test(test_mx_order_equal_shuffled),
    cmocka_unit_test(test_mx_order_single_and_empty),
    cmocka_unit_test(test_mx_order_large),
    cmocka_unit_test(test_name_norm),
    cmocka_unit_test(test_parse_reply_ttls),
    cmocka_unit_test(test_parse_reply_malformed),
    cmocka_unit_test_setup_teardown(test_mx_two_prefs, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_mx_equal_prefs, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_mx_null, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_mx_implicit, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_mx_nxdomain, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_mx_target_cname, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_mx_target_without_address, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_mx_refused_is_retry, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_hosts_in_order, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_hosts_literals_and_malformed, setup_plain, teardown),
    cmocka_unit_test_setup_teardown(test_mx_malformed_domain, setup_plain, teardown),
    cmocka_unit_test_setup_teardown(test_mx_large_answer_over_tcp, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_cache_hit_without_server, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_cache_bounded, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_coalesce_concurrent, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_ttl_expiry, setup_nsd, teardown),
    cmocka_unit_test_setup_teardown(test_server_down_retry, setup_plain, teardown),
    cmocka_unit_test_setup_teardown(test_timeout_retry, setup_plain, teardown),
    cmocka_unit_test_setup_teardown(test_free_cancels, setup_plain, teardown),
    cmocka_unit_test_setup_teardown(test_resolver_servers, setup_plain, teardown),
};

int
main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
