/*
 * test_lookup.c - unit tests for the Redis and LMDB lookups
 *                 (conf/lookup*.c), through expansion strings.
 *
 * Redis: each case starts its own redis-server (no persistence) on a Unix
 * socket in a fresh temporary directory and, where TCP matters, on a free
 * high port of 127.0.0.1; the server dies with the test process
 * (PR_SET_PDEATHSIG). Covered: reply types (string, status, integer, array,
 * nil, error), the seed's examples, quote_redis round trips, the
 * redis_servers forms (db, password, ports, errors), a dead first server, a
 * server killed mid-test and a hung one (defer within the timeouts), and the
 * per-thread connection pool (CLIENT ID / CLIENT LIST).
 * LMDB: a database built with mdb_load -n -T; hits, misses, the seed's three
 * forms, fail, a missing file (defer, no stray lock file), a file that is
 * not LMDB, and concurrent lookups.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <pthread.h>
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
#include <time.h>
#include <unistd.h>

#include "conf/expand.h"
#include "conf/lookup.h"
#include "testutil.h"

#include <cmocka.h>

static char tmpdir[64];
static pid_t redis_pid = -1;
static int redis_port;
static char redis_sock[128];

/* free_port - a port of 127.0.0.1 that was free a moment ago */
static int
free_port(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;
    int fd = socket(AF_INET, SOCK_STREAM, 0), port;

    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    port = ntohs(sin.sin_port);
    close(fd);
    return port;
}

/* dead_port - a bound, never listening socket: connecting is refused at once */
static int
dead_port(int *fdp)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sin;

    *fdp = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(*fdp >= 0);
    assert_int_equal(bind(*fdp, (struct sockaddr *)&sin, sizeof sin), 0);
    assert_int_equal(getsockname(*fdp, (struct sockaddr *)&sin, &len), 0);
    return ntohs(sin.sin_port);
}

/* admin - a direct connection to the test server */
static redisContext *
admin(void)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectUnixWithTimeout(redis_sock, tv);
    if (c == NULL || c->err)
        fail_msg("cannot reach the test redis at %s", redis_sock);
    return c;
}

/* admin_cmd - run a command on the test server, expecting no error */
static void
admin_cmd(redisContext *c, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    if (r == NULL || r->type == REDIS_REPLY_ERROR)
        fail_msg("redis \"%s\" failed: %s", fmt, r ? r->str : c->errstr);
    freeReplyObject(r);
}

/* spawn_redis - start redis-server on the current port and socket */
static void
spawn_redis(void)
{
    char port[16];
    long long deadline;

    snprintf(port, sizeof port, "%d", redis_port);
    redis_pid = fork();
    assert_true(redis_pid >= 0);
    if (redis_pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(null, 1);
        dup2(null, 2);
        execlp("redis-server", "redis-server", "--port", port, "--bind", "127.0.0.1",
               "--unixsocket", redis_sock, "--save", "", "--appendonly", "no", "--dir", tmpdir,
               "--daemonize", "no", "--loglevel", "warning", (char *)NULL);
        _exit(127);
    }
    deadline = tu_now_ms() + 5000;
    for (;;) {
        struct timeval tv = {0, 200000};
        redisContext *c = redisConnectUnixWithTimeout(redis_sock, tv);
        redisReply *r = c != NULL && !c->err ? redisCommand(c, "PING") : NULL;
        int ok = r != NULL && r->type == REDIS_REPLY_STATUS;
        if (r != NULL)
            freeReplyObject(r);
        if (c != NULL)
            redisFree(c);
        if (ok)
            return;
        if (tu_now_ms() > deadline)
            fail_msg("redis-server did not start");
        usleep(10000);
    }
}

/* kill_redis - stop the test server at once */
static void
kill_redis(void)
{
    if (redis_pid > 0) {
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
    }
    redis_pid = -1;
    unlink(redis_sock);
}

