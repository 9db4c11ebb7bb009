/*
 * test_dnssec.c - unit tests for dns/dnssec.c against real signed zones.
 *
 * Each case makes its own zones with tests/fixtures/mkzones.sh (ldns-keygen,
 * ldns-signzone) in a fresh temporary directory, starts nsd on 127.0.0.154
 * and a free high port, and resolves through libunbound with the zone's DS
 * as the trust anchor, driving the engine loop until the answers are in (a
 * safety timer bounds every run to a few seconds).
 */
#include <arpa/inet.h>
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
#include <sys/wait.h>
#include <unistd.h>

#include "dns/dnssec.h"
#include "testutil.h"

#include <cmocka.h>

#define NSD_BIN "/usr/sbin/nsd"
#define NSD_ADDR "127.0.0.154"
#define RUN_MS 5000

struct fx {
    char dir[64];
    pid_t nsd;
    uint16_t port;
    eng_loop *loop;
    dnssec_resolver *r;
    struct eng_timer safety;
    int outstanding;
    struct dnssec_dane *dane;
    struct dnssec_answer *ans;
};

/* ---- helpers: fixture and nsd ---- */

/* fixtures_dir - tests/fixtures next to this source file (or $SPATE_SRC) */
static void
fixtures_dir(char *out, size_t len)
{
    const char *src = getenv("SPATE_SRC");
    if (src != NULL) {
        snprintf(out, len, "%s/tests/fixtures", src);
        return;
    }
    snprintf(out, len, "%s", __FILE__);
    char *slash = strrchr(out, '/');
    if (slash == NULL)
        snprintf(out, len, "tests/fixtures");
    else
        snprintf(slash, len - (size_t)(slash - out), "/../fixtures");
}

