/*
 * test_dmarc_config.c - the DMARC main options (dmarc_tld_file,
 *                       dmarc_history_file, dmarc_forensic_sender): their
 *                       defaults, values and refusals.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>

#include "cfgfx.h"

#include <cmocka.h>

static void
dmarc_option_defaults(void **state)
{
    struct cfg *c = load("");

    (void)state;
    assert_non_null(c);
    assert_string_equal(c->dmarc_tld_file, "/usr/share/publicsuffix/public_suffix_list.dat");
    assert_null(c->dmarc_history_file);
    assert_null(c->dmarc_forensic_sender);
    cfg_free(c);
}

static void
dmarc_option_values(void **state)
{
    struct cfg *c = load("dmarc_tld_file = /etc/spate/psl.dat\n"
                         "dmarc_history_file = /var/spool/spate/dmarc.hist\n"
                         "dmarc_forensic_sender = postmaster@example.com\n");

    (void)state;
    assert_non_null(c);
    assert_string_equal(c->dmarc_tld_file, "/etc/spate/psl.dat");
    assert_string_equal(c->dmarc_history_file, "/var/spool/spate/dmarc.hist");
    assert_string_equal(c->dmarc_forensic_sender, "postmaster@example.com");
    cfg_free(c);
}

static void
dmarc_option_refused(void **state)
{
    (void)state;
    load_fails("dmarc_tld_file =\n", "t.conf:1:", "must not be empty");
    load_fails("dmarc_history_file = \"/tmp/a\\nb\"\n", "t.conf:1:", "control character");
    load_fails("dmarc_tld_files = /x\n", "t.conf:1:", "dmarc_tld_files");
}

static const struct CMUnitTest tests[] = {
    cmocka_unit_test(dmarc_option_defaults),
    cmocka_unit_test(dmarc_option_values),
    cmocka_unit_test(dmarc_option_refused),
};

int
main(int argc, char **argv)
{
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
