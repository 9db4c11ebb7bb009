/*
 * test_config_queuefile.c - the queuefile transport's options (seed
 * "Queuefile transport"): driver and directory, Exim's generic transport
 * options accepted and ignored on it (and still refused on smtp), and the
 * checks that tie directory to the driver.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cfgfx.h"

#include <cmocka.h>

#define ROUTER "begin routers\nscan:\n  driver = accept\n  transport = scan\n"

static void
test_queuefile_directory(void **state)
{
    struct cfg *c = load(ROUTER "begin transports\nscan:\n  driver = queuefile\n"
                                "  directory = /var/spool/scan\n");
    (void)state;
    if (c == NULL)
        fail_msg("%s", load_err);
    assert_int_equal(c->transports[0].driver, CFG_TRANSPORT_QUEUEFILE);
    assert_string_equal(c->transports[0].directory, "/var/spool/scan");
    assert_ptr_equal(c->routers[0].transport, &c->transports[0]);
    cfg_free(c);
}

static void
test_queuefile_ignores_generic_options(void **state)
{
    struct cfg *c = load(ROUTER "begin transports\nscan:\n  driver = queuefile\n"
                                "  directory = /q\n  headers_add = X-A: b\n  body_only\n"
                                "  no_initgroups\n  user = mail\n  transport_filter = /bin/cat\n"
                                "  max_parallel = 3\n  shadow_transport = x\n");
    (void)state;
    if (c == NULL)
        fail_msg("%s", load_err);
    assert_string_equal(c->transports[0].ignored_opt, "headers_add");
    cfg_free(c);
}

static void
test_queuefile_errors(void **state)
{
    (void)state;
    load_fails(ROUTER "begin transports\nscan:\n  driver = queuefile\n", "needs directory", "scan");
    load_fails(ROUTER "begin transports\nscan:\n  driver = queuefile\n  directory = q/rel\n",
               "absolute", NULL);
    load_fails(ROUTER "begin transports\nscan:\n  driver = queuefile\n  directory =\n", "directory",
               NULL);
    load_fails(ROUTER "begin transports\nscan:\n  driver = smtp\n  directory = /q\n", "queuefile",
               NULL);
    load_fails(ROUTER "begin transports\nscan:\n  driver = smtp\n  headers_add = X: y\n",
               "headers_add", NULL);
    load_fails(ROUTER "begin transports\nscan:\n  driver = queuefile\n  directory = /q\n"
                      "  no_user\n",
               "boolean", NULL);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_queuefile_directory),
        cmocka_unit_test(test_queuefile_ignores_generic_options),
        cmocka_unit_test(test_queuefile_errors),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
