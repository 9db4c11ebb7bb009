/*
 * test_event.c - unit tests for event actions (engine/event.c).
 *
 * Synchronous raising: every variable of the seed's list reaches the action,
 * the results that force tcp:connect / smtp:connect / tls:cert, errors and
 * defers logged with the option and event names, forced failure not logged.
 * The asynchronous pool, against a real redis-server on a Unix socket in a
 * temporary directory: the issue's msg:delivery RPUSH action records exactly
 * one entry per delivery, events of one message run in order, raising never
 * waits for a slow action (BLPOP with a timeout), a stopped Redis makes
 * actions defer (logged) without holding up the queue, and stopping the pool
 * runs what is queued.
 */
#include <fcntl.h>
#include <ftw.h>
#include <hiredis/hiredis.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/event.h"
#include "base/log.h"
#include "conf/lookup.h"
#include "testutil.h"

#include <cmocka.h>

static char tmpdir[64];
static char logpath[128];
static char redis_sock[128];
static pid_t redis_pid = -1;

/* setup_dir - a fresh temporary directory with the main log in it */
static void
setup_dir(void)
{
    signal(SIGPIPE, SIG_IGN);
    strcpy(tmpdir, "/tmp/spate-event-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    snprintf(logpath, sizeof logpath, "%s/mainlog", tmpdir);
    snprintf(redis_sock, sizeof redis_sock, "%s/redis.sock", tmpdir);
    assert_int_equal(log_open(logpath, 0), 0);
}

/* read_log - the main log so far (malloc'd) */
static char *
read_log(void)
{
    FILE *f = fopen(logpath, "r");
    char *buf = calloc(1, 1 << 20);
    size_t n;

    assert_non_null(buf);
    if (f == NULL)
        return buf;
    n = fread(buf, 1, (1 << 20) - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* count - occurrences of needle in hay */
static int
count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)) != NULL; p++)
        n++;
    return n;
}

/* start_redis - redis-server on a socket in tmpdir; redis_servers pointed at it */
static void
start_redis(void)
{
    char err[256], list[256];
    long long deadline = tu_now_ms() + 5000;

    redis_pid = fork();
    assert_true(redis_pid >= 0);
    if (redis_pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(null, 1);
        dup2(null, 2);
        execlp("redis-server", "redis-server", "--port", "0", "--unixsocket", redis_sock, "--save",
               "", "--appendonly", "no", "--dir", tmpdir, "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    for (;;) {
        struct timeval tv = {0, 200000};
        redisContext *c = redisConnectUnixWithTimeout(redis_sock, tv);
        int ok = c != NULL && !c->err;
        if (c != NULL)
            redisFree(c);
        if (ok)
            break;
        if (tu_now_ms() > deadline)
            fail_msg("redis-server did not start");
        usleep(10000);
    }
    snprintf(list, sizeof list, "%s//", redis_sock);
    assert_int_equal(lookup_redis_configure(list, 0, 0, err, sizeof err), 0);
}

/* stop_all - stop the pool and the server, remove the directory */
static void
stop_all(void)
{
    event_pool_stop();
    if (redis_pid > 0) {
        kill(redis_pid, SIGKILL);
        waitpid(redis_pid, NULL, 0);
    }
    redis_pid = -1;
    lookup_thread_done();
    log_close();
    tu_rmtree(tmpdir);
}

/* redis_get - a reply of the test server (free with freeReplyObject) */
static redisReply *
redis_get(const char *fmt, ...)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectUnixWithTimeout(redis_sock, tv);
    redisReply *r;
    va_list ap;

    assert_true(c != NULL && !c->err);
    va_start(ap, fmt);
    r = redisvCommand(c, fmt, ap);
    va_end(ap);
    redisFree(c);
    assert_non_null(r);
    return r;
}

/* compile - a compiled action, failing the test if it does not compile */
static struct exp_str *
compile(const char *src)
{
    char err[256];
    struct exp_str *e = exp_compile(src, err, sizeof err);
    if (e == NULL)
        fail_msg("\"%s\": %s", src, err);
    return e;
}

