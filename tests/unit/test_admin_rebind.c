/*
 * test_admin_rebind.c - the transport overrides of the admin action rebind
 * (engine/admin_rebind.c): the transport looked up by name, the router
 * chosen for it (manualroute rules, domains conditions ignored, none), the
 * overrides on a message (newest first, replaced, per domain or all), their
 * JSON, and route_start's hook under a configuration and after a reload.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cfgfx.h"
#include "engine/admin_int.h"

#include <cmocka.h>

static const char conf_text[] = "begin routers\n"
                                "dns:\n  driver = dnslookup\n  transport = remote\n"
                                "only_a:\n  driver = manualroute\n  domains = nothing.invalid\n"
                                "  route_list = a.example 10.0.0.1\n  transport = smart\n"
                                "star:\n  driver = manualroute\n  domains = nothing.invalid\n"
                                "  route_list = * 10.0.0.2\n  transport = smart\n"
                                "begin transports\n"
                                "remote:\n  driver = smtp\n"
                                "smart:\n  driver = smtp\n  port = 587\n"
                                "spare:\n  driver = smtp\n  port = 2526\n";

static struct cfg *
conf(void)
{
    struct cfg *c = load(conf_text);

    if (c == NULL)
        fail_msg("%s", load_err);
    return c;
}

/* a message with an id, enough for the hook's log line */
static struct eng_qmsg *
qmsg(void)
{
    struct eng_qmsg *q = calloc(1, sizeof(*q));
    struct spool_msg *m = calloc(1, sizeof(*m));

    assert_non_null(q);
    assert_non_null(m);
    snprintf(m->id, sizeof(m->id), "%s", "0000000000A-AAAA");
    q->m = m;
    return q;
}

static void
qmsg_drop(struct eng_qmsg *q)
{
    admin_rebind_clear(q);
    free(q->m);
    free(q);
}

/* test_transport_by_name - exact names only; NULL for unknown or NULL */
static void
test_transport_by_name(void **state)
{
    struct cfg *c = conf();

    (void)state;
    assert_ptr_equal(admin_rebind_transport(c, "smart"), &c->transports[1]);
    assert_null(admin_rebind_transport(c, "Smart"));
    assert_null(admin_rebind_transport(c, "nope"));
    assert_null(admin_rebind_transport(c, NULL));
    assert_null(admin_rebind_transport(NULL, "smart"));
    cfg_free(c);
}

/* test_pick_router - the first router using t that takes the domain */
static void
test_pick_router(void **state)
{
    struct cfg *c = conf();
    const struct cfg_route_rule *rule = (const void *)1;

    (void)state;
    /* a.example: only_a's rule, its domains condition ignored */
    assert_ptr_equal(admin_rebind_pick(c, &c->transports[1], "a.example", &rule), &c->routers[1]);
    assert_non_null(rule);
    assert_string_equal(rule->hosts[0].name, "10.0.0.1");
    /* b.example: only_a has no rule for it, star's "*" takes it */
    assert_ptr_equal(admin_rebind_pick(c, &c->transports[1], "b.example", &rule), &c->routers[2]);
    assert_string_equal(rule->hosts[0].name, "10.0.0.2");
    /* remote: the dnslookup router, no rule */
    assert_ptr_equal(admin_rebind_pick(c, &c->transports[0], "b.example", &rule), &c->routers[0]);
    assert_null(rule);
    /* spare: no router uses it */
    assert_null(admin_rebind_pick(c, &c->transports[2], "b.example", &rule));
    assert_null(rule);
    cfg_free(c);
}