/* start_redis - a fresh directory and server; redis_servers set to its socket */
static void
start_redis(void)
{
    char err[256], list[256];

    signal(SIGPIPE, SIG_IGN);
    kill_redis(); /* one left by a failed earlier case */
    strcpy(tmpdir, "/tmp/spate-lookup-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    snprintf(redis_sock, sizeof redis_sock, "%s/redis.sock", tmpdir);
    redis_port = free_port();
    spawn_redis();
    snprintf(list, sizeof list, "%s//", redis_sock);
    if (lookup_redis_configure(list, 0, 0, err, sizeof err) != 0)
        fail_msg("%s", err);
}

/* stop_redis - stop the server, close this thread's connections, remove the directory */
static void
stop_redis(void)
{
    kill_redis();
    lookup_thread_done();
    tu_rmtree(tmpdir);
}

static const char *const vars[][2] = {
    {"domain", "example.com"},
    {"local_part", "John.Doe"},
    {"sender_address_domain", "sender.example"},
    {"sender_address_local_part", "Alice"},
    {"host_address", "127.0.0.2"},
    {"host", "MX1.Example.com"},
    {"message_exim_id", "1a2b3c-000001-AB"},
    {"event_name", "msg:delivery"},
    {"spacey", "two words\\x"},
};

/* test_var - a fixed variable table */
static const char *
test_var(void *arg, const char *name)
{
    (void)arg;
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (strcmp(vars[i][0], name) == 0)
            return vars[i][1];
    return NULL;
}

/* run - compile and evaluate src; the exp_rc, result in *out, message in err */
static int
run(const char *src, char **out, char *err, size_t errlen)
{
    struct exp_str *e = exp_compile(src, err, errlen);
    struct exp_ctx ctx = {.var = test_var, .err = err, .errlen = errlen};
    int rc;

    if (e == NULL)
        fail_msg("\"%s\" did not compile: %s", src, err);
    rc = exp_eval(e, &ctx, out);
    exp_free(e);
    return rc;
}

/* expect - src evaluates to want */
static void
expect(const char *src, const char *want)
{
    char *out, err[512];
    int rc = run(src, &out, err, sizeof err);

    if (rc != EXP_OK)
        fail_msg("\"%s\": %s: %s", src, exp_rc_name(rc), err);
    if (strcmp(out, want) != 0)
        fail_msg("\"%s\" gave \"%s\", wanted \"%s\"", src, out, want);
    free(out);
}

/* expect_rc - src evaluates to rc with msg in the message */
static void
expect_rc(const char *src, int want, const char *msg)
{
    char *out, err[512] = "";
    int rc = run(src, &out, err, sizeof err);

    if (rc != want)
        fail_msg("\"%s\": got %s (%s), wanted %s", src, exp_rc_name(rc), err, exp_rc_name(want));
    if (msg != NULL && strstr(err, msg) == NULL)
        fail_msg("\"%s\": \"%s\" lacks \"%s\"", src, err, msg);
}

/* eval_str - src's value (malloc'd), failing the test otherwise */
static char *
eval_str(const char *src)
{
    char *out, err[512];
    if (run(src, &out, err, sizeof err) != EXP_OK)
        fail_msg("\"%s\": %s", src, err);
    return out;
}

static void
test_redis_reply_types(void **state)
{
    redisContext *a;

    (void)state;
    start_redis();
    a = admin();
    admin_cmd(a, "SADD relay_from_ips 192.168.0.0/24 10.0.0.0/8");
    admin_cmd(a, "SET greeting hello");
    admin_cmd(a, "RPUSH nested a b");
    redisFree(a);
    expect("${lookup redis{RPUSH deliveries one}}", "1");
    expect("${lookup redis{RPUSH deliveries two}}", "2");
    expect("${lookup redis{LRANGE deliveries 0 -1}}", "one\ntwo");
    expect("${lookup redis{LRANGE nothing 0 -1}}", ""); /* empty array: found, empty */
    expect("${lookup redis{GET greeting}}", "hello");
    expect("${lookup redis{INCR counter}}${lookup redis{INCR counter}}", "12");
    expect("${lookup redis{PING}}", "PONG");
    expect("[${lookup redis{GET missing}}]", "[]");
    expect("${lookup redis{GET greeting}{<$value>}{none}}", "<hello>");
    expect("${lookup redis{GET missing}{<$value>}{none}}", "none");
    expect("${lookup redis{GET missing}{<$value>}}", "");
    expect_rc("${lookup redis{GET missing}{$value}fail}", EXP_FAIL, NULL);
    expect_rc("${lookup redis{GET missing}fail}", EXP_FAIL, NULL);
    expect("${lookup redis{GET greeting}fail}", "hello");
    /* nested lookups: the inner key comes from the outer value */
    expect("${lookup redis{LINDEX nested 1}{${lookup redis{GET greeting}{$value-$value}}}}",
           "hello-hello");
    /* an error reply is a defer with the server's text */
    expect_rc("${lookup redis{LRANGE greeting 0 -1}}", EXP_DEFER, "WRONGTYPE");
    expect_rc("${lookup redis{NOSUCHCOMMAND}}", EXP_DEFER, "unknown command");
    expect_rc("${lookup redis{   }}", EXP_ERROR, "empty Redis command");
    stop_redis();
}

static void
test_redis_seed_examples(void **state)
{
    redisContext *a;
    redisReply *r;
    char *out;

    (void)state;
    start_redis();
    a = admin();
    admin_cmd(a, "SADD relay_from_ips 192.168.0.0/24 10.0.0.0/8");
    admin_cmd(a, "HSET example.com domain example.com");
    /* hostlist relay_from_ips = <\n ${lookup redis{SMEMBERS relay_from_ips}} */
    out = eval_str("<\\n ${lookup redis{SMEMBERS relay_from_ips}}");
    assert_true(strcmp(out, "<\n 192.168.0.0/24\n10.0.0.0/8") == 0 ||
                strcmp(out, "<\n 10.0.0.0/8\n192.168.0.0/24") == 0);
    free(out);
    /* domainlist virtual_domains = ${lookup redis {HGET $domain domain}} */
    expect("${lookup redis {HGET $domain domain}}", "example.com");
    /* set acl_c_spammer = ${if eq{${lookup redis{SPAMMER_SET}}}{OK}} */
    expect("${if eq{${lookup redis{SET SPAMMER 192.0.2.1}}}{OK}}", "true");
    expect("${lookup redis{GET SPAMMER}}", "192.0.2.1");
    /* the seed's event_action, with a Redis query in place of pgsql, as the
     * configuration reader leaves it after joining the continued lines */
    expect("${if eq {msg:delivery}{$event_name} "
           "{${lookup redis{RPUSH record_delivery "
           "${quote_redis:$sender_address_domain} "
           "${quote_redis:${lc:$sender_address_local_part}} "
           "${quote_redis:$domain} "
           "${quote_redis:${lc:$local_part}} "
           "${quote_redis:$host_address} "
           "${quote_redis:${lc:$host}} "
           "${quote_redis:$message_exim_id}}} "
           "} {}}",
           "7 ");
    r = redisCommand(a, "LRANGE record_delivery 0 -1");
    assert_non_null(r);
    assert_int_equal(r->elements, 7);
    assert_string_equal(r->element[0]->str, "sender.example");
    assert_string_equal(r->element[1]->str, "alice");
    assert_string_equal(r->element[3]->str, "john.doe");
    assert_string_equal(r->element[5]->str, "mx1.example.com");
    assert_string_equal(r->element[6]->str, "1a2b3c-000001-AB");
    freeReplyObject(r);
    /* quote_redis keeps white space and backslashes inside one argument */
    expect("${lookup redis{SET ${quote_redis:$spacey} ${quote_redis:v a\\\\l}}}", "OK");
    r = redisCommand(a, "GET %s", "two words\\x");
    assert_non_null(r);
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "v a\\l");
    freeReplyObject(r);
    redisFree(a);
    stop_redis();
}

