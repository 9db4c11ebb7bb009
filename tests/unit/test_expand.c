/*
 * test_expand.c - unit tests for expansion strings (conf/expand.c).
 *
 * Every construct of the language against a fixed variable table: text and
 * escapes, variables, ${if} with each condition, nested ifs, match captures
 * and their scope, fail, the operators, lookup syntax (the lookups
 * themselves are in test_lookup.c), acl; malformed strings, each of which
 * must be refused with a message that names a column; evaluation errors;
 * concurrent evaluation of one compiled string; and ${certextract} on a
 * certificate made at test time ($cert, PEM, as events carry
 * $tls_out_peercert).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "conf/expand.h"
#include "conf/lookup.h"

#include <cmocka.h>

static const char *const vars[][2] = {
    {"domain", "Example.COM"},
    {"local_part", "John.Doe"},
    {"event_name", "msg:delivery"},
    {"empty", ""},
    {"num", "42"},
    {"big", "2K"},
    {"spacey", "a b\\c\td"},
    {"pattern", "^([a-z]+)\\.([a-z]+)$"},
    {"badpattern", "(unclosed"},
    {"yes", "yes"},
    {"word", "maybe"},
};

static char *cert_pem; /* $cert: made by make_cert() */

/* test_var - the fixed variable table; NULL for unknown names */
static const char *
test_var(void *arg, const char *name)
{
    (void)arg;
    if (strcmp(name, "cert") == 0)
        return cert_pem != NULL ? cert_pem : "";
    for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++)
        if (strcmp(vars[i][0], name) == 0)
            return vars[i][1];
    return NULL;
}

/* run - compile and evaluate; the exp_rc (compile failure fails the test) */
static int
run(const char *src, char **out, char *err, size_t errlen, unsigned flags)
{
    char cerr[256];
    struct exp_str *e = exp_compile(src, cerr, sizeof cerr);
    struct exp_ctx ctx = {.var = test_var, .err = err, .errlen = errlen, .flags = flags};
    int rc;

    if (e == NULL)
        fail_msg("\"%s\" did not compile: %s", src, cerr);
    rc = exp_eval(e, &ctx, out);
    exp_free(e);
    return rc;
}

/* expect - src evaluates to want */
static void
expect(const char *src, const char *want)
{
    char *out = NULL, err[256] = "";
    int rc = run(src, &out, err, sizeof err, 0);

    if (rc != EXP_OK)
        fail_msg("\"%s\": %s: %s", src, exp_rc_name(rc), err);
    if (strcmp(out, want) != 0)
        fail_msg("\"%s\" gave \"%s\", wanted \"%s\"", src, out, want);
    free(out);
}

/* expect_rc - src evaluates to rc, with msg (if not NULL) in the error */
static void
expect_rc(const char *src, int want, const char *msg)
{
    char *out = (char *)1, err[256] = "";
    int rc = run(src, &out, err, sizeof err, 0);

    if (rc != want)
        fail_msg("\"%s\": got %s (%s), wanted %s", src, exp_rc_name(rc), err, exp_rc_name(want));
    assert_null(out);
    if (msg != NULL && strstr(err, msg) == NULL)
        fail_msg("\"%s\": message \"%s\" lacks \"%s\"", src, err, msg);
}

/* expect_syntax - src is refused with "column col: ...msg..." */
static void
expect_syntax(const char *src, int col, const char *msg)
{
    char err[256] = "", prefix[32];
    struct exp_str *e = exp_compile(src, err, sizeof err);

    if (e != NULL)
        fail_msg("\"%s\" compiled", src);
    snprintf(prefix, sizeof prefix, "column %d: ", col);
    if (strncmp(err, prefix, strlen(prefix)) != 0)
        fail_msg("\"%s\": \"%s\" does not start \"%s\"", src, err, prefix);
    if (msg != NULL && strstr(err, msg) == NULL)
        fail_msg("\"%s\": \"%s\" lacks \"%s\"", src, err, msg);
}

static void
test_text_and_escapes(void **state)
{
    (void)state;
    expect("", "");
    expect("plain text", "plain text");
    expect("cost \\$5", "cost $5");
    expect("a\\\\b", "a\\b");
    expect("\\{x\\}", "{x}");
    expect("tab\\there\\nnl\\r", "tab\there\nnl\r");
    expect("\\x41\\x4a!", "AJ!");
    expect("\\101\\060", "A0");
    expect("\\N${not expanded}\\N$num", "${not expanded}42");
    expect("end\\", "end\\");
    expect("top } and { stay", "top } and { stay");
    expect("\\q\\-", "q-");
}

