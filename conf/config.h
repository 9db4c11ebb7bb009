/*
 * config.h - the configuration: Exim-style syntax parsed once into an
 *            immutable structure.
 *
 * Syntax (SPEC §2): "name = value" main options; '#' comments (whole lines);
 * a trailing '\' continues a line (leading white space of the next line is
 * dropped); macros "NAME = value" whose name starts with an upper-case letter,
 * substituted in later lines wherever NAME appears as a whole word;
 * "hostlist NAME = ..." / "domainlist NAME = ..." named lists, referred to as
 * "+NAME"; "begin routers|transports|retry|acl|destinations" sections; in the
 * driver sections an instance starts with "name:" and is followed by its
 * options. Boolean options may be written "name", "no_name", "name = true".
 * Times use Exim's units: 30s, 5m, 2h, 1d, 1w, combined as 1h30m; a bare number is
 * seconds. Sizes: 10M, 512K, 1G or bytes.
 *
 * Every error stops the load with "FILE:LINE: why" in err (unknown option,
 * bad value, option in the wrong section, unknown driver, a router naming an
 * unknown transport, duplicate instance names, unknown section).
 *
 * Lists follow Exim: items separated by ':' with "::" meaning a literal colon,
 * and a leading "<X" choosing X as the separator (e.g. "<; 127.0.0.1 ; ::1").
 * Address options that take several addresses (smtp_listen, http_listen,
 * dns_servers) also accept ',' or white space between items, with IPv6
 * addresses in brackets: "[::1]:2525".
 *
 * Thread rules: a struct cfg is immutable after cfg_load_*() returns and may
 * be read from any thread. SIGHUP builds a new one and swaps the pointer.
 */
#ifndef SPATE_CONF_CONFIG_H
#define SPATE_CONF_CONFIG_H

#include <netinet/in.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/types.h>

#include "base/sockaddr.h"

struct exp_str; /* conf/expand.h */
struct acl;     /* conf/acl.h */
struct acl_set; /* conf/acl.h */

#define CFG_ERR_MAX 512

/* One item of a host list: a CIDR block, "*" (any), or "+name" (a named
 * host list, sub). An IPv4 item also matches an IPv4-mapped IPv6 client. */
struct cfg_hostlist;
struct cfg_domainitem;
struct cfg_hostitem {
    int any;    /* "*" */
    int negate; /* "!" prefix */
    int family; /* AF_INET / AF_INET6; 0 for "*" and "+name" */
    uint8_t addr[16];
    int prefix;                        /* bits */
    const struct cfg_hostlist *sub;    /* "+name": the named list */
    const struct cfg_domainitem *name; /* a host name pattern (lists that allow them) */
};
struct cfg_hostlist {
    struct cfg_hostitem *items;
    size_t n;
};

/* One item of a domain list: exact name, "*.suffix" wildcard, "*" any,
 * "+name" a named domain list, with optional "!" negation. Matching is
 * case-insensitive; names are stored lower-case without a trailing dot. */
struct cfg_domainlist;
struct cfg_domainitem {
    int negate;
    int kind;   /* 0 exact, 1 "*.suffix" (matches sub-domains only), 2 "*", 3 "+name" */
    char *name; /* kind 1: the suffix without "*."; kind 3: the list's name */
    const struct cfg_domainlist *sub; /* kind 3 */
};
struct cfg_domainlist {
    struct cfg_domainitem *items;
    size_t n;
};

/* A manualroute route_list rule: "domain-pattern host-list [options]". */
struct cfg_route_host {
    char *name;    /* host name or IP literal */
    uint16_t port; /* 0 = transport's port */
};
struct cfg_route_rule {
    struct cfg_domainitem pattern;
    struct cfg_route_host *hosts;
    size_t nhosts;
    int randomize; /* "randomize" option on the rule */
    int byname;    /* "byname": resolve hosts with the system resolver */
};

enum cfg_router_driver { CFG_ROUTER_DNSLOOKUP, CFG_ROUTER_MANUALROUTE, CFG_ROUTER_ACCEPT };

struct cfg_router {
    char *name;
    enum cfg_router_driver driver;
    struct cfg_domainlist domains; /* n == 0: all domains */
    int has_domains;
    char *transport_name;
    struct cfg_transport *transport;   /* resolved at load */
    int transport_line;                /* where "transport =" was written */
    struct cfg_route_rule *route_list; /* manualroute */
    size_t nroutes;
    int dsn_lasthop;
    const char *file;
    int line;
};