static void
test_redis_server_forms(void **state)
{
    char err[256], list[512];
    redisContext *a;
    redisReply *r;
    static const char *const good[] = {
        "127.0.0.1/10/",
        "127.0.0.1//password",
        "127.0.0.1//",
        "localhost(6380)/0/",
        "127.0.0.1::6380",
        "<; 127.0.0.1:6380/0/pw",
        "<; [::1]:6380//",
        "/run/redis.sock//",
        "a:b",
        "",
    };
    static const char *const bad[] = {
        "/run/redis.sock", "127.0.0.1/x/", "127.0.0.1/-1/", "[::1:6379//",
        "host(99999)//",   "<; host:0//",  "host(12//",     "/sock/x/",
    };

    (void)state;
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
        if (lookup_redis_configure(good[i], 0, 0, err, sizeof err) != 0)
            fail_msg("\"%s\" refused: %s", good[i], err);
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (lookup_redis_configure(bad[i], 0, 0, err, sizeof err) == 0)
            fail_msg("\"%s\" accepted", bad[i]);
        assert_non_null(strstr(err, "redis_servers"));
    }
    /* db and password against a real server; TCP with the port in each form */
    start_redis();
    a = admin();
    admin_cmd(a, "CONFIG SET requirepass s3cret");
    admin_cmd(a, "AUTH s3cret");
    snprintf(list, sizeof list, "%s/3/s3cret", redis_sock);
    assert_int_equal(lookup_redis_configure(list, 0, 0, err, sizeof err), 0);
    expect("${lookup redis{SET dbkey in-db-3}}", "OK");
    admin_cmd(a, "SELECT 3");
    r = redisCommand(a, "GET dbkey");
    assert_string_equal(r->str, "in-db-3");
    freeReplyObject(r);
    snprintf(list, sizeof list, "%s/3/", redis_sock); /* no password */
    assert_int_equal(lookup_redis_configure(list, 0, 0, err, sizeof err), 0);
    expect_rc("${lookup redis{GET dbkey}}", EXP_DEFER, "NOAUTH");
    snprintf(list, sizeof list, "127.0.0.1::%d/3/s3cret", redis_port);
    assert_int_equal(lookup_redis_configure(list, 0, 0, err, sizeof err), 0);
    expect("${lookup redis{GET dbkey}}", "in-db-3");
    snprintf(list, sizeof list, "<; 127.0.0.1(%d)/3/s3cret", redis_port);
    assert_int_equal(lookup_redis_configure(list, 0, 0, err, sizeof err), 0);
    expect("${lookup redis{GET dbkey}}", "in-db-3");
    admin_cmd(a, "CONFIG SET requirepass %s", "");
    redisFree(a);
    /* no servers at all: a defer that says so */
    assert_int_equal(lookup_redis_configure("", 0, 0, err, sizeof err), 0);
    expect_rc("${lookup redis{GET dbkey}}", EXP_DEFER, "no Redis servers defined");
    stop_redis();
}