static void
test_variables(void **state)
{
    (void)state;
    expect("$domain", "Example.COM");
    expect("${domain}", "Example.COM");
    expect("$local_part@$domain.net", "John.Doe@Example.COM.net");
    expect("<${num}x>", "<42x>");
    expect("[$empty]", "[]");
    expect("$value|$1|${0}", "||"); /* outside a lookup / match */
    expect_rc("x $nosuch y", EXP_ERROR, "column 3: unknown variable name \"nosuch\"");
    expect_rc("${if eq{$nosuch_either}{}{a}{b}}", EXP_ERROR, "\"nosuch_either\"");
}

static void
test_unknown_variable_without_var_fn(void **state)
{
    char err[128], *out;
    struct exp_str *e = exp_compile("a$domain", err, sizeof err);
    struct exp_ctx ctx = {.err = err, .errlen = sizeof err};

    (void)state;
    assert_non_null(e);
    assert_int_equal(exp_eval(e, &ctx, &out), EXP_ERROR);
    assert_non_null(strstr(err, "unknown variable name \"domain\""));
    assert_null(out);
    exp_free(e);
}

static void
test_if_string_conditions(void **state)
{
    (void)state;
    expect("${if eq{$event_name}{msg:delivery}{yes}{no}}", "yes");
    expect("${if eq {$event_name} {msg:complete} {yes} {no}}", "no");
    expect("${if eq{a}{b}{yes}}", "");
    expect("${if eq{a}{a}{yes}}", "yes");
    expect("${if eq{a}{a}}", "true");
    expect("${if eq{a}{b}}", "");
    expect("${if eqi{$domain}{example.com}{same}{diff}}", "same");
    expect("${if eq{$domain}{example.com}{same}{diff}}", "diff");
    expect("${if true{t}{f}}${if false{t}{f}}", "tf");
}

static void
test_if_numeric_conditions(void **state)
{
    (void)state;
    expect("${if ={$num}{42}{y}{n}}", "y");
    expect("${if =={42}{ 42 }{y}{n}}", "y");
    expect("${if <{3}{10}{y}{n}}", "y"); /* numeric, not string, order */
    expect("${if >{3}{10}{y}{n}}", "n");
    expect("${if <={10}{10}{y}{n}}${if >={9}{10}{y}{n}}", "yn");
    expect("${if ={$big}{2048}{y}{n}}", "y");
    expect("${if ={1M}{1048576}{y}{n}}${if ={-3}{-3}{y}{n}}", "yy");
    expect("${if ={}{0}{y}{n}}", "y"); /* Exim: empty is zero */
    expect_rc("${if <{abc}{3}{y}{n}}", EXP_ERROR, "\"abc\" is not a number");
    expect_rc("${if <{1}{3x}{y}{n}}", EXP_ERROR, "\"3x\" is not a number");
    expect_rc("${if ={99999999999999999999}{1}}", EXP_ERROR, "not a number");
}

static void
test_match_captures(void **state)
{
    (void)state;
    expect("${if match{abc123}{([a-z]+)([0-9]+)}{$2-$1 [$0]}{no}}", "123-abc [abc123]");
    expect("${if match{abc}{^x}{yes}{no}}", "no");
    /* captures live in the branches only, and are restored after */
    expect("${if match{ab}{(a)}{$1}}[$1]", "a[]");
    expect("${if match{ab}{(a)}{${if match{ab}{(b)}{$1}}$1}}", "ba");
    /* a dynamic pattern is compiled at evaluation */
    expect("${if match{$local_part}{\\N^([A-Za-z]+)\\.(\\w+)$\\N}{$2}}", "Doe");
    expect("${if match{john.doe}{$pattern}{$1+$2}{no}}", "john+doe");
    expect_rc("${if match{x}{$badpattern}{y}}", EXP_ERROR, "regex error");
    /* an unmatched optional group reads "" */
    expect("${if match{b}{(a)?(b)}{<$1><$2>}}", "<><b>");
    /* captures of an earlier member of "and" are visible to the later ones */
    expect("${if and{{match{k=v}{(\\\\w)=(\\\\w)}}{eq{$2}{v}}}{$1}{no}}", "k");
}

