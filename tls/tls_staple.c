/*
 * tls_staple.c - the OCSP response the server staples (tls_ocsp_file; seed
 *                "OCSP Stapling support", RFC 6066 §8, RFC 6960): the file
 *                cached by identity (device, inode, size, mtime), the checks
 *                that decide whether it may be stapled with the certificate
 *                being served, and the warnings when it may not. See tls.h.
 *
 * Per file version the response is parsed once and judged once per served
 * certificate (CertID, signature, status); the times are checked on every
 * connection. All of it is under one mutex: the status callback runs on any
 * worker thread. A warning is logged when a certificate's reason differs from
 * the last one logged for it in this file version.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/ocsp.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "tls/tls_int.h"

#define STAPLE_MAX (1L << 20) /* larger files are refused */
#define SKEW_S 300            /* thisUpdate may be this far in the future */

struct staple_cert {
    X509 *leaf, *issuer;
    char subject[256];
    int judged;                              /* for the file version held */
    const char *why;                         /* NULL: acceptable apart from the times */
    ASN1_GENERALIZEDTIME *thisupd, *nextupd; /* inside the held response */
    const char *warned;                      /* last reason logged in this version */
};

struct tls__staple {
    char *path;
    pthread_mutex_t lock;
    struct staple_cert *certs;
    size_t n;
    int loaded;  /* a file version (possibly "unreadable") is held */
    int have_id; /* ... and id is its identity (stat succeeded) */
    struct stat id;
    int read_errno; /* the version is "unreadable" with this errno; 0 read */
    unsigned char *der;
    long len;
    OCSP_RESPONSE *rsp;
    OCSP_BASICRESP *bs;
    const char *file_why; /* the response as a whole is unusable; NULL: parsed */
};

/* tls__staple_new - the staple state for path */
struct tls__staple *
tls__staple_new(const char *path)
{
    struct tls__staple *st = calloc(1, sizeof(*st));
    if (st == NULL || (st->path = strdup(path)) == NULL) {
        free(st);
        return NULL;
    }
    pthread_mutex_init(&st->lock, NULL);
    return st;
}

/* tls__staple_add_cert - a served certificate and its issuer */
int
tls__staple_add_cert(struct tls__staple *st, X509 *leaf, X509 *issuer)
{
    struct staple_cert *n = realloc(st->certs, (st->n + 1) * sizeof(*n)), *sc;
    if (n == NULL)
        return -1;
    st->certs = n;
    sc = memset(&n[st->n++], 0, sizeof(*sc));
    X509_up_ref(leaf);
    sc->leaf = leaf;
    if (issuer != NULL && X509_up_ref(issuer) == 1)
        sc->issuer = issuer;
    tls__name_text(X509_get_subject_name(leaf), sc->subject, sizeof(sc->subject));
    return 0;
}

/* drop_version - forget the file version held */
static void
drop_version(struct tls__staple *st)
{
    OCSP_BASICRESP_free(st->bs);
    OCSP_RESPONSE_free(st->rsp);
    OPENSSL_free(st->der);
    st->bs = NULL;
    st->rsp = NULL;
    st->der = NULL;
    st->len = 0;
    st->loaded = st->have_id = 0;
    st->read_errno = 0;
    st->file_why = NULL;
    for (size_t i = 0; i < st->n; i++) {
        st->certs[i].judged = 0;
        st->certs[i].why = NULL;
        st->certs[i].warned = NULL;
        st->certs[i].thisupd = st->certs[i].nextupd = NULL;
    }
}

/* tls__staple_free - release it */
void
tls__staple_free(struct tls__staple *st)
{
    if (st == NULL)
        return;
    drop_version(st);
    for (size_t i = 0; i < st->n; i++) {
        X509_free(st->certs[i].leaf);
        X509_free(st->certs[i].issuer);
    }
    free(st->certs);
    pthread_mutex_destroy(&st->lock);
    free(st->path);
    free(st);
}

