/*
 * admin_rebind.c - transport overrides set by the admin action rebind
 *                  (admin.h gives its semantics): kept on the message, in
 *                  memory, and asked for by route_start before its routers
 *                  (admin_rebound, one of the hooks of admin_int.h).
 *
 * An override names a transport, looked up in the configuration running
 * when the recipients are routed: the first router using it takes them, or
 * a router made up here that routes by the domain's MX. Like admin_hold.c,
 * this file calls nothing of the scheduler's: route_start hands it the
 * running configuration and its generation.
 *
 * Scheduler thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "engine/admin_int.h"

/* One override: the recipients of domain (NULL: all) go through transport. */
struct adm_rebind {
    char *domain;
    char *transport;
    struct adm_rebind *next;
};

/* A router made up for a transport no router uses, per configuration
 * generation; kept until exit, since retired destinations may point at it. */
struct rb_router {
    struct cfg_router r;
    unsigned gen;
    struct rb_router *next;
};

static struct rb_router *rb_routers;

/* xstrdup - strdup; out of memory is fatal in the engine */
static char *
xstrdup(const char *s)
{
    char *d = strdup(s);

    if (d == NULL)
        abort();
    return d;
}

/* admin_rebind_transport - c's transport named name, or NULL */
const struct cfg_transport *
admin_rebind_transport(const struct cfg *c, const char *name)
{
    for (size_t i = 0; c != NULL && name != NULL && i < c->ntransports; i++)
        if (strcmp(c->transports[i].name, name) == 0)
            return &c->transports[i];
    return NULL;
}

/* admin_rebind_pick - the first router of c using t that takes domain */
const struct cfg_router *
admin_rebind_pick(const struct cfg *c, const struct cfg_transport *t, const char *domain,
                  const struct cfg_route_rule **rule)
{
    *rule = NULL;
    for (size_t i = 0; i < c->nrouters; i++) {
        const struct cfg_router *r = &c->routers[i];
        if (r->transport != t)
            continue;
        if (r->driver != CFG_ROUTER_MANUALROUTE)
            return r;
        if ((*rule = cfg_router_find_route(r, domain)) != NULL)
            return r;
    }
    return NULL;
}

/* rb_free - one override */
static void
rb_free(struct adm_rebind *o)
{
    free(o->domain);
    free(o->transport);
    free(o);
}

/* rb_covers - does an override for domain (NULL: all) make o moot? */
static int
rb_covers(const char *domain, const struct adm_rebind *o)
{
    return domain == NULL || (o->domain != NULL && strcasecmp(o->domain, domain) == 0);
}

/* admin_rebind_set - a new override on q, newest first */
void
admin_rebind_set(struct eng_qmsg *q, const char *domain, const char *transport)
{
    struct adm_rebind **pp = &q->rebind, *o;

    while ((o = *pp) != NULL) {
        if (!rb_covers(domain, o)) {
            pp = &o->next;
            continue;
        }
        *pp = o->next;
        rb_free(o);
    }
    if ((o = calloc(1, sizeof(*o))) == NULL)
        abort();
    o->domain = domain ? xstrdup(domain) : NULL;
    o->transport = xstrdup(transport);
    o->next = q->rebind;
    q->rebind = o;
}

/* rb_find - the override that applies to udomain/adomain, or NULL */
static struct adm_rebind *
rb_find(const struct eng_qmsg *q, const char *udomain, const char *adomain)
{
    for (struct adm_rebind *o = q->rebind; o != NULL; o = o->next)
        if (o->domain == NULL || strcasecmp(o->domain, udomain) == 0 ||
            (adomain != NULL && strcasecmp(o->domain, adomain) == 0))
            return o;
    return NULL;
}

/* admin_rebind_name - the transport overriding the domain on q, or NULL */
const char *
admin_rebind_name(const struct eng_qmsg *q, const char *udomain, const char *adomain)
{
    const struct adm_rebind *o = rb_find(q, udomain, adomain);

    return o ? o->transport : NULL;
}

/* admin_rebind_clear - forget q's overrides */
void
admin_rebind_clear(struct eng_qmsg *q)
{
    struct adm_rebind *o, *next;

    for (o = q->rebind; o != NULL; o = next) {
        next = o->next;
        rb_free(o);
    }
    q->rebind = NULL;
}

/* admin_rebind_json - q's overrides, newest first; NULL when none */
json_t *
admin_rebind_json(const struct eng_qmsg *q)
{
    json_t *a;

    if (q->rebind == NULL)
        return NULL;
    a = json_array();
    for (const struct adm_rebind *o = q->rebind; o != NULL; o = o->next)
        json_array_append_new(
            a, json_pack("{s:s?, s:s}", "domain", o->domain, "transport", o->transport));
    return a;
}

/* rb_router - the made-up router for t under configuration generation gen */
static const struct cfg_router *
rb_router(const struct cfg_transport *t, unsigned gen)
{
    struct rb_router *x;

    for (x = rb_routers; x != NULL; x = x->next)
        if (x->gen == gen && x->r.transport == t)
            return &x->r;
    if ((x = calloc(1, sizeof(*x))) == NULL)
        abort();
    x->r.name = "rebind";
    x->r.driver = CFG_ROUTER_DNSLOOKUP;
    x->r.transport_name = t->name;
    x->r.transport = (struct cfg_transport *)t;
    x->r.file = "admin";
    x->gen = gen;
    x->next = rb_routers;
    rb_routers = x;
    return &x->r;
}

/* rb_drop - take override o off q */
static void
rb_drop(struct eng_qmsg *q, struct adm_rebind *o)
{
    struct adm_rebind **pp = &q->rebind;

    while (*pp != o)
        pp = &(*pp)->next;
    *pp = o->next;
    rb_free(o);
}

/* admin_rebound - route_start's hook: the router for a rebound domain */
const struct cfg_router *
admin_rebound(struct eng_qmsg *q, const struct cfg *cfg, unsigned gen, const char *udomain,
              const char *domain, const struct cfg_route_rule **rule)
{
    struct adm_rebind *o;
    const struct cfg_transport *t;
    const struct cfg_router *r;

    if (q->rebind == NULL || (o = rb_find(q, udomain, domain)) == NULL)
        return NULL;
    if ((t = admin_rebind_transport(cfg, o->transport)) == NULL) {
        log_warn("%s: rebind to transport %s dropped: the configuration has no such transport "
                 "any more; routed as configured",
                 q->m->id, o->transport);
        rb_drop(q, o);
        return NULL;
    }
    if ((r = admin_rebind_pick(cfg, t, domain, rule)) != NULL)
        return r;
    return rb_router(t, gen);
}