static void
test_def_bool_and_or_not(void **state)
{
    (void)state;
    expect("${if def:domain{y}{n}}${if def:empty{y}{n}}${if def:$num{y}{n}}", "yny");
    expect_rc("${if def:nosuch{y}{n}}", EXP_ERROR, "\"nosuch\"");
    expect("${if bool{yes}{y}{n}}${if bool{ TRUE }{y}{n}}${if bool{1}{y}{n}}", "yyy");
    expect("${if bool{no}{y}{n}}${if bool{0}{y}{n}}${if bool{}{y}{n}}${if bool{False}{y}{n}}",
           "nnnn");
    expect("${if bool{$yes}{y}{n}}", "y");
    expect_rc("${if bool{$word}{y}{n}}", EXP_ERROR, "unrecognised boolean value \"maybe\"");
    expect("${if and{{eq{a}{a}}{eq{b}{b}}}{y}{n}}", "y");
    expect("${if and{ {eq{a}{a}} {eq{b}{c}} }{y}{n}}", "n");
    expect("${if or{{eq{a}{b}}{eq{b}{b}}}{y}{n}}", "y");
    expect("${if or{{eq{a}{b}}{eq{b}{c}}}{y}{n}}", "n");
    expect("${if and{}{y}{n}}${if or{}{y}{n}}", "yn");
    expect("${if !eq{a}{b}{y}{n}}${if !!eq{a}{b}{y}{n}}", "yn");
    expect("${if !def:empty{unset}}", "unset");
    expect("${if and{{!eq{a}{b}}{or{{false}{bool{yes}}}}}{deep}}", "deep");
    /* short-circuit: the erroneous member is never evaluated */
    expect("${if or{{true}{eq{$nosuch}{x}}}{y}{n}}", "y");
    expect("${if and{{false}{eq{$nosuch}{x}}}{y}{n}}", "n");
    expect_rc("${if and{{true}{eq{$nosuch}{x}}}{y}{n}}", EXP_ERROR, "\"nosuch\"");
}

static void
test_nested_if(void **state)
{
    (void)state;
    const char *s = "${if eq{$event_name}{msg:delivery}"
                    "{${if eqi{$domain}{example.com}{${if >{$num}{40}{big}{small}}}{other}}}"
                    "{${if eq{$event_name}{tcp:connect}{refuse}}}}";
    expect(s, "big");
    expect("${if eq{${if eq{a}{a}{x}{y}}}{x}{inner-yes}{inner-no}}", "inner-yes");
    expect("a${if eq{1}{1}{b${if eq{2}{3}{X}{c}}d}}e", "abcde");
}

static void
test_fail(void **state)
{
    (void)state;
    expect_rc("${if eq{a}{b}{yes}fail}", EXP_FAIL, "forced failure");
    expect("${if eq{a}{a}{yes}fail}", "yes");
    expect_rc("x${if eq{a}{b}{yes} fail }y", EXP_FAIL, NULL);
    /* a forced failure inside propagates out */
    expect_rc("${lc:${if eq{a}{b}{yes}fail}}", EXP_FAIL, NULL);
    expect("${if eq{a}{b}{yes}{fail}}", "fail"); /* in braces it is text */
}

static void
test_operators(void **state)
{
    (void)state;
    expect("${lc:$domain}", "example.com");
    expect("${uc:$local_part}-${uc:}", "JOHN.DOE-");
    expect("${lc:${uc:MiXeD}}", "mixed");
    expect("${quote_redis:$spacey}", "a\\ b\\\\c\\\td");
    expect("${quote_redis:plain}", "plain");
    expect("${lc: keep spaces }", " keep spaces ");
}

static void
test_acl_not_available(void **state)
{
    (void)state;
    expect_rc("${acl{check_event}}", EXP_ERROR, "ACLs not available");
    expect_rc("${acl {check_event}{arg1} {arg2}}", EXP_ERROR, "column 1: ACLs not available");
}

