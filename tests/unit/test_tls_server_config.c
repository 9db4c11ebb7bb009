/*
 * test_tls_server_config.c - unit tests for the main-section options of
 *                            inbound TLS: defaults, lists of certificate
 *                            and key files, host lists, tls_min_version,
 *                            and refusals. The transport options of the
 *                            same names stay separate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "cfgfx.h"
#include "conf/config.h"

#include <cmocka.h>

/* test_tlsin_defaults - no certificate, advertise to all, verify nobody, TLSv1.2 */
static void
test_tlsin_defaults(void **state)
{
    (void)state;
    struct cfg *c = load("");
    assert_non_null(c);
    assert_int_equal(c->n_tls_in_certificates, 0);
    assert_null(c->tls_in_certificates);
    assert_int_equal(c->n_tls_in_privatekeys, 0);
    assert_true(host_in(&c->tls_advertise_hosts, "192.0.2.1"));
    assert_false(host_in(&c->tls_in_verify_hosts, "192.0.2.1"));
    assert_false(host_in(&c->tls_in_try_verify_hosts, "192.0.2.1"));
    assert_string_equal(c->tls_in_min_version, "TLSv1.2");
    assert_null(c->tls_in_require_ciphers);
    assert_null(c->tls_in_verify_certificates);
    assert_null(c->tls_in_ocsp_file);
    cfg_free(c);
}

/* test_tlsin_values - every option set, lists split the Exim way */
static void
test_tlsin_values(void **state)
{
    (void)state;
    struct cfg *c = load("tls_certificate = /etc/rsa.pem : /etc/ec.pem\n"
                         "tls_privatekey = <; /etc/rsa.key ; /etc/ec.key\n"
                         "tls_advertise_hosts = 10.0.0.0/8\n"
                         "tls_require_ciphers = ECDHE-ECDSA-AES128-GCM-SHA256\n"
                         "tls_min_version = TLSv1.3\n"
                         "tls_verify_hosts = 192.0.2.0/24\n"
                         "tls_try_verify_hosts = *\n"
                         "tls_verify_certificates = /etc/ca.pem\n"
                         "tls_ocsp_file = /var/ocsp.der\n"
                         "begin transports\nt:\n driver = smtp\n tls_certificate = /c.pem\n");
    assert_non_null(c);
    assert_int_equal(c->n_tls_in_certificates, 2);
    assert_string_equal(c->tls_in_certificates[0], "/etc/rsa.pem");
    assert_string_equal(c->tls_in_certificates[1], "/etc/ec.pem");
    assert_int_equal(c->n_tls_in_privatekeys, 2);
    assert_string_equal(c->tls_in_privatekeys[1], "/etc/ec.key");
    assert_true(host_in(&c->tls_advertise_hosts, "10.1.2.3"));
    assert_false(host_in(&c->tls_advertise_hosts, "192.0.2.1"));
    assert_string_equal(c->tls_in_require_ciphers, "ECDHE-ECDSA-AES128-GCM-SHA256");
    assert_string_equal(c->tls_in_min_version, "TLSv1.3");
    assert_true(host_in(&c->tls_in_verify_hosts, "192.0.2.9"));
    assert_false(host_in(&c->tls_in_verify_hosts, "198.51.100.1"));
    assert_true(host_in(&c->tls_in_try_verify_hosts, "198.51.100.1"));
    assert_string_equal(c->tls_in_verify_certificates, "/etc/ca.pem");
    assert_string_equal(c->tls_in_ocsp_file, "/var/ocsp.der");
    assert_string_equal(c->transports[0].tls_certificate, "/c.pem");
    cfg_free(c);
}

/* test_tlsin_refused - bad versions, key counts, empty values, bad host lists */
static void
test_tlsin_refused(void **state)
{
    (void)state;
    load_fails("tls_min_version = SSLv3\n", "t.conf:1:", "tls_min_version");
    load_fails("tls_min_version = tlsv1.2\n", "t.conf:1:", "tls_min_version");
    load_fails("tls_certificate = /a.pem : /b.pem\ntls_privatekey = /a.key\n",
               "t.conf:2:", "tls_privatekey");
    load_fails("tls_privatekey = /a.key\ntls_certificate = /a.pem : /b.pem\n",
               "t.conf:2:", "tls_privatekey");
    load_fails("tls_certificate =\n", "t.conf:1:", "tls_certificate");
    load_fails("tls_ocsp_file =\n", "t.conf:1:", "tls_ocsp_file");
    load_fails("tls_verify_hosts = 300.1.1.1\n", "t.conf:1:", "tls_verify_hosts");
    load_fails("tls_certificate = /a\tb.pem\n", "t.conf:1:", "tls_certificate");
    ovr_fails("tls_min_version=TLSv2", "tls_min_version");
}

int
main(int argc, char **argv)
{
    static const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tlsin_defaults),
        cmocka_unit_test(test_tlsin_values),
        cmocka_unit_test(test_tlsin_refused),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
