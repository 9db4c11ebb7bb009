/*
 * main.c - spated: the daemon.
 *
 *   spated [-c FILE] [-o name=value]... [-qf] [--check-config] [--version]
 *                              -qf: try all recovered mail now, ignoring retry times
 *   spated -bV                 version and compiled-in features
 *   spated -be ['STRING']      print the expansion of STRING (or of each line
 *                              of standard input), lookups included
 *   spated -bt ADDRESS...      how each address routes (router, transport,
 *                              hosts and addresses), then exit
 *
 * Runs in the foreground, logging to stderr and to log_file_path. Without
 * -c it runs on the embedded default configuration. SIGTERM/SIGINT: stop
 * accepting, let messages waiting for their commit be answered, stop the
 * workers (undelivered recipients stay queued) and exit 0.
 *
 * Start-up order matters: the spool is recovered before the engine starts,
 * the engine before the spool writer (whose commit hook feeds it), the writer
 * before the listeners. Started as root with spate_user set, spated opens the
 * spool as that user, binds the listeners and reads key files as root, then
 * drops root for good (cmd/privs.h) and only then tells systemd it is ready
 * (cmd/notify.h). Shut-down goes the other way, except that the engine
 * stops before the spool closes, so no update reaches a closed spool.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "base/log.h"
#include "base/log_record.h"
#include "cmd/notify.h"
#include "cmd/privs.h"
#include "conf/acl.h"
#include "conf/address.h"
#include "conf/config.h"
#include "conf/expand.h"
#include "conf/lookup.h"
#include "conf/ratelimit.h"
#include "dns/dns.h"
#include "engine/engine.h"
#include "engine/event.h"
#include "mailauth/spf.h"
#include "spool/spool.h"
#include "tls/tls.h"

#ifdef SPATE_WITH_JEMALLOC
#include <jemalloc/jemalloc.h>
#endif

#define SPATE_VERSION "0.1.0"

struct opts {
    const char *config;
    const char **overrides;
    size_t noverrides;
    int check, version, bV, qf;
    char **bt;
    size_t nbt;
    int be;                /* -be: expansion test mode */
    const char *be_string; /* its argument, or NULL to read lines from stdin */
};

/* usage - print how to call spated and exit */
static void
usage(int rc)
{
    fprintf(rc ? stderr : stdout,
            "usage: spated [-c FILE] [-o name=value]... [-qf] [--check-config] [--version]\n"
            "       spated -bV\n"
            "       spated [-c FILE] -be ['STRING']\n"
            "       spated [-c FILE] -bt ADDRESS...\n");
    exit(rc);
}

/* free_opts - release what parse_args allocated */
static void
free_opts(struct opts *o)
{
    free(o->overrides);
    free(o->bt);
}

/* parse_args - the command line into opts */
static void
parse_args(int argc, char **argv, struct opts *o)
{
    o->overrides = calloc((size_t)argc, sizeof(char *));
    o->bt = calloc((size_t)argc, sizeof(char *));
    if (o->overrides == NULL || o->bt == NULL)
        abort();
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-c") == 0 && i + 1 < argc)
            o->config = argv[++i];
        else if (strcmp(a, "-o") == 0 && i + 1 < argc)
            o->overrides[o->noverrides++] = argv[++i];
        else if (strcmp(a, "--check-config") == 0)
            o->check = 1;
        else if (strcmp(a, "--version") == 0)
            o->version = 1;
        else if (strcmp(a, "-bV") == 0)
            o->bV = 1;
        else if (strcmp(a, "-qf") == 0)
            o->qf = 1;
        else if (strcmp(a, "-be") == 0) {
            o->be = 1;
            if (i + 1 < argc && argv[i + 1][0] != '-')
                o->be_string = argv[++i];
        } else if (strcmp(a, "-bt") == 0) {
            while (i + 1 < argc && argv[i + 1][0] != '-')
                o->bt[o->nbt++] = argv[++i];
            if (o->nbt == 0)
                usage(2);
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0)
            usage(0);
        else {
            fprintf(stderr, "spated: unknown argument %s\n", a);
            usage(2);
        }
    }
}

/* print_version - -bV / --version */
static void
print_version(int full)
{
    printf("spate version %s\n", SPATE_VERSION);
    if (!full)
        return;
    printf("TLS library: %s\n", tls_version_text());
    printf("Spool: LMDB with append-only body segments, group commit\n");
    printf("DNS: c-ares (asynchronous, per-thread), shared cache\n");
    printf("Routers: dnslookup manualroute\n");
    printf("Transports: smtp (PIPELINING)\n");
    printf("Interfaces: SMTP injection, HTTP API (inject, metrics, stats, queue)\n");
}