static void
test_lookup_syntax(void **state)
{
    char err[256];
    struct exp_str *e;

    (void)state;
    e = exp_compile("${lookup redis{GET k}}${lookup redis {GET k}{<$value>}}"
                    "${lookup redis{GET k}{$value}{none}}${lookup redis{GET k}{$value}fail}"
                    "${lookup{$domain}lmdb{/x.mdb}}${lookup {k} lmdb {/x.mdb} {$value} fail}",
                    err, sizeof err);
    if (e == NULL)
        fail_msg("%s", err);
    assert_int_equal(exp_is_constant(e), 0);
    exp_free(e);
    /* lookups refused by the caller's flags */
    char *out;
    expect_rc("${lookup redis{GET k}}", EXP_DEFER, "redis lookup deferred");
    assert_int_equal(run("${lookup redis{GET k}}", &out, err, sizeof err, EXP_F_NO_LOOKUPS),
                     EXP_ERROR);
    assert_non_null(strstr(err, "lookups are not allowed here"));
    /* the lookup's arguments are evaluated before it runs: errors there come first */
    expect_rc("${lookup{$nosuch}lmdb{/x}}", EXP_ERROR, "\"nosuch\"");
}

static void
test_compile_errors(void **state)
{
    (void)state;
    expect_syntax("${if eq{a}{b}{yes}", 19, "missing '}' to end ${if");
    expect_syntax("abc ${domain", 13, "missing '}' to end ${domain");
    expect_syntax("$", 1, "'$' not followed by a name");
    expect_syntax("cost $ 5", 6, "'$' not followed");
    expect_syntax("${}", 3, "expected a name after \"${\"");
    expect_syntax("${if }", 6, "expected a condition");
    expect_syntax("${if eq{a}}", 11, "expected '{' to start the second argument");
    expect_syntax("${if eq{a}{b}{y}{n}x}", 20, "missing '}' to end ${if");
    expect_syntax("${if foo{a}{b}}", 6, "unknown condition \"foo\"");
    expect_syntax("${if =<{1}{2}}", 6, "unknown condition \"=<\"");
    expect_syntax("${if eq{a}{b} fail}", 19, "\"fail\" needs a yes-branch");
    expect_syntax("${if eq{a}{b}{c}{d}{e}}", 20, "missing '}' to end ${if");
    expect_syntax("${if def{x}}", 9, "expected ':' after \"def\"");
    expect_syntax("${if def:}", 10, "expected a variable name");
    expect_syntax("${if and{{eq{a}{b}}x}}", 20, "expected '{' or '}' in the \"and\" list");
    expect_syntax("${if and{{eq{a}{b}}", 20, "expected '{' or '}'");
    expect_syntax("${if or {{eq{a}{b}}{true} {false}", 34, "expected '{' or '}'");
    expect_syntax("${if and eq}", 10, "expected '{' after \"and\"");
    expect_syntax("${if !}", 7, "expected a condition");
    expect_syntax("${if match{x}{(ab}{y}}", 15, "regex error");
    expect_syntax("${frobnicate:x}", 3, "unknown operator \"frobnicate\"");
    expect_syntax("${quote_pgsql:x}", 3, "unknown quoting type \"pgsql\"");
    expect_syntax("${lc:abc", 9, "missing '}' to end ${lc:");
    expect_syntax("${domain x}", 3, "unknown expansion item \"domain\"");
    expect_syntax("${lookup }", 10, "expected a lookup type");
    expect_syntax("${lookup mysql{select}}", 10, "unknown lookup type \"mysql\"");
    expect_syntax("${lookup{k}redis{GET k}}", 12, "redis lookups take a query");
    expect_syntax("${lookup lmdb{/x}}", 10, "lmdb lookups need a key");
    expect_syntax("${lookup redis}", 15, "expected '{' to start the lookup query");
    expect_syntax("${lookup redis{GET x}{a}{b}{c}}", 28, "missing '}' to end ${lookup");
    expect_syntax("${lookup{k}lmdb}", 16, "expected '{' to start the lookup file");
    expect_syntax("${acl x}", 7, "expected '{' to start the ACL name");
    expect_syntax("\\N never closed", 1, "\\N without a closing \\N");
    expect_syntax("nul \\0 here", 5, "NUL");
    expect_syntax("${if eq{a}{b}{${uc:x}", 22, "missing '}'");
}