/* same_file - the same identity as the version held? */
static int
same_file(const struct stat *a, const struct stat *b)
{
    return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* parse - the response as a whole: DER, successful, a basic response */
static void
parse(struct tls__staple *st)
{
    const unsigned char *p = st->der;
    if ((st->rsp = d2i_OCSP_RESPONSE(NULL, &p, st->len)) == NULL || p != st->der + st->len)
        st->file_why = "not a DER OCSP response";
    else if (OCSP_response_status(st->rsp) != OCSP_RESPONSE_STATUS_SUCCESSFUL)
        st->file_why = "not a successful response";
    else if ((st->bs = OCSP_response_get1_basic(st->rsp)) == NULL)
        st->file_why = "not a basic OCSP response";
    ERR_clear_error();
}

/* read_fd - the whole (small) file into st->der; 0 or an errno */
static int
read_fd(struct tls__staple *st, int fd)
{
    long got = 0;
    ssize_t r;
    if (st->id.st_size <= 0 || st->id.st_size > STAPLE_MAX)
        return st->id.st_size <= 0 ? ENODATA : EFBIG;
    if ((st->der = OPENSSL_malloc((size_t)st->id.st_size)) == NULL)
        return ENOMEM;
    while (got < st->id.st_size &&
           (r = read(fd, st->der + got, (size_t)(st->id.st_size - got))) != 0) {
        if (r < 0 && errno != EINTR)
            return errno;
        got += r > 0 ? r : 0;
    }
    st->len = got;
    return got > 0 ? 0 : ENODATA;
}

/* load - hold the current version of the file (re-read only if it changed) */
static void
load(struct tls__staple *st)
{
    struct stat now;
    int fd, e;
    if (stat(st->path, &now) < 0) {
        e = errno;
        if (st->loaded && st->read_errno == e)
            return;
        drop_version(st);
        st->loaded = 1;
        st->read_errno = e;
        return;
    }
    if (st->loaded && st->have_id && same_file(&now, &st->id))
        return;
    drop_version(st);
    st->loaded = st->have_id = 1;
    st->id = now; /* fstat below gives the identity of what is read */
    if ((fd = open(st->path, O_RDONLY | O_CLOEXEC)) < 0 || fstat(fd, &st->id) < 0) {
        st->read_errno = errno;
    } else if ((e = read_fd(st, fd)) != 0) {
        st->read_errno = e; /* retried when the file changes */
    } else {
        parse(st);
    }
    if (fd >= 0)
        close(fd);
}

/* signer_ok - signed by the issuer, or by a responder it issued with the
 * OCSP-signing EKU (OCSP_basic_verify's delegation check), the issuer as the
 * only trust anchor */
static int
signer_ok(OCSP_BASICRESP *bs, X509 *issuer)
{
    X509_STORE *store = X509_STORE_new();
    STACK_OF(X509) *extra = sk_X509_new_null();
    int ok = 0;
    if (store != NULL && extra != NULL && X509_STORE_add_cert(store, issuer) == 1 &&
        sk_X509_push(extra, issuer) > 0) {
        X509_STORE_set_flags(store, X509_V_FLAG_PARTIAL_CHAIN);
        ok = OCSP_basic_verify(bs, extra, store, 0) > 0;
    }
    sk_X509_free(extra);
    X509_STORE_free(store);
    ERR_clear_error();
    return ok;
}

/* bound - does the single response's CertID name this certificate (with the
 * hash the responder used)? */
static int
bound(OCSP_SINGLERESP *single, const struct staple_cert *sc)
{
    const OCSP_CERTID *cid = OCSP_SINGLERESP_get0_id(single);
    ASN1_OBJECT *md_oid = NULL;
    const EVP_MD *md;
    OCSP_CERTID *mine;
    int same;
    if (OCSP_id_get0_info(NULL, &md_oid, NULL, NULL, (OCSP_CERTID *)cid) != 1 ||
        (md = EVP_get_digestbyobj(md_oid)) == NULL)
        return 0;
    if ((mine = OCSP_cert_to_id(md, sc->leaf, sc->issuer)) == NULL)
        return 0;
    same = OCSP_id_cmp(mine, cid) == 0;
    OCSP_CERTID_free(mine);
    return same;
}

/* judge - everything but the times, for one certificate: NULL or why not */
static const char *
judge(struct tls__staple *st, struct staple_cert *sc)
{
    OCSP_SINGLERESP *single;
    int status, reason;
    ASN1_GENERALIZEDTIME *rev = NULL;
    if (st->file_why != NULL)
        return st->file_why;
    if (sc->issuer == NULL)
        return "the certificate's issuer was not found";
    if (OCSP_resp_count(st->bs) != 1 || (single = OCSP_resp_get0(st->bs, 0)) == NULL)
        return "not exactly one single response";
    if (!bound(single, sc))
        return "the response is for another certificate";
    if (!signer_ok(st->bs, sc->issuer))
        return "not signed by the issuer or a responder it delegated to";
    status = OCSP_single_get0_status(single, &reason, &rev, &sc->thisupd, &sc->nextupd);
    if (status == V_OCSP_CERTSTATUS_REVOKED)
        return "the certificate is revoked";
    if (status != V_OCSP_CERTSTATUS_GOOD)
        return "the certificate's status is not good";
    if (sc->nextupd == NULL)
        return "no nextUpdate";
    return NULL;
}

/* timely - thisUpdate not in the future (with skew), nextUpdate ahead */
static const char *
timely(const struct staple_cert *sc)
{
    time_t ahead = time(NULL) + SKEW_S;
    if (X509_cmp_time(sc->thisupd, &ahead) >= 0)
        return "thisUpdate is in the future";
    if (X509_cmp_time(sc->nextupd, NULL) <= 0)
        return "expired (nextUpdate has passed)";
    return NULL;
}

/* find_cert - the entry of the certificate being served, or NULL */
static struct staple_cert *
find_cert(struct tls__staple *st, X509 *cert)
{
    for (size_t i = 0; cert != NULL && i < st->n; i++)
        if (X509_cmp(st->certs[i].leaf, cert) == 0)
            return &st->certs[i];
    return NULL;
}

/* warn_once - log why nothing is stapled, unless already said for this version */
static void
warn_once(struct tls__staple *st, struct staple_cert *sc, const char *why)
{
    if (sc->warned == why)
        return;
    sc->warned = why;
    if (st->read_errno != 0)
        log_warn("tls_ocsp_file %s: nothing stapled for %s: cannot read the file: %s", st->path,
                 sc->subject, strerror(st->read_errno));
    else
        log_warn("tls_ocsp_file %s: nothing stapled for %s: %s", st->path, sc->subject, why);
}

/* staple_for - under the lock: a copy of the response for cert, or NULL with
 * *out_state the $tls_in_ocsp value */
static unsigned char *
staple_for(struct tls__staple *st, X509 *cert, int *out_state)
{
    struct staple_cert *sc = find_cert(st, cert);
    const char *why;
    *out_state = TLS_IN_OCSP_FAILED;
    if (sc == NULL)
        return NULL; /* not a certificate we loaded: cannot happen */
    load(st);
    if (st->read_errno != 0) {
        *out_state = TLS_IN_OCSP_NOT_RESPONDING;
        warn_once(st, sc, "unreadable");
        return NULL;
    }
    if (!sc->judged) {
        sc->why = judge(st, sc);
        sc->judged = 1;
    }
    if ((why = sc->why) == NULL && (why = timely(sc)) == NULL) {
        sc->warned = NULL; /* a later failure is worth a warning again */
        *out_state = TLS_IN_OCSP_VERIFIED;
        return OPENSSL_memdup(st->der, (size_t)st->len);
    }
    warn_once(st, sc, why);
    return NULL;
}

/* tls__staple_cb - staple the response when it passes (see tls.h) */
int
tls__staple_cb(SSL *ssl, void *arg)
{
    struct tls_server_ctx *s = arg;
    struct tls_conn *c = SSL_get_app_data(ssl);
    unsigned char *der;
    long len;
    int state;
    if (s == NULL || s->staple == NULL) {
        if (c != NULL)
            c->in_ocsp = TLS_IN_OCSP_NOT_RESPONDING;
        return SSL_TLSEXT_ERR_NOACK;
    }
    pthread_mutex_lock(&s->staple->lock);
    der = staple_for(s->staple, SSL_get_certificate(ssl), &state);
    len = s->staple->len;
    pthread_mutex_unlock(&s->staple->lock);
    if (der != NULL && SSL_set_tlsext_status_ocsp_resp(ssl, der, len) != 1) {
        OPENSSL_free(der);
        der = NULL;
        state = TLS_IN_OCSP_NOT_RESPONDING;
    }
    if (c != NULL)
        c->in_ocsp = state;
    return der != NULL ? SSL_TLSEXT_ERR_OK : SSL_TLSEXT_ERR_NOACK;
}