static void
test_redis_first_server_dead(void **state)
{
    char err[256], list[512];
    int fd, port;
    long long t0;

    (void)state;
    start_redis();
    port = dead_port(&fd);
    /* the middle item is a socket path that does not exist: refused too */
    snprintf(list, sizeof list, "<; 127.0.0.1:%d// ; %s/missing.sock// ; %s//", port, tmpdir,
             redis_sock);
    assert_int_equal(lookup_redis_configure(list, 0, 0, err, sizeof err), 0);
    t0 = tu_now_ms();
    expect("${lookup redis{SET k first}}", "OK");
    expect("${lookup redis{GET k}}", "first"); /* the dead ones are now skipped */
    assert_true(tu_now_ms() - t0 < 1000);
    close(fd);
    stop_redis();
}

static void
test_redis_killed_defers(void **state)
{
    char err[512], *out;
    long long t0;

    (void)state;
    start_redis();
    expect("${lookup redis{SET k v}}", "OK");
    kill_redis();
    t0 = tu_now_ms();
    assert_int_equal(run("${lookup redis{GET k}}", &out, err, sizeof err), EXP_DEFER);
    assert_true(tu_now_ms() - t0 < 1100);
    assert_non_null(strstr(err, "redis lookup deferred"));
    assert_non_null(strstr(err, redis_sock));
    /* within the next second the server is not tried again */
    t0 = tu_now_ms();
    assert_int_equal(run("${lookup redis{GET k}}", &out, err, sizeof err), EXP_DEFER);
    assert_true(tu_now_ms() - t0 < 50);
    assert_non_null(strstr(err, "marked down"));
    /* back after a restart (no persistence: the key is gone) */
    spawn_redis();
    usleep(1050 * 1000);
    expect("${lookup redis{GET k}{$value}{gone}}", "gone");
    stop_redis();
}