/* run_quiet - run argv with output to DIR/log; its exit status */
static int
run_quiet(const char *dir, char *const argv[])
{
    pid_t pid = fork();
    int st = 0;
    if (pid == 0) {
        char log[128];
        snprintf(log, sizeof(log), "%s/%s.log", dir, strrchr(argv[0], '/') + 1);
        int fd = open(log, O_WRONLY | O_CREAT | O_APPEND, 0600);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
        }
        execv(argv[0], argv);
        _exit(127);
    }
    if (pid < 0 || waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* nsd_try - zones and nsd on port; wait (bounded) until it answers; 0 or -1 */
static int
nsd_try(struct fx *f, uint16_t port)
{
    char script[512], portstr[16], conf[128];
    fixtures_dir(script, sizeof(script) - 16);
    strcat(script, "/mkzones.sh");
    snprintf(portstr, sizeof(portstr), "%u", port);
    char *mk[] = {"/bin/sh", script, f->dir, NSD_ADDR, portstr, NULL};
    if (run_quiet(f->dir, mk) != 0)
        return -1;
    snprintf(conf, sizeof(conf), "%s/nsd.conf", f->dir);
    char *ns[] = {NSD_BIN, "-d", "-c", conf, NULL};
    f->nsd = fork();
    if (f->nsd == 0) {
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        int fd = open("/dev/null", O_WRONLY);
        dup2(fd, 1);
        dup2(fd, 2);
        execv(ns[0], ns);
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

/* on_safety - the run took too long */
static void
on_safety(eng_loop *loop, struct eng_timer *t)
{
    (void)t;
    eng_loop_stop(loop);
}

/* resolver_new - a resolver on f->loop asking nsd, with or without the anchor */
static dnssec_resolver *
resolver_new(struct fx *f, int with_anchor, int timeout_ms)
{
    static const char *const zones[] = {"test"};
    struct net_addr srv;
    char addr[64], ta[128], err[256] = "";
    snprintf(addr, sizeof(addr), "%s:%u", NSD_ADDR, f->port);
    snprintf(ta, sizeof(ta), "%s/ta.ds", f->dir);
    assert_int_equal(net_addr_parse(addr, 53, &srv), 0);
    struct dnssec_opts o = {.servers = &srv,
                            .nservers = 1,
                            .trust_anchor_file = with_anchor ? ta : NULL,
                            .stub = 1,
                            .zones = zones,
                            .nzones = 1,
                            .timeout_ms = timeout_ms};
    dnssec_resolver *r = dnssec_resolver_new(f->loop, &o, err, sizeof(err));
    if (r == NULL)
        fail_msg("dnssec_resolver_new: %s", err);
    return r;
}

/* fx_start - zones, nsd, a loop and a resolver */
static struct fx *
fx_start(void)
{
    struct fx *f = calloc(1, sizeof(*f));
    uint16_t port = (uint16_t)(17000 + ((unsigned)getpid() * 7) % 2000);
    int ok = 0;
    assert_non_null(f);
    snprintf(f->dir, sizeof(f->dir), "/tmp/spate-dnssec.XXXXXX");
    assert_non_null(mkdtemp(f->dir));
    for (int attempt = 0; attempt < 5 && !ok; attempt++, port = (uint16_t)(port + 113))
        ok = tu_port_free(NSD_ADDR, port) && nsd_try(f, port) == 0;
    if (!ok)
        fail_msg("could not start nsd with the signed zones in %s", f->dir);
    assert_non_null(f->loop = eng_loop_new());
    f->r = resolver_new(f, 1, 4000);
    eng_timer_init(&f->safety, on_safety, f);
    return f;
}

/* fx_stop - everything fx_start made, files included */
static void
fx_stop(struct fx *f)
{
    char cmd[128];
    dnssec_resolver_free(f->r);
    eng_loop_free(f->loop);
    tu_stop(&f->nsd);
    dnssec_dane_free(f->dane);
    dnssec_answer_free(f->ans);
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
    free(f);
}

/* on_dane - keep the outcome, stop when all are in */
static void
on_dane(struct dnssec_dane *d, void *arg)
{
    struct fx *f = arg;
    dnssec_dane_free(f->dane);
    f->dane = d;
    if (--f->outstanding == 0)
        eng_loop_stop(f->loop);
}

/* on_answer - keep the answer, stop when all are in */
static void
on_answer(struct dnssec_answer *a, void *arg)
{
    struct fx *f = arg;
    dnssec_answer_free(f->ans);
    f->ans = a;
    if (--f->outstanding == 0)
        eng_loop_stop(f->loop);
}

/* run - drive the loop until the outstanding answers are in (bounded) */
static void
run(struct fx *f)
{
    eng_timer_start(f->loop, &f->safety, RUN_MS);
    eng_loop_run(f->loop);
    eng_timer_stop(f->loop, &f->safety);
    assert_int_equal(f->outstanding, 0);
}

/* dane - the DANE decision for host:25 */
static struct dnssec_dane *
dane(struct fx *f, const char *host)
{
    f->outstanding = 1;
    assert_int_equal(dnssec_dane_lookup(f->r, host, 25, on_dane, f), 0);
    run(f);
    assert_non_null(f->dane);
    if (getenv("SPATE_TEST_VERBOSE"))
        fprintf(stderr, "%s: %s (%s) base=%s\n", host, dane_status_text(f->dane->status),
                f->dane->why, f->dane->base);
    return f->dane;
}

/* ---- tests ---- */

/* test_secure_usable - mx.sec.test: secure A, TLSA 3 1 1 and 2 1 1 */
static void
test_secure_usable(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    struct dnssec_dane *d = dane(f, "MX.sec.test.");
    assert_int_equal(d->status, DANE_SECURE_USABLE);
    assert_string_equal(d->host, "mx.sec.test");
    assert_string_equal(d->base, "mx.sec.test");
    assert_true(d->addr_secure);
    assert_int_equal(d->naddr, 1);
    assert_int_equal(d->addrs[0].ss_family, AF_INET);
    assert_int_equal(d->ntlsa, 2);
    assert_int_equal(d->nusable, 2);
    assert_int_equal(d->usage_bits, (1u << 2) | (1u << 3));
    for (size_t i = 0; i < d->ntlsa; i++) {
        assert_int_equal(d->tlsa[i].selector, 1);
        assert_int_equal(d->tlsa[i].mtype, 1);
        assert_int_equal(d->tlsa[i].len, 32);
    }
    assert_true(d->ttl > 0 && d->ttl <= 300);
    fx_stop(f);
}

/* test_secure_wrong_tlsa - a usable record that matches nothing is still "usable" */
static void
test_secure_wrong_tlsa(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    struct dnssec_dane *d = dane(f, "wrong.sec.test");
    assert_int_equal(d->status, DANE_SECURE_USABLE);
    assert_int_equal(d->nusable, 1);
    assert_int_equal(d->tlsa[0].data[0], 0);
    fx_stop(f);
}

/* test_secure_none_usable - usages 0/1 and matching type 255 only */
static void
test_secure_none_usable(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    struct dnssec_dane *d = dane(f, "nousable.sec.test");
    assert_int_equal(d->status, DANE_SECURE_NONE_USABLE);
    assert_int_equal(d->ntlsa, 3);
    assert_int_equal(d->nusable, 0);
    assert_int_equal(d->usage_bits, 0);
    assert_non_null(strstr(d->why, "no usable TLSA"));
    fx_stop(f);
}

/* test_secure_no_tlsa - proven absent TLSA: DANE does not apply */
static void
test_secure_no_tlsa(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    struct dnssec_dane *d = dane(f, "notlsa.sec.test");
    assert_int_equal(d->status, DANE_INSECURE);
    assert_true(d->addr_secure);
    assert_int_equal(d->ntlsa, 0);
    fx_stop(f);
}

/* test_insecure - unsigned delegation: insecure, no TLSA lookup */
static void
test_insecure(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    struct dnssec_dane *d = dane(f, "mx.insec.test");
    assert_int_equal(d->status, DANE_INSECURE);
    assert_false(d->addr_secure);
    assert_int_equal(d->naddr, 1);
    assert_int_equal(d->ntlsa, 0);
    fx_stop(f);
}

/* test_bogus - the parent's DS names another key */
static void
test_bogus(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    struct dnssec_dane *d = dane(f, "mx.bogus.test");
    assert_int_equal(d->status, DANE_FAIL);
    assert_int_equal(d->naddr, 0);
    assert_non_null(strstr(d->why, "validation failed"));
    /* the plain lookup is bogus even though unbound says rcode 0 */
    f->outstanding = 1;
    assert_int_equal(dnssec_resolve(f->r, "mx.bogus.test", DNSSEC_T_A, on_answer, f), 0);
    run(f);
    assert_int_equal(f->ans->sec, DNSSEC_BOGUS);
    assert_int_equal(f->ans->n, 0);
    fx_stop(f);
}

/* test_expired - signatures that expired in 2020 are bogus */
static void
test_expired(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    struct dnssec_dane *d = dane(f, "mx.exp.test");
    assert_int_equal(d->status, DANE_FAIL);
    assert_non_null(strstr(d->why, "validation failed"));
    fx_stop(f);
}

/* test_bogus_tlsa - secure address, TLSA changed after signing */
static void
test_bogus_tlsa(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    struct dnssec_dane *d = dane(f, "badtlsa.sec.test");
    assert_int_equal(d->status, DANE_FAIL);
    assert_true(d->addr_secure);
    assert_int_equal(d->ntlsa, 0);
    assert_non_null(strstr(d->why, "TLSA"));
    fx_stop(f);
}

/* test_tlsa_lookup_failure - the TLSA name is delegated to nowhere: SERVFAIL */
static void
test_tlsa_lookup_failure(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    struct dnssec_dane *d = dane(f, "tfail.sec.test");
    assert_int_equal(d->status, DANE_FAIL);
    assert_true(d->addr_secure);
    assert_non_null(strstr(d->why, "TLSA"));
    fx_stop(f);
}

/* test_cname_chain - alias.sec.test CNAME host.sec.test: TLSA of the target */
static void
test_cname_chain(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    struct dnssec_dane *d = dane(f, "alias.sec.test");
    assert_int_equal(d->status, DANE_SECURE_USABLE);
    assert_string_equal(d->host, "alias.sec.test");
    assert_string_equal(d->canon, "host.sec.test");
    assert_string_equal(d->base, "host.sec.test");
    assert_int_equal(d->nusable, 1);
    assert_int_equal(d->usage_bits, 1u << 3);
    fx_stop(f);
}

/* test_cname_insecure_target - a secure alias of an unsigned name is insecure */
static void
test_cname_insecure_target(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    struct dnssec_dane *d = dane(f, "insalias.sec.test");
    assert_int_equal(d->status, DANE_INSECURE);
    assert_false(d->addr_secure);
    assert_string_equal(d->canon, "mx.insec.test");
    fx_stop(f);
}

/* test_mx_secure - MX answer parsed, secure; no anchor makes it insecure */
static void
test_mx_secure(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    f->outstanding = 1;
    assert_int_equal(dnssec_resolve(f->r, "sec.test", DNSSEC_T_MX, on_answer, f), 0);
    run(f);
    assert_int_equal(f->ans->sec, DNSSEC_SECURE);
    assert_int_equal(f->ans->n, 1);
    assert_int_equal(f->ans->mx[0].pref, 10);
    assert_string_equal(f->ans->mx[0].name, "mx.sec.test");
    /* proven NXDOMAIN is secure too */
    f->outstanding = 1;
    assert_int_equal(dnssec_resolve(f->r, "nope.sec.test", DNSSEC_T_A, on_answer, f), 0);
    run(f);
    assert_int_equal(f->ans->sec, DNSSEC_SECURE);
    assert_true(f->ans->nxdomain);
    assert_int_equal(f->ans->n, 0);
    /* without a trust anchor nothing is secure */
    dnssec_resolver_free(f->r);
    f->r = resolver_new(f, 0, 4000);
    f->outstanding = 1;
    assert_int_equal(dnssec_resolve(f->r, "sec.test", DNSSEC_T_MX, on_answer, f), 0);
    run(f);
    assert_int_equal(f->ans->sec, DNSSEC_INSECURE);
    assert_int_equal(f->ans->n, 1);
    fx_stop(f);
}

/* test_server_down - no server answers: error after the timeout, and
 * freeing the resolver answers what is pending */
static void
test_server_down(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    tu_stop(&f->nsd);
    dnssec_resolver_free(f->r);
    f->r = resolver_new(f, 1, 600);
    f->outstanding = 1;
    assert_int_equal(dnssec_dane_lookup(f->r, "mx.sec.test", 25, on_dane, f), 0);
    run(f);
    assert_int_equal(f->dane->status, DANE_FAIL);
    assert_int_equal(dnssec_pending(f->r), 0);
    /* pending at free time: the callback comes from inside the free */
    f->outstanding = 2;
    assert_int_equal(dnssec_dane_lookup(f->r, "mx.sec.test", 25, on_dane, f), 0);
    assert_int_equal(dnssec_resolve(f->r, "sec.test", DNSSEC_T_MX, on_answer, f), 0);
    assert_int_equal(dnssec_pending(f->r), 3);
    dnssec_resolver_free(f->r);
    f->r = NULL;
    assert_int_equal(f->outstanding, 0);
    assert_int_equal(f->dane->status, DANE_FAIL);
    assert_int_equal(f->ans->sec, DNSSEC_ERROR);
    fx_stop(f);
}

/* test_malformed - bad names and types are refused; no callback */
static void
test_malformed(void **state)
{
    (void)state;
    struct fx *f = fx_start();
    assert_int_equal(dnssec_resolve(f->r, "a..b", DNSSEC_T_A, on_answer, f), -EINVAL);
    assert_int_equal(dnssec_resolve(f->r, "", DNSSEC_T_A, on_answer, f), -EINVAL);
    assert_int_equal(dnssec_resolve(f->r, "a b.test", DNSSEC_T_A, on_answer, f), -EINVAL);
    assert_int_equal(dnssec_resolve(f->r, "sec.test", 16, on_answer, f), -EINVAL);
    assert_int_equal(dnssec_pending(f->r), 0);
    /* a malformed DANE host is answered DANE_FAIL through the loop */
    f->outstanding = 1;
    assert_int_equal(dnssec_dane_lookup(f->r, "bad..name", 25, on_dane, f), 0);
    assert_int_equal(f->outstanding, 1);
    run(f);
    assert_int_equal(f->dane->status, DANE_FAIL);
    fx_stop(f);
}

/* test_rdata_parse - malformed rdata items are skipped, good ones kept */
static void
test_rdata_parse(void **state)
{
    (void)state;
    char mx_ok[] = {0, 10, 2, 'm', 'x', 4, 'T', 'E', 'S', 'T', 0};
    char mx_trunc[] = {0, 10, 5, 'm', 'x'};
    char mx_long[] = {0, 10, 70, 'a'};
    char tlsa_ok[] = {3, 1, 1, 1, 2, 3};
    char tlsa_short[] = {3, 1, 1};
    char *mxdata[] = {mx_ok, mx_trunc, mx_long, NULL};
    int mxlen[] = {sizeof(mx_ok), sizeof(mx_trunc), sizeof(mx_long)};
    char *tdata[] = {tlsa_short, tlsa_ok, NULL};
    int tlen[] = {sizeof(tlsa_short), sizeof(tlsa_ok)};
    char a_bad[] = {1, 2, 3};
    char *adata[] = {a_bad, NULL};
    int alen[] = {3};
    struct dnssec_answer a = {.type = DNSSEC_T_MX};
    assert_int_equal(dnssec__rdata_parse(&a, mxdata, mxlen), 0);
    assert_int_equal(a.n, 1);
    assert_string_equal(a.mx[0].name, "mx.test");
    free(a.mx);
    a = (struct dnssec_answer){.type = DNSSEC_T_TLSA};
    assert_int_equal(dnssec__rdata_parse(&a, tdata, tlen), 0);
    assert_int_equal(a.n, 1);
    assert_int_equal(a.tlsa[0].len, 3);
    assert_int_equal(a.tlsa[0].usage, 3);
    free(a.tlsa[0].data);
    free(a.tlsa);
    a = (struct dnssec_answer){.type = DNSSEC_T_A};
    assert_int_equal(dnssec__rdata_parse(&a, adata, alen), 0);
    assert_int_equal(a.n, 0);
    free(a.addrs);
}

/* test_tlsa_usable - the usability rule of RFC 7672 §3.1.3 */
static void
test_tlsa_usable(void **state)
{
    (void)state;
    uint8_t d[64] = {0};
    struct dnssec_tlsa t = {3, 1, 1, 32, d};
    assert_true(dnssec_tlsa_usable(&t));
    t.usage = 2;
    assert_true(dnssec_tlsa_usable(&t));
    t.usage = 1;
    assert_false(dnssec_tlsa_usable(&t));
    t.usage = 0;
    assert_false(dnssec_tlsa_usable(&t));
    t.usage = 3;
    t.len = 31;
    assert_false(dnssec_tlsa_usable(&t));
    t.mtype = 2;
    t.len = 64;
    assert_true(dnssec_tlsa_usable(&t));
    t.mtype = 0;
    assert_true(dnssec_tlsa_usable(&t));
    t.len = 0;
    assert_false(dnssec_tlsa_usable(&t));
    t.len = 32;
    t.mtype = 255;
    assert_false(dnssec_tlsa_usable(&t));
    t.mtype = 1;
    t.selector = 2;
    assert_false(dnssec_tlsa_usable(&t));
    assert_string_equal(dane_status_text(DANE_SECURE_NONE_USABLE), "secure-none-usable");
    assert_string_equal(dnssec_sec_text(DNSSEC_BOGUS), "bogus");
}

const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_secure_usable),
    cmocka_unit_test(test_secure_wrong_tlsa),
    cmocka_unit_test(test_secure_none_usable),
    cmocka_unit_test(test_secure_no_tlsa),
    cmocka_unit_test(test_insecure),
    cmocka_unit_test(test_bogus),
    cmocka_unit_test(test_expired),
    cmocka_unit_test(test_bogus_tlsa),
    cmocka_unit_test(test_tlsa_lookup_failure),
    cmocka_unit_test(test_cname_chain),
    cmocka_unit_test(test_cname_insecure_target),
    cmocka_unit_test(test_mx_secure),
    cmocka_unit_test(test_server_down),
    cmocka_unit_test(test_malformed),
    cmocka_unit_test(test_rdata_parse),
    cmocka_unit_test(test_tlsa_usable),
};

int
main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
