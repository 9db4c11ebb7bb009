/*
 * tls.h - OpenSSL for spate: library set-up, the outbound TLS client
 *         (STARTTLS connections driven by an event loop), certificate name
 *         checks, DANE (RFC 7672, through OpenSSL's own DANE API) and OCSP
 *         stapling checks.
 *
 * Objects
 *   struct tls_client_ctx  one per transport configuration: CA store
 *       (tls_verify_certificates, or the system default), CRLs (tls_crl),
 *       client certificate (tls_certificate / tls_privatekey) and a TLS
 *       session cache keyed by destination. Shared by all worker threads.
 *   struct tls_conn  one TLS connection over a connected, non-blocking fd
 *       owned by the caller. Used only by the thread that made it.
 *
 * Thread rules: tls_init() once before threads start. A tls_client_ctx may
 * be used from any thread (its session cache has a lock); free it after
 * every connection made from it is freed. A tls_conn belongs to one thread.
 *
 * Non-blocking use (from an epoll loop)
 *   tls_conn_handshake/read/write never block. TLS_WANT_READ / TLS_WANT_WRITE
 *   mean: call the same function again once the fd is readable / writable
 *   (a read may need to write, and a write to read). After a read returned
 *   data, call it again until TLS_WANT_READ: OpenSSL may hold decrypted bytes
 *   that epoll cannot see (tls_conn_pending()). Writes may be partial; with
 *   TLS_WANT_*, retry with the same bytes (the buffer may move).
 *
 * Verification policy (per connection, struct tls_conn_params)
 *   No DANE (p->dane == 0):
 *     TLS_VERIFY_NONE     encrypt only; the chain is still checked so that
 *                         the outcome can be logged (CV=yes/no).
 *     TLS_VERIFY_TRY      the same (tls_try_verify_hosts): never fails.
 *     TLS_VERIFY_REQUIRE  tls_verify_hosts: the handshake fails unless the
 *                         chain verifies to the CA store, is not revoked by
 *                         a loaded CRL, and - when p->nnames > 0 - one of the
 *                         names matches the certificate.
 *     p->names are the tls_verify_cert_hostnames names for this host
 *     (normally the host name); none: no name check. Name rule (seed
 *     "Certificate name checking"): DNS names of subjectAltName, else the
 *     Subject CN; case-insensitive; a wildcard only as the whole first label
 *     of a name with three or more labels, matching exactly one label. This
 *     is OpenSSL's X509_check_host with X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS;
 *     tls_name_matches() states the same rule for one pattern.
 *   DANE (p->dane == 1: the host's TLSA RRset was DNSSEC-secure):
 *     verify mode, CA store, CRLs and names from the transport are ignored
 *     (seed "DANE"). Usages 0/1 and unusable records are skipped (RFC 7672
 *     §3.1.3). At least one usable record: the handshake fails unless the
 *     chain matches a record (no fallback). Usage 3 (DANE-EE): no name or
 *     expiry checks (§3.1.1). Usage 2 (DANE-TA): the leaf must carry one of
 *     p->names - the reference names of §3.2.2: the TLSA base domain first,
 *     then the MX host name and its CNAME expansion, and the next-hop domain
 *     if the MX lookup was secure. No usable record: TLS without
 *     authentication (§2.2); the caller must still refuse clear text.
 *   SNI: p->sni (the base domain under DANE, §8.1); NULL sends none.
 *
 * OCSP (p->ocsp_request / p->ocsp_require; hosts_request_ocsp and
 * hosts_require_ocsp): the staple is requested; when it arrives it is checked:
 * a successful response, signed by a responder that verifies (through the CA
 * store, or through the verified chain, so a DANE-TA anchor or an intermediate
 * carried in the staple works), with a single response for this leaf and its
 * issuer (OCSP_cert_id), status good, now within thisUpdate - 5 min and
 * nextUpdate + 5 min, and a nextUpdate present. With ocsp_require anything but
 * TLS_OCSP_GOOD fails the handshake; otherwise the outcome is only reported.
 * Connections that require OCSP never resume a session (a fresh staple is
 * needed).
 *
 * Session cache: when p->session_key is set, the session from the last
 * connection with the same key, the same names, verification policy and TLSA
 * set is offered; new sessions are stored after a successful handshake.
 * The verification outcome of the original handshake is kept with the
 * session and reported again on resumption (info.resumed).
 */
