/*
 * smtp_dkim_vars.c - the DKIM results of the message on the SMTP server:
 *                    the $dkim_* variables, $authentication_results (RFC
 *                    8601), choosing a signer's signature, and freeing
 *                    (an orphaned request is left to its last lookup).
 *                    Calls no other file of the server but smtp_spf.c,
 *                    so smtp_io.c and smtp_vars.c may call it.
 *
 * Synopsis
 *   smtp_dkim_var(s, "dkim_verify_status")    (smtp_var, smtp_vars.c)
 *   smtp_dkim_free(s)                         (smtp_txn_reset, smtp_io.c)
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/smtp_dkim_int.h"

/* smtp__dkim_req_free - release what is left of a request */
void
smtp__dkim_req_free(struct smtp_dkimreq *q)
{
    dkim_verify_free(q->v);
    for (size_t i = 0; i < q->nlist; i++)
        free(q->list[i]);
    free(q->list);
    free(q->sig);
    free(q->signers);
    free(q->ar);
    free(q);
}

/* smtp_dkim_free - forget the message's results; orphan lookups in flight */
void
smtp_dkim_free(struct sess *s)
{
    struct smtp_dkimreq *q = s->dkim;

    s->dkim = NULL;
    if (q == NULL)
        return;
    if (q->pending == 0) {
        smtp__dkim_req_free(q);
        return;
    }
    q->s = NULL; /* on_key frees it */
    dkim_verify_free(q->v);
    q->v = NULL;
}

/* smtp__dkim_sig - the parsed signature k, or NULL */
const struct dkim_sig *
smtp__dkim_sig(const struct smtp_dkimreq *q, size_t k)
{
    return q->v != NULL && k < q->n ? dkim_verify_sig(q->v, k, NULL) : NULL;
}

/* rank - the order of preference among results */
static int
rank(const struct dkim_result *r)
{
    static const int order[] = {
        [DKIM_NONE] = 0, [DKIM_INVALID] = 1, [DKIM_FAIL] = 2, [DKIM_PASS] = 3};
    return order[r->status];
}

/* smtp__dkim_best - the best signature whose d= or i= is signer (NULL: any); -1 none */
int
smtp__dkim_best(const struct smtp_dkimreq *q, const char *signer)
{
    int best = -1;

    for (size_t k = 0; k < q->n; k++) {
        const struct dkim_sig *g = smtp__dkim_sig(q, k);
        if (signer != NULL &&
            (g == NULL || (strcasecmp(g->d, signer) != 0 && strcasecmp(g->i, signer) != 0)))
            continue;
        if (best < 0 || rank(&q->sig[k].res) > rank(&q->sig[best].res))
            best = (int)k;
    }
    return best;
}

/* ar_dkim - one "dkim=..." clause of Authentication-Results (RFC 8601 §2.7.1) */
static void
ar_dkim(const struct smtp_dkimreq *q, size_t k, char *out, size_t len)
{
    const struct dkim_sig *g = smtp__dkim_sig(q, k);
    const struct dkim_result *r = &q->sig[k].res;
    const char *word = r->status == DKIM_PASS   ? "pass"
                       : r->status == DKIM_FAIL ? "fail"
                       : r->status == DKIM_NONE ? "none"
                       : r->temporary           ? "temperror"
                                                : "permerror";
    unsigned char b64[16] = "";

    if (g == NULL) {
        snprintf(out, len, "dkim=permerror (%s)", r->reason);
        return;
    }
    if (g->b_len >= 6)
        EVP_EncodeBlock(b64, g->b, 6); /* header.b: 8 characters (RFC 6008) */
    if (r->status == DKIM_PASS)
        snprintf(out, len, "dkim=pass (%d-bit key) header.d=%s header.i=%s header.s=%s header.a=%s",
                 r->key_bits, g->d, g->i, g->s, dkim_algo_name(g->algo));
    else
        snprintf(out, len, "dkim=%s (%s) header.d=%s header.i=%s header.s=%s header.a=%s", word,
                 r->reason, g->d, g->i, g->s, dkim_algo_name(g->algo));
    if (b64[0] != '\0')
        snprintf(out + strlen(out), len - strlen(out), " header.b=%s", (const char *)b64);
}

