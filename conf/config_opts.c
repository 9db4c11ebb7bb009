/*
 * config_opts.c - the option tables of the main section, routers,
 *                 transports and destinations ({name, setter, offset,
 *                 range, default}; adding an option is one line), with the
 *                 setters only one option uses: driver, domains, transport,
 *                 hosts_avoid_pipelining, route_list, max_message_rate.
 */
#include <arpa/inet.h>
#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "base/sockaddr.h"
#include "conf/acl_int.h"
#include "conf/config_int.h"

/* ---- setters of one option ----------------------------------------- */

/* cfg_opt_driver - a driver name from the table for the section in force */
static int
cfg_opt_driver(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    static const struct {
        const char *section, *name;
        int value;
    } drivers[] = {
        {"routers", "dnslookup", CFG_ROUTER_DNSLOOKUP},
        {"routers", "manualroute", CFG_ROUTER_MANUALROUTE},
        {"routers", "accept", CFG_ROUTER_ACCEPT},
        {"transports", "smtp", CFG_TRANSPORT_SMTP},
        {"transports", "queuefile", CFG_TRANSPORT_QUEUEFILE},
    };
    for (size_t i = 0; i < sizeof drivers / sizeof drivers[0]; i++) {
        if (strcmp(drivers[i].section, p->sec->name) == 0 && strcmp(drivers[i].name, val) == 0) {
            *CFG_AT(base, d->off, int) = drivers[i].value;
            p->inst_driver = 1;
            return 0;
        }
    }
    return cfg_perr(p, "unknown driver \"%.64s\" in the %s section", val, p->sec->name);
}

/* cfg_opt_ignored - a generic transport option queuefile accepts and
 * ignores (seed "Queuefile transport"): only remembered, for the check */
static int
cfg_opt_ignored(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    struct cfg_transport *t = base;
    (void)p;
    (void)val;
    if (t->ignored_opt == NULL)
        t->ignored_opt = d->name;
    return 0;
}

/* cfg_transport_check - options that depend on the transport's driver */
int
cfg_transport_check(struct pctx *p, void *inst)
{
    const struct cfg_transport *t = inst;
    if (t->driver != CFG_TRANSPORT_QUEUEFILE) {
        if (t->directory != NULL)
            return cfg_perr(p, "transport %s: directory is for queuefile transports", t->name);
        if (t->ignored_opt != NULL || t->ignored_bool)
            return cfg_perr(p, "transport %s: option %s is not supported by the smtp driver",
                            t->name, t->ignored_opt ? t->ignored_opt : "(a generic boolean)");
        return 0;
    }
    if (t->directory == NULL)
        return cfg_perr(p, "transport %s: a queuefile transport needs directory", t->name);
    if (t->directory[0] != '/')
        return cfg_perr(p, "transport %s: directory must be an absolute path", t->name);
    return 0;
}

/* cfg_opt_domains - a router's domains list */
static int
cfg_opt_domains(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    struct cfg_router *r = base;
    r->has_domains = 1;
    return cfg_parse_domainlist(p, d->name, val, &r->domains);
}

/* cfg_opt_transport - a router's transport name, resolved after the whole file */
static int
cfg_opt_transport(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    struct cfg_router *r = base;
    if (*val == '\0' || strspn(val, CFG_INSTCHARS) != strlen(val))
        return cfg_bad_value(p, d, val, "a transport name");
    r->transport_name = cfg_ar_strdup(p->a, val);
    r->transport_line = p->line;
    return 0;
}

/* cfg_opt_avoid_pipelining - a host list; "*" also sets the "all" flag */
static int
cfg_opt_avoid_pipelining(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    struct cfg_transport *t = base;
    if (cfg_parse_hostlist(p, d->name, val, &t->hosts_avoid_pipelining) < 0)
        return -1;
    const struct cfg_hostlist *l = &t->hosts_avoid_pipelining;
    t->hosts_avoid_pipelining_all = l->n > 0 && l->items[0].any && !l->items[0].negate;
    return 0;
}