enum cfg_transport_driver { CFG_TRANSPORT_SMTP, CFG_TRANSPORT_QUEUEFILE };

struct cfg_transport {
    char *name;
    enum cfg_transport_driver driver;
    uint16_t port;                              /* default 25 */
    char *helo_data;                            /* NULL: primary_hostname */
    int connect_timeout_s;                      /* default 30 */
    int command_timeout_s;                      /* default 300 */
    int greeting_timeout_s;                     /* connected, no greeting yet: default 120 */
    int data_timeout_s;                         /* default 300 */
    int max_rcpt;                               /* recipients per transaction, default 100 */
    int hosts_avoid_pipelining_all;             /* "hosts_avoid_pipelining = *" */
    struct cfg_hostlist hosts_avoid_pipelining; /* the list as written */
    int chunking;                               /* use BDAT when offered, default 0 */
    struct exp_str *event_action; /* expanded per transport event (seed "Event Actions") */
    /* TLS (SPEC 3; seeds "DANE", "Certificate name checking", "OCSP"): host
     * lists match the host's name or address */
    struct cfg_hostlist hosts_require_tls;         /* STARTTLS is mandatory, default none */
    struct cfg_hostlist tls_verify_hosts;          /* the certificate must verify, default none */
    struct cfg_hostlist tls_try_verify_hosts;      /* verify, but deliver anyway, default * */
    struct cfg_hostlist tls_verify_cert_hostnames; /* check the name too, default * */
    struct cfg_hostlist hosts_try_dane;            /* use DANE when DNSSEC says so, default none */
    struct cfg_hostlist hosts_require_dane;        /* refuse hosts that are not DANE-secure */
    struct cfg_hostlist hosts_request_ocsp;        /* ask for a staple, default * */
    int hosts_request_ocsp_default;                /* left at its default (rewritten under DANE) */
    struct cfg_hostlist hosts_require_ocsp;        /* refuse without a good staple, default none */
    struct cfg_hostlist hosts_avoid_tls;           /* never STARTTLS, default none */
    char *tls_verify_certificates;                 /* CA file or directory, default system */
    char *tls_crl;                                 /* CRL file or directory */
    char *tls_certificate;                         /* client certificate (PEM) */
    char *tls_privatekey;                          /* its key */
    void *tls_ctx;                                 /* struct tls_client_ctx, made at start */
    const char *file;
    int line;
    /* PRDR client (seed "PRDR support") */
    struct cfg_hostlist hosts_try_prdr; /* ask for PRDR when offered, default * */
    /* DKIM signing (RFC 6376, RFC 8463; Exim's dkim_* smtp transport options), each expanded
     * per message (engine/dkim_sign.c); NULL: not set. No signing unless domain, selector and
     * key all expand to something. */
    struct exp_str *dkim_domain;       /* colon list of signing domains ($dkim_domain) */
    struct exp_str *dkim_selector;     /* colon list of selectors per domain ($dkim_selector) */
    struct exp_str *dkim_private_key;  /* PEM/base64 text, or a file when it starts with '/' */
    struct exp_str *dkim_canon;        /* "relaxed" (default), "simple", or "HDR/BODY" */
    struct exp_str *dkim_sign_headers; /* mailauth/dkim.h's list; default its built-in list */
    struct exp_str *dkim_hash;         /* "sha256" (default); sha1 is refused (RFC 8301) */
    /* queuefile (seed "Queuefile transport"; engine/queuefile.c, spool/export.c) */
    char *directory;         /* where the spool exports go: absolute, not expanded; required */
    const char *ignored_opt; /* the first generic option set that queuefile ignores, or NULL */
    int ignored_bool;        /* where the ignored boolean generic options are written */
};

/* A retry rule: "pattern error-type rule; rule; ..." (Exim's retry section). */
enum cfg_retry_kind { CFG_RETRY_F = 'F', CFG_RETRY_G = 'G', CFG_RETRY_H = 'H' };
struct cfg_retry_step {
    enum cfg_retry_kind kind;
    int cutoff_s; /* applies while time since first failure < cutoff */
    int interval_s;
    double factor; /* G and H */
};
struct cfg_retry_rule {
    struct cfg_domainitem pattern; /* matched against the recipient domain, or "*" */
    char *error;                   /* "*" or an Exim error name; only "*" acted on so far */
    struct cfg_retry_step *steps;
    size_t nsteps; /* 0: no retrying, fail at once */
};