static void
test_redis_hung_server_times_out(void **state)
{
    char err[512], list[256], *out;
    long long t0, dt;

    (void)state;
    start_redis();
    snprintf(list, sizeof list, "%s//", redis_sock);
    assert_int_equal(lookup_redis_configure(list, 200, 200, err, sizeof err), 0);
    expect("${lookup redis{SET k v}}", "OK");
    kill(redis_pid, SIGSTOP);
    t0 = tu_now_ms();
    assert_int_equal(run("${lookup redis{GET k}}", &out, err, sizeof err), EXP_DEFER);
    dt = tu_now_ms() - t0;
    kill(redis_pid, SIGCONT);
    assert_true(dt >= 150 && dt < 700);
    assert_non_null(strstr(err, "timed out"));
    /* a command slower than the timeout is the same thing */
    usleep(1050 * 1000);
    t0 = tu_now_ms();
    assert_int_equal(run("${lookup redis{BLPOP nothing 2}}", &out, err, sizeof err), EXP_DEFER);
    assert_true(tu_now_ms() - t0 < 700);
    stop_redis();
}

/* other_thread - one lookup on a new thread; the client id in *arg */
static void *
other_thread(void *arg)
{
    *(char **)arg = eval_str("${lookup redis{CLIENT ID}}");
    return NULL;
}

/* client_count - clients the server knows of, through the pooled connection */
static int
client_count(void)
{
    char *list = eval_str("${lookup redis{CLIENT LIST}}");
    int n = 0;

    for (char *p = list; (p = strstr(p, "id=")) != NULL; p++)
        n++;
    free(list);
    return n;
}

static void
test_redis_pool_reuse(void **state)
{
    char *id1, *id2, *id3 = NULL;
    pthread_t th;
    long long deadline;

    (void)state;
    start_redis();
    id1 = eval_str("${lookup redis{CLIENT ID}}");
    for (int i = 0; i < 50; i++)
        free(eval_str("${lookup redis{INCR n}}"));
    id2 = eval_str("${lookup redis{CLIENT ID}}");
    assert_string_equal(id1, id2);
    assert_int_equal(client_count(), 1);
    /* another thread has its own connection, closed when the thread ends */
    assert_int_equal(pthread_create(&th, NULL, other_thread, &id3), 0);
    pthread_join(th, NULL);
    assert_non_null(id3);
    assert_string_not_equal(id3, id1);
    deadline = tu_now_ms() + 1000;
    while (client_count() != 1 && tu_now_ms() < deadline)
        usleep(10000);
    assert_int_equal(client_count(), 1);
    /* after lookup_thread_done this thread connects afresh */
    lookup_thread_done();
    free(id2);
    id2 = eval_str("${lookup redis{CLIENT ID}}");
    assert_string_not_equal(id1, id2);
    /* a pooled connection the server has closed (idle timeout, CLIENT KILL)
     * is replaced on its next use without a defer */
    redisContext *a = admin();
    admin_cmd(a, "CLIENT KILL ID %s", id2);
    redisFree(a);
    usleep(20000);
    free(id1);
    id1 = eval_str("${lookup redis{CLIENT ID}}");
    assert_string_not_equal(id1, id2);
    free(id1);
    free(id2);
    free(id3);
    stop_redis();
}

/* make_db - an LMDB file in tmpdir built by mdb_load -n -T from pairs of lines */
static void
make_db(const char *path, const char *pairs)
{
    char in[256], cmd[700];
    FILE *f;

    snprintf(in, sizeof in, "%s/in.txt", tmpdir);
    f = fopen(in, "w");
    assert_non_null(f);
    fputs(pairs, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "mdb_load -n -T -f '%s' '%s'", in, path);
    assert_int_equal(system(cmd), 0);
}

