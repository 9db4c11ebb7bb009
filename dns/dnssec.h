/*
 * dnssec.h - DNSSEC-validated lookups through libunbound, driven by an engine
 *            loop, and the per-host DANE decision of RFC 7672 §2.2.
 *
 * What it is for
 *   Whether DANE applies to a host depends on the DNSSEC status of its MX,
 *   A/AAAA and TLSA answers, so for destinations that may use DANE
 *   (hosts_try_dane / hosts_require_dane) all three go through this resolver;
 *   dns.h (c-ares, not validating) serves everything else.
 *
 * Threads and the loop
 *   One dnssec_resolver per event loop, used only on that loop's thread
 *   (create it there, or before the loop runs from the thread that will run
 *   it). It owns one libunbound context in thread mode (one background
 *   validator thread); the context's answer pipe (ub_fd) is watched with
 *   eng_io and drained with ub_process, so answers and callbacks arrive on the
 *   loop thread and nothing blocks it. Each lookup also has a loop timer
 *   (opts.timeout_ms): when it fires the query is cancelled and answered
 *   DNSSEC_ERROR. Callbacks never run inside the dnssec_*() call that started
 *   the lookup.
 *
 * Configuration (before the first lookup; fixed afterwards)
 *   servers    where to ask: dns_servers. n == 0 means /etc/resolv.conf.
 *              Non-default ports are passed to unbound as "ip@port".
 *   stub       0: the servers are recursive resolvers (ub_ctx_set_fwd).
 *              1: they are authoritative for opts.zones (ub_ctx_set_stub for
 *              each zone; "." when none is given) - test beds with nsd.
 *   zones      zones that unbound must not answer from its built-in local
 *              zones (RFC 6761 "test." and friends are static NXDOMAIN in
 *              unbound): each is made "transparent"; in stub mode each also
 *              gets a stub to the servers.
 *   trust_anchor_file  dns_trust_anchor_file: DS or DNSKEY records in zone
 *              file format (ub_ctx_add_ta_file). NULL: no anchor, so every
 *              answer is at best insecure.
 *   Always set: do-not-query-localhost: no (servers on loopback work).
 *
 * Security of an answer (enum dnssec_sec)
 *   DNSSEC_SECURE    validated; includes proven NXDOMAIN / NODATA
 *   DNSSEC_INSECURE  provably unsigned (no DS on the way down), or no anchor
 *   DNSSEC_BOGUS     validation failed. unbound returns these with rcode 0 and
 *                    havedata 1; the data is NOT handed out (n == 0).
 *   DNSSEC_ERROR     SERVFAIL, REFUSED, timeout, or a libunbound error
 *   RFC 7672 §2.1.1: BOGUS and ERROR are both "lookup failed": never treat
 *   them as "no records".
 *
 * The DANE decision (dnssec_dane_lookup, RFC 7672 §2.2)
 *   1. A and AAAA for host (in parallel). Either BOGUS or ERROR, or no address
 *      at all: DANE_FAIL. Either INSECURE: DANE_INSECURE (no TLSA lookup,
 *      §2.2.2), with the addresses.
 *   2. Secure: TLSA _PORT._tcp.<canon> where canon is the CNAME-expanded name;
 *      if that is proven absent and canon != host, _PORT._tcp.<host> (§2.2.2).
 *      A CNAME at the TLSA name itself does not change the base domain
 *      (§2.2.3).
 *   3. TLSA BOGUS or ERROR: DANE_FAIL (skip the host / defer, §2.2).
 *      TLSA INSECURE or proven absent: DANE_INSECURE (normal TLS policy).
 *      Secure with at least one usable record: DANE_SECURE_USABLE.
 *      Secure with none usable: DANE_SECURE_NONE_USABLE (TLS required, no
 *      authentication, §2.2).
 *   Usable (§3.1.3, Postfix, Exim): usage 2 (DANE-TA) or 3 (DANE-EE), selector
 *   0 or 1, matching type 0 (non-empty), 1 (32 octets) or 2 (64 octets).
 *   The caller adds the next-hop domain to the reference names for usage 2
 *   only when the MX lookup itself was secure (§3.2.2).
 *
 * Return codes: the dnssec_*() calls return 0 (the callback will come) or a
 * negative errno (-EINVAL bad name or type, -ESHUTDOWN while the resolver is
 * being freed, -ENOMEM); then no callback comes.
 */
#ifndef SPATE_DNS_DNSSEC_H
#define SPATE_DNS_DNSSEC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "base/loop.h"
#include "base/sockaddr.h"

enum dnssec_sec { DNSSEC_SECURE = 0, DNSSEC_INSECURE, DNSSEC_BOGUS, DNSSEC_ERROR };

#define DNSSEC_T_A 1
#define DNSSEC_T_MX 15
#define DNSSEC_T_AAAA 28
#define DNSSEC_T_TLSA 52

struct dnssec_tlsa {
    uint8_t usage, selector, mtype;
    uint16_t len;
    uint8_t *data; /* the certificate association data, len octets */
};

struct dnssec_mx {
    uint16_t pref;
    char name[256]; /* lower case, no trailing dot; "" for the root (null MX) */
};