#ifndef SPATE_TLS_TLS_H
#define SPATE_TLS_TLS_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* tls_init - initialise OpenSSL; 0 or -1 */
int tls_init(void);
/* tls_version_text - the OpenSSL version spate runs with (static text) */
const char *tls_version_text(void);

/* Results of the connection calls. */
enum {
    TLS_OK = 0,
    TLS_ERR = -1,        /* failed: see tls_conn_error() */
    TLS_WANT_READ = -2,  /* retry when the fd is readable */
    TLS_WANT_WRITE = -3, /* retry when the fd is writable */
};

enum tls_verify_mode { TLS_VERIFY_NONE = 0, TLS_VERIFY_TRY, TLS_VERIFY_REQUIRE };

/* Peer verification outcome, the log's CV= field. */
enum tls_cv { TLS_CV_NO = 0, TLS_CV_YES, TLS_CV_DANE };

enum tls_ocsp {
    TLS_OCSP_NOT_REQUESTED = 0,
    TLS_OCSP_GOOD,
    TLS_OCSP_REVOKED,
    TLS_OCSP_MISSING,       /* requested, nothing stapled */
    TLS_OCSP_BAD_SIGNATURE, /* responder not verifiable, or a malformed response */
    TLS_OCSP_NOT_BOUND,     /* no good status for this certificate (or status unknown) */
    TLS_OCSP_EXPIRED,       /* outside thisUpdate/nextUpdate, or no nextUpdate */
};

struct tls_client_opts {
    const char *verify_certificates; /* CA file or directory; NULL or "system": the default */
    const char *crl;                 /* CRL file or directory (PEM); NULL: none */
    const char *certificate;         /* client certificate chain (PEM); NULL: none */
    const char *privatekey;          /* its key; NULL: in the certificate file */
    size_t session_cache_max;        /* sessions kept; 0: 10000 */
};

/* One TLSA record (usage, selector, matching type, association data). */
struct tls_tlsa {
    uint8_t usage, selector, mtype;
    size_t len;
    const uint8_t *data;
};

struct tls_conn_params {
    const char *sni;          /* server name to send, or NULL */
    const char *const *names; /* names to check (see above); may be NULL */
    size_t nnames;
    enum tls_verify_mode verify; /* ignored under DANE */
    int dane;                    /* the TLSA RRset below is DNSSEC-secure */
    const struct tls_tlsa *tlsa; /* all its records, usable or not */
    size_t ntlsa;
    int ocsp_request;        /* ask for a stapled OCSP response */
    int ocsp_require;        /* and fail without a good one (implies ocsp_request) */
    const char *session_key; /* destination key for resumption; NULL: none */
    /* cert_hook - called from inside certificate verification (OpenSSL's
     * verify callback) once for each certificate of the chain as it passes
     * its checks, from the top (depth n, the trust anchor when the chain was
     * built to one) down to the leaf (depth 0), with that certificate in PEM.
     * Non-zero refuses verification: the chain counts as unverified (CV=no),
     * verification stops there (lower depths are not offered) and the
     * handshake fails when verification was needed (TLS_VERIFY_REQUIRE, or
     * DANE - with or without usable records: a refusal under DANE always
     * fails). A certificate that fails a check is not offered under
     * TLS_VERIFY_REQUIRE / DANE (the handshake fails anyway); under
     * TLS_VERIFY_NONE / TRY the failure is noted (CV=no) and the remaining
     * depths are still offered. A resumed session is not verified again, so
     * the hook is not called. Runs on the thread driving the handshake: it
     * must not block for long. NULL: no hook. */
    int (*cert_hook)(void *arg, int depth, const char *pem);
    void *cert_arg;
};