static void
test_event_variables(void **state)
{
    struct event_ctx ev = {0};
    struct exp_str *e;
    char *res, want[1024] = "", *p = want;

    (void)state;
    setup_dir();
    /* every variable of the list, in enum order, with a distinct value */
    char src[2048] = "", vals[EV__COUNT][32];
    for (int i = 0; i < EV__COUNT; i++) {
        snprintf(vals[i], sizeof vals[i], "v%d", i);
        ev.v[i] = vals[i];
        strcat(src, i ? "|$" : "$");
        strcat(src, event_var_name(i));
        p += sprintf(p, "%sv%d", i ? "|" : "", i);
    }
    e = compile(src);
    assert_int_equal(event_raise(&ev, e, &res), EXP_OK);
    assert_string_equal(res, want);
    free(res);
    exp_free(e);
    /* unset ones read "", $message_id is $message_exim_id, sender parts derived */
    memset(&ev, 0, sizeof ev);
    ev.v[EV_MESSAGE_EXIM_ID] = "1a2b3c-000042-XY";
    ev.v[EV_SENDER_ADDRESS] = "Bounce+x@Lists.Example";
    e = compile("[$host]$message_id/${lc:$sender_address_domain}/$sender_address_local_part");
    assert_int_equal(event_raise(&ev, e, &res), EXP_OK);
    assert_string_equal(res, "[]1a2b3c-000042-XY/lists.example/Bounce+x");
    free(res);
    exp_free(e);
    ev.v[EV_SENDER_ADDRESS] = ""; /* the null sender */
    e = compile("<$sender_address_local_part@$sender_address_domain>");
    assert_int_equal(event_raise(&ev, e, &res), EXP_OK);
    assert_string_equal(res, "<@>");
    free(res);
    exp_free(e);
    stop_all();
}

static void
test_event_sync_results(void **state)
{
    struct event_ctx ev = {0};
    struct exp_str *e;
    char *res;

    (void)state;
    setup_dir();
    e = compile("${if eq{$event_name}{tcp:connect}{${if eq{$host_address}{127.0.0.9}{refuse}}}}"
                "${if and{{eq{$event_name}{smtp:connect}}{match{$event_data}{^220 bad}}}{close}}"
                "${if and{{eq{$event_name}{tls:cert}}{>{$event_data}{1}}}{too deep}}");
    ev.v[EV_EVENT_NAME] = "tcp:connect";
    ev.v[EV_HOST_ADDRESS] = "127.0.0.9";
    assert_int_equal(event_raise(&ev, e, &res), EXP_OK);
    assert_string_equal(res, "refuse");
    free(res);
    ev.v[EV_HOST_ADDRESS] = "127.0.0.8";
    assert_int_equal(event_raise(&ev, e, &res), EXP_OK);
    assert_string_equal(res, "");
    free(res);
    ev.v[EV_EVENT_NAME] = "smtp:connect";
    ev.v[EV_EVENT_DATA] = "220 bad.example ESMTP";
    assert_int_equal(event_raise(&ev, e, &res), EXP_OK);
    assert_string_equal(res, "close");
    free(res);
    ev.v[EV_EVENT_DATA] = "220 good.example ESMTP";
    assert_int_equal(event_raise(&ev, e, NULL), EXP_OK); /* result not wanted */
    ev.v[EV_EVENT_NAME] = "tls:cert";
    ev.v[EV_EVENT_DATA] = "2";
    assert_int_equal(event_raise(&ev, e, &res), EXP_OK);
    assert_string_equal(res, "too deep");
    free(res);
    ev.v[EV_EVENT_DATA] = "0";
    assert_int_equal(event_raise(&ev, e, &res), EXP_OK);
    assert_string_equal(res, "");
    free(res);
    exp_free(e);
    /* no action: nothing to do */
    res = (char *)1;
    assert_int_equal(event_raise(&ev, NULL, &res), EXP_OK);
    assert_null(res);
    stop_all();
}

static void
test_event_errors_logged(void **state)
{
    struct event_ctx ev = {0};
    struct exp_str *e;
    char *res, *log;

    (void)state;
    setup_dir();
    assert_int_equal(lookup_redis_configure("", 0, 0, NULL, 0), 0);
    ev.v[EV_EVENT_NAME] = "msg:delivery";
    ev.v[EV_MESSAGE_EXIM_ID] = "1a2b3c-000001-AA";
    ev.option = "transport remote_smtp event_action";
    e = compile("${lookup redis{RPUSH x $domain}}");
    assert_int_equal(event_raise(&ev, e, &res), EXP_DEFER);
    assert_null(res);
    exp_free(e);
    ev.option = NULL;
    ev.v[EV_EVENT_NAME] = "tcp:close";
    e = compile("${if eq{$event_name}{tcp:close}{$no_such_var}}");
    assert_int_equal(event_raise(&ev, e, &res), EXP_ERROR);
    exp_free(e);
    ev.v[EV_EVENT_NAME] = "msg:complete";
    e = compile("${if eq{a}{b}{x}fail}");
    assert_int_equal(event_raise(&ev, e, &res), EXP_FAIL);
    assert_null(res);
    exp_free(e);
    log = read_log();
    assert_non_null(strstr(log, "1a2b3c-000001-AA transport remote_smtp event_action: "
                                "msg:delivery: defer: column 1: redis lookup deferred: "
                                "no Redis servers defined"));
    assert_non_null(strstr(log, "1a2b3c-000001-AA event_action: tcp:close: error: column 33: "
                                "unknown variable name \"no_such_var\""));
    assert_null(strstr(log, "msg:complete")); /* forced failure is not logged */
    free(log);
    stop_all();
}

