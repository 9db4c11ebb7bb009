/*
 * test_auth.c - unit tests for conf/auth.h: the "begin authenticators"
 *               section (good configurations, each refusal with its
 *               position), and auth_check / auth_advertise, including a
 *               server_condition that looks passwords up in an LMDB file
 *               built with mdb_load and checks them with crypteq.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "cfgfx.h"
#include "conf/auth.h"
#include "conf/config.h"
#include "testutil.h"

#include <cmocka.h>

static const char good_text[] = "auth_advertise_hosts = 192.0.2.0/24\n"
                                "begin authenticators\n"
                                "\n"
                                "plain:\n"
                                "  driver = plaintext\n"
                                "  public_name = plain\n"
                                "  server_prompts = :\n"
                                "  server_condition = ${if eq{$auth3}{secret}}\n"
                                "  server_advertise_condition = ${if def:tls_in_cipher}\n"
                                "\n"
                                "login: driver = plaintext\n"
                                "  server_prompts = User Name:: : Pass word::\n"
                                "  server_condition = ${if and{{eq{$auth1}{u}}{eq{$auth2}{p}}}}\n"
                                "  server_set_id = id-$auth1\n";

/* test_section_good - instances, defaults, prompts, lookup by mechanism */
static void
test_section_good(void **state)
{
    (void)state;
    struct cfg *c = load(good_text);
    if (c == NULL)
        fail_msg("%s", load_err);
    assert_int_equal(auth_count(c), 2);
    const struct cfg_auth *p = auth_at(c, 0), *l = auth_at(c, 1);
    assert_null(auth_at(c, 2));
    assert_string_equal(auth_public_name(p), "PLAIN");
    assert_int_equal(p->mech, AUTH_MECH_PLAIN);
    assert_string_equal(auth_prompt(p, 0), "");
    assert_string_equal(auth_public_name(l), "LOGIN"); /* from the instance name */
    assert_int_equal(l->mech, AUTH_MECH_LOGIN);
    assert_string_equal(auth_prompt(l, 0), "User Name:");
    assert_string_equal(auth_prompt(l, 1), "Pass word:");
    assert_string_equal(auth_prompt(l, 2), "");
    assert_int_equal(l->line, 11);
    assert_ptr_equal(auth_find(c, "login"), l);
    assert_ptr_equal(auth_find(c, "PLAIN"), p);
    assert_null(auth_find(c, "CRAM-MD5"));
    assert_int_equal(host_in(&c->auth_advertise_hosts, "192.0.2.9"), 1);
    assert_int_equal(host_in(&c->auth_advertise_hosts, "198.51.100.1"), 0);
    cfg_free(c);
}

/* test_section_defaults - no section: no authenticators, AUTH offered to all;
 * LOGIN's default prompts */
static void
test_section_defaults(void **state)
{
    (void)state;
    struct cfg *c = load("");
    assert_non_null(c);
    assert_int_equal(auth_count(c), 0);
    assert_null(auth_find(c, "PLAIN"));
    assert_int_equal(host_in(&c->auth_advertise_hosts, "198.51.100.1"), 0); /* TLS only */
    cfg_free(c);
    c = load("begin authenticators\nx:\n driver = plaintext\n public_name = LOGIN\n"
             " server_condition = yes\n");
    assert_non_null(c);
    assert_string_equal(auth_prompt(auth_at(c, 0), 0), "Username:");
    assert_string_equal(auth_prompt(auth_at(c, 0), 1), "Password:");
    cfg_free(c);
}