/* What the handshake established (valid after TLS_OK from the handshake). */
struct tls_info {
    char version[16];    /* "TLS1.3" */
    char cipher[64];     /* "TLS_AES_256_GCM_SHA384" */
    int bits;            /* 256 */
    char x[96];          /* the log's X= value: "TLS1.3:TLS_AES_256_GCM_SHA384:256" */
    enum tls_cv cv;      /* CV=yes|no|dane */
    int dane;            /* $tls_out_dane: verified through DANE */
    unsigned tlsa_usage; /* $tls_out_tlsa_usage: 1 << usage of each usable record loaded */
    int dane_depth;      /* depth of the matching TLSA (0: leaf), -1 if none */
    enum tls_ocsp ocsp;
    int resumed;       /* the session was resumed from the cache */
    long verify_error; /* X509_V_* of the chain check (0 = ok) */
    char verify_text[128];
    char peer_subject[256]; /* leaf subject (RFC 2253), "" if none */
    char peer_issuer[256];
};

struct tls_client_ctx;
struct tls_conn;

/* tls_client_ctx_new - a client context; NULL with err set (bad CA, CRL,
 * certificate or key file) */
struct tls_client_ctx *tls_client_ctx_new(const struct tls_client_opts *o, char *err,
                                          size_t errlen);
/* tls_client_ctx_free - release it (NULL is harmless) */
void tls_client_ctx_free(struct tls_client_ctx *ctx);
/* tls_session_cache_size - sessions held now */
size_t tls_session_cache_size(struct tls_client_ctx *ctx);

/* tls_conn_new - a client connection over fd (connected, non-blocking; the
 * caller keeps ownership of fd). p and what it points to are copied. NULL on
 * failure (no memory, or OpenSSL refused the DANE/SNI/name set-up). */
struct tls_conn *tls_conn_new(struct tls_client_ctx *ctx, int fd, const struct tls_conn_params *p);
/* tls_conn_handshake - advance the handshake: TLS_OK, TLS_WANT_*, TLS_ERR */
int tls_conn_handshake(struct tls_conn *c);
/* tls_conn_read - bytes read (> 0), 0 at the peer's close, or TLS_WANT_* / TLS_ERR */
ssize_t tls_conn_read(struct tls_conn *c, void *buf, size_t len);
/* tls_conn_write - bytes written (> 0), or TLS_WANT_* / TLS_ERR */
ssize_t tls_conn_write(struct tls_conn *c, const void *buf, size_t len);
/* tls_conn_pending - decrypted bytes buffered inside OpenSSL */
size_t tls_conn_pending(const struct tls_conn *c);
/* tls_conn_shutdown - send close_notify (one try, never blocks); 0 or TLS_ERR */
int tls_conn_shutdown(struct tls_conn *c);
/* tls_conn_free - release the connection (does not close the fd) */
void tls_conn_free(struct tls_conn *c);
/* tls_conn_error - why the last call failed, for logs ("" if it did not) */
const char *tls_conn_error(const struct tls_conn *c);
/* tls_conn_ocsp - the OCSP outcome so far, also after a failed handshake */
enum tls_ocsp tls_conn_ocsp(const struct tls_conn *c);
/* tls_conn_info - the handshake's outcome; 0, or -1 before the handshake is done */
int tls_conn_info(const struct tls_conn *c, struct tls_info *info);
/* tls_conn_dane_usable - usable TLSA records loaded (0: no DANE authentication) */
size_t tls_conn_dane_usable(const struct tls_conn *c);
/* tls_conn_peer_chain_len - certificates the peer sent (for tls:cert events) */
size_t tls_conn_peer_chain_len(const struct tls_conn *c);
/* tls_conn_peer_cert_pem - the peer's certificate (the leaf) in PEM,
 * malloc'd; NULL when none (or no memory) */
char *tls_conn_peer_cert_pem(const struct tls_conn *c);
/* tls_conn_peer_cert_der - DER of the peer's certificate at depth (0 = leaf),
 * malloc'd into *der; its length, or -1 */
