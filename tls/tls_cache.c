/*
 * tls_cache.c - the client session cache of a TLS context: sessions kept per
 *               destination key for resumption, with the outcome (CV=, DANE)
 *               of the handshake that made them, so a resumed session is
 *               judged as the full one was. A hash table plus an insertion
 *               order list; the oldest entry is evicted at the size limit.
 *
 * Thread rules: every call takes the context's mutex; any thread.
 */
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "tls/tls_int.h"

struct tls__sess {
    char *key;
    SSL_SESSION *sess;
    struct tls__outcome o;
    struct tls__sess *hnext;         /* hash chain */
    struct tls__sess *older, *newer; /* insertion order */
};

/* sess_free - release one cache entry */
static void
sess_free(struct tls__sess *s)
{
    SSL_SESSION_free(s->sess);
    free(s->key);
    free(s);
}

/* tls__cache_clear - release every cached session (the context is going) */
void
tls__cache_clear(struct tls_client_ctx *ctx)
{
    for (struct tls__sess *s = ctx->oldest, *n; s != NULL; s = n) {
        n = s->newer;
        sess_free(s);
    }
    ctx->oldest = ctx->newest = NULL;
    ctx->nsess = 0;
}

/* key_hash - FNV-1a of the key */
static size_t
key_hash(const char *k)
{
    uint64_t h = 1469598103934665603ull;
    for (; *k; k++)
        h = (h ^ (unsigned char)*k) * 1099511628211ull;
    return (size_t)h;
}

/* unlink_sess - take s out of the table and the order list (lock held) */
static void
unlink_sess(struct tls_client_ctx *ctx, struct tls__sess *s)
{
    struct tls__sess **pp = &ctx->tab[key_hash(s->key) & (ctx->tabsize - 1)];
    while (*pp != s)
        pp = &(*pp)->hnext;
    *pp = s->hnext;
    if (s->older)
        s->older->newer = s->newer;
    else
        ctx->oldest = s->newer;
    if (s->newer)
        s->newer->older = s->older;
    else
        ctx->newest = s->older;
    ctx->nsess--;
}

/* find_sess - the entry for key (lock held), or NULL */
static struct tls__sess *
find_sess(struct tls_client_ctx *ctx, const char *key)
{
    struct tls__sess *s = ctx->tab[key_hash(key) & (ctx->tabsize - 1)];
    while (s != NULL && strcmp(s->key, key) != 0)
        s = s->hnext;
    return s;
}

/* tls__cache_get - a reference to the stored session, with its outcome */
SSL_SESSION *
tls__cache_get(struct tls_client_ctx *ctx, const char *key, struct tls__outcome *out)
{
    SSL_SESSION *sess = NULL;
    struct tls__sess *s;
    pthread_mutex_lock(&ctx->lock);
    if ((s = find_sess(ctx, key)) != NULL) {
        if (SSL_SESSION_is_resumable(s->sess)) {
            sess = s->sess;
            SSL_SESSION_up_ref(sess);
            *out = s->o;
        } else {
            unlink_sess(ctx, s);
            sess_free(s);
        }
    }
    pthread_mutex_unlock(&ctx->lock);
    return sess;
}

/* tls__cache_put - store (replace) the session for key, evicting the oldest */
void
tls__cache_put(struct tls_client_ctx *ctx, const char *key, SSL_SESSION *sess,
               const struct tls__outcome *o)
{
    struct tls__sess *s = calloc(1, sizeof(*s)), *old;
    size_t b;
    if (s == NULL || (s->key = strdup(key)) == NULL) {
        free(s);
        SSL_SESSION_free(sess);
        return;
    }
    s->sess = sess;
    s->o = *o;
    pthread_mutex_lock(&ctx->lock);
    if ((old = find_sess(ctx, key)) != NULL) {
        unlink_sess(ctx, old);
        sess_free(old);
    }
    while (ctx->nsess >= ctx->max && ctx->oldest != NULL) {
        old = ctx->oldest;
        unlink_sess(ctx, old);
        sess_free(old);
    }
    b = key_hash(key) & (ctx->tabsize - 1);
    s->hnext = ctx->tab[b];
    ctx->tab[b] = s;
    s->older = ctx->newest;
    if (ctx->newest)
        ctx->newest->newer = s;
    else
        ctx->oldest = s;
    ctx->newest = s;
    ctx->nsess++;
    pthread_mutex_unlock(&ctx->lock);
}

/* tls_session_cache_size - sessions held now */
size_t
tls_session_cache_size(struct tls_client_ctx *ctx)
{
    size_t n;
    pthread_mutex_lock(&ctx->lock);
    n = ctx->nsess;
    pthread_mutex_unlock(&ctx->lock);
    return n;
}