/* One validated answer. */
struct dnssec_answer {
    enum dnssec_sec sec;
    int type;                       /* DNSSEC_T_* asked for */
    int rcode;                      /* as unbound reported it (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN) */
    int nxdomain;                   /* no data because the name does not exist */
    int nodata;                     /* no data, name exists (or NXDOMAIN: both mean "absent") */
    uint32_t ttl;                   /* seconds; 0 when unknown */
    char qname[256];                /* asked for, normalised */
    char canonname[256];            /* after CNAMEs; equal to qname when there were none */
    char why[512];                  /* text for logs when sec is BOGUS or ERROR */
    size_t n;                       /* records of the asked type (0 when BOGUS/ERROR) */
    struct dnssec_mx *mx;           /* DNSSEC_T_MX */
    struct sockaddr_storage *addrs; /* DNSSEC_T_A / DNSSEC_T_AAAA, port 0 */
    struct dnssec_tlsa *tlsa;       /* DNSSEC_T_TLSA */
};

enum dane_status {
    DANE_SECURE_USABLE = 0,  /* DANE-authenticated TLS mandatory, no fallback */
    DANE_SECURE_NONE_USABLE, /* TLS mandatory, no authentication */
    DANE_INSECURE,           /* DANE does not apply: the ordinary TLS policy */
    DANE_FAIL                /* bogus or lookup error: skip the host / defer */
};

/* The outcome of dnssec_dane_lookup(). */
struct dnssec_dane {
    enum dane_status status;
    char why[640];   /* for logs: what was insecure / bogus / failed */
    char host[256];  /* the name looked up (normalised) */
    char canon[256]; /* host after CNAME expansion (== host when none) */
    char base[256];  /* TLSA base domain: SNI and first reference name */
    int addr_secure; /* the A/AAAA answers were DNSSEC-secure */
    size_t naddr;
    struct sockaddr_storage *addrs; /* IPv4 first, then IPv6, port 0 */
    size_t ntlsa;                   /* every record of the secure TLSA RRset */
    struct dnssec_tlsa *tlsa;
    size_t nusable;      /* how many of them are usable (see above) */
    unsigned usage_bits; /* 1 << usage of each usable record ($tls_out_tlsa_usage) */
    uint32_t ttl;        /* smallest TTL of the answers used */
};

typedef struct dnssec_resolver dnssec_resolver;

/* The callbacks own what they are given: free with dnssec_answer_free() /
 * dnssec_dane_free(). Called on the loop thread. */
typedef void (*dnssec_cb)(struct dnssec_answer *a, void *arg);
typedef void (*dnssec_dane_cb)(struct dnssec_dane *d, void *arg);

struct dnssec_opts {
    const struct net_addr *servers; /* dns_servers; NULL/0: /etc/resolv.conf */
    size_t nservers;
    const char *trust_anchor_file; /* dns_trust_anchor_file; NULL: none */
    int stub;                      /* 1: servers are authoritative (see above) */
    const char *const *zones;      /* see above; may be NULL */
    size_t nzones;
    int timeout_ms; /* per lookup; 0: 10000 */
};

/* dnssec_resolver_new - a validating resolver on loop; NULL with err set */
dnssec_resolver *dnssec_resolver_new(eng_loop *loop, const struct dnssec_opts *o, char *err,
                                     size_t errlen);
/* dnssec_resolver_free - cancel what is pending and release everything. Every
 * lookup not yet answered gets its callback (DNSSEC_ERROR / DANE_FAIL,
 * "cancelled") before this returns. Not from inside one of its callbacks. */
void dnssec_resolver_free(dnssec_resolver *r);

/* dnssec_resolve - one lookup of name (a host name; a trailing dot is
 * allowed) for type DNSSEC_T_A, _AAAA, _MX or _TLSA */
int dnssec_resolve(dnssec_resolver *r, const char *name, int type, dnssec_cb cb, void *arg);
/* dnssec_resolve_tlsa - TLSA at _PORT._tcp.HOST */
int dnssec_resolve_tlsa(dnssec_resolver *r, const char *host, uint16_t port, dnssec_cb cb,
                        void *arg);
/* dnssec_dane_lookup - the whole DANE decision for one MX host (see above) */
int dnssec_dane_lookup(dnssec_resolver *r, const char *host, uint16_t port, dnssec_dane_cb cb,
                       void *arg);

void dnssec_answer_free(struct dnssec_answer *a);
void dnssec_dane_free(struct dnssec_dane *d);

/* dnssec_tlsa_usable - is this record usable for SMTP DANE? 1 or 0 */
int dnssec_tlsa_usable(const struct dnssec_tlsa *t);
/* dnssec_sec_text / dane_status_text - names for logs */
const char *dnssec_sec_text(enum dnssec_sec s);
const char *dane_status_text(enum dane_status s);
/* dnssec_pending - lookups in flight (for tests and metrics) */
size_t dnssec_pending(const dnssec_resolver *r);

/* ---- internals shared with the unit tests and fuzz targets ---- */

/* dnssec__rdata_parse - fill a's records from unbound's rdata items (data[i],
 * len[i], NULL-terminated data); malformed items are skipped; 0 or -ENOMEM */
int dnssec__rdata_parse(struct dnssec_answer *a, char *const *data, const int *len);

#endif