ssize_t tls_conn_peer_cert_der(const struct tls_conn *c, size_t depth, unsigned char **der);

/* tls_name_matches - does certificate name pattern match host? 1 or 0 (see
 * the rule above; no trailing-dot or IDNA conversions) */
int tls_name_matches(const char *pattern, const char *host);
/* tls_cv_text / tls_ocsp_text - names for logs ("yes", "no", "dane"; "good", ...) */
const char *tls_cv_text(enum tls_cv cv);
const char *tls_ocsp_text(enum tls_ocsp o);

/* ------------------------------------------------------------------------
 * Server side: inbound STARTTLS (the SMTP listener).
 *
 * struct tls_server_ctx  one per listener configuration: the server's
 *     certificates (several: e.g. RSA and ECDSA, each with its key; OpenSSL
 *     picks the one the client's signature algorithms allow), the CA store for
 *     client certificates, cipher list, minimum protocol version and the OCSP
 *     staple. Shared by all worker threads (read-only, except the staple
 *     cache, which has a lock).
 * Lifetime: the context lives inside its SSL_CTX, which every connection
 *     holds a reference to; tls_server_ctx_free() drops the caller's
 *     reference and the memory goes when the last connection made from it is
 *     freed. So on SIGHUP the caller makes a new context (certificates, keys
 *     and CAs are read again), swaps it in for new connections and frees the
 *     old one at once: connections in progress keep working on the old one.
 * A server connection is a struct tls_conn like a client one: drive it with
 * tls_conn_handshake/read/write/shutdown/free exactly as above; after the
 * handshake tls_conn_info() gives X= (info.x, the same "TLS1.3:CIPHER:BITS"
 * form as the client's => lines), CV= (info.cv: yes only for a client
 * certificate that verified, else no) and info.peer_subject, and
 * tls_conn_server_info() the rest. tls_conn_peer_cert_pem() is the client's
 * certificate. (tls_conn_peer_chain_len / _der count only the certificates
 * after the leaf on a server connection: OpenSSL's server-side chain leaves
 * the leaf out.)
 *
 * Client certificates (the verify argument of tls_conn_new_server):
 *   TLS_VERIFY_NONE     none is requested (CV=no).
 *   TLS_VERIFY_TRY      tls_try_verify_hosts: one is requested; none, or one
 *                       that does not verify, only gives CV=no.
 *   TLS_VERIFY_REQUIRE  tls_verify_hosts: the handshake fails unless the
 *                       client sends one that verifies to the CA store
 *                       (tls_verify_certificates; NULL: the system store).
 *   No name check is made on a client certificate.
 *   on_cert (the tls:cert event): called from certificate verification once
 *   for each certificate of the client's chain that passed its checks, from
 *   the top down to the client's own (depth 0), with its PEM and its subject
 *   (RFC 2253). Non-zero fails the handshake (under TRY too). Not called
 *   under TLS_VERIFY_NONE, when the client sends no certificate, or on a
 *   resumed session. Runs on the thread driving the handshake.
 *   Sessions are resumable only on connections with the same verify mode.
 *
 * OCSP stapling (seed "OCSP Stapling support", RFC 6066 §8, RFC 6960):
 *   ocsp_file holds one DER OCSP response. When a client asks for status,
 *   the file is looked at again (stat(); it is read and parsed again only
 *   when its device, inode, size or mtime changed, so an atomic rename of a
 *   new file is served from the next connection, no reload needed). It is
 *   stapled only when: it parses; its status is successful; it is a basic
 *   response holding exactly one single response, whose CertID (with the
 *   hash the responder chose) is that of the certificate being served - with
 *   several certificates, only that one is stapled with; it is signed by that
 *   certificate's issuer, or by a responder certificate the issuer signed
 *   with the OCSP-signing EKU (OCSP_basic_verify, the issuer as the only
 *   trust anchor); the status is good; thisUpdate is not more than 5 minutes
 *   in the future; nextUpdate is present and in the future. The issuer is
 *   the first certificate after the leaf in the certificate file that issued
 *   it, else one found in tls_verify_certificates. Otherwise nothing is
 *   stapled and one warning is logged saying why - once per certificate for
 *   each version of the file (and again when the reason changes, e.g. a
 *   response that was good expires).
 *   struct tls_server_info.ocsp ($tls_in_ocsp) on the server:
 *     0 NOT_REQUESTED  the client did not ask (or the session was resumed)
 *     1 NOT_RESPONDING asked; no tls_ocsp_file, or it cannot be read
 *     3 FAILED         asked; the file holds a response that failed the
 *                      checks above, nothing stapled
 *     4 VERIFIED       asked, and a response that passed them was stapled
 *     (2, NOT_VERIFIED, is never set by the server)
 * ---------------------------------------------------------------------- */