struct bt_state {
    const char *addr;
    int done;
};

/* on_bt_result - print a -bt routing result */
static void
on_bt_result(struct dns_result *res, void *arg)
{
    struct bt_state *st = arg;
    static const char *names[] = {"ok", "retry", "fail", "null MX"};
    printf("  lookup: %s%s%s\n", names[res->status], res->status ? ": " : "",
           res->status ? res->why : "");
    for (size_t i = 0; i < res->nhosts; i++) {
        printf("  host %s pref=%u%s\n", res->hosts[i].name, res->hosts[i].pref,
               res->implicit_mx ? " (implicit MX)" : "");
        for (size_t k = 0; k < res->hosts[i].naddr; k++) {
            char ip[64];
            const struct sockaddr_storage *ss = &res->hosts[i].addrs[k];
            const void *a = ss->ss_family == AF_INET6
                                ? (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr
                                : (const void *)&((const struct sockaddr_in *)ss)->sin_addr;
            inet_ntop(ss->ss_family, a, ip, sizeof(ip));
            printf("    address %s\n", ip);
        }
    }
    dns_result_free(res);
    st->done = 1;
}

/* bt_one - route one address and print how */
static int
bt_one(const struct cfg *c, eng_loop *loop, dns_resolver *r, const char *addr)
{
    char dom[256];
    const char *why;
    struct bt_state st = {.addr = addr};
    if (!addr_valid_mailbox(addr, 1, &why) || addr_domain_lower(addr, dom, sizeof(dom)) < 0) {
        printf("%s is not a valid address: %s\n", addr, why ? why : "bad syntax");
        return 1;
    }
    for (size_t i = 0; i < c->nrouters; i++) {
        const struct cfg_router *rt = &c->routers[i];
        const struct cfg_route_rule *rule = NULL;
        if (rt->has_domains && !cfg_domainlist_match(&rt->domains, dom))
            continue;
        if (rt->driver == CFG_ROUTER_MANUALROUTE && (rule = cfg_router_find_route(rt, dom)) == NULL)
            continue;
        printf("%s\n  router = %s, transport = %s, port = %u\n", addr, rt->name,
               rt->transport ? rt->transport->name : "-", rt->transport ? rt->transport->port : 0);
        if (rule != NULL) {
            const char **names = calloc(rule->nhosts, sizeof(char *));
            for (size_t k = 0; k < rule->nhosts; k++)
                names[k] = rule->hosts[k].name;
            dns_resolve_hosts(r, names, rule->nhosts, on_bt_result, &st);
            free(names);
        } else {
            dns_resolve_mx(r, dom, on_bt_result, &st);
        }
        while (!st.done)
            eng_loop_run_once(loop, 100);
        return 0;
    }
    printf("%s is undeliverable: Unrouteable address\n", addr);
    return 2;
}

/* run_bt - -bt: route the addresses with a private loop and resolver */
static int
run_bt(const struct cfg *c, char **addrs, size_t n)
{
    char err[256];
    int rc = 0;
    eng_loop *loop = eng_loop_new();
    dns_resolver *r =
        loop ? dns_resolver_new(loop, c->dns_servers, c->n_dns_servers, err, sizeof(err)) : NULL;
    if (r == NULL) {
        fprintf(stderr, "spated: cannot start a resolver\n");
        return 1;
    }
    for (size_t i = 0; i < n; i++)
        if (bt_one(c, loop, r, addrs[i]) != 0)
            rc = 2;
    dns_resolver_free(r);
    eng_loop_free(loop);
    return rc;
}

/* be_var - variables known in -be mode */
static const char *
be_var(void *arg, const char *name)
{
    const struct cfg *c = arg;
    if (strcmp(name, "primary_hostname") == 0)
        return c->primary_hostname;
    if (strcmp(name, "spool_directory") == 0)
        return c->spool_directory;
    if (strcmp(name, "version_number") == 0)
        return SPATE_VERSION;
    return NULL;
}

/* be_one - print one expansion (or why it failed); 0 or 1 */
static int
be_one(const struct cfg *c, const char *text)
{
    char err[512] = "";
    char *out = NULL;
    struct acl_env env = {.where = ACL_WHERE_EXPAND, .cfg = c, .var = be_var, .arg = (void *)c};
    struct exp_ctx ctx = {.var = be_var,
                          .arg = (void *)c,
                          .err = err,
                          .errlen = sizeof(err),
                          .acl = acl_exp_hook,
                          .acl_arg = &env};
    struct exp_str *e = exp_compile(text, err, sizeof(err));
    int rc;
    if (e == NULL) {
        printf("Failed: %s\n", err);
        return 1;
    }
    rc = exp_eval(e, &ctx, &out);
    if (rc == EXP_OK)
        printf("%s\n", out);
    else if (rc == EXP_FAIL)
        printf("Failed: forced failure\n");
    else
        printf("Failed: %s: %s\n", exp_rc_name(rc), err);
    free(out);
    exp_free(e);
    return rc == EXP_OK ? 0 : 1;
}

/* run_be - -be: expand the argument, or every line of standard input */
static int
run_be(const struct cfg *c, const char *text)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    int rc = 0;
    if (text != NULL)
        return be_one(c, text);
    while ((n = getline(&line, &cap, stdin)) > 0) {
        while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
            line[--n] = '\0';
        rc |= be_one(c, line);
    }
    free(line);
    return rc;
}

