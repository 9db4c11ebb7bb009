/*
 * acl_vars.c - ACL variables: the acl_c_* / acl_m_* sets a session keeps,
 *              and the expansion variables an ACL run offers ($sender_*,
 *              $local_part, $domain, $acl_arg*, $sender_rate*, ...; see
 *              acl.h), falling back to the caller's env->var.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/acl_int.h"

struct acl_var {
    char *name, *value;
};
struct acl_vars {
    struct acl_var *v;
    size_t n, cap;
};

/* acl_vars_new - an empty set */
struct acl_vars *
acl_vars_new(void)
{
    struct acl_vars *v = calloc(1, sizeof *v);
    if (v == NULL)
        abort();
    return v;
}

/* acl_vars_clear - forget every variable */
void
acl_vars_clear(struct acl_vars *v)
{
    if (v == NULL)
        return;
    for (size_t i = 0; i < v->n; i++) {
        free(v->v[i].name);
        free(v->v[i].value);
    }
    v->n = 0;
}

/* acl_vars_free - release a set */
void
acl_vars_free(struct acl_vars *v)
{
    if (v == NULL)
        return;
    acl_vars_clear(v);
    free(v->v);
    free(v);
}

/* acl_vars_get - a variable's value, or NULL if unset */
const char *
acl_vars_get(const struct acl_vars *v, const char *name)
{
    for (size_t i = 0; v != NULL && i < v->n; i++)
        if (strcmp(v->v[i].name, name) == 0)
            return v->v[i].value;
    return NULL;
}

/* acl__vars_set - set name to value (copied) */
void
acl__vars_set(struct acl_vars *v, const char *name, const char *value)
{
    char *val = strdup(value);
    if (val == NULL)
        abort();
    for (size_t i = 0; i < v->n; i++) {
        if (strcmp(v->v[i].name, name) == 0) {
            free(v->v[i].value);
            v->v[i].value = val;
            return;
        }
    }
    if (v->n == v->cap) {
        v->cap = v->cap ? 2 * v->cap : 8;
        v->v = realloc(v->v, v->cap * sizeof *v->v);
        if (v->v == NULL)
            abort();
    }
    v->v[v->n].name = strdup(name);
    if (v->v[v->n].name == NULL)
        abort();
    v->v[v->n++].value = val;
}

/* acl_sa_text - the IP and port of sa as text ("" if none) */
static void
acl_sa_text(const struct sockaddr *sa, char *ip, size_t iplen, char *port, size_t portlen)
{
    ip[0] = port[0] = '\0';
    if (sa != NULL && sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, ip, (socklen_t)iplen);
        snprintf(port, portlen, "%u", ntohs(s4->sin_port));
    } else if (sa != NULL && sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr))
            inet_ntop(AF_INET, s6->sin6_addr.s6_addr + 12, ip, (socklen_t)iplen);
        else
            inet_ntop(AF_INET6, &s6->sin6_addr, ip, (socklen_t)iplen);
        snprintf(port, portlen, "%u", ntohs(s6->sin6_port));
    }
}

/* acl__split_recipient - $local_part and $domain of the recipient */
void
acl__split_recipient(struct acl_st *st)
{
    const char *r = st->env->recipient ? st->env->recipient : "";
    const char *at = strrchr(r, '@');
    size_t ln = at ? (size_t)(at - r) : strlen(r);
    snprintf(st->lp, sizeof st->lp, "%.*s", (int)(ln < sizeof st->lp ? ln : sizeof st->lp - 1), r);
    snprintf(st->domain, sizeof st->domain, "%s", at ? at + 1 : "");
    acl_sa_text(st->env->client, st->ip, sizeof st->ip, st->port, sizeof st->port);
}

/* acl_arg_var - $acl_argN and $acl_narg of the innermost ACL */
static const char *
acl_arg_var(struct acl_st *st, const char *name)
{
    static const char *const narg[] = {"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"};
    const struct acl_frame *f = st->s->nframes ? &st->s->frames[st->s->nframes - 1] : NULL;
    int nargs = f ? f->nargs : 0;
    if (strcmp(name, "acl_narg") == 0)
        return narg[nargs];
    if (strncmp(name, "acl_arg", 7) == 0 && name[7] >= '1' && name[7] <= '9' && !name[8]) {
        int k = name[7] - '1';
        return k < nargs ? f->args[k] : "";
    }
    return NULL;
}

/* acl_env_var - the variables taken from env itself */
static const char *
acl_env_var(struct acl_st *st, const char *name)
{
    const struct acl_env *e = st->env;
    if (strcmp(name, "sender_host_address") == 0)
        return st->ip;
    if (strcmp(name, "sender_host_port") == 0)
        return st->port;
    if (strcmp(name, "sender_helo_name") == 0)
        return e->helo ? e->helo : "";
    if (strcmp(name, "sender_address") == 0)
        return e->sender ? e->sender : "";
    if (strcmp(name, "local_part") == 0)
        return st->lp;
    if (strcmp(name, "domain") == 0)
        return st->domain;
    if (strcmp(name, "authenticated_id") == 0)
        return e->authenticated_id ? e->authenticated_id : "";
    if (strcmp(name, "acl_verify_message") == 0)
        return st->s->verify_msg;
    if (strcmp(name, "sender_rate") == 0)
        return st->s->sender_rate;
    if (strcmp(name, "sender_rate_limit") == 0)
        return st->s->sender_rate_limit;
    if (strcmp(name, "sender_rate_period") == 0)
        return st->s->sender_rate_period;
    return NULL;
}

/* acl__var - the exp_ctx.var callback of a run */
const char *
acl__var(void *arg, const char *name)
{
    struct acl_st *st = arg;
    const char *v = acl_env_var(st, name);
    if (v == NULL)
        v = acl_arg_var(st, name);
    if (v == NULL && strncmp(name, "acl_c", 5) == 0) {
        v = acl_vars_get(st->env->cvars, name);
        return v ? v : "";
    }
    if (v == NULL && strncmp(name, "acl_m", 5) == 0) {
        v = acl_vars_get(st->env->mvars, name);
        return v ? v : "";
    }
    if (v == NULL && st->env->var != NULL)
        v = st->env->var(st->env->arg, name);
    return v;
}