/* A "begin destinations" entry: limits for the destinations it matches.
 * The instance name is the pattern ("*", "*.example.net", "mx.example.com"),
 * matched against the recipient domain that first reached the destination
 * and against its MX host names; the first matching entry in file order
 * wins, "*" only when no other matches. */
struct cfg_destination {
    char *name; /* the pattern as written */
    struct cfg_domainitem pattern;
    int max_connections;             /* sessions open at once, default 20 */
    int max_messages_per_connection; /* transactions before QUIT, default 100 */
    uint32_t rate_count;             /* max_message_rate "N/s", "N/m", "N/h": N ... */
    uint32_t rate_period_s;          /* ... per this many seconds; 0 = unlimited */
    int connection_idle_timeout_s;   /* idle cached session closed after, default 5s */
    int connect_timeout_s;           /* 0: the transport's connect_timeout */
    const char *file;
    int line;
};

/* spate_user / spate_group (conf/config_user.c): the account spated runs as
 * once every listener is bound and every key file read (cmd/privs.h). The
 * names are kept as written; the ids are resolved when the file is read. */
struct cfg_run_as {
    char *user;    /* NULL: spated keeps the identity it was started with */
    char *group;   /* NULL: the user's login group */
    uid_t uid;     /* valid when has_user */
    gid_t gid;     /* the group's id, else the user's login group; valid when has_user */
    int has_user;  /* spate_user was set */
    int has_group; /* spate_group was set */
};

struct cfg {
    char *primary_hostname;       /* default: gethostname() */
    char *spool_directory;        /* default "./var/spool" */
    char *log_file_path;          /* default "" = stderr only; "%s" form not supported */
    struct net_addr *smtp_listen; /* default 127.0.0.1:2525 */
    size_t n_smtp_listen;
    struct net_addr *http_listen; /* default 127.0.0.1:8025 */
    size_t n_http_listen;
    int worker_threads;                   /* default: number of cores; >= 1 */
    struct cfg_hostlist relay_from_hosts; /* default 127.0.0.0/8 and ::1 */
    struct net_addr *dns_servers;         /* empty: /etc/resolv.conf */
    size_t n_dns_servers;
    uint64_t message_size_limit;      /* bytes, default 50M; 0 = no limit */
    int smtp_accept_max;              /* concurrent inbound SMTP sessions, default 1000 */
    int smtp_receive_timeout_s;       /* default 300 */
    int smtp_accept_max_per_host;     /* inbound SMTP sessions from one IP, default 100; 0 = none */
    int smtp_first_command_timeout_s; /* silence allowed before the first command, default 10 */
    int smtp_accept_reserve;          /* of smtp_accept_max, kept for smtp_reserve_hosts, 0 */
    struct cfg_hostlist smtp_reserve_hosts;
    int smtp_enforce_sync;         /* refuse clients that talk out of turn, default 1 */
    int smtp_max_unknown_commands; /* unrecognised commands before the drop, default 3 */
    int smtp_max_synprot_errors;   /* syntax/protocol errors before the drop, default 3 */
    int recipients_max;            /* recipients per message, default 1000; 0 = no limit */
    int message_linelength_limit;  /* octets per text line without CRLF, default 998; 0 none */
    struct cfg_hostlist chunking_advertise_hosts; /* CHUNKING offered to, default * */
    struct cfg_hostlist dsn_advertise_hosts;      /* DSN offered to, default * */
    int prdr_enable;                              /* offer PRDR, default 0 */
    int http_accept_max;                          /* HTTP connections open at once, default 1000 */
    int http_accept_max_per_host;  /* HTTP connections from one IP, default 100; 0 = none */
    int http_connection_timeout_s; /* idle HTTP connection closed after, default 10 */
    int shutdown_grace_s;      /* SIGTERM: how long replies to data already sent are awaited, 30 */
    int allow_domain_literals; /* route <u@[192.0.2.1]>; refused at RCPT when 0, default 0 */
    int queue_run_interval_s;  /* how often deferred mail is re-examined, default 60 */
    int bounce_return_size_limit; /* bytes of the original returned in a notice, default 100K */
    int spool_commit_max_batch;   /* messages per group commit, default 512 */
    int queue_only;               /* spool arriving mail without delivering it, default 0 */
    char *redis_servers;          /* "host/db/password" list for ${lookup redis{...}} */
    int redis_connect_timeout_ms; /* default 1s */
    int redis_command_timeout_ms; /* default 1s */
    struct exp_str *event_action; /* expanded per main-section event */
    char *dns_trust_anchor_file;  /* DS/DNSKEY records anchoring DNSSEC validation */
    struct cfg_domainlist dnssec_stub_zones; /* zones dns_servers serve authoritatively */
    int json_log; /* also write JSON lines (log_file_path + ".json"), default 0 */
    struct cfg_hostlist proxy_required_hosts; /* reserved for the inbound issue */
    int ratelimit_store_redis; /* ratelimit_store: 0 memory (default), 1 redis (conf/ratelimit.h) */