enum tls_in_ocsp {
    TLS_IN_OCSP_NOT_REQUESTED = 0,
    TLS_IN_OCSP_NOT_RESPONDING = 1,
    TLS_IN_OCSP_NOT_VERIFIED = 2,
    TLS_IN_OCSP_FAILED = 3,
    TLS_IN_OCSP_VERIFIED = 4,
};

struct tls_server_params {
    const char *const *certs; /* PEM files: the certificate, then its chain */
    const char *const *keys;  /* its key, same index; NULL (or keys NULL): in the cert file */
    size_t ncerts;            /* >= 1 */
    const char *ciphers;      /* tls_require_ciphers: OpenSSL list for TLS <= 1.2; NULL default */
    const char *min_version;  /* "TLSv1", "TLSv1.1", "TLSv1.2" (NULL: this), "TLSv1.3" */
    const char *verify_certificates; /* CAs for client certificates, file or directory;
                                        NULL or "system": the system store */
    const char *ocsp_file;           /* tls_ocsp_file: DER OCSP response; NULL none */
    /* on_cert - the tls:cert hook (see above); NULL none. arg: on_cert_arg,
     * or the connection's own (tls_conn_set_cert_arg) */
    int (*on_cert)(void *arg, int depth, const char *pem, const char *subject);
    void *on_cert_arg;
};

/* What a server handshake established besides struct tls_info. */
struct tls_server_info {
    char sni[256];         /* $tls_in_sni: the server name the client sent; "" none
                              (or one with characters outside [A-Za-z0-9._-]) */
    int peer_cert;         /* the client presented a certificate */
    int peer_verified;     /* ... and it verified (CV=yes) */
    char peer_dn[256];     /* $tls_in_peerdn: its subject (RFC 2253); "" none */
    enum tls_in_ocsp ocsp; /* $tls_in_ocsp, see above */
};

struct tls_server_ctx;

/* tls_server_ctx_new - a server context; NULL with err set (unreadable or
 * mismatched certificate/key, bad CA path, no cipher matched, unknown
 * min_version). Each certificate's key must match it. */
struct tls_server_ctx *tls_server_ctx_new(const struct tls_server_params *p, char *err,
                                          size_t errlen);
/* tls_server_ctx_free - drop the caller's reference (see Lifetime); NULL harmless */
void tls_server_ctx_free(struct tls_server_ctx *c);
/* tls_conn_new_server - a server connection over an accepted, non-blocking
 * fd (the caller keeps it); verify: enum tls_verify_mode (0 none, 1 try,
 * 2 require). NULL with err set. */
struct tls_conn *tls_conn_new_server(struct tls_server_ctx *c, int fd, int verify, char *err,
                                     size_t errlen);
/* tls_conn_set_cert_arg - the argument on_cert gets for this connection */
void tls_conn_set_cert_arg(struct tls_conn *c, void *arg);
/* tls_conn_server_info - SNI, client certificate, OCSP of a server
 * connection; 0, or -1 before the handshake is done or on a client one */
int tls_conn_server_info(const struct tls_conn *c, struct tls_server_info *si);
/* tls_in_ocsp_text - "not requested", "not responding", ... for logs */
const char *tls_in_ocsp_text(enum tls_in_ocsp o);

#endif