/* ar_append - add "; clause" to the header text */
static void
ar_append(char **t, const char *clause)
{
    size_t have = strlen(*t), n = strlen(clause);
    char *p = realloc(*t, have + n + 3);

    if (p == NULL)
        abort();
    memcpy(p + have, "; ", 2);
    memcpy(p + have + 2, clause, n + 1);
    *t = p;
}

/* auth_results - $authentication_results: the whole header, one line */
static const char *
auth_results(struct sess *s)
{
    struct smtp_dkimreq *q = s->dkim;
    const char *spf = smtp_spf_var(s, "spf_result");
    char clause[768];
    char *t;
    int methods = 0;

    if (asprintf(&t, "Authentication-Results: %s", s->lis->cfg->primary_hostname) < 0)
        abort();
    for (size_t k = 0; q != NULL && q->verified && k < q->n; k++, methods++) {
        ar_dkim(q, k, clause, sizeof(clause));
        ar_append(&t, clause);
    }
    if (q != NULL && q->verified && q->n == 0 && ++methods)
        ar_append(&t, "dkim=none");
    if (spf != NULL && *spf && ++methods) {
        if (s->sender != NULL && *s->sender)
            snprintf(clause, sizeof(clause), "spf=%s smtp.mailfrom=%s", spf, s->sender);
        else
            snprintf(clause, sizeof(clause), "spf=%s smtp.helo=%s", spf, s->helo);
        ar_append(&t, clause);
    }
    if (methods == 0)
        ar_append(&t, "none");
    if (q == NULL) { /* before any message: a request only to hold the text */
        if ((q = s->dkim = calloc(1, sizeof(*q))) == NULL)
            abort();
        q->cur_sig = -1;
    }
    free(q->ar);
    return q->ar = t;
}

/* sig_var - a $dkim_* that describes the current signature */
static const char *
sig_var(struct smtp_dkimreq *q, const char *name)
{
    const struct dkim_sig *g = q->cur_sig >= 0 ? smtp__dkim_sig(q, (size_t)q->cur_sig) : NULL;
    const struct dkim_result *r = q->cur_sig >= 0 ? &q->sig[q->cur_sig].res : NULL;
    static const char *const canon[] = {"simple", "relaxed"};

    if (strcmp(name, "verify_status") == 0)
        return r != NULL ? dkim_status_word(r->status) : "none";
    if (strcmp(name, "verify_reason") == 0)
        return r != NULL ? r->reason : "";
    if (strcmp(name, "key_length") == 0 || strcmp(name, "key_testing") == 0) {
        if (r == NULL || r->key_bits == 0)
            return "";
        snprintf(q->num, sizeof(q->num), "%d", name[4] == 'l' ? r->key_bits : r->testing != 0);
        return q->num;
    }
    if (g == NULL)
        return strcmp(name, "domain") == 0 || strcmp(name, "selector") == 0 ||
                       strcmp(name, "algo") == 0 || strcmp(name, "identity") == 0 ||
                       strncmp(name, "canon_", 6) == 0
                   ? ""
                   : NULL;
    if (strcmp(name, "domain") == 0)
        return g->d;
    if (strcmp(name, "selector") == 0)
        return g->s;
    if (strcmp(name, "identity") == 0)
        return g->i;
    if (strcmp(name, "algo") == 0)
        return dkim_algo_name(g->algo);
    if (strcmp(name, "canon_headers") == 0)
        return canon[g->hcanon];
    if (strcmp(name, "canon_body") == 0)
        return canon[g->bcanon];
    return NULL;
}

/* smtp_dkim_var - $dkim_* and $authentication_results; NULL for other names */
const char *
smtp_dkim_var(struct sess *s, const char *name)
{
    struct smtp_dkimreq *q = s->dkim;
    int known = q != NULL && q->verified;

    if (strcmp(name, "authentication_results") == 0)
        return auth_results(s);
    if (strncmp(name, "dkim_", 5) != 0)
        return NULL;
    name += 5;
    if (strcmp(name, "signers") == 0)
        return known ? q->signers : "";
    if (strcmp(name, "cur_signer") == 0)
        return known && q->cur < q->nlist ? q->list[q->cur] : "";
    if (!known) {
        static const char *const names[] = {
            "verify_status", "verify_reason", "domain",   "selector",      "algo",
            "key_length",    "key_testing",   "identity", "canon_headers", "canon_body"};
        for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
            if (strcmp(name, names[i]) == 0)
                return "";
        return NULL;
    }
    return sig_var(q, name);
}
