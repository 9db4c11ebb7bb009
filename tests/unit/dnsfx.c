/*
 * dnsfx.c - the nsd fixture and the step runner the dns/ unit programs
 *           share (dnsfx.h).
 */
#include "dnsfx.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
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

#include "testutil.h"

#include <cmocka.h>

static const char zone_text[] =
    "$ORIGIN " ZONE ".\n"
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
    "dual IN AAAA 2001:db8::4\n"
    /* fan-outs (test_dns_fanout.c): any number of names */
    "*.fan IN MX 10 mx1\n"
    "*.fanh IN A 127.0.4.1\n"
    /* dns_lookup (test_dns_records.c): two TXT records, one in two strings */
    "spf IN TXT \"v=spf1 \" \"ip4:127.0.0.1 -all\"\n"
    "spf IN TXT \"other\"\n";

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
             /* no response rate limiting: the fan-outs ask thousands of names
              * under one wildcard at once, which nsd counts as one */
             "  rrl-ratelimit: 0\n"
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
struct net_addr
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
dns_resolver *
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
void
on_safety(eng_loop *loop, struct eng_timer *t)
{
    struct fx *f = t->data;
    f->timed_out = 1;
    eng_loop_stop(loop);
}

/* advance - run steps while nothing is outstanding; stop after the last */
void
advance(struct fx *f)
{
    while (f->outstanding == 0 && f->cur < f->nsteps)
        f->steps[f->cur++](f);
    if (f->outstanding == 0 && f->cur == f->nsteps)
        eng_loop_stop(f->loop);
}

/* on_result - collect a result; the step's last one moves on */
void
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
void
wait_ms(struct fx *f, uint64_t ms)
{
    f->outstanding++;
    eng_timer_start(f->loop, &f->delay, ms);
}

/* mx - start an MX lookup in a step */
void
mx(struct fx *f, const char *domain)
{
    f->outstanding++;
    f->in_call = 1;
    assert_int_equal(dns_resolve_mx(f->r, domain, on_result, f), 0);
    f->in_call = 0;
}

/* run - run the given steps on the loop, bounded by SAFETY_MS */
void
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
void
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
uint64_t
queries(struct fx *f)
{
    uint64_t q;
    dns_cache_stats(f->r, NULL, &q);
    return q;
}
uint64_t
hits(struct fx *f)
{
    uint64_t h;
    dns_cache_stats(f->r, &h, NULL);
    return h;
}

/* ---- fixtures ---- */

/* setup_nsd - nsd with the test zone, a loop and a resolver pointed at it */
int
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
int
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
int
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