static void
test_nesting_limit(void **state)
{
    char src[4096], err[256];
    size_t n = 0;
    struct exp_str *e;

    (void)state;
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(src + n, sizeof src - n, "${lc:");
    for (int i = 0; i < 200; i++)
        src[n++] = '}';
    src[n] = '\0';
    e = exp_compile(src, err, sizeof err);
    assert_null(e);
    assert_non_null(strstr(err, "nesting deeper than"));
    assert_memory_equal(err, "column ", 7);
    n = 0;
    for (int i = 0; i < 300; i++)
        src[n++] = '!';
    strcpy(src + n, "true");
    memmove(src + 5, src, strlen(src) + 1);
    memcpy(src, "${if ", 5);
    strcat(src, "}");
    assert_null(exp_compile(src, err, sizeof err));
    assert_non_null(strstr(err, "nesting deeper than"));
    /* 20 levels are fine */
    n = 0;
    for (int i = 0; i < 20; i++)
        n += (size_t)snprintf(src + n, sizeof src - n, "${uc:");
    src[n++] = 'x';
    for (int i = 0; i < 20; i++)
        src[n++] = '}';
    src[n] = '\0';
    expect(src, "X");
}

static void
test_constant_and_source(void **state)
{
    char err[64];
    struct exp_str *e = exp_compile("just \\$text", err, sizeof err);

    (void)state;
    assert_non_null(e);
    assert_int_equal(exp_is_constant(e), 1);
    assert_string_equal(exp_source(e), "just \\$text");
    exp_free(e);
    e = exp_compile("$domain", err, sizeof err);
    assert_int_equal(exp_is_constant(e), 0);
    exp_free(e);
    exp_free(NULL);
    assert_string_equal(exp_rc_name(EXP_DEFER), "defer");
}

struct thread_arg {
    const struct exp_str *e;
    int bad;
};

/* eval_thread - evaluate one shared compiled string many times */
static void *
eval_thread(void *p)
{
    struct thread_arg *a = p;
    struct exp_ctx ctx = {.var = test_var};

    for (int i = 0; i < 2000; i++) {
        char *out;
        if (exp_eval(a->e, &ctx, &out) != EXP_OK || strcmp(out, "doe/john") != 0)
            a->bad++;
        free(out);
    }
    return NULL;
}