    /* inbound TLS: STARTTLS on the SMTP listener (tls/tls.h, the server side) */
    char **tls_in_certificates;   /* tls_certificate: PEM files (a list), one per key type */
    size_t n_tls_in_certificates; /* 0: STARTTLS is not offered */
    char **tls_in_privatekeys;    /* tls_privatekey: same order; none: in the certificate files */
    size_t n_tls_in_privatekeys;  /* 0 or n_tls_in_certificates */
    struct cfg_hostlist tls_advertise_hosts;     /* STARTTLS offered to these clients, default * */
    char *tls_in_require_ciphers;                /* tls_require_ciphers: TLS <= 1.2; NULL default */
    char *tls_in_min_version;                    /* tls_min_version: default "TLSv1.2" */
    struct cfg_hostlist tls_in_verify_hosts;     /* tls_verify_hosts: client cert required */
    struct cfg_hostlist tls_in_try_verify_hosts; /* tls_try_verify_hosts: client cert requested */
    char *tls_in_verify_certificates; /* tls_verify_certificates: client CAs; NULL: system */
    char *tls_in_ocsp_file;           /* tls_ocsp_file: DER OCSP response to staple; NULL none */

    struct cfg_router *routers;
    size_t nrouters;
    struct cfg_transport *transports;
    size_t ntransports;
    struct cfg_retry_rule *retry;
    size_t nretry;
    struct cfg_destination *destinations;
    size_t ndestinations;

    /* storage kept alive for the structure's lifetime (names, strings) */
    void *arena;
    /* SMTP AUTH, server side (conf/auth.h) */
    struct cfg_auth *auths; /* "begin authenticators", file order */
    size_t nauths;
    struct cfg_hostlist auth_advertise_hosts; /* clients offered AUTH in clear text, default none */
    char *auth_failure_ratelimit; /* "LIMIT / PERIOD" of failed AUTH per client, "10 / 1h" */

    /* ACLs (conf/acl.h): every "begin acl" ACL, named lists and local_domains */
    struct acl_set *acls;
    const struct acl *acl_smtp_connect; /* NULL: not set (the server's own default) */
    const struct acl *acl_smtp_helo;
    const struct acl *acl_smtp_mail;
    const struct acl *acl_smtp_rcpt;
    const struct acl *acl_smtp_predata;
    const struct acl *acl_smtp_data;
    const struct acl *acl_smtp_data_prdr; /* also set as acl_data_smtp_prdr (the seed's name) */
    const struct acl *acl_smtp_quit;

    /* log_selector: Exim's "+name -name ..." words as CFG_LOG_* bits, default none */
    unsigned log_selector;
    /* DSN generation (engine/dsn.h; conf/config_dsn.c) */
#define CFG_DELAY_WARNING_MAX 8
    int delay_warning_s[CFG_DELAY_WARNING_MAX]; /* warn after these seconds on the queue; */
    size_t n_delay_warning; /* the last repeats; 0 entries: no warnings; default 24h */
    struct exp_str *delay_warning_condition; /* a warning is sent when it expands to true */
    int dsn_extra_info;              /* the seed's extra fields in failure reports, default 0 */
    int dsn_gather_window_ms;        /* failures within it share a report, default 2s */
    struct exp_str *bounce_message;  /* bounce_message_file: text part of failures; NULL built-in */
    struct exp_str *warn_message;    /* warn_message_file: of delay warnings */
    struct exp_str *success_message; /* success_message_file: of success reports */