/* tls_setup - a TLS client context for every transport (CA store, CRLs,
 * client certificate, session cache); 0, or -1 with the reason printed */
static int
tls_setup(struct cfg *c)
{
    char err[512];
    for (size_t i = 0; i < c->ntransports; i++) {
        struct cfg_transport *tp = &c->transports[i];
        struct tls_client_opts o = {.verify_certificates = tp->tls_verify_certificates,
                                    .crl = tp->tls_crl,
                                    .certificate = tp->tls_certificate,
                                    .privatekey = tp->tls_privatekey};
        if ((tp->tls_ctx = tls_client_ctx_new(&o, err, sizeof(err))) == NULL) {
            fprintf(stderr, "spated: transport %s: %s\n", tp->name, err);
            log_err("transport %s: %s", tp->name, err);
            return -1;
        }
    }
    return 0;
}

/* tls_teardown - free the transports' TLS contexts */
static void
tls_teardown(struct cfg *c)
{
    for (size_t i = 0; i < c->ntransports; i++) {
        tls_client_ctx_free(c->transports[i].tls_ctx);
        c->transports[i].tls_ctx = NULL;
    }
}

/* the DNS servers of the spf lookup (a copy: configurations come and go) */
static struct net_addr spf_servers[16];
static size_t spf_nservers;

/* spf_lookup - lookup_set_spf's evaluator: ${lookup{user@domain}spf{ip}} */
static int
spf_lookup(const char *key, const char *arg, char **result, char *err, size_t errlen)
{
    if (spf_check_sync(spf_servers, spf_nservers, key, arg, result, err, errlen) < 0)
        return LOOKUP_ERROR;
    return LOOKUP_OK;
}

/* spf_lookup_setup - the spf lookup asks c's dns_servers */
static void
spf_lookup_setup(const struct cfg *c)
{
    spf_nservers = c->n_dns_servers < 16 ? c->n_dns_servers : 16;
    if (spf_nservers > 0)
        memcpy(spf_servers, c->dns_servers, spf_nservers * sizeof(spf_servers[0]));
    lookup_set_spf(spf_lookup);
}

/* redis_setup - hand redis_servers to the Redis lookup; 0 or -1 */
static int
redis_setup(const struct cfg *c)
{
    char err[256];
    if (c->redis_servers != NULL &&
        lookup_redis_configure(c->redis_servers, c->redis_connect_timeout_ms,
                               c->redis_command_timeout_ms, err, sizeof(err)) < 0) {
        fprintf(stderr, "spated: redis_servers: %s\n", err);
        log_err("redis_servers: %s", err);
        return -1;
    }
    if (rl_configure(c->ratelimit_store_redis, err, sizeof(err)) < 0) {
        fprintf(stderr, "spated: ratelimit_store: %s\n", err);
        log_err("ratelimit_store: %s", err);
        return -1;
    }
    return 0;
}

/* load_config - the file, or the embedded default; exits on error */
static struct cfg *
load_config(const struct opts *o)
{
    char err[CFG_ERR_MAX];
    struct cfg *c = NULL;
    int rc = o->config ? cfg_load_file(o->config, o->overrides, o->noverrides, &c, err, sizeof(err))
                       : cfg_load_string(cfg_default_text, "(embedded default)", o->overrides,
                                         o->noverrides, &c, err, sizeof(err));
    if (rc != 0) {
        fprintf(stderr, "spated: configuration error: %s\n", err);
        exit(1);
    }
    return c;
}

/* release_memory - the queue drained: hand the memory it held back to the
 * system (jemalloc keeps freed pages for reuse; glibc keeps its heap top) */
