/*
 * smtp_dkim_int.h - what smtp_dkim.c (the verification and the per-signer
 *                   ACL) and smtp_dkim_vars.c (the results: variables,
 *                   Authentication-Results, freeing) share. Only those two
 *                   include it.
 */
#ifndef SPATE_API_SMTP_DKIM_INT_H
#define SPATE_API_SMTP_DKIM_INT_H

#include <stddef.h>

#include "api/smtp_int.h"
#include "mailauth/dkim.h"

#define SMTP_DKIM_MAX_SIGS 16    /* signatures verified per message */
#define SMTP_DKIM_MAX_SIGNERS 32 /* items of dkim_verify_signers used */

struct smtp_dkimreq;
struct dkim_slot { /* one signature and its key lookup */
    struct smtp_dkimreq *q;
    size_t k;
    struct dkim_result res;
};

struct smtp_dkimreq {
    struct sess *s;        /* NULL once the session has ended */
    struct dkim_verify *v; /* NULL once orphaned */
    struct dkim_slot *sig; /* n of them */
    size_t n, pending;     /* signatures; key lookups in flight */
    int verified;          /* every key is in and checked */
    smtp_acl_cont cont;    /* what the message does next */
    char *signers;         /* $dkim_signers */
    char **list;           /* dkim_verify_signers, split */
    size_t nlist, cur;     /* its items; the one whose ACL runs */
    int cur_sig;           /* the signature the variables describe, -1 none */
    char *ar;              /* the last $authentication_results */
    char num[16];
};

/* smtp__dkim_req_free - release what is left of a request */
void smtp__dkim_req_free(struct smtp_dkimreq *q);
/* smtp__dkim_sig - the parsed signature k, or NULL (unparsed, or orphaned) */
const struct dkim_sig *smtp__dkim_sig(const struct smtp_dkimreq *q, size_t k);
/* smtp__dkim_best - the best signature (pass, fail, invalid, none) whose
 * d= or i= is signer (case-insensitive; NULL: any); -1 when there is none */
int smtp__dkim_best(const struct smtp_dkimreq *q, const char *signer);

#endif
