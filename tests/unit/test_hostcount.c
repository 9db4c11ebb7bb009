/*
 * test_hostcount.c - connections counted per client IP (api/hostcount.c):
 *                    the per-host limit, release, distinct hosts, IPv4-mapped
 *                    IPv6, and growth past many addresses.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

/* cmocka needs the headers above first */
/* clang-format off */
#include <cmocka.h>
/* clang-format on */

#include <arpa/inet.h>
#include <netinet/in.h>

#include "api/hostcount.h"

/* v4 - an IPv4 socket address (port differs per call: it must not matter) */
static struct sockaddr_storage
v4(const char *ip, unsigned port)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;

    memset(&ss, 0, sizeof(ss));
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    assert_int_equal(inet_pton(AF_INET, ip, &a->sin_addr), 1);
    return ss;
}

/* v6 - an IPv6 socket address */
static struct sockaddr_storage
v6(const char *ip)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;

    memset(&ss, 0, sizeof(ss));
    a->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &a->sin6_addr), 1);
    return ss;
}

#define SA(x) ((const struct sockaddr *)&(x))

static void
test_limit_per_host(void **state)
{
    struct hostcount *h = hostcount_new();
    struct sockaddr_storage a1 = v4("127.0.0.1", 1000), a2 = v4("127.0.0.1", 1001);
    struct sockaddr_storage b = v4("127.0.0.77", 1000);
    (void)state;

    assert_int_equal(hostcount_add(h, SA(a1), 2), 1);
    assert_int_equal(hostcount_add(h, SA(a2), 2), 2);
    assert_int_equal(hostcount_add(h, SA(a1), 2), -1); /* a third from the same IP */
    assert_int_equal(hostcount_add(h, SA(b), 2), 1);   /* another host is counted apart */
    hostcount_del(h, SA(a2));
    assert_int_equal(hostcount_add(h, SA(a1), 2), 2); /* a slot came free */
    hostcount_free(h);
}

static void
test_zero_is_no_limit(void **state)
{
    struct hostcount *h = hostcount_new();
    struct sockaddr_storage a = v4("10.0.0.1", 1);
    (void)state;

    for (int i = 1; i <= 5000; i++)
        assert_int_equal(hostcount_add(h, SA(a), 0), i);
    for (int i = 0; i < 5000; i++)
        hostcount_del(h, SA(a));
    assert_int_equal(hostcount_add(h, SA(a), 1), 1); /* forgotten at 0, counts anew */
    hostcount_free(h);
}

static void
test_v4_mapped_is_v4(void **state)
{
    struct hostcount *h = hostcount_new();
    struct sockaddr_storage a = v4("192.0.2.7", 25), m = v6("::ffff:192.0.2.7");
    struct sockaddr_storage o = v6("2001:db8::7");
    (void)state;

    assert_int_equal(hostcount_add(h, SA(a), 2), 1);
    assert_int_equal(hostcount_add(h, SA(m), 2), 2);
    assert_int_equal(hostcount_add(h, SA(m), 2), -1);
    assert_int_equal(hostcount_add(h, SA(o), 2), 1);
    hostcount_free(h);
}

static void
test_many_hosts_grow(void **state)
{
    struct hostcount *h = hostcount_new();
    char ip[32];
    (void)state;

    for (int i = 0; i < 20000; i++) {
        struct sockaddr_storage a;
        snprintf(ip, sizeof(ip), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        a = v4(ip, 1);
        assert_int_equal(hostcount_add(h, SA(a), 1), 1);
    }
    for (int i = 0; i < 20000; i += 7) {
        struct sockaddr_storage a;
        snprintf(ip, sizeof(ip), "10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        a = v4(ip, 2);
        assert_int_equal(hostcount_add(h, SA(a), 1), -1); /* still counted after growth */
        hostcount_del(h, SA(a));
        assert_int_equal(hostcount_add(h, SA(a), 1), 1);
    }
    hostcount_free(h); /* ASan: nothing leaks */
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_per_host),
        cmocka_unit_test(test_zero_is_no_limit),
        cmocka_unit_test(test_v4_mapped_is_v4),
        cmocka_unit_test(test_many_hosts_grow),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
