/*
 * dkim_sign.c - DKIM signing on the smtp transport: Exim's dkim_domain,
 *               dkim_selector, dkim_private_key, dkim_canon,
 *               dkim_sign_headers and dkim_hash, expanded per message;
 *               the signing itself is mailauth/dkim.h.
 *
 * Parsed private keys are cached by their text or file name (a file is
 * re-read when its mtime changes; OpenSSL's PEM parse costs about 330 us).
 * A message's signature fields are kept on it, one entry per transport
 * (struct eng_dkim_sig, the scheduler's eng_qmsg.dkim), so it is signed
 * once however many attempts and connections it takes; the signing itself
 * runs on the signing threads (dkim_pool.c) before the message's jobs are
 * lent to a worker.
 */
#include "engine/dkim_sign.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base/log.h"
#include "base/metrics.h"
#include "conf/expand.h"
#include "mailauth/dkim.h"

#define ERRLEN 256

struct keyent {
    char *spec; /* the key text, or the file name */
    time_t mtime;
    EVP_PKEY *key;
    struct keyent *next;
};
static pthread_mutex_t key_mu = PTHREAD_MUTEX_INITIALIZER;
static struct keyent *keys;

/* One transport's signature fields for one message (dkim_sign.h). */
struct eng_dkim_sig {
    const struct cfg_transport *tp;
    char *hdrs; /* NULL: that transport sends it unsigned */
    struct eng_dkim_sig *next;
};
static pthread_mutex_t sig_mu = PTHREAD_MUTEX_INITIALIZER; /* every message's list */

/* What the expansions may read. */
struct dkvars {
    const struct spool_msg *m;
    const char *domain, *selector;
};

/* dk_var - exp_ctx.var for the dkim_* options */
static const char *
dk_var(void *arg, const char *name)
{
    const struct dkvars *v = arg;
    const char *at = strrchr(v->m->sender, '@');
    if (strcmp(name, "sender_address") == 0)
        return v->m->sender;
    if (strcmp(name, "sender_address_domain") == 0)
        return at ? at + 1 : "";
    if (strcmp(name, "message_id") == 0)
        return v->m->id;
    if (strcmp(name, "dkim_domain") == 0)
        return v->domain ? v->domain : "";
    if (strcmp(name, "dkim_selector") == 0)
        return v->selector ? v->selector : "";
    return NULL;
}

/* expand - an option's value (dflt when unset); 0 with *out (NULL on forced
 * failure), -1 with err */
static int
expand(const struct exp_str *e, struct dkvars *v, const char *dflt, char **out, char *err)
{
    struct exp_ctx ctx = {.var = dk_var, .arg = v, .err = err, .errlen = ERRLEN};
    *out = NULL;
    if (e == NULL) {
        if (dflt && (*out = strdup(dflt)) == NULL)
            abort();
        return 0;
    }
    int rc = exp_eval(e, &ctx, out);
    return rc == EXP_OK || rc == EXP_FAIL ? 0 : -1;
}

/* off - does a value mean "do not sign"? */
static int
off(const char *s)
{
    return s == NULL || *s == '\0' || strcmp(s, "0") == 0 || strcasecmp(s, "false") == 0;
}

/* read_file - a whole key file (malloc'd), or NULL */
static char *
read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *p = f ? malloc(65536) : NULL;
    *len = p ? fread(p, 1, 65535, f) : 0;
    if (f)
        fclose(f);
    if (p)
        p[*len] = '\0';
    return p;
}

/* key_load - parse a key from its text or file */
static EVP_PKEY *
key_load(const char *spec, char *err)
{
    size_t len = strlen(spec);
    char *text = spec[0] == '/' ? read_file(spec, &len) : NULL;
    if (spec[0] == '/' && text == NULL) {
        snprintf(err, ERRLEN, "cannot read %s", spec);
        return NULL;
    }
    EVP_PKEY *k = dkim_privkey_load(text ? text : spec, len, err, ERRLEN);
    free(text);
    return k;
}

/* key_get - the cached key for spec (borrowed: cached keys live until exit) */
static EVP_PKEY *
key_get(const char *spec, char *err)
{
    struct stat st;
    time_t mtime = (spec[0] == '/' && stat(spec, &st) == 0) ? st.st_mtime : 0;
    EVP_PKEY *k = NULL;
    pthread_mutex_lock(&key_mu);
    for (struct keyent *e = keys; e && !k; e = e->next)
        if (e->mtime == mtime && strcmp(e->spec, spec) == 0)
            k = e->key;
    if (k == NULL && (k = key_load(spec, err)) != NULL) {
        struct keyent *e = calloc(1, sizeof(*e));
        if (e == NULL || (e->spec = strdup(spec)) == NULL)
            abort();
        e->mtime = mtime;
        e->key = k;
        e->next = keys;
        keys = e;
    }
    pthread_mutex_unlock(&key_mu);
    return k;
}