/* test_section_errors - every refusal names the file and line */
static void
test_section_errors(void **state)
{
    (void)state;
    load_fails("begin authenticators\n"
               "a:\n driver = plaintext\n public_name = PLAIN\n server_condition = yes\n"
               "b:\n driver = plaintext\n public_name = plain\n server_condition = yes\n",
               "t.conf:6:", "public_name PLAIN is already used by a (t.conf:2)");
    load_fails("begin authenticators\n"
               "a:\n driver = plaintext\n public_name = PLAIN\n server_condition = yes\n"
               "a:\n driver = plaintext\n public_name = LOGIN\n server_condition = yes\n",
               "t.conf:6:", "duplicate authenticator name \"a\"");
    load_fails("begin authenticators\nplain:\n driver = cram_md5\n",
               "t.conf:3:", "unknown driver \"cram_md5\"");
    load_fails("begin authenticators\nplain:\n server_condition = yes\n",
               "t.conf:2:", "no driver set");
    load_fails("begin authenticators\nplain:\n driver = plaintext\n\n",
               "t.conf:2:", "server_condition is not set");
    load_fails("begin authenticators\nx:\n driver = plaintext\n server_condition = yes\n",
               "t.conf:2:", "no public_name");
    load_fails("begin authenticators\nx:\n driver = plaintext\n public_name = CRAM-MD5\n",
               "t.conf:4:", "PLAIN or LOGIN");
    load_fails("begin authenticators\nplain:\n driver = plaintext\n client_send = : u : p\n",
               "t.conf:4:", "client authentication is not supported");
    load_fails("begin authenticators\nplain:\n driver = plaintext\n server_bogus = 1\n",
               "t.conf:4:", "unknown option \"server_bogus\"");
    load_fails("begin authenticators\n driver = plaintext\n",
               "t.conf:2:", "before any authenticator");
    load_fails("begin authenticators\nplain:\n driver = plaintext\n server_condition = ${if\n",
               "t.conf:4:", "server_condition");
    load_fails("begin authenticators\nplain:\n driver = plaintext\n server_condition\n",
               "t.conf:4:", "needs a value");
    load_fails("begin authenticators\nlogin:\n driver = plaintext\n server_prompts = User\n"
               " server_condition = yes\n",
               "t.conf:2:", "two prompts");
    load_fails("begin authenticators\nplain:\n driver = plaintext\n server_prompts = a : b\n"
               " server_condition = yes\n",
               "t.conf:2:", "at most one prompt");
    load_fails("begin authenticators\nplain:\n driver = plaintext\n server_condition = yes\n"
               "begin routers\nplain:\n driver = plaintext\n",
               "t.conf:7:", "unknown driver");
    load_fails("auth_advertise_hosts = 300.1.1.1\n", "t.conf:1:", "auth_advertise_hosts");
    load_fails("begin routers\nr:\n driver = accept\n server_condition = yes\n",
               "t.conf:4:", "authenticators");
}

/* check - auth_check on parts; returns rc, *id kept in idbuf */
static int
check(const struct cfg_auth *a, const char *p1, const char *p2, const char *p3, char *idbuf,
      char *msg)
{
    const char *parts[3] = {p1, p2, p3};
    char *id = (char *)"unset";
    int rc = auth_check(a, parts, p3 != NULL ? 3 : 2, NULL, NULL, &id, msg, 200);
    idbuf[0] = '\0';
    if (rc == AUTH_OK) {
        assert_non_null(id);
        snprintf(idbuf, 200, "%s", id);
        free(id);
    } else {
        assert_null(id);
    }
    return rc;
}

/* test_check_simple - results of server_condition, default and set ids */
static void
test_check_simple(void **state)
{
    char id[200], msg[200];
    (void)state;
    struct cfg *c = load(good_text);
    assert_non_null(c);
    const struct cfg_auth *p = auth_find(c, "PLAIN"), *l = auth_find(c, "LOGIN");
    assert_int_equal(check(p, "", "bob", "secret", id, msg), AUTH_OK);
    assert_string_equal(id, "bob"); /* default id: the user name */
    assert_int_equal(check(p, "", "bob", "wrong", id, msg), AUTH_FAIL);
    assert_int_equal(check(p, "", "bob", "", id, msg), AUTH_FAIL);
    assert_int_equal(check(l, "u", "p", NULL, id, msg), AUTH_OK);
    assert_string_equal(id, "id-u");
    assert_int_equal(check(l, "u", "x", NULL, id, msg), AUTH_FAIL);
    cfg_free(c);
}

/* test_check_results - Exim's reading of the condition's result */
static void
test_check_results(void **state)
{
    static const struct {
        const char *cond;
        int rc;
        const char *msg;
    } cases[] = {
        {"yes", AUTH_OK, ""},
        {"TRUE", AUTH_OK, ""},
        {"1", AUTH_OK, ""},
        {"no", AUTH_FAIL, ""},
        {"0", AUTH_FAIL, ""},
        {"", AUTH_FAIL, ""},
        {"${if eq{a}{b}{yes}fail}", AUTH_FAIL, ""},
        {"try later", AUTH_DEFER, "try later"},
        {"${if ={x}{1}}", AUTH_ERROR, "server_condition: column"},
        {"$nosuchvar", AUTH_ERROR, "nosuchvar"},
        {"${lookup{k}lmdb{/nonexistent/x.mdb}}", AUTH_DEFER, "server_condition: "},
    };
    char text[512], id[200], msg[200];
    (void)state;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(text, sizeof text,
                 "begin authenticators\nplain:\n driver = plaintext\n server_condition = %s\n",
                 cases[i].cond);
        struct cfg *c = load(text);
        if (c == NULL)
            fail_msg("%s: %s", cases[i].cond, load_err);
        int rc = check(auth_at(c, 0), "", "u", "p", id, msg);
        if (rc != cases[i].rc || strstr(msg, cases[i].msg) == NULL)
            fail_msg("%s: rc %d msg \"%s\"", cases[i].cond, rc, msg);
        cfg_free(c);
    }
}

/* adv_var - $tls_in_cipher set or not, by arg */
static const char *
adv_var(void *arg, const char *name)
{
    if (strcmp(name, "tls_in_cipher") == 0)
        return arg != NULL ? "TLS_AES_256_GCM_SHA384" : "";
    return NULL;
}