static void
test_concurrent_eval(void **state)
{
    char err[128];
    struct exp_str *e = exp_compile(
        "${if match{${lc:$local_part}}{^(\\\\w+)\\\\.(\\\\w+)}{$2/$1}{no}}", err, sizeof err);
    pthread_t th[4];
    struct thread_arg a[4];

    (void)state;
    if (e == NULL)
        fail_msg("%s", err);
    for (int i = 0; i < 4; i++) {
        a[i] = (struct thread_arg){.e = e};
        assert_int_equal(pthread_create(&th[i], NULL, eval_thread, &a[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(a[i].bad, 0);
    }
    exp_free(e);
}

/* add_san - subjectAltName DNS:a.example.test, DNS:b.example.test,
 * email:pm@example.test, IP:192.0.2.7 */
static void
add_san(X509 *x)
{
    X509V3_CTX v3;
    X509_EXTENSION *ext;
    X509V3_set_ctx(&v3, x, x, NULL, NULL, 0);
    ext = X509V3_EXT_conf_nid(NULL, &v3, NID_subject_alt_name,
                              "DNS:a.example.test,DNS:b.example.test,email:pm@example.test,"
                              "IP:192.0.2.7");
    assert_non_null(ext);
    assert_int_equal(X509_add_ext(x, ext, -1), 1);
    X509_EXTENSION_free(ext);
}

/* make_cert - a v3 certificate, serial 0x1A2B, valid 2020-01-02 03:04:05 to
 * 2030-06-07 08:09:10, subject CN=leaf.example.test,O=Spate Unit, issuer
 * CN=Spate Unit CA, signed with ECDSA/SHA-256; in PEM in cert_pem */
static void
make_cert(void)
{
    EVP_PKEY *k = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    X509_NAME *subj = X509_NAME_new(), *iss = X509_NAME_new();
    BIO *b = BIO_new(BIO_s_mem());
    char *data;
    long n;
    assert_true(k && x && subj && iss && b);
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), 0x1A2B);
    ASN1_TIME_set_string(X509_getm_notBefore(x), "20200102030405Z");
    ASN1_TIME_set_string(X509_getm_notAfter(x), "20300607080910Z");
    X509_NAME_add_entry_by_txt(subj, "O", MBSTRING_ASC, (const unsigned char *)"Spate Unit", -1,
                               -1, 0);
    X509_NAME_add_entry_by_txt(subj, "CN", MBSTRING_ASC,
                               (const unsigned char *)"leaf.example.test", -1, -1, 0);
    X509_NAME_add_entry_by_txt(iss, "CN", MBSTRING_ASC, (const unsigned char *)"Spate Unit CA",
                               -1, -1, 0);
    X509_set_subject_name(x, subj);
    X509_set_issuer_name(x, iss);
    X509_set_pubkey(x, k);
    add_san(x);
    assert_true(X509_sign(x, k, EVP_sha256()) > 0);
    assert_int_equal(PEM_write_bio_X509(b, x), 1);
    n = BIO_get_mem_data(b, &data);
    cert_pem = strndup(data, (size_t)n);
    BIO_free(b);
    X509_NAME_free(subj);
    X509_NAME_free(iss);
    X509_free(x);
    EVP_PKEY_free(k);
}

static void
test_certextract_fields(void **state)
{
    (void)state;
    make_cert();
    expect("${certextract{subject}{$cert}}", "CN=leaf.example.test,O=Spate Unit");
    expect("${certextract{issuer}{$cert}}", "CN=Spate Unit CA");
    expect("${certextract{notbefore}{$cert}}", "Jan  2 03:04:05 2020 GMT");
    expect("${certextract{notafter}{$cert}}", "Jun  7 08:09:10 2030 GMT");
    expect("${certextract{serial_number}{$cert}}", "1A2B");
    expect("${certextract{subj_altname}{$cert}}",
           "DNS=a.example.test\nDNS=b.example.test\nMAIL=pm@example.test\nIP=192.0.2.7");
    expect("${certextract{version}{$cert}}", "3");
    expect("${certextract{sig_algorithm}{$cert}}", "ecdsa-with-SHA256");
    /* in conditions, as an event action uses it */
    expect("${if match{${certextract{issuer}{$cert}}}{Unit CA}{refuse}{}}", "refuse");
    expect("${if match{${certextract{issuer}{$cert}}}{Intermediate}{refuse}{}}", "");
    /* branches, with $value */
    expect("${certextract{issuer}{$cert}{<$value>}{none}}", "<CN=Spate Unit CA>");
    free(cert_pem);
    cert_pem = NULL;
}

static void
test_certextract_errors(void **state)
{
    (void)state;
    /* no certificate (clear text, or before TLS): empty, the no-branch, or fail */
    expect("${certextract{subject}{$cert}}", "");
    expect("${certextract{subject}{$empty}{yes}{no}}", "no");
    expect_rc("${certextract{subject}{$empty}{yes}fail}", EXP_FAIL, NULL);
    expect_rc("${certextract{subject}{not a certificate}}", EXP_ERROR, "not a PEM certificate");
    expect_rc("${certextract{${lc:BOGUS}}{$cert}}", EXP_ERROR, "unknown field \"bogus\"");
    expect_syntax("${certextract{bogus}{$cert}}", 15, "unknown certextract field \"bogus\"");
    expect_syntax("${certextract{subject}}", 23, "expected '{' to start the certificate");
    expect_syntax("${certextract{subject}{$cert}", 30, "missing '}' to end ${certextract");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_text_and_escapes),
    cmocka_unit_test(test_variables),
    cmocka_unit_test(test_unknown_variable_without_var_fn),
    cmocka_unit_test(test_if_string_conditions),
    cmocka_unit_test(test_if_numeric_conditions),
    cmocka_unit_test(test_match_captures),
    cmocka_unit_test(test_def_bool_and_or_not),
    cmocka_unit_test(test_nested_if),
    cmocka_unit_test(test_fail),
    cmocka_unit_test(test_operators),
    cmocka_unit_test(test_acl_not_available),
    cmocka_unit_test(test_lookup_syntax),
    cmocka_unit_test(test_compile_errors),
    cmocka_unit_test(test_nesting_limit),
    cmocka_unit_test(test_constant_and_source),
    cmocka_unit_test(test_concurrent_eval),
    cmocka_unit_test(test_certextract_fields),
    cmocka_unit_test(test_certextract_errors),
};

/* clang-format off */
int main(int argc, char **argv) { if (argc > 1) cmocka_set_test_filter(argv[1]); return cmocka_run_group_tests(tests, NULL, NULL); }
/* clang-format on */