/* parse_canon - "relaxed", "simple" or "HDR/BODY" */
static int
parse_canon(const char *s, struct dkim_sign_params *p)
{
    const char *slash = strchr(s, '/');
    size_t hn = slash ? (size_t)(slash - s) : strlen(s);
    const char *b = slash ? slash + 1 : s;
    if (strncmp(s, "relaxed", hn) == 0 && hn == 7)
        p->hcanon = DKIM_CANON_RELAXED;
    else if (strncmp(s, "simple", hn) == 0 && hn == 6)
        p->hcanon = DKIM_CANON_SIMPLE;
    else
        return -1;
    if (strcmp(b, "relaxed") == 0)
        p->bcanon = DKIM_CANON_RELAXED;
    else if (strcmp(b, "simple") == 0)
        p->bcanon = DKIM_CANON_SIMPLE;
    else
        return -1;
    return 0;
}

/* sign_one - one signature for $dkim_domain / $dkim_selector, appended to out */
static int
sign_one(const struct cfg_transport *tp, struct dkvars *v, const char *msg, size_t len, char **out,
         char *err)
{
    char *key = NULL, *canon = NULL, *hdrs = NULL, *hash = NULL, *sig = NULL;
    struct dkim_sign_params p = {.domain = v->domain, .selector = v->selector};
    int rc = -1;
    if (expand(tp->dkim_private_key, v, NULL, &key, err) < 0 ||
        expand(tp->dkim_canon, v, "relaxed", &canon, err) < 0 ||
        expand(tp->dkim_sign_headers, v, NULL, &hdrs, err) < 0 ||
        expand(tp->dkim_hash, v, "sha256", &hash, err) < 0)
        goto done;
    rc = 0;
    if (off(key))
        goto done;
    rc = -1;
    if (canon == NULL || parse_canon(canon, &p) < 0)
        snprintf(err, ERRLEN, "dkim_canon: not relaxed or simple: %s", canon ? canon : "");
    else if (hash == NULL || strcmp(hash, "sha256") != 0)
        snprintf(err, ERRLEN, "dkim_hash: only sha256 is signed with: %s", hash ? hash : "");
    else if ((p.key = key_get(key, err)) != NULL) {
        p.sign_headers = off(hdrs) ? NULL : hdrs;
        p.timestamp = time(NULL);
        rc = dkim_sign(&p, msg, len, &sig, err, ERRLEN);
    }
    if (rc == 0) {
        char *joined;
        if (asprintf(&joined, "%s%s", *out ? *out : "", sig) < 0)
            abort();
        free(*out);
        *out = joined;
        rc = 1;
    }
done:
    free(key);
    free(canon);
    free(hdrs);
    free(hash);
    free(sig);
    return rc;
}

/* next_item - the next item of a colon list (trimmed, in place), or NULL */
static char *
next_item(char **cur)
{
    while (*cur && **cur) {
        char *s = *cur, *c = strchr(s, ':');
        *cur = c ? c + 1 : NULL;
        if (c)
            *c = '\0';
        while (*s == ' ' || *s == '\t')
            s++;
        char *e = s + strlen(s);
        while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
            *--e = '\0';
        if (*s)
            return s;
    }
    return NULL;
}

/* sign_domain - every selector of $dkim_domain */
static int
sign_domain(const struct cfg_transport *tp, struct dkvars *v, const char *msg, size_t len,
            char **out, char *err)
{
    char *sels = NULL, *cur, *sel;
    int any = 0;
    v->selector = NULL;
    if (expand(tp->dkim_selector, v, NULL, &sels, err) < 0)
        return -1;
    for (cur = sels; (sel = next_item(&cur)) != NULL && any >= 0;) {
        v->selector = sel;
        int rc = sign_one(tp, v, msg, len, out, err);
        any = rc < 0 ? -1 : any | rc;
    }
    free(sels);
    v->selector = NULL;
    return any;
}

/* compute - the signature fields for the message, NULL for none */
static int
compute(const struct cfg_transport *tp, const struct spool_msg *m, const char *msg, size_t len,
        char **out, char *err)
{
    struct dkvars v = {.m = m};
    char *doms = NULL, *cur, *dom;
    int any = 0;
    if (expand(tp->dkim_domain, &v, NULL, &doms, err) < 0)
        return -1;
    for (cur = doms; (dom = next_item(&cur)) != NULL && any >= 0;) {
        v.domain = dom;
        int rc = sign_domain(tp, &v, msg, len, out, err);
        any = rc < 0 ? -1 : any | rc;
    }
    free(doms);
    return any;
}