/* test_advertise - server_advertise_condition, with the caller's variables */
static void
test_advertise(void **state)
{
    (void)state;
    struct cfg *c = load(good_text);
    assert_non_null(c);
    const struct cfg_auth *p = auth_find(c, "PLAIN"), *l = auth_find(c, "LOGIN");
    assert_int_equal(auth_advertise(p, adv_var, (void *)1), 1);
    assert_int_equal(auth_advertise(p, adv_var, NULL), 0);
    assert_int_equal(auth_advertise(p, NULL, NULL), 0); /* unknown variable: not offered */
    assert_int_equal(auth_advertise(l, NULL, NULL), 1); /* no condition: always */
    cfg_free(c);
}

/* make_db - an LMDB file built by mdb_load -n -T from pairs of lines */
static void
make_db(const char *dir, const char *path, const char *pairs)
{
    char in[256], cmd[700];
    snprintf(in, sizeof in, "%s/in.txt", dir);
    FILE *f = fopen(in, "w");
    assert_non_null(f);
    fputs(pairs, f);
    fclose(f);
    snprintf(cmd, sizeof cmd, "mdb_load -n -T -f '%s' '%s'", in, path);
    assert_int_equal(system(cmd), 0);
}

/* test_check_lmdb - the usual set-up: hashed passwords in an LMDB file */
static void
test_check_lmdb(void **state)
{
    char dir[64] = "/tmp/spate-auth-XXXXXX", db[128], text[1024], id[200], msg[200];
    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(db, sizeof db, "%s/passwd.mdb", dir);
    make_db(dir, db,
            "alice\n$6$saltsalt$TVLlQcbpFVof5W3Yz4DTP6gRstiNuHwwTt6GLc1E5n0U0aDehy0S5knV8wiOQSpT"
            "0Y77vwPZN.Pq.H91p5hVO1\n"
            "bob\n{md5}5ebe2294ecd0e0f08eab7690d2a6ee69\n"
            "carol\n\n");
    snprintf(text, sizeof text,
             "begin authenticators\n"
             "plain:\n driver = plaintext\n public_name = PLAIN\n"
             " server_condition = ${if crypteq{$auth3}{${lookup{$auth2}lmdb{%s}}}}\n"
             "login:\n driver = plaintext\n public_name = LOGIN\n"
             " server_condition = ${if crypteq{$auth2}{${lookup{$auth1}lmdb{%s}{$value}fail}}}\n",
             db, db);
    struct cfg *c = load(text);
    if (c == NULL)
        fail_msg("%s", load_err);
    const struct cfg_auth *p = auth_find(c, "PLAIN"), *l = auth_find(c, "LOGIN");
    assert_int_equal(check(p, "", "alice", "secret", id, msg), AUTH_OK);
    assert_string_equal(id, "alice");
    assert_int_equal(check(p, "", "alice", "Secret", id, msg), AUTH_FAIL);
    assert_int_equal(check(p, "", "bob", "secret", id, msg), AUTH_OK);
    assert_int_equal(check(p, "", "bob", "secrets", id, msg), AUTH_FAIL);
    assert_int_equal(check(p, "", "carol", "", id, msg), AUTH_FAIL); /* empty hash */
    assert_int_equal(check(p, "", "carol", "x", id, msg), AUTH_FAIL);
    assert_int_equal(check(p, "", "nobody", "secret", id, msg), AUTH_FAIL);
    assert_int_equal(check(l, "alice", "secret", NULL, id, msg), AUTH_OK);
    assert_int_equal(check(l, "nobody", "", NULL, id, msg), AUTH_FAIL);
    cfg_free(c);
    tu_rmtree(dir);
    /* the file gone: the lookup cannot be done, a temporary failure */
    snprintf(text, sizeof text,
             "begin authenticators\nplain:\n driver = plaintext\n"
             " server_condition = ${if crypteq{$auth3}{${lookup{$auth2}lmdb{%s/gone.mdb}}}}\n",
             dir);
    c = load(text);
    assert_non_null(c);
    assert_int_equal(check(auth_at(c, 0), "", "alice", "secret", id, msg), AUTH_DEFER);
    assert_non_null(strstr(msg, "server_condition:"));
    cfg_free(c);
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_section_good),   cmocka_unit_test(test_section_defaults),
    cmocka_unit_test(test_section_errors), cmocka_unit_test(test_check_simple),
    cmocka_unit_test(test_check_results),  cmocka_unit_test(test_advertise),
    cmocka_unit_test(test_check_lmdb),
};

/* clang-format off */
int main(int argc, char **argv) { if (argc > 1) cmocka_set_test_filter(argv[1]); return cmocka_run_group_tests(tests, NULL, NULL); }
/* clang-format on */