static void
test_lmdb_lookups(void **state)
{
    char db[128], src[512], lock[160];
    struct stat st;

    (void)state;
    strcpy(tmpdir, "/tmp/spate-lookup-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    snprintf(db, sizeof db, "%s/relaydomains.mdb", tmpdir);
    make_db(db, "sender.example\nrelay-ok\nexample.com\nyes\nempty.example\n\n");
    /* the seed's three forms */
    snprintf(src, sizeof src, "${lookup{$sender_address_domain}lmdb{%s}{$value}}", db);
    expect(src, "relay-ok");
    snprintf(src, sizeof src, "${lookup{$sender_address_domain}lmdb{%s}{$value}fail}", db);
    expect(src, "relay-ok");
    snprintf(src, sizeof src, "${lookup{$sender_address_domain}lmdb{%s}}", db);
    expect(src, "relay-ok");
    /* misses */
    snprintf(src, sizeof src, "[${lookup{nope.example}lmdb{%s}}]", db);
    expect(src, "[]");
    snprintf(src, sizeof src, "${lookup{nope.example}lmdb{%s}{$value}fail}", db);
    expect_rc(src, EXP_FAIL, NULL);
    snprintf(src, sizeof src, "${lookup{nope.example}lmdb{%s}{found}{not found}}", db);
    expect(src, "not found");
    snprintf(src, sizeof src, "${lookup{}lmdb{%s}{found}{not found}}", db);
    expect(src, "not found");
    snprintf(src, sizeof src, "${lookup{Example.com}lmdb{%s}{found}{not found}}", db);
    expect(src, "not found"); /* keys are exact */
    snprintf(src, sizeof src, "${lookup{empty.example}lmdb{%s}{found<$value>}{not found}}", db);
    expect(src, "found<>");
    snprintf(src, sizeof src, "${if eq{${lookup{${lc:EXAMPLE.COM}}lmdb{%s}}}{yes}{relay}{no}}", db);
    expect(src, "relay");
    /* a missing file defers and leaves no lock file behind */
    snprintf(src, sizeof src, "${lookup{x}lmdb{%s/missing.mdb}}", tmpdir);
    expect_rc(src, EXP_DEFER, "No such file");
    snprintf(lock, sizeof lock, "%s/missing.mdb-lock", tmpdir);
    assert_int_not_equal(stat(lock, &st), 0);
    /* a file that is not LMDB defers too */
    snprintf(src, sizeof src, "${lookup{x}lmdb{%s/in.txt}}", tmpdir);
    expect_rc(src, EXP_DEFER, "lmdb lookup deferred");
    tu_rmtree(tmpdir);
}

struct lmdb_arg {
    const char *src;
    int bad;
};

/* lmdb_thread - many lookups of one compiled string */
static void *
lmdb_thread(void *p)
{
    struct lmdb_arg *a = p;
    char err[256];
    struct exp_str *e = exp_compile(a->src, err, sizeof err);
    struct exp_ctx ctx = {.var = test_var, .err = err, .errlen = sizeof err};

    for (int i = 0; e != NULL && i < 2000; i++) {
        char *out;
        if (exp_eval(e, &ctx, &out) != EXP_OK || strcmp(out, "yes/relay-ok") != 0)
            a->bad++;
        free(out);
    }
    exp_free(e);
    return NULL;
}

static void
test_lmdb_concurrent(void **state)
{
    char db[128], src[512];
    pthread_t th[4];
    struct lmdb_arg a[4];

    (void)state;
    strcpy(tmpdir, "/tmp/spate-lookup-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    snprintf(db, sizeof db, "%s/t.mdb", tmpdir);
    make_db(db, "sender.example\nrelay-ok\nexample.com\nyes\n");
    snprintf(src, sizeof src,
             "${lookup{$domain}lmdb{%s}}/${lookup{$sender_address_domain}lmdb{%s}{$value}fail}", db,
             db);
    for (int i = 0; i < 4; i++) {
        a[i] = (struct lmdb_arg){.src = src};
        assert_int_equal(pthread_create(&th[i], NULL, lmdb_thread, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(a[i].bad, 0);
    }
    tu_rmtree(tmpdir);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_redis_reply_types),   cmocka_unit_test(test_redis_seed_examples),
    cmocka_unit_test(test_redis_server_forms),  cmocka_unit_test(test_redis_first_server_dead),
    cmocka_unit_test(test_redis_killed_defers), cmocka_unit_test(test_redis_hung_server_times_out),
    cmocka_unit_test(test_redis_pool_reuse),    cmocka_unit_test(test_lmdb_lookups),
    cmocka_unit_test(test_lmdb_concurrent),
};

/* clang-format off */
int main(int argc, char **argv) { if (argc > 1) cmocka_set_test_filter(argv[1]); return cmocka_run_group_tests(tests, NULL, NULL); }
/* clang-format on */