/* prepend - hdrs in front of the body */
static void
prepend(const char *hdrs, char **body, size_t *len)
{
    size_t hl = strlen(hdrs);
    char *nb = malloc(hl + *len + 1);
    if (nb == NULL)
        abort();
    memcpy(nb, hdrs, hl);
    if (*len)
        memcpy(nb + hl, *body, *len);
    nb[hl + *len] = '\0';
    free(*body);
    *body = nb;
    *len += hl;
}

/* eng_dkim_wanted - see dkim_sign.h */
int
eng_dkim_wanted(const struct cfg_transport *tp)
{
    return tp->dkim_domain && tp->dkim_selector && tp->dkim_private_key;
}

/* eng_dkim_compute - see dkim_sign.h */
int
eng_dkim_compute(const struct cfg_transport *tp, const struct spool_msg *m, const char *body,
                 size_t len, char **hdrs)
{
    char err[ERRLEN] = "";
    *hdrs = NULL;
    if (!eng_dkim_wanted(tp))
        return 0;
    int rc = compute(tp, m, body, len, hdrs, err);
    if (rc < 0) {
        log_warn("%s DKIM signing failed (transport %s): %s; sent unsigned", m->id, tp->name, err);
        free(*hdrs);
        *hdrs = NULL;
    }
    if (*hdrs != NULL)
        metrics_inc(MC_DKIM_SIGNED);
    return rc < 0 ? -1 : *hdrs != NULL;
}

/* find - tp's entry on list, or NULL; under sig_mu */
static struct eng_dkim_sig *
find(struct eng_dkim_sig *list, const struct cfg_transport *tp)
{
    while (list && list->tp != tp)
        list = list->next;
    return list;
}

/* eng_dkim_keep - see dkim_sign.h */
void
eng_dkim_keep(struct eng_dkim_sig **list, const struct cfg_transport *tp, const char *hdrs)
{
    struct eng_dkim_sig *e = calloc(1, sizeof(*e));
    if (e == NULL || (hdrs && (e->hdrs = strdup(hdrs)) == NULL))
        abort();
    e->tp = tp;
    pthread_mutex_lock(&sig_mu);
    if (find(*list, tp) == NULL) {
        e->next = *list;
        *list = e, e = NULL;
    }
    pthread_mutex_unlock(&sig_mu);
    if (e)
        free(e->hdrs), free(e);
}

/* eng_dkim_known - see dkim_sign.h */
int
eng_dkim_known(struct eng_dkim_sig *const *list, const struct cfg_transport *tp)
{
    pthread_mutex_lock(&sig_mu);
    int known = find(*list, tp) != NULL;
    pthread_mutex_unlock(&sig_mu);
    return known;
}

/* eng_dkim_forget - see dkim_sign.h */
void
eng_dkim_forget(struct eng_dkim_sig **list)
{
    pthread_mutex_lock(&sig_mu);
    struct eng_dkim_sig *e = *list;
    *list = NULL;
    pthread_mutex_unlock(&sig_mu);
    while (e) {
        struct eng_dkim_sig *next = e->next;
        free(e->hdrs);
        free(e);
        e = next;
    }
}

/* kept - a copy of tp's fields on list (*hdrs NULL: unsigned); 0 if none kept */
static int
kept(struct eng_dkim_sig *const *list, const struct cfg_transport *tp, char **hdrs)
{
    pthread_mutex_lock(&sig_mu);
    struct eng_dkim_sig *e = find(*list, tp);
    *hdrs = e && e->hdrs ? strdup(e->hdrs) : NULL;
    pthread_mutex_unlock(&sig_mu);
    if (e && e->hdrs && *hdrs == NULL)
        abort();
    return e != NULL;
}

/* eng_dkim_sign - see dkim_sign.h */
int
eng_dkim_sign(const struct cfg_transport *tp, const struct spool_msg *m, struct eng_dkim_sig **list,
              char **body, size_t *len)
{
    char *hdrs = NULL;
    if (!eng_dkim_wanted(tp))
        return 0;
    if (!kept(list, tp, &hdrs)) {
        if (eng_dkim_compute(tp, m, *body, *len, &hdrs) < 0)
            return -1;
        eng_dkim_keep(list, tp, hdrs);
    }
    if (hdrs == NULL)
        return 0;
    prepend(hdrs, body, len);
    free(hdrs);
    return 1;
}