/* cfg_parse_route_host - "name", "ip", "name:port", "[v6]", "[v6]:port", bare v6 */
static int
cfg_parse_route_host(struct pctx *p, const char *item, struct cfg_route_host *h)
{
    char host[256];
    const char *port;
    unsigned char bin[16];
    if (net_split_hostport(item, host, sizeof host, &port) < 0)
        goto bad;
    int is_ip = inet_pton(AF_INET6, host, bin) == 1 || inet_pton(AF_INET, host, bin) == 1;
    if (!is_ip && (*item == '[' || strchr(host, ':') != NULL || !cfg_valid_hostname(host)))
        goto bad;
    h->port = 0;
    if (port != NULL && net_parse_port(port, &h->port) < 0)
        goto bad;
    h->name = cfg_ar_strdup(p->a, host);
    return 0;
bad:
    return cfg_perr(p,
                    "option route_list: bad host \"%.100s\" (expected name, ip, name::port, "
                    "[ipv6] or [ipv6]::port)",
                    item);
}

/* cfg_route_option - apply a trailing rule option word; 0 if it is not one */
static int
cfg_route_option(struct cfg_route_rule *r, const char *w)
{
    if (strcmp(w, "randomize") == 0)
        r->randomize = 1;
    else if (strcmp(w, "no_randomize") == 0)
        r->randomize = 0;
    else if (strcmp(w, "byname") == 0)
        r->byname = 1;
    else if (strcmp(w, "bydns") == 0)
        r->byname = 0;
    else
        return 0;
    return 1;
}

/* cfg_parse_route_rule - "domain-pattern host-list [randomize|byname...]" */
static int
cfg_parse_route_rule(struct pctx *p, char *rule, struct cfg_route_rule *out)
{
    size_t dl = strcspn(rule, " \t");
    if (rule[dl] == '\0')
        return cfg_perr(p, "option route_list: rule \"%.100s\" has no host list", rule);
    rule[dl] = '\0';
    char *rest = cfg_trim(rule + dl + 1);
    for (;;) { /* option words at the end; the host list stays */
        char *w = rest + strlen(rest);
        while (w > rest && w[-1] != ' ' && w[-1] != '\t')
            w--;
        if (w == rest || !cfg_route_option(out, w))
            break;
        *w = '\0';
        rest = cfg_trim(rest);
    }
    size_t rl = strlen(rest);
    if (rl >= 2 && rest[0] == '"' && rest[rl - 1] == '"') {
        rest[rl - 1] = '\0';
        rest++;
    }
    if (cfg_parse_domainitem(p, "route_list", rule, &out->pattern, 0) < 0)
        return -1;
    char **items;
    size_t n;
    cfg_split_list(p, rest, ':', 1, &items, &n);
    if (n == 0)
        return cfg_perr(p, "option route_list: rule for \"%.100s\" has no hosts", rule);
    out->hosts = cfg_ar_alloc(p->a, n * sizeof *out->hosts);
    for (size_t i = 0; i < n; i++)
        if (cfg_parse_route_host(p, items[i], &out->hosts[i]) < 0)
            return -1;
    out->nhosts = n;
    return 0;
}

/* cfg_opt_route_list - manualroute rules separated by ';' */
static int
cfg_opt_route_list(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    struct cfg_router *r = base;
    char **rules;
    size_t n;
    (void)d;
    cfg_split_list(p, val, ';', 0, &rules, &n);
    struct cfg_route_rule *arr = n ? cfg_ar_alloc(p->a, n * sizeof *arr) : NULL;
    for (size_t i = 0; i < n; i++)
        if (cfg_parse_route_rule(p, rules[i], &arr[i]) < 0)
            return -1;
    r->route_list = arr;
    r->nroutes = n;
    return 0;
}

