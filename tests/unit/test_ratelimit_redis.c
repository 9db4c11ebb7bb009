/*
 * test_ratelimit_redis.c - unit tests for the ratelimit condition's Redis
 * store (conf/ratelimit_redis.c), against a real redis-server that each case
 * starts on a free loopback port (skipped when redis-server is not
 * installed): the rates equal the memory store's for the same sequence, two
 * nodes (specs parsed separately, checks alternating) share one rate, the
 * keys carry the "spate:rl:" prefix and an expiry of ten periods, leaky
 * over-limit checks and readonly ones store nothing, unique= counts a value
 * once, a flushed script cache is reloaded, threads updating one key lose
 * nothing, and a stopped server makes the check fail (the ACL defers).
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "conf/lookup.h"
#include "conf/ratelimit.h"
#include "testutil.h"

#include <cmocka.h>

static double fake_now;
static pid_t redis_pid;
static int redis_port;

/* fake_clock - the injected time */
static double
fake_clock(void)
{
    return fake_now;
}

/* have_redis - is redis-server on PATH? */
static int
have_redis(void)
{
    return system("command -v redis-server >/dev/null 2>&1") == 0;
}

/* free_port - a TCP port on 127.0.0.1 nobody listens on now */
static int
free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
    port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

/* rconn - a direct connection to the test server, or NULL */
static redisContext *
rconn(void)
{
    struct timeval tv = {0, 200000};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", redis_port, tv);
    if (c != NULL && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

/* start_redis - redis-server on a free loopback port; redis_servers set to it */
static void
start_redis(void)
{
    char port[16], list[64], err[256];
    long long deadline = tu_now_ms() + 5000;
    redisContext *c;

    redis_port = free_port();
    snprintf(port, sizeof port, "%d", redis_port);
    redis_pid = fork();
    assert_true(redis_pid >= 0);
    if (redis_pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(null, 1);
        dup2(null, 2);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--dir", "/tmp", "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    while ((c = rconn()) == NULL) {
        if (tu_now_ms() > deadline)
            fail_msg("redis-server did not start on port %d", redis_port);
        usleep(10000);
    }
    redisFree(c);
    snprintf(list, sizeof list, "127.0.0.1(%d)//", redis_port);
    assert_int_equal(lookup_redis_configure(list, 500, 500, err, sizeof err), 0);
}

/* setup - a server, the Redis store, the fake clock */
static int
setup(void **state)
{
    (void)state;
    if (!have_redis())
        return 0;
    signal(SIGPIPE, SIG_IGN);
    start_redis();
    rl_reset();
    rl_configure(1, NULL, 0);
    rl_set_clock(fake_clock);
    fake_now = 1700000000.25;
    return 0;
}

/* teardown - stop the server, back to memory and the real clock */
static int
teardown(void **state)
{
    (void)state;
    if (redis_pid > 0)
        tu_stop(&redis_pid);
    redis_pid = 0;
    lookup_thread_done();
    lookup_redis_configure("", 0, 0, NULL, 0);
    rl_configure(0, NULL, 0);
    rl_set_clock(NULL);
    rl_reset();
    return 0;
}

#define NEED_REDIS()                                                                               \
    do {                                                                                           \
        if (!have_redis())                                                                         \
            skip();                                                                                \
    } while (0)

/* P - parse, failing the test on error */
static struct rl_spec *
P(const char *text)
{
    char err[256] = "";
    struct rl_spec *s = rl_parse(text, err, sizeof err);
    if (s == NULL)
        fail_msg("rl_parse(\"%s\"): %s", text, err);
    return s;
}

/* C - check at the fake time; the verdict, the rate in *rate */
static int
C(const struct rl_spec *s, double cost, const char *scope, double *rate)
{
    char err[256] = "";
    int rc = rl_check(s, cost, scope, rate, err, sizeof err);
    if (rc < 0)
        fail_msg("rl_check: %s", err);
    return rc;
}

/* hget - a field of a state hash as a number (NAN when absent) */
static double
hget(const char *key, const char *field)
{
    redisContext *c = rconn();
    redisReply *r;
    double v = NAN;

    assert_non_null(c);
    r = redisCommand(c, "HGET %s %s", key, field);
    assert_non_null(r);
    if (r->type == REDIS_REPLY_STRING)
        v = strtod(r->str, NULL);
    freeReplyObject(r);
    redisFree(c);
    return v;
}

/* rcmd_int - an integer reply of the test server */
static long long
rcmd_int(const char *fmt, const char *arg)
{
    redisContext *c = rconn();
    redisReply *r;
    long long v;

    assert_non_null(c);
    r = redisCommand(c, fmt, arg);
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    v = r->integer;
    freeReplyObject(r);
    redisFree(c);
    return v;
}

static void
redis_matches_memory(void **state)
{
    (void)state;
    NEED_REDIS();
    static const double dt[] = {0, 10, 0, 0.5, 15, 120, 3, 3, 7200, 1};
    static const double cost[] = {1, 1, 2, 1, 3, 1, 1, 1, 1, 10};
    struct rl_spec *s = P("8/1m/strict/seq");
    double t0 = fake_now, mem[10], red[10];
    int vmem[10], vred[10];

    for (int pass = 0; pass < 2; pass++) {
        rl_configure(pass, NULL, 0);
        fake_now = t0;
        for (int i = 0; i < 10; i++) {
            fake_now += dt[i];
            if (pass == 0)
                vmem[i] = C(s, cost[i], NULL, &mem[i]);
            else
                vred[i] = C(s, cost[i], NULL, &red[i]);
        }
    }
    for (int i = 0; i < 10; i++) {
        assert_int_equal(vmem[i], vred[i]);
        if (fabs(mem[i] - red[i]) > 1e-9 * (1 + mem[i]))
            fail_msg("step %d: memory %.12g, redis %.12g", i, mem[i], red[i]);
    }
    rl_spec_free(s);
}

static void
redis_two_nodes_share(void **state)
{
    (void)state;
    NEED_REDIS();
    struct rl_spec *n1 = P("5/1h/per_conn/strict/203.0.113.9");
    struct rl_spec *n2 = P("5 / 1h / per_conn / strict / 203.0.113.9");
    char conn[16];
    double r;
    int v = 0;

    for (int i = 0; i < 6; i++) { /* connections alternate between the nodes */
        fake_now += 1;
        snprintf(conn, sizeof conn, "c%d", i);
        v = C(i % 2 ? n2 : n1, 1, conn, &r);
        C(i % 2 ? n2 : n1, 1, conn, &r); /* evaluated twice: counted once */
    }
    assert_int_equal(v, 1);
    assert_true(r > 5.9 && r < 6.0);
    const char *key = "spate:rl:{1h/per_conn/203.0.113.9}";
    assert_true(fabs(hget(key, "rate") - r) < 1e-9);
    assert_true(hget(key, "stamp") == fake_now);
    long long ttl = rcmd_int("PTTL %s", key);
    assert_true(ttl > 35000 * 1000LL && ttl <= 36000 * 1000LL); /* ten periods */
    rl_spec_free(n1);
    rl_spec_free(n2);
}

static void
redis_leaky_and_readonly(void **state)
{
    (void)state;
    NEED_REDIS();
    struct rl_spec *s = P("2/1h/lk"), *ro = P("1/1h/readonly/lk"), *ro2 = P("1/1h/readonly/nk");
    const char *key = "spate:rl:{1h/per_mail/lk}";
    double r, stored;

    C(s, 1, NULL, &r);
    fake_now += 1;
    assert_int_equal(C(s, 1, NULL, &r), 0);
    stored = hget(key, "rate");
    fake_now += 1;
    assert_int_equal(C(s, 1, NULL, &r), 1); /* over: not stored */
    assert_true(hget(key, "rate") == stored);
    assert_true(hget(key, "stamp") == fake_now - 1);
    assert_int_equal(C(ro, 1, NULL, &r), 1);
    assert_true(r < stored);
    assert_true(hget(key, "stamp") == fake_now - 1);
    assert_int_equal(C(ro2, 1, NULL, &r), 0);
    assert_int_equal(rcmd_int("EXISTS %s", "spate:rl:{1h/per_mail/nk}"), 0);
    rl_spec_free(s);
    rl_spec_free(ro);
    rl_spec_free(ro2);
}

static void
redis_unique_and_script_reload(void **state)
{
    (void)state;
    NEED_REDIS();
    struct rl_spec *a = P("100/1h/strict/unique=x/u"), *b = P("100/1h/strict/unique=y/u");
    struct rl_spec *addr = P("100/1h/per_addr/strict/u");
    redisContext *c;
    double r;

    C(a, 1, NULL, &r);
    C(a, 1, NULL, &r);
    assert_true(fabs(r - 1) < 1e-6);
    c = rconn();
    assert_non_null(c);
    freeReplyObject(redisCommand(c, "SCRIPT FLUSH")); /* EVALSHA fails: EVAL reloads */
    redisFree(c);
    C(b, 1, NULL, &r);
    assert_true(r > 1.9 && r < 2.1);
    assert_int_equal(rcmd_int("EXISTS %s", "spate:rl:{1h/per_mail/unique/u}:bloom"), 1);
    C(addr, 1, "p@example.org", &r);
    C(addr, 1, "p@example.org", &r);
    C(addr, 1, "q@example.org", &r);
    assert_true(r > 1.9 && r < 2.1);
    fake_now += 3601; /* a new filter after a period */
    C(a, 1, NULL, &r);
    assert_true(r >= 1.0);
    double r2;
    C(a, 1, NULL, &r2);
    assert_true(fabs(r2 - r) < 1e-6);
    rl_spec_free(a);
    rl_spec_free(b);
    rl_spec_free(addr);
}

/* hammer - 200 strict checks of one key at one instant, on this thread's connection */
static void *
hammer(void *arg)
{
    char err[128];
    void *rv = NULL;
    for (int i = 0; i < 200 && rv == NULL; i++)
        if (rl_check(arg, 1, NULL, NULL, err, sizeof err) < 0)
            rv = arg;
    lookup_thread_done();
    return rv;
}

static void
redis_atomic_updates(void **state)
{
    (void)state;
    NEED_REDIS();
    struct rl_spec *s = P("1000000/1h/strict/hot");
    pthread_t t[4];
    double r;

    for (int i = 0; i < 4; i++)
        assert_int_equal(pthread_create(&t[i], NULL, hammer, s), 0);
    for (int i = 0; i < 4; i++) {
        void *rv;
        pthread_join(t[i], &rv);
        assert_null(rv);
    }
    C(s, 0, NULL, &r);
    assert_true(fabs(r - 800) < 0.01);
    rl_spec_free(s);
}

static void
redis_down_defers(void **state)
{
    (void)state;
    NEED_REDIS();
    struct rl_spec *s = P("10/1h/down");
    char err[256] = "";
    double r;

    C(s, 1, NULL, &r);
    tu_stop(&redis_pid);
    assert_int_equal(rl_check(s, 1, NULL, &r, err, sizeof err), -1);
    assert_true(err[0] != '\0');
    lookup_redis_configure("", 0, 0, NULL, 0);
    err[0] = '\0';
    assert_int_equal(rl_check(s, 1, NULL, &r, err, sizeof err), -1);
    assert_non_null(strstr(err, "redis_servers"));
    rl_spec_free(s);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test_setup_teardown(redis_matches_memory, setup, teardown),
    cmocka_unit_test_setup_teardown(redis_two_nodes_share, setup, teardown),
    cmocka_unit_test_setup_teardown(redis_leaky_and_readonly, setup, teardown),
    cmocka_unit_test_setup_teardown(redis_unique_and_script_reload, setup, teardown),
    cmocka_unit_test_setup_teardown(redis_atomic_updates, setup, teardown),
    cmocka_unit_test_setup_teardown(redis_down_defers, setup, teardown),
};

/* clang-format off */
int main(int argc, char **argv) { if (argc > 1) cmocka_set_test_filter(argv[1]); return cmocka_run_group_tests(tests, NULL, NULL); }
/* clang-format on */