static void
test_event_ctx_dup(void **state)
{
    struct event_ctx ev = {0}, *c;
    char host[] = "mx.example", id[] = "1a2b3c-000001-AA";

    (void)state;
    ev.v[EV_HOST] = host;
    ev.v[EV_MESSAGE_EXIM_ID] = id;
    ev.v[EV_EVENT_DATA] = "";
    ev.option = "event_action";
    c = event_ctx_dup(&ev);
    host[0] = 'X';
    id[0] = 'X';
    assert_string_equal(c->v[EV_HOST], "mx.example");
    assert_string_equal(c->v[EV_MESSAGE_EXIM_ID], "1a2b3c-000001-AA");
    assert_string_equal(c->v[EV_EVENT_DATA], "");
    assert_null(c->v[EV_DOMAIN]);
    assert_string_equal(c->option, "event_action");
    assert_ptr_not_equal(c->option, ev.option);
    event_ctx_free(c);
    /* no action: the copy is released at once (ASan checks) */
    event_raise_async("x", event_ctx_dup(&ev), NULL);
    event_raise_async("x", NULL, NULL);
}

/* raise_delivery - queue one event of a message for a recipient */
static void
raise_delivery(const struct exp_str *e, const char *name, const char *id, int rcpt)
{
    struct event_ctx ev = {0};
    char lp[32];

    snprintf(lp, sizeof lp, "user%d", rcpt);
    ev.v[EV_EVENT_NAME] = name;
    ev.v[EV_MESSAGE_EXIM_ID] = id;
    ev.v[EV_LOCAL_PART] = lp;
    ev.v[EV_DOMAIN] = "example.net";
    ev.v[EV_HOST_ADDRESS] = "127.0.0.2";
    event_raise_async(id, event_ctx_dup(&ev), e);
}

static void
test_event_async_records_deliveries(void **state)
{
    struct exp_str *e;
    redisReply *r;
    char id[32];

    (void)state;
    setup_dir();
    start_redis();
    e = compile("${if eq{$event_name}{msg:delivery}{${lookup redis{RPUSH deliveries "
                "$message_exim_id:$local_part@$domain:$host_address}}}{}}");
    /* 1000 messages, one delivered recipient each, then their msg:complete */
    for (int m = 0; m < 1000; m++) {
        snprintf(id, sizeof id, "1a2b3c-%06d-AA", m);
        raise_delivery(e, "msg:delivery", id, m);
        raise_delivery(e, "msg:complete", id, m);
    }
    event_pool_flush();
    r = redis_get("LLEN deliveries");
    assert_int_equal(r->integer, 1000);
    freeReplyObject(r);
    r = redis_get("LPOS deliveries 1a2b3c-000999-AA:user999@example.net:127.0.0.2");
    assert_int_equal(r->type, REDIS_REPLY_INTEGER);
    freeReplyObject(r);
    assert_int_equal(event_pool_dropped(), 0);
    stop_all();
    exp_free(e);
}

static void
test_event_async_order_per_message(void **state)
{
    struct exp_str *e;
    struct event_ctx ev = {0};
    redisReply *r;
    char id[32], data[16];

    (void)state;
    setup_dir();
    start_redis();
    assert_int_equal(event_pool_start(2), 0);
    e = compile("${lookup redis{RPUSH log:$message_exim_id $event_data}}");
    ev.v[EV_EVENT_NAME] = "msg:host:defer";
    ev.v[EV_MESSAGE_EXIM_ID] = id;
    ev.v[EV_EVENT_DATA] = data;
    for (int i = 0; i < 200; i++) /* interleaved over 8 messages */
        for (int m = 0; m < 8; m++) {
            snprintf(id, sizeof id, "msg%d", m);
            snprintf(data, sizeof data, "%d", i);
            event_raise_async(id, event_ctx_dup(&ev), e);
        }
    event_pool_flush();
    for (int m = 0; m < 8; m++) {
        r = redis_get("LRANGE log:msg%d 0 -1", m);
        assert_int_equal(r->elements, 200);
        for (size_t i = 0; i < r->elements; i++)
            assert_int_equal(atoi(r->element[i]->str), (int)i);
        freeReplyObject(r);
    }
    stop_all();
    exp_free(e);
}