/* cfg_opt_rate - "N/s", "N/m", "N/h" (also "N / sec", "N/min", "N/hour") */
static int
cfg_opt_rate(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    struct cfg_destination *dst = base;
    char unit[16] = "";
    unsigned long n = 0;
    int used = 0;
    (void)d;
    if (sscanf(val, "%lu / %15[a-z]%n", &n, unit, &used) != 2 || val[used] != '\0' || n == 0 ||
        n > 10000000)
        return cfg_bad_value(p, d, val, "a rate such as 500/s, 100/m or 3600/h");
    if (strcmp(unit, "s") == 0 || strcmp(unit, "sec") == 0)
        dst->rate_period_s = 1;
    else if (strcmp(unit, "m") == 0 || strcmp(unit, "min") == 0)
        dst->rate_period_s = 60;
    else if (strcmp(unit, "h") == 0 || strcmp(unit, "hour") == 0)
        dst->rate_period_s = 3600;
    else
        return cfg_bad_value(p, d, val, "a rate such as 500/s, 100/m or 3600/h");
    dst->rate_count = (uint32_t)n;
    return 0;
}

/* cfg_opt_rl_store - ratelimit_store: "memory" or "redis" (conf/ratelimit.h) */
static int
cfg_opt_rl_store(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    if (strcmp(val, "memory") != 0 && strcmp(val, "redis") != 0)
        return cfg_bad_value(p, d, val, "memory or redis");
    *CFG_AT(base, d->off, int) = strcmp(val, "redis") == 0;
    return 0;
}

/* ---- inbound TLS (main section) ------------------------------------- */

/* cfg_opt_tls_files - tls_certificate / tls_privatekey: a list of files;
 * when both are set they must have as many items */
static int
cfg_opt_tls_files(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    struct cfg *c = base;
    char **items, **copy;
    size_t n;
    cfg_split_list(p, val, ':', 0, &items, &n);
    if (n == 0)
        return cfg_bad_value(p, d, val, "one or more file names");
    copy = cfg_ar_alloc(p->a, n * sizeof(*copy));
    for (size_t i = 0; i < n; i++) {
        if (cfg_refuse_ctl(p, d->name, items[i], 0) < 0)
            return -1;
        copy[i] = cfg_ar_strdup(p->a, items[i]);
    }
    *CFG_AT(base, d->off, char **) = copy;
    *CFG_AT(base, d->off_n, size_t) = n;
    if (c->n_tls_in_certificates && c->n_tls_in_privatekeys &&
        c->n_tls_in_certificates != c->n_tls_in_privatekeys)
        return cfg_perr(p, "tls_privatekey must name one key for each tls_certificate file");
    return 0;
}

/* cfg_opt_tls_version - tls_min_version: TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3 */
static int
cfg_opt_tls_version(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    static const char *const names[] = {"TLSv1", "TLSv1.1", "TLSv1.2", "TLSv1.3"};
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(val, names[i]) == 0) {
            *CFG_AT(base, d->off, char *) = cfg_ar_strdup(p->a, val);
            return 0;
        }
    }
    return cfg_bad_value(p, d, val, "TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3");
}

/* ---- option tables -------------------------------------------------- */

/* delay_warning_condition's default: no warning for list or bulk mail, nor
 * for automatic replies ($h_NAME: an underscore stands for a hyphen) */
#define DSN_DELAY_CONDITION_DEFAULT                                                                \
    "${if or {{!eq{$h_list_id$h_list_post$h_list_subscribe}{}}"                                    \
    "{match{$h_precedence}{(?i)bulk|list|junk}}"                                                   \
    "{match{$h_auto_submitted}{(?i)auto-generated|auto-replied}}}{no}{yes}}"

#define CFG_M(f) offsetof(struct cfg, f)
#define CFG_R(f) offsetof(struct cfg_router, f)
#define CFG_T(f) offsetof(struct cfg_transport, f)
#define CFG_D(f) offsetof(struct cfg_destination, f)