/* test_overrides_on_message - per domain, all, newest first, replaced */
static void
test_overrides_on_message(void **state)
{
    struct eng_qmsg *q = qmsg();
    json_t *j;

    (void)state;
    assert_null(admin_rebind_name(q, "a.example", NULL));
    admin_rebind_set(q, "A.Example", "smart");
    assert_string_equal(admin_rebind_name(q, "a.example", NULL), "smart");
    assert_null(admin_rebind_name(q, "b.example", NULL));
    admin_rebind_set(q, "xn--bcher-kva.example", "spare"); /* matched by its A-labels */
    assert_string_equal(admin_rebind_name(q, "bücher.example", "xn--bcher-kva.example"), "spare");
    admin_rebind_set(q, "a.example", "spare"); /* replaces the one for a.example */
    assert_string_equal(admin_rebind_name(q, "a.example", NULL), "spare");
    j = admin_rebind_json(q);
    assert_int_equal(json_array_size(j), 2);
    json_decref(j);
    admin_rebind_set(q, NULL, "remote"); /* all: replaces every other */
    assert_string_equal(admin_rebind_name(q, "a.example", NULL), "remote");
    j = admin_rebind_json(q);
    assert_int_equal(json_array_size(j), 1);
    json_decref(j);
    admin_rebind_set(q, "c.example", "smart"); /* newer than "all": wins for its domain */
    assert_string_equal(admin_rebind_name(q, "c.example", NULL), "smart");
    assert_string_equal(admin_rebind_name(q, "a.example", NULL), "remote");
    admin_rebind_clear(q);
    assert_null(q->rebind);
    assert_null(admin_rebind_name(q, "a.example", NULL));
    qmsg_drop(q);
}

/* test_overrides_json - [{"domain": D|null, "transport": T}], newest first */
static void
test_overrides_json(void **state)
{
    struct eng_qmsg *q = qmsg();
    json_t *j;
    char *text;

    (void)state;
    assert_null(admin_rebind_json(q));
    admin_rebind_set(q, NULL, "remote");
    admin_rebind_set(q, "a.example", "smart");
    j = admin_rebind_json(q);
    text = json_dumps(j, JSON_COMPACT);
    assert_string_equal(text, "[{\"domain\":\"a.example\",\"transport\":\"smart\"},"
                              "{\"domain\":null,\"transport\":\"remote\"}]");
    free(text);
    json_decref(j);
    qmsg_drop(q);
}

/* test_hook_routes - route_start's hook under a configuration, and after a reload */
static void
test_hook_routes(void **state)
{
    struct cfg *c = conf();
    struct eng_qmsg *q = qmsg();
    const struct cfg_route_rule *rule = NULL;
    const struct cfg_router *r, *r2;
    unsigned gen = 7;

    (void)state;
    assert_null(admin_rebound(q, c, gen, "a.example", "a.example", &rule)); /* no override */
    admin_rebind_set(q, "a.example", "smart");
    assert_ptr_equal(admin_rebound(q, c, gen, "a.example", "a.example", &rule), &c->routers[1]);
    assert_non_null(rule);
    assert_null(admin_rebound(q, c, gen, "b.example", "b.example", &rule)); /* not rebound */
    admin_rebind_set(q, "a.example", "spare"); /* no router: made up, by MX */
    r = admin_rebound(q, c, gen, "a.example", "a.example", &rule);
    assert_non_null(r);
    assert_null(rule);
    assert_string_equal(r->name, "rebind");
    assert_int_equal(r->driver, CFG_ROUTER_DNSLOOKUP);
    assert_ptr_equal(r->transport, &c->transports[2]);
    assert_ptr_equal(admin_rebound(q, c, gen, "a.example", "a.example", &rule), r); /* made once */
    gen++; /* a reload: a new one */
    r2 = admin_rebound(q, c, gen, "a.example", "a.example", &rule);
    assert_ptr_not_equal(r2, r);
    assert_ptr_equal(r2->transport, &c->transports[2]);
    admin_rebind_set(q, "a.example", "gone"); /* a reload lost it: dropped */
    assert_null(admin_rebound(q, c, gen, "a.example", "a.example", &rule));
    assert_null(q->rebind);
    qmsg_drop(q);
    cfg_free(c);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_transport_by_name),    cmocka_unit_test(test_pick_router),
        cmocka_unit_test(test_overrides_on_message), cmocka_unit_test(test_overrides_json),
        cmocka_unit_test(test_hook_routes),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
