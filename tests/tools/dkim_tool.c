/*
 * dkim_tool.c - mailauth/dkim.h from the command line, for the interop
 *               tests (tests/e2e/test_dkim_interop.py) that hold spate's
 *               signer and verifier against dkimpy.
 *
 *   dkim_tool sign DOMAIN SELECTOR KEYFILE HCANON/BCANON [SIGN_HEADERS] < msg
 *       writes the DKIM-Signature field, then the message, to stdout
 *   dkim_tool verify KEYS < msg
 *       KEYS holds lines "NAME TXT-RECORD"; prints one line per signature:
 *       "STATUS REASON ALGORITHM d=DOMAIN s=SELECTOR"
 * Exit status: 0, or 1 on a usage, key or signing error.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "mailauth/dkim.h"

/* slurp - all of f (malloc'd) */
static char *
slurp(FILE *f, size_t *len)
{
    size_t cap = 65536, n = 0, r;
    char *p = malloc(cap);
    while (p && (r = fread(p + n, 1, cap - n - 1, f)) > 0)
        if ((n += r) + 1 >= cap && (p = realloc(p, cap *= 2)) == NULL)
            break;
    if (p == NULL)
        exit(1);
    p[n] = '\0';
    *len = n;
    return p;
}

/* canon - "relaxed" / "simple" */
static enum dkim_canon
canon(const char *w, size_t n)
{
    return strncmp(w, "relaxed", n) == 0 ? DKIM_CANON_RELAXED : DKIM_CANON_SIMPLE;
}

/* do_sign - the sign command */
static int
do_sign(int argc, char **argv)
{
    size_t klen, mlen;
    char err[256], *hdr, *slash = strchr(argv[5], '/');
    FILE *kf = fopen(argv[4], "rb");
    if (kf == NULL || slash == NULL)
        return 1;
    char *ktext = slurp(kf, &klen), *msg = slurp(stdin, &mlen);
    fclose(kf);
    EVP_PKEY *key = dkim_privkey_load(ktext, klen, err, sizeof err);
    struct dkim_sign_params p = {.domain = argv[2],
                                 .selector = argv[3],
                                 .key = key,
                                 .hcanon = canon(argv[5], (size_t)(slash - argv[5])),
                                 .bcanon = canon(slash + 1, strlen(slash + 1)),
                                 .sign_headers = argc > 6 ? argv[6] : NULL,
                                 .timestamp = time(NULL)};
    int rc = key ? dkim_sign(&p, msg, mlen, &hdr, err, sizeof err) : -1;
    if (rc < 0) {
        fprintf(stderr, "dkim_tool: %s\n", err);
        return 1;
    }
    fputs(hdr, stdout);
    fwrite(msg, 1, mlen, stdout);
    free(hdr);
    free(msg);
    free(ktext);
    EVP_PKEY_free(key);
    return 0;
}

/* find_key - the record for name in the KEYS text, or NULL */
static const char *
find_key(const char *keys, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (const char *p = keys; *p;) {
        const char *e = strchr(p, '\n');
        if (e == NULL)
            e = p + strlen(p);
        if ((size_t)(e - p) > nl && strncmp(p, name, nl) == 0 && p[nl] == ' ') {
            *len = (size_t)(e - p) - nl - 1;
            return p + nl + 1;
        }
        p = *e ? e + 1 : e;
    }
    return NULL;
}

/* do_verify - the verify command */
static int
do_verify(char **argv)
{
    size_t klen, mlen, tlen = 0;
    FILE *kf = fopen(argv[2], "rb");
    if (kf == NULL)
        return 1;
    char *keys = slurp(kf, &klen), *msg = slurp(stdin, &mlen), name[600];
    fclose(kf);
    struct dkim_verify *v = dkim_verify_begin(msg, mlen, 16);
    for (size_t k = 0; k < dkim_verify_count(v); k++) {
        const struct dkim_sig *s = dkim_verify_sig(v, k, NULL);
        const char *txt =
            (s && dkim_key_name(s, name, sizeof name) == 0) ? find_key(keys, name, &tlen) : NULL;
        struct dkim_result r;
        dkim_verify_one(v, k, txt ? DKIM_DNS_OK : DKIM_DNS_NOTFOUND, txt, tlen, time(NULL), &r);
        printf("%s %s %s d=%s s=%s\n", dkim_status_word(r.status), r.reason[0] ? r.reason : "-",
               s ? dkim_algo_name(s->algo) : "-", s ? s->d : "-", s ? s->s : "-");
    }
    dkim_verify_free(v);
    free(keys);
    free(msg);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc >= 6 && strcmp(argv[1], "sign") == 0)
        return do_sign(argc, argv);
    if (argc == 3 && strcmp(argv[1], "verify") == 0)
        return do_verify(argv);
    fprintf(stderr,
            "usage: dkim_tool sign DOMAIN SELECTOR KEYFILE HC/BC [HEADERS] | verify KEYS\n");
    return 1;
}