const struct cfg_optdef cfg_main_opts[] = {
    {"primary_hostname", cfg_opt_host, CFG_M(primary_hostname), 0, 1, 0, NULL},
    {"spool_directory", cfg_opt_str, CFG_M(spool_directory), 0, 1, 0, "./var/spool"},
    {"log_file_path", cfg_opt_str, CFG_M(log_file_path), 0, 0, 0, ""},
    {"smtp_listen", cfg_opt_addrs, CFG_M(smtp_listen), CFG_M(n_smtp_listen), 2525, 0,
     "127.0.0.1:2525"},
    {"http_listen", cfg_opt_addrs, CFG_M(http_listen), CFG_M(n_http_listen), 8025, 0,
     "127.0.0.1:8025"},
    {"worker_threads", cfg_opt_int, CFG_M(worker_threads), 0, 1, 256, NULL},
    {"relay_from_hosts", cfg_opt_hostlist, CFG_M(relay_from_hosts), 0, 0, 0,
     "<; 127.0.0.0/8 ; ::1"},
    {"dns_servers", cfg_opt_addrs, CFG_M(dns_servers), CFG_M(n_dns_servers), 53, 0, ""},
    {"message_size_limit", cfg_opt_size, CFG_M(message_size_limit), 0, 0, LLONG_MAX, "50M"},
    {"smtp_accept_max", cfg_opt_int, CFG_M(smtp_accept_max), 0, 1, 1000000, "1000"},
    {"smtp_receive_timeout", cfg_opt_time, CFG_M(smtp_receive_timeout_s), 0, 1, INT_MAX, "5m"},
    {"smtp_accept_max_per_host", cfg_opt_int, CFG_M(smtp_accept_max_per_host), 0, 0, 1000000,
     "100"},
    {"smtp_first_command_timeout", cfg_opt_time, CFG_M(smtp_first_command_timeout_s), 0, 1, INT_MAX,
     "10s"},
    {"smtp_accept_reserve", cfg_opt_int, CFG_M(smtp_accept_reserve), 0, 0, 1000000, "0"},
    {"smtp_reserve_hosts", cfg_opt_hostlist, CFG_M(smtp_reserve_hosts), 0, 0, 0, ""},
    {"smtp_enforce_sync", cfg_opt_bool, CFG_M(smtp_enforce_sync), 0, 0, 0, "true"},
    {"smtp_max_unknown_commands", cfg_opt_int, CFG_M(smtp_max_unknown_commands), 0, 0, 1000000,
     "3"},
    {"smtp_max_synprot_errors", cfg_opt_int, CFG_M(smtp_max_synprot_errors), 0, 0, 1000000, "3"},
    {"recipients_max", cfg_opt_int, CFG_M(recipients_max), 0, 0, 1000000, "1000"},
    {"message_linelength_limit", cfg_opt_int, CFG_M(message_linelength_limit), 0, 0, 1000000,
     "998"},
    {"chunking_advertise_hosts", cfg_opt_hostlist, CFG_M(chunking_advertise_hosts), 0, 0, 0, "*"},
    {"dsn_advertise_hosts", cfg_opt_hostlist, CFG_M(dsn_advertise_hosts), 0, 0, 0, "*"},
    {"prdr_enable", cfg_opt_bool, CFG_M(prdr_enable), 0, 0, 0, "false"},
    {"http_accept_max", cfg_opt_int, CFG_M(http_accept_max), 0, 1, 1000000, "1000"},
    {"http_accept_max_per_host", cfg_opt_int, CFG_M(http_accept_max_per_host), 0, 0, 1000000,
     "100"},
    {"http_connection_timeout", cfg_opt_time, CFG_M(http_connection_timeout_s), 0, 1, INT_MAX,
     "10s"},
    {"shutdown_grace", cfg_opt_time, CFG_M(shutdown_grace_s), 0, 0, INT_MAX, "30s"},
    {"allow_domain_literals", cfg_opt_bool, CFG_M(allow_domain_literals), 0, 0, 0, "false"},
    {"queue_run_interval", cfg_opt_time, CFG_M(queue_run_interval_s), 0, 1, INT_MAX, "1m"},
    {"bounce_return_size_limit", cfg_opt_size, CFG_M(bounce_return_size_limit), 0, 0, INT_MAX,
     "100K"},
    {"spool_commit_max_batch", cfg_opt_int, CFG_M(spool_commit_max_batch), 0, 1, 100000, "512"},
    {"json_log", cfg_opt_bool, CFG_M(json_log), 0, 0, 0, "false"},
    {"queue_only", cfg_opt_bool, CFG_M(queue_only), 0, 0, 0, "false"},
    {"redis_servers", cfg_opt_str, CFG_M(redis_servers), 0, 0, 0, NULL},
    {"redis_connect_timeout", cfg_opt_time_ms, CFG_M(redis_connect_timeout_ms), 0, 1, 3600000,
     "1s"},
    {"redis_command_timeout", cfg_opt_time_ms, CFG_M(redis_command_timeout_ms), 0, 1, 3600000,
     "1s"},
    {"event_action", cfg_opt_expand, CFG_M(event_action), 0, 0, 0, NULL},
    {"dns_trust_anchor_file", cfg_opt_str, CFG_M(dns_trust_anchor_file), 0, 1, 0, NULL},
    {"dnssec_stub_zones", cfg_opt_domainlist, CFG_M(dnssec_stub_zones), 0, 0, 0, NULL},
    {"proxy_required_hosts", cfg_opt_hostlist, CFG_M(proxy_required_hosts), 0, 0, 0, ""},
    /* the ratelimit ACL condition's store */
    {"ratelimit_store", cfg_opt_rl_store, CFG_M(ratelimit_store_redis), 0, 0, 0, "memory"},
    /* inbound TLS (the SMTP listener's STARTTLS) */
    {"tls_certificate", cfg_opt_tls_files, CFG_M(tls_in_certificates), CFG_M(n_tls_in_certificates),
     0, 0, NULL},
    {"tls_privatekey", cfg_opt_tls_files, CFG_M(tls_in_privatekeys), CFG_M(n_tls_in_privatekeys), 0,
     0, NULL},
    {"tls_advertise_hosts", cfg_opt_hostlist, CFG_M(tls_advertise_hosts), 0, 0, 0, "*"},
    {"tls_require_ciphers", cfg_opt_str, CFG_M(tls_in_require_ciphers), 0, 1, 0, NULL},
    {"tls_min_version", cfg_opt_tls_version, CFG_M(tls_in_min_version), 0, 0, 0, "TLSv1.2"},
    {"tls_verify_hosts", cfg_opt_hostlist, CFG_M(tls_in_verify_hosts), 0, 0, 0, ""},
    {"tls_try_verify_hosts", cfg_opt_hostlist, CFG_M(tls_in_try_verify_hosts), 0, 0, 0, ""},
    {"tls_verify_certificates", cfg_opt_str, CFG_M(tls_in_verify_certificates), 0, 1, 0, NULL},
    {"tls_ocsp_file", cfg_opt_str, CFG_M(tls_in_ocsp_file), 0, 1, 0, NULL},
    /* SMTP AUTH (conf/auth.h) */
    {"auth_advertise_hosts", cfg_opt_hostlist, CFG_M(auth_advertise_hosts), 0, 0, 0, ""},
    {"auth_failure_ratelimit", cfg_opt_str, CFG_M(auth_failure_ratelimit), 0, 0, 0, "10 / 1h"},
    /* ACLs (conf/acl_parse.c): an ACL name, accept or deny, resolved after the file */
    {"acl_smtp_connect", acl__opt_acl, CFG_M(acl_smtp_connect), 0, 0, 0, NULL},
    {"acl_smtp_helo", acl__opt_acl, CFG_M(acl_smtp_helo), 0, 0, 0, NULL},
    {"acl_smtp_mail", acl__opt_acl, CFG_M(acl_smtp_mail), 0, 0, 0, NULL},
    {"acl_smtp_rcpt", acl__opt_acl, CFG_M(acl_smtp_rcpt), 0, 0, 0, NULL},
    {"acl_smtp_predata", acl__opt_acl, CFG_M(acl_smtp_predata), 0, 0, 0, NULL},
    {"acl_smtp_data", acl__opt_acl, CFG_M(acl_smtp_data), 0, 0, 0, NULL},
    {"acl_smtp_data_prdr", acl__opt_acl, CFG_M(acl_smtp_data_prdr), 0, 0, 0, NULL},
    {"acl_data_smtp_prdr", acl__opt_acl, CFG_M(acl_smtp_data_prdr), 0, 0, 0, NULL},
    {"acl_smtp_quit", acl__opt_acl, CFG_M(acl_smtp_quit), 0, 0, 0, NULL},
    {"local_domains", acl__opt_local_domains, CFG_M(acls), 0, 0, 0, NULL},
    /* log_selector = +name -name ... (config_values.c) */
    {"log_selector", cfg_opt_log_selector, CFG_M(log_selector), 0, 0, 0, ""},
    /* DSN generation (conf/config_dsn.c, engine/dsn.h) */
    {"delay_warning", cfg_opt_delay_warning, 0, 0, 0, 0, "24h"},
    {"delay_warning_condition", cfg_opt_expand, CFG_M(delay_warning_condition), 0, 0, 0,
     DSN_DELAY_CONDITION_DEFAULT},
    {"dsn_extra_info", cfg_opt_bool, CFG_M(dsn_extra_info), 0, 0, 0, "false"},
    {"dsn_gather_window", cfg_opt_time_ms, CFG_M(dsn_gather_window_ms), 0, 0, 3600000, "2s"},
    {"bounce_message_file", cfg_opt_template_file, CFG_M(bounce_message), 0, 0, 0, NULL},
    {"warn_message_file", cfg_opt_template_file, CFG_M(warn_message), 0, 0, 0, NULL},
    {"success_message_file", cfg_opt_template_file, CFG_M(success_message), 0, 0, 0, NULL},
    /* the admin API (api/admin.c) */
    {"admin_listen", cfg_opt_addrs, CFG_M(admin_listen), CFG_M(n_admin_listen), 8026, 0, ""},
    {"admin_token_file", cfg_opt_str, CFG_M(admin_token_file), 0, 1, 0, NULL},
    /* DMARC (mailauth/dmarc.h): file names and an address, stored as strings */
    {"dmarc_tld_file", cfg_opt_str, CFG_M(dmarc_tld_file), 0, 1, 0,
     "/usr/share/publicsuffix/public_suffix_list.dat"},
    {"dmarc_history_file", cfg_opt_str, CFG_M(dmarc_history_file), 0, 1, 0, NULL},
    {"dmarc_forensic_sender", cfg_opt_str, CFG_M(dmarc_forensic_sender), 0, 1, 0, NULL},
    /* DKIM verification on the SMTP server (api/smtp_dkim.c) */
    {"acl_smtp_dkim", acl__opt_acl, CFG_M(acl_smtp_dkim), 0, 0, 0, NULL},
    {"dkim_verify_signers", cfg_opt_expand, CFG_M(dkim_verify_signers), 0, 0, 0, NULL},
    /* privileges (conf/config_user.c): exim_user / exim_group are Exim's names */
    {"spate_user", cfg_opt_run_user, CFG_M(run_as), 0, 1, 0, NULL},
    {"spate_group", cfg_opt_run_group, CFG_M(run_as), 0, 1, 0, NULL},
    {"exim_user", cfg_opt_run_user, CFG_M(run_as), 0, 1, 0, NULL},
    {"exim_group", cfg_opt_run_group, CFG_M(run_as), 0, 1, 0, NULL},
    /* the JSON delivery log (base/log_record.h) */
    {"log_json_path", cfg_opt_str, CFG_M(log_json_path), 0, 0, 0, ""},
    {"log_json_max_size", cfg_opt_size, CFG_M(log_json_max_size), 0, 0, LLONG_MAX, "0"},
    /* DKIM signing off the I/O loops (engine/dkim_pool.c) */
    {"dkim_sign_threads", cfg_opt_int, CFG_M(dkim_sign_threads), 0, 0, 64, "0"},
    /* the admin API (api/admin.c) */
    {"admin_action_wait", cfg_opt_time, CFG_M(admin_action_wait_s), 0, 0, 3600, "30s"},
    {NULL, NULL, 0, 0, 0, 0, NULL},
};