static void
release_memory(void)
{
#ifdef SPATE_WITH_JEMALLOC
    char cmd[64];
    snprintf(cmd, sizeof(cmd), "arena.%u.purge", (unsigned)MALLCTL_ARENAS_ALL);
    mallctl(cmd, NULL, NULL, NULL, 0);
#else
    malloc_trim(0);
#endif
}

/* start_spool - recover the spool, start the engine and the spool writer,
 * acting as spate_user (when set and started as root) so that what the
 * spool creates is that account's */
static spool *
start_spool(const struct cfg *c, long *n)
{
    char err[512];
    spool *sp;
    if (privs_check_spool(c, err, sizeof(err)) < 0 || privs_assume(c, err, sizeof(err)) < 0) {
        log_err("%s", err);
        exit(1);
    }
    if ((sp = spool_open(c->spool_directory, err, sizeof(err))) == NULL) {
        log_err("spool: %s", err);
        exit(1);
    }
    if ((*n = spool_recover(sp, eng_adopt, NULL)) < 0) {
        log_err("spool recovery failed: %s", strerror((int)-*n));
        exit(1);
    }
    eng_on_queue_empty(release_memory);
    if (eng_start(c, sp, err, sizeof(err)) != 0) {
        log_err("engine: %s", err);
        exit(1);
    }
    if (spool_start(sp, eng_commit_hook, NULL, c->spool_commit_max_batch) != 0) {
        log_err("spool: cannot start the writer");
        exit(1);
    }
    return sp;
}

/* start_all - spool, engine and writer, then (as root again) the listeners,
 * then drop privileges for good and tell systemd we are ready */
static spool *
start_all(const struct cfg *c)
{
    char err[512];
    long n;
    spool *sp = start_spool(c, &n);
    if (privs_resume(c, err, sizeof(err)) < 0 || api_smtp_start(c, sp, err, sizeof(err)) != 0 ||
        api_http_start(c, sp, err, sizeof(err)) != 0 || privs_drop(c, err, sizeof(err)) < 0) {
        log_err("%s", err);
        exit(1);
    }
    if (c->run_as.has_user && getuid() != c->run_as.uid)
        log_warn("spate_user %s: not started as root, running as uid %u", c->run_as.user,
                 (unsigned)getuid());
    log_info("spated %s started: pid %d, %ld queued message(s) recovered, %d worker(s), "
             "SMTP %s, HTTP %s, uid %u gid %u",
             SPATE_VERSION, (int)getpid(), n, c->worker_threads,
             c->n_smtp_listen ? c->smtp_listen[0].text : "-",
             c->n_http_listen ? c->http_listen[0].text : "-", (unsigned)getuid(),
             (unsigned)getgid());
    notify_state("READY=1\nSTATUS=accepting mail");
    return sp;
}

/* addrs_differ - do two address lists differ? */
static int
addrs_differ(const struct net_addr *a, size_t na, const struct net_addr *b, size_t nb)
{
    if (na != nb)
        return 1;
    for (size_t i = 0; i < na; i++)
        if (strcmp(a[i].text, b[i].text) != 0)
            return 1;
    return 0;
}

/* reload - SIGHUP: read the configuration again and switch to it; a bad
 * file keeps the running configuration. Returns the one in force. */
static struct cfg *
reload(const struct opts *o, struct cfg *cur, struct cfg ***old, size_t *nold)
{
    char err[CFG_ERR_MAX];
    struct cfg *c = NULL;
    int rc = o->config ? cfg_load_file(o->config, o->overrides, o->noverrides, &c, err, sizeof(err))
                       : cfg_load_string(cfg_default_text, "(embedded default)", o->overrides,
                                         o->noverrides, &c, err, sizeof(err));
    if (rc != 0) {
        log_err("SIGHUP: configuration error, keeping the running one: %s", err);
        return cur;
    }
    if (strcmp(c->spool_directory, cur->spool_directory) != 0 ||
        c->worker_threads != cur->worker_threads ||
        addrs_differ(c->smtp_listen, c->n_smtp_listen, cur->smtp_listen, cur->n_smtp_listen) ||
        addrs_differ(c->http_listen, c->n_http_listen, cur->http_listen, cur->n_http_listen) ||
        addrs_differ(c->dns_servers, c->n_dns_servers, cur->dns_servers, cur->n_dns_servers) ||
        strcmp(c->log_file_path, cur->log_file_path) != 0)
        log_warn("SIGHUP: spool_directory, worker_threads, smtp_listen, http_listen, "
                 "dns_servers and log_file_path take effect at the next start");
    if (redis_setup(c) < 0 || tls_setup(c) < 0) {
        tls_teardown(c);
        cfg_free(c);
        return cur;
    }
    /* the running configuration stays alive: destinations and queued events
     * point into it */
    *old = realloc(*old, (*nold + 1) * sizeof(**old));
    if (*old == NULL)
        abort();
    (*old)[(*nold)++] = cur;
    eng_reload(c);
    api_smtp_reload(c);
    api_http_reload(c);
    return c;
}

