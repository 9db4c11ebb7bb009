/*
 * aclfx.c - the ACL unit programs' fixture (aclfx.h) and a weak stand-in
 *           for the rate limiter (rl_parse "N / period ..." and an rl_check
 *           that counts calls: over the limit after N calls).
 */
#include "aclfx.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

struct fx fx;

/* fx_verify - the scripted verify callback */
static int
fx_verify(void *arg, int what, const char *address, char *msg, size_t msglen)
{
    (void)arg;
    fx.verify_calls++;
    snprintf(fx.verify_addr, sizeof fx.verify_addr, "%s:%s",
             what == ACL_VERIFY_RECIPIENT ? "rcpt" : "sender", address);
    if (fx.verify_answer == ACL_VERIFY_FAIL)
        snprintf(msg, msglen, "Unrouteable address");
    if (fx.verify_answer == ACL_VERIFY_DEFER)
        snprintf(msg, msglen, "lookup timed out");
    return fx.verify_answer;
}

/* fx_var - other variables: $message_size and $tls_in_cipher */
static const char *
fx_var(void *arg, const char *name)
{
    (void)arg;
    if (strcmp(name, "message_size") == 0)
        return "1234";
    if (strcmp(name, "tls_in_cipher") == 0)
        return "";
    return NULL;
}

/* fx_ip - set the client address */
void
fx_ip(const char *ip)
{
    fx.client = strchr(ip, ':') ? sa6(ip) : sa4(ip);
    ((struct sockaddr_in *)&fx.client)->sin_port = htons(4000);
}

/* fx_load - load text and reset the environment */
void
fx_load(const char *text)
{
    acl_vars_free(fx.env.cvars);
    acl_vars_free(fx.env.mvars);
    memset(&fx, 0, sizeof fx);
    fx.cfg = load(text);
    if (fx.cfg == NULL)
        fail_msg("load failed: %s", load_err);
    fx_ip("192.0.2.10");
    fx.local = sa4("198.51.100.1");
    fx.env = (struct acl_env){.where = ACL_WHERE_RCPT,
                              .cfg = fx.cfg,
                              .client = (struct sockaddr *)&fx.client,
                              .local = (struct sockaddr *)&fx.local,
                              .helo = "client.example",
                              .sender = "a@sender.example",
                              .recipient = "user@example.com",
                              .var = fx_var,
                              .verify = fx_verify,
                              .conn_scope = "conn1",
                              .mail_scope = "mail1",
                              .cvars = acl_vars_new(),
                              .mvars = acl_vars_new()};
}

/* fx_run - run the ACL named name */
int
fx_run(const char *name)
{
    const struct acl *a = name ? acl_find(fx.cfg, name) : NULL;
    if (name != NULL && a == NULL)
        fail_msg("no ACL %s", name);
    return acl_run(a, &fx.env, &fx.res);
}

/* fx_expect - see aclfx.h */
void
fx_expect(const char *names, int want)
{
    char buf[256], *save = NULL;
    snprintf(buf, sizeof(buf), "%s", names);
    for (char *n = strtok_r(buf, " ", &save); n != NULL; n = strtok_r(NULL, " ", &save)) {
        int rc = fx_run(n);
        if (rc != want)
            fail_msg("ACL %s: %d, not %d", n, rc, want);
        acl_result_clear(&fx.res);
    }
}

/* fx_error_names - see aclfx.h */
void
fx_error_names(const char *name, const char *word)
{
    assert_int_equal(fx_run(name), ACL_ERROR);
    assert_non_null(fx.res.log_message);
    assert_non_null(strstr(fx.res.log_message, word));
    acl_result_clear(&fx.res);
}

/* fx_done - free the case's objects */
void
fx_done(void)
{
    acl_result_clear(&fx.res);
    acl_vars_free(fx.env.cvars);
    acl_vars_free(fx.env.mvars);
    cfg_free(fx.cfg);
    memset(&fx, 0, sizeof fx);
}
