/*
 * expand_cert.c - the fields of ${certextract{FIELD}{CERT}} (see expand.h):
 *                 CERT is a certificate in PEM, as event variables such as
 *                 $tls_out_peercert carry it; OpenSSL parses it here.
 */
#include <arpa/inet.h>
#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/expand_int.h"

/* bio_text - what was written to b, as a malloc'd string */
static char *
bio_text(BIO *b)
{
    char *data;
    long n = BIO_get_mem_data(b, &data);
    return exp__xstrndup(n > 0 ? data : "", n > 0 ? (size_t)n : 0);
}

/* name_field - a distinguished name in RFC 2253 form ("CN=x,O=y") */
static char *
name_field(const X509_NAME *n)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s;
    if (b == NULL)
        abort();
    X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253);
    s = bio_text(b);
    BIO_free(b);
    return s;
}

/* time_field - "Jan  2 03:04:05 2026 GMT" */
static char *
time_field(const ASN1_TIME *t)
{
    BIO *b = BIO_new(BIO_s_mem());
    char *s;
    if (b == NULL)
        abort();
    ASN1_TIME_print(b, t);
    s = bio_text(b);
    BIO_free(b);
    return s;
}

/* serial_field - the serial number in upper-case hexadecimal */
static char *
serial_field(const X509 *x)
{
    BIGNUM *bn = ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), NULL);
    char *hex = bn != NULL ? BN_bn2hex(bn) : NULL, *s;
    s = exp__xstrndup(hex != NULL ? hex : "", hex != NULL ? strlen(hex) : 0);
    OPENSSL_free(hex);
    BN_free(bn);
    return s;
}

/* san_add - one subjectAltName entry as TAG=value, newline-separated */
static void
san_add(struct sbuf *b, const GENERAL_NAME *g)
{
    const char *tag = NULL;
    const ASN1_STRING *v = NULL;
    char ip[64];
    switch (g->type) {
    case GEN_DNS:
        tag = "DNS", v = g->d.dNSName;
        break;
    case GEN_URI:
        tag = "URI", v = g->d.uniformResourceIdentifier;
        break;
    case GEN_EMAIL:
        tag = "MAIL", v = g->d.rfc822Name;
        break;
    case GEN_IPADD:
        tag = "IP", v = g->d.iPAddress;
        break;
    default:
        return;
    }
    if (b->len > 0)
        exp__sb_add(b, "\n", 1);
    exp__sb_add(b, tag, strlen(tag));
    exp__sb_add(b, "=", 1);
    if (g->type == GEN_IPADD) {
        int n = ASN1_STRING_length(v);
        ip[0] = '\0';
        if (n == 4 || n == 16)
            inet_ntop(n == 4 ? AF_INET : AF_INET6, ASN1_STRING_get0_data(v), ip, sizeof(ip));
        exp__sb_add(b, ip, strlen(ip));
        return;
    }
    exp__sb_add(b, (const char *)ASN1_STRING_get0_data(v), (size_t)ASN1_STRING_length(v));
}

/* san_field - "DNS=a\nDNS=b\nMAIL=c" */
static char *
san_field(const X509 *x)
{
    GENERAL_NAMES *gs = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
    struct sbuf b = {0};
    for (int i = 0; gs != NULL && i < sk_GENERAL_NAME_num(gs); i++)
        san_add(&b, sk_GENERAL_NAME_value(gs, i));
    GENERAL_NAMES_free(gs);
    return exp__sb_str(&b);
}

/* number_field - a decimal number */
static char *
number_field(long v)
{
    char buf[24];
    snprintf(buf, sizeof(buf), "%ld", v);
    return exp__xstrndup(buf, strlen(buf));
}

/* exp__cert_field_known - is name a certextract field? */
int
exp__cert_field_known(const char *name)
{
    static const char *const fields[] = {"subject",  "issuer",        "notbefore",
                                         "notafter", "serial_number", "subj_altname",
                                         "version",  "sig_algorithm"};
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
        if (strcmp(name, fields[i]) == 0)
            return 1;
    return 0;
}

/* field_of - the named field of x */
static char *
field_of(const X509 *x, const char *f)
{
    if (strcmp(f, "subject") == 0)
        return name_field(X509_get_subject_name(x));
    if (strcmp(f, "issuer") == 0)
        return name_field(X509_get_issuer_name(x));
    if (strcmp(f, "notbefore") == 0)
        return time_field(X509_get0_notBefore(x));
    if (strcmp(f, "notafter") == 0)
        return time_field(X509_get0_notAfter(x));
    if (strcmp(f, "serial_number") == 0)
        return serial_field(x);
    if (strcmp(f, "subj_altname") == 0)
        return san_field(x);
    if (strcmp(f, "version") == 0)
        return number_field(X509_get_version(x) + 1);
    if (strcmp(f, "sig_algorithm") == 0) {
        const char *ln = OBJ_nid2ln(X509_get_signature_nid(x));
        return exp__xstrndup(ln != NULL ? ln : "", ln != NULL ? strlen(ln) : 0);
    }
    return NULL;
}

/* exp__certextract - field of the PEM certificate pem: 0 with *out malloc'd,
 * 1 when pem is empty (no certificate), -1 with err set */
int
exp__certextract(const char *field, const char *pem, char **out, char *err, size_t errlen)
{
    BIO *b;
    X509 *x;
    *out = NULL;
    if (!exp__cert_field_known(field)) {
        snprintf(err, errlen, "certextract: unknown field \"%s\"", field);
        return -1;
    }
    if (pem[0] == '\0')
        return 1;
    if ((b = BIO_new_mem_buf(pem, -1)) == NULL)
        abort();
    ERR_set_mark(); /* this may run inside a TLS handshake: leave its errors alone */
    x = PEM_read_bio_X509(b, NULL, NULL, NULL);
    ERR_pop_to_mark();
    BIO_free(b);
    if (x == NULL) {
        snprintf(err, errlen, "certextract: not a PEM certificate");
        return -1;
    }
    *out = field_of(x, field);
    X509_free(x);
    return 0;
}