const struct cfg_optdef cfg_router_opts[] = {
    {"driver", cfg_opt_driver, CFG_R(driver), 0, 0, 0, NULL},
    {"domains", cfg_opt_domains, CFG_R(domains), 0, 0, 0, NULL},
    {"transport", cfg_opt_transport, CFG_R(transport_name), 0, 0, 0, NULL},
    {"route_list", cfg_opt_route_list, CFG_R(route_list), CFG_R(nroutes), 0, 0, NULL},
    {"dsn_lasthop", cfg_opt_bool, CFG_R(dsn_lasthop), 0, 0, 0, "false"},
    {NULL, NULL, 0, 0, 0, 0, NULL},
};

const struct cfg_optdef cfg_transport_opts[] = {
    {"driver", cfg_opt_driver, CFG_T(driver), 0, 0, 0, NULL},
    {"port", cfg_opt_port, CFG_T(port), 0, 1, 65535, "25"},
    {"helo_data", cfg_opt_host, CFG_T(helo_data), 0, 1, 0, NULL},
    {"connect_timeout", cfg_opt_time, CFG_T(connect_timeout_s), 0, 1, INT_MAX, "30s"},
    {"command_timeout", cfg_opt_time, CFG_T(command_timeout_s), 0, 1, INT_MAX, "5m"},
    {"greeting_timeout", cfg_opt_time, CFG_T(greeting_timeout_s), 0, 1, INT_MAX, "2m"},
    {"data_timeout", cfg_opt_time, CFG_T(data_timeout_s), 0, 1, INT_MAX, "5m"},
    {"max_rcpt", cfg_opt_int, CFG_T(max_rcpt), 0, 1, 100000, "100"},
    {"hosts_avoid_pipelining", cfg_opt_avoid_pipelining, CFG_T(hosts_avoid_pipelining), 0, 0, 0,
     ""},
    {"chunking", cfg_opt_bool, CFG_T(chunking), 0, 0, 0, "false"},
    {"event_action", cfg_opt_expand, CFG_T(event_action), 0, 0, 0, NULL},
    {"hosts_require_tls", cfg_opt_hostnames, CFG_T(hosts_require_tls), 0, 0, 0, ""},
    {"hosts_avoid_tls", cfg_opt_hostnames, CFG_T(hosts_avoid_tls), 0, 0, 0, ""},
    {"tls_verify_hosts", cfg_opt_hostnames, CFG_T(tls_verify_hosts), 0, 0, 0, ""},
    {"tls_try_verify_hosts", cfg_opt_hostnames, CFG_T(tls_try_verify_hosts), 0, 0, 0, "*"},
    {"tls_verify_cert_hostnames", cfg_opt_hostnames, CFG_T(tls_verify_cert_hostnames), 0, 0, 0,
     "*"},
    {"hosts_try_dane", cfg_opt_hostnames, CFG_T(hosts_try_dane), 0, 0, 0, ""},
    {"hosts_require_dane", cfg_opt_hostnames, CFG_T(hosts_require_dane), 0, 0, 0, ""},
    {"hosts_request_ocsp", cfg_opt_hostnames, CFG_T(hosts_request_ocsp), 0, 0, 0, "*"},
    {"hosts_require_ocsp", cfg_opt_hostnames, CFG_T(hosts_require_ocsp), 0, 0, 0, ""},
    {"tls_verify_certificates", cfg_opt_str, CFG_T(tls_verify_certificates), 0, 1, 0, NULL},
    {"tls_crl", cfg_opt_str, CFG_T(tls_crl), 0, 1, 0, NULL},
    {"tls_certificate", cfg_opt_str, CFG_T(tls_certificate), 0, 1, 0, NULL},
    {"tls_privatekey", cfg_opt_str, CFG_T(tls_privatekey), 0, 1, 0, NULL},
    /* PRDR client (seed "PRDR support") */
    {"hosts_try_prdr", cfg_opt_hostnames, CFG_T(hosts_try_prdr), 0, 0, 0, "*"},
    /* DKIM signing (engine/dkim_sign.c) */
    {"dkim_domain", cfg_opt_expand, CFG_T(dkim_domain), 0, 0, 0, NULL},
    {"dkim_selector", cfg_opt_expand, CFG_T(dkim_selector), 0, 0, 0, NULL},
    {"dkim_private_key", cfg_opt_expand, CFG_T(dkim_private_key), 0, 0, 0, NULL},
    {"dkim_canon", cfg_opt_expand, CFG_T(dkim_canon), 0, 0, 0, NULL},
    {"dkim_sign_headers", cfg_opt_expand, CFG_T(dkim_sign_headers), 0, 0, 0, NULL},
    {"dkim_hash", cfg_opt_expand, CFG_T(dkim_hash), 0, 0, 0, NULL},
    /* queuefile: its directory, and Exim's generic transport options it ignores */
    {"directory", cfg_opt_str, CFG_T(directory), 0, 1, 0, NULL},
#define CFG_T_IGNORED(name)                                                                        \
    {                                                                                              \
        name, cfg_opt_ignored, 0, 0, 0, 0, NULL                                                    \
    }
#define CFG_T_IGNORED_BOOL(name)                                                                   \
    {                                                                                              \
        name, cfg_opt_bool, CFG_T(ignored_bool), 0, 0, 0, NULL                                     \
    }
    CFG_T_IGNORED_BOOL("body_only"),
    CFG_T_IGNORED("current_directory"),
    CFG_T_IGNORED_BOOL("disable_logging"),
    CFG_T_IGNORED("debug_print"),
    CFG_T_IGNORED_BOOL("delivery_date_add"),
    CFG_T_IGNORED_BOOL("envelope_to_add"),
    CFG_T_IGNORED("group"),
    CFG_T_IGNORED("headers_add"),
    CFG_T_IGNORED_BOOL("headers_only"),
    CFG_T_IGNORED("headers_remove"),
    CFG_T_IGNORED("headers_rewrite"),
    CFG_T_IGNORED("home_directory"),
    CFG_T_IGNORED_BOOL("initgroups"),
    CFG_T_IGNORED("max_parallel"),
    CFG_T_IGNORED("message_size_limit"),
    CFG_T_IGNORED_BOOL("rcpt_include_affixes"),
    CFG_T_IGNORED_BOOL("retry_use_local_part"),
    CFG_T_IGNORED("return_path"),
    CFG_T_IGNORED_BOOL("return_path_add"),
    CFG_T_IGNORED("shadow_condition"),
    CFG_T_IGNORED("shadow_transport"),
    CFG_T_IGNORED("transport_filter"),
    CFG_T_IGNORED("transport_filter_timeout"),
    CFG_T_IGNORED("user"),
    {NULL, NULL, 0, 0, 0, 0, NULL},
};

