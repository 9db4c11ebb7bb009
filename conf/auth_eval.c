/*
 * auth_eval.c - using the authenticators: finding one by mechanism, running
 *               server_condition / server_set_id with $auth1..$auth3, and
 *               server_advertise_condition. Contract in auth.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/auth.h"
#include "conf/config.h"
#include "conf/expand.h"

/* What the variable callback of an evaluation sees. */
struct auth_vars {
    const char *const *parts;
    size_t n;
    const char *(*var)(void *, const char *);
    void *arg;
};

/* auth_var - $auth1..$auth3 from the parts, anything else from the caller */
static const char *
auth_var(void *arg, const char *name)
{
    const struct auth_vars *v = arg;
    if (strncmp(name, "auth", 4) == 0 && name[4] >= '1' && name[4] <= '3' && name[5] == '\0') {
        size_t i = (size_t)(name[4] - '1');
        return i < v->n && v->parts[i] != NULL ? v->parts[i] : "";
    }
    return v->var != NULL ? v->var(v->arg, name) : NULL;
}

/* auth_find - the authenticator for a mechanism name */
const struct cfg_auth *
auth_find(const struct cfg *c, const char *mechanism)
{
    for (size_t i = 0; i < c->nauths; i++)
        if (strcasecmp(c->auths[i].public_name, mechanism) == 0)
            return &c->auths[i];
    return NULL;
}

/* auth_count - how many authenticators are configured */
size_t
auth_count(const struct cfg *c)
{
    return c->nauths;
}

/* auth_at - authenticator i, NULL past the end */
const struct cfg_auth *
auth_at(const struct cfg *c, size_t i)
{
    return i < c->nauths ? &c->auths[i] : NULL;
}

/* auth_public_name - the mechanism name to advertise */
const char *
auth_public_name(const struct cfg_auth *a)
{
    return a->public_name;
}

/* auth_prompt - prompt i in plain text, "" past the end */
const char *
auth_prompt(const struct cfg_auth *a, size_t i)
{
    return i < 2 && a->prompts[i] != NULL ? a->prompts[i] : "";
}

/* truth - Exim's words: 1 true, 0 false, -1 neither */
static int
truth(const char *s)
{
    if (strcmp(s, "1") == 0 || strcasecmp(s, "yes") == 0 || strcasecmp(s, "true") == 0)
        return 1;
    if (*s == '\0' || strcmp(s, "0") == 0 || strcasecmp(s, "no") == 0 ||
        strcasecmp(s, "false") == 0)
        return 0;
    return -1;
}

/* set_msg - msg = prefix and text, control characters made '?' (the text
 * may come from a lookup and goes into a reply and a log line) */
static void
set_msg(char *msg, size_t msglen, const char *prefix, const char *text)
{
    if (msglen == 0)
        return;
    snprintf(msg, msglen, "%s%s", prefix, text);
    for (char *s = msg; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            *s = '?';
}

/* run - evaluate e; rc of exp_eval, with an auth-level message */
static int
run(const struct exp_str *e, struct auth_vars *v, const char *what, char **out, char *msg,
    size_t msglen)
{
    char err[256] = "";
    struct exp_ctx ctx = {.var = auth_var, .arg = v, .err = err, .errlen = sizeof err};
    int rc = exp_eval(e, &ctx, out);
    if (rc == EXP_DEFER || rc == EXP_ERROR) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%s: ", what);
        set_msg(msg, msglen, prefix, err);
    }
    return rc;
}

/* check_id - server_set_id, or the user name */
static int
check_id(const struct cfg_auth *a, struct auth_vars *v, char **id, char *msg, size_t msglen)
{
    size_t user = a->mech == AUTH_MECH_PLAIN ? 1 : 0;
    if (a->server_set_id == NULL) {
        *id = strdup(user < v->n && v->parts[user] != NULL ? v->parts[user] : "");
        if (*id == NULL)
            abort();
        return AUTH_OK;
    }
    int rc = run(a->server_set_id, v, "server_set_id", id, msg, msglen);
    if (rc == EXP_OK)
        return AUTH_OK;
    if (rc == EXP_FAIL)
        set_msg(msg, msglen, "server_set_id: ", "forced failure");
    return rc == EXP_DEFER ? AUTH_DEFER : AUTH_ERROR;
}

/* auth_check - run server_condition, then server_set_id */
int
auth_check(const struct cfg_auth *a, const char *const *parts, size_t n,
           const char *(*var)(void *, const char *), void *arg, char **id, char *msg, size_t msglen)
{
    struct auth_vars v = {parts, n > 3 ? 3 : n, var, arg};
    char *out = NULL;
    int rc, t;

    *id = NULL;
    if (msglen > 0)
        msg[0] = '\0';
    rc = run(a->server_condition, &v, "server_condition", &out, msg, msglen);
    if (rc == EXP_FAIL)
        return AUTH_FAIL;
    if (rc != EXP_OK)
        return rc == EXP_DEFER ? AUTH_DEFER : AUTH_ERROR;
    t = truth(out);
    if (t < 0) /* Exim: any other result is a temporary error with that text */
        set_msg(msg, msglen, "", out);
    free(out);
    if (t <= 0)
        return t == 0 ? AUTH_FAIL : AUTH_DEFER;
    return check_id(a, &v, id, msg, msglen);
}

/* auth_advertise - server_advertise_condition: 1 advertise, 0 not */
int
auth_advertise(const struct cfg_auth *a, const char *(*var)(void *, const char *), void *arg)
{
    struct auth_vars v = {NULL, 0, var, arg};
    char *out = NULL;
    if (a->server_advertise_condition == NULL)
        return 1;
    if (run(a->server_advertise_condition, &v, "server_advertise_condition", &out, NULL, 0) !=
        EXP_OK)
        return 0;
    int t = truth(out);
    free(out);
    return t != 0; /* Exim: anything but "", 0, no, false advertises */
}

/* auth_cfg_free - release the authenticators' compiled expansions */
void
auth_cfg_free(struct cfg *c)
{
    for (size_t i = 0; i < c->nauths; i++) {
        exp_free(c->auths[i].server_condition);
        exp_free(c->auths[i].server_set_id);
        exp_free(c->auths[i].server_advertise_condition);
    }
}