static void
test_event_async_does_not_block(void **state)
{
    struct exp_str *slow, *mark;
    struct event_ctx ev = {0};
    long long t0, raised, flushed;
    redisReply *r;

    (void)state;
    setup_dir();
    start_redis();
    slow = compile("${lookup redis{BLPOP nothing 0.5}}");
    mark = compile("${lookup redis{RPUSH after $event_name}}");
    ev.v[EV_EVENT_NAME] = "msg:delivery";
    ev.v[EV_MESSAGE_EXIM_ID] = "1a2b3c-000001-AA";
    t0 = tu_now_ms();
    event_raise_async("1a2b3c-000001-AA", event_ctx_dup(&ev), slow);
    ev.v[EV_EVENT_NAME] = "msg:complete";
    event_raise_async("1a2b3c-000001-AA", event_ctx_dup(&ev), mark);
    raised = tu_now_ms() - t0;
    /* the follow-up of the same message waits for the slow action */
    r = redis_get("LLEN after");
    assert_int_equal(r->integer, 0);
    freeReplyObject(r);
    event_pool_flush();
    flushed = tu_now_ms() - t0;
    assert_true(raised < 100);
    assert_true(flushed >= 450 && flushed < 1500);
    r = redis_get("LRANGE after 0 -1");
    assert_int_equal(r->elements, 1);
    assert_string_equal(r->element[0]->str, "msg:complete");
    freeReplyObject(r);
    stop_all();
    exp_free(slow);
    exp_free(mark);
}

static void
test_event_async_redis_down(void **state)
{
    struct exp_str *e;
    char id[32], *log;
    long long t0;
    redisReply *r;

    (void)state;
    setup_dir();
    start_redis();
    e = compile("${lookup redis{RPUSH deliveries $message_exim_id}}");
    for (int m = 0; m < 50; m++) {
        snprintf(id, sizeof id, "1a2b3c-%06d-AA", m);
        raise_delivery(e, "msg:delivery", id, m);
    }
    event_pool_flush();
    r = redis_get("LLEN deliveries");
    assert_int_equal(r->integer, 50);
    freeReplyObject(r);
    kill(redis_pid, SIGKILL);
    waitpid(redis_pid, NULL, 0);
    redis_pid = -1;
    t0 = tu_now_ms();
    for (int m = 50; m < 100; m++) {
        snprintf(id, sizeof id, "1a2b3c-%06d-AA", m);
        raise_delivery(e, "msg:delivery", id, m);
    }
    event_pool_flush();
    assert_true(tu_now_ms() - t0 < 1500); /* defers at once, no hang */
    log = read_log();
    assert_int_equal(count(log, "event_action: msg:delivery: defer: "), 50);
    assert_non_null(strstr(log, "1a2b3c-000099-AA event_action: msg:delivery: defer"));
    free(log);
    stop_all();
    exp_free(e);
}

static void
test_event_pool_stop_drains(void **state)
{
    struct exp_str *e;
    struct event_ctx ev = {0};
    redisReply *r;

    (void)state;
    setup_dir();
    start_redis();
    e = compile("${lookup redis{INCR ran}}");
    ev.v[EV_EVENT_NAME] = "tcp:close";
    for (int i = 0; i < 300; i++) {
        char id[16];
        snprintf(id, sizeof id, "m%d", i % 7);
        event_raise_async(id, event_ctx_dup(&ev), e);
    }
    event_pool_stop();
    r = redis_get("GET ran");
    assert_int_equal(r->type, REDIS_REPLY_STRING);
    assert_string_equal(r->str, "300");
    freeReplyObject(r);
    /* it starts again on the next event */
    event_raise_async("m1", event_ctx_dup(&ev), e);
    event_pool_flush();
    r = redis_get("GET ran");
    assert_string_equal(r->str, "301");
    freeReplyObject(r);
    stop_all();
    exp_free(e);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_event_variables),
    cmocka_unit_test(test_event_sync_results),
    cmocka_unit_test(test_event_errors_logged),
    cmocka_unit_test(test_event_ctx_dup),
    cmocka_unit_test(test_event_async_records_deliveries),
    cmocka_unit_test(test_event_async_order_per_message),
    cmocka_unit_test(test_event_async_does_not_block),
    cmocka_unit_test(test_event_async_redis_down),
    cmocka_unit_test(test_event_pool_stop_drains),
};

/* clang-format off */
int main(int argc, char **argv) { if (argc > 1) cmocka_set_test_filter(argv[1]); return cmocka_run_group_tests(tests, NULL, NULL); }
/* clang-format on */