    /* the admin API (api/admin.c, docs/admin-api.md) */
    struct net_addr *admin_listen; /* extra listeners serving only /api/v1/admin/; default none */
    size_t n_admin_listen;
    char *admin_token_file; /* bearer tokens ("admin TOKEN" / "read TOKEN" lines); NULL none */
    /* DMARC (mailauth/dmarc.h), kept as written */
    char *dmarc_tld_file;        /* public suffix list, default Debian's publicsuffix file */
    char *dmarc_history_file;    /* OpenDMARC history file to append to; NULL: none */
    char *dmarc_forensic_sender; /* sender of failure reports; NULL: do-not-reply@host */
    /* DKIM verification on the SMTP server (api/smtp_dkim.c) */
    const struct acl *acl_smtp_dkim; /* run once per signer of dkim_verify_signers; NULL: none */
    struct exp_str *dkim_verify_signers; /* the signers to run it for; NULL: $dkim_signers */
    /* privileges: spate_user / spate_group (cmd/privs.h) */
    struct cfg_run_as run_as;
    /* the JSON delivery log (base/log_record.h, docs/json-log.schema.json) */
    char *log_json_path;        /* one JSON record per event; "" none (default); SIGUSR1 reopens */
    uint64_t log_json_max_size; /* bytes before PATH is rotated to PATH.1; 0 never, default 0 */
    /* DKIM signing threads (engine/dkim_pool.c): 0 (default) = online CPU cores */
    int dkim_sign_threads;
    /* how long an admin action's request waits for the scheduler before the
     * 503 "did not finish in time" (the action goes on); seconds, default 30 */
    int admin_action_wait_s;
};

#define CFG_LOG_PROXY 0x1u /* +proxy: PRX=proxy-ip on "<=" lines of proxied sessions */

/* The built-in configuration used when spated runs without -c. */
extern const char cfg_default_text[];

/* cfg_load_file - parse path; overrides are "name=value" main options applied
 * after the file (as if written at its end). 0 and *out set, or -1 with err. */
int cfg_load_file(const char *path, const char *const *overrides, size_t noverrides,
                  struct cfg **out, char *err, size_t errlen);
/* cfg_load_string - the same from memory; name is used in error messages */
int cfg_load_string(const char *text, const char *name, const char *const *overrides,
                    size_t noverrides, struct cfg **out, char *err, size_t errlen);
/* cfg_free - release a configuration nobody reads any more */
void cfg_free(struct cfg *c);

/* cfg_parse_time - Exim time ("1h30m", "45s", "2d", "90") to seconds; -1 if bad */
long cfg_parse_time(const char *s);
/* cfg_parse_size - "10M", "512K", "1G", "1000" to bytes; -1 if bad */
long long cfg_parse_size(const char *s);

/* cfg_hostlist_match - does the address match the list? First matching item
 * decides (a negated match means no); when nothing matches, the answer is
 * yes only if the last item is negated (Exim: "! +list" means "all others").
 * 1 match, 0 not. */
int cfg_hostlist_match(const struct cfg_hostlist *l, const struct sockaddr *sa);
/* cfg_hostlist_match_host - for the transport lists that name hosts
 * (hosts_require_tls, tls_verify_hosts, hosts_try_dane, ...): items are
 * addresses/CIDR, "*", or host name patterns ("mx.example.com",
 * "*.example.com"); name items match name, address items match sa (either
 * may be NULL). First matching item decides. 1 match, 0 not. */
int cfg_hostlist_match_host(const struct cfg_hostlist *l, const char *name,
                            const struct sockaddr *sa);
/* cfg_domain_match - one item against a domain (case-insensitive), ignoring negate */
int cfg_domain_match(const struct cfg_domainitem *it, const char *domain);
/* cfg_domainlist_match - first matching item decides (no match: yes only if
 * the last item is negated, as for host lists); 1 match, 0 not */
int cfg_domainlist_match(const struct cfg_domainlist *l, const char *domain);

/* cfg_router_find_route - for a manualroute router, the first rule matching domain, or NULL */
const struct cfg_route_rule *cfg_router_find_route(const struct cfg_router *r, const char *domain);
/* cfg_retry_find - the first retry rule matching the domain whose error type
 * is "*", or NULL (then use retry_default_rule) */
const struct cfg_retry_rule *cfg_retry_find(const struct cfg *c, const char *domain);
/* cfg_retry_find_error - the same, also accepting rules for this error name
 * (e.g. "timeout", "rcpt_4xx"); error NULL behaves as cfg_retry_find */
const struct cfg_retry_rule *cfg_retry_find_error(const struct cfg *c, const char *domain,
                                                  const char *error);

/* cfg_destination_find - the entry for a destination reached through domain
 * with these MX host names (see struct cfg_destination), or NULL for the
 * built-in defaults */
const struct cfg_destination *cfg_destination_find(const struct cfg *c, const char *domain,
                                                   const char *const *hosts, size_t nhosts);

#endif