/* wait_for_signals - serve until SIGTERM/SIGINT; SIGHUP reloads */
static struct cfg *
wait_for_signals(const sigset_t *set, const struct opts *o, struct cfg *c, struct cfg ***old,
                 size_t *nold)
{
    for (;;) {
        int sig = 0;
        if (sigwait(set, &sig) != 0)
            continue;
        if (sig == SIGUSR1) { /* logrotate: the log files were renamed */
            log_reopen();
            log_info("SIGUSR1: log files reopened");
            continue;
        }
        if (sig == SIGHUP) {
            notify_state("RELOADING=1\nSTATUS=reading the configuration again");
            c = reload(o, c, old, nold);
            notify_state("READY=1\nSTATUS=accepting mail");
            continue;
        }
        log_info("signal %d received: shutting down", sig);
        notify_state("STOPPING=1\nSTATUS=shutting down");
        return c;
    }
}

/* open_logs - the main log, its json_log mirror and the JSON delivery log
 * (whose writer thread starts here: signals must be blocked already) */
static int
open_logs(const struct cfg *c)
{
    char jpath[4096];
    if (log_open(c->log_file_path, 1) < 0) {
        fprintf(stderr, "spated: cannot open log file %s: %s\n", c->log_file_path, strerror(errno));
        return -1;
    }
    snprintf(jpath, sizeof(jpath), "%s.json", c->log_file_path);
    if (c->json_log && c->log_file_path[0] != '\0' && log_open_json(jpath) < 0) {
        fprintf(stderr, "spated: cannot open %s: %s\n", jpath, strerror(errno));
        return -1;
    }
    int rc = c->log_json_path[0] ? log_record_open(c->log_json_path, c->log_json_max_size) : 0;
    if (rc < 0) {
        fprintf(stderr, "spated: cannot open log_json_path %s: %s\n", c->log_json_path,
                strerror(-rc));
        return -1;
    }
    return 0;
}

/* main - spated */
int
main(int argc, char **argv)
{
    struct opts o = {0};
    struct cfg *c, **old = NULL;
    size_t nold = 0;
    sigset_t set;
    spool *sp;

    parse_args(argc, argv, &o);
    if (o.version || o.bV) {
        print_version(o.bV);
        free_opts(&o);
        return 0;
    }
    c = load_config(&o);
    if (o.check) {
        printf("spated: configuration %s is valid\n", o.config ? o.config : "(embedded default)");
        cfg_free(c);
        free_opts(&o);
        return 0;
    }
    if (dns_init() != 0 || tls_init() != 0) {
        fprintf(stderr, "spated: library initialisation failed\n");
        return 1;
    }
    if (redis_setup(c) < 0) {
        cfg_free(c);
        free_opts(&o);
        return 1;
    }
    spf_lookup_setup(c);
    if (o.be) {
        int rc = run_be(c, o.be_string);
        cfg_free(c);
        free_opts(&o);
        return rc;
    }
    if (tls_setup(c) < 0) {
        tls_teardown(c);
        cfg_free(c);
        free_opts(&o);
        return 1;
    }
    if (o.nbt > 0) {
        int rc = run_bt(c, o.bt, o.nbt);
        tls_teardown(c);
        cfg_free(c);
        free_opts(&o);
        return rc;
    }
    signal(SIGPIPE, SIG_IGN);
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &set, NULL); /* every thread inherits this */
    if (open_logs(c) < 0)
        return 1;
    eng_force_retry(o.qf);
    sp = start_all(c);
    c = wait_for_signals(&set, &o, c, &old, &nold);
    api_smtp_stop();
    api_http_stop();
    eng_stop();
    spool_close(sp);
    eng_finish();
    event_pool_stop(); /* runs the events still queued */
    tls_teardown(c);
    for (size_t i = 0; i < nold; i++)
        tls_teardown(old[i]);
    log_info("spated stopped");
    log_record_close();
    log_close();
    cfg_free(c);
    for (size_t i = 0; i < nold; i++)
        cfg_free(old[i]);
    free(old);
    free_opts(&o);
    return 0;
}