const struct cfg_optdef cfg_destination_opts[] = {
    {"max_connections", cfg_opt_int, CFG_D(max_connections), 0, 1, 100000, "20"},
    {"max_messages_per_connection", cfg_opt_int, CFG_D(max_messages_per_connection), 0, 1, 10000000,
     "100"},
    {"max_message_rate", cfg_opt_rate, 0, 0, 0, 0, NULL},
    {"connection_idle_timeout", cfg_opt_time, CFG_D(connection_idle_timeout_s), 0, 0, INT_MAX,
     "5s"},
    {"connect_timeout", cfg_opt_time, CFG_D(connect_timeout_s), 0, 1, INT_MAX, NULL},
    {NULL, NULL, 0, 0, 0, 0, NULL},
};

/* cfg_find_opt - an option by name in a table, or NULL */
const struct cfg_optdef *
cfg_find_opt(const struct cfg_optdef *t, const char *name)
{
    for (; t != NULL && t->name != NULL; t++)
        if (strcmp(t->name, name) == 0)
            return t;
    return NULL;
}

/* cfg_apply_defaults - run every default through its setter */
int
cfg_apply_defaults(struct pctx *p, const struct cfg_optdef *t, void *base)
{
    int rc = 0;
    p->applying_defaults = 1;
    for (; rc == 0 && t->name != NULL; t++)
        if (t->dflt != NULL && t->set(p, t, base, t->dflt) < 0)
            rc = -1;
    p->applying_defaults = 0;
    return rc;
}
