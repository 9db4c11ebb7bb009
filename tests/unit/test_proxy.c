/*
 * test_proxy.c - the PROXY protocol parser (api/proxy.h): v1 and v2 from
 *                haproxy 2.6.12 captures, every prefix of a valid header,
 *                malformed input of each kind, the TLVs and CRC32C; and
 *                the log_selector option (+proxy) it goes with.
 */
#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "api/proxy.h"
#include "cfgfx.h"
#include "conf/config.h"

#include <cmocka.h>

/* the v2 header haproxy 2.6.12 sent with proxy-v2-options crc32c,unique-id */
static const uint8_t capture_v2[] = {0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49,
                                     0x54, 0x0a, 0x21, 0x11, 0x00, 0x16, 0x7f, 0x00, 0x00, 0x01,
                                     0x7f, 0x00, 0x00, 0x01, 0xe4, 0x80, 0x42, 0x82, 0x03, 0x00,
                                     0x04, 0x11, 0x27, 0xf1, 0x72, 0x05, 0x00, 0x00};

static const uint8_t sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* parse - proxy_parse of a string */
static int
parse(const char *s, struct proxy_hdr *h)
{
    return proxy_parse((const uint8_t *)s, strlen(s), h);
}

/* ip_of - the address of ss as text, and its port */
static unsigned
ip_of(const struct sockaddr_storage *ss, char *ip, size_t len)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        inet_ntop(AF_INET, &a->sin_addr, ip, (socklen_t)len);
        return ntohs(a->sin_port);
    }
    assert_int_equal(ss->ss_family, AF_INET6);
    const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
    inet_ntop(AF_INET6, &a->sin6_addr, ip, (socklen_t)len);
    return ntohs(a->sin6_port);
}

/* assert_addr - ss is ip:port */
static void
assert_addr(const struct sockaddr_storage *ss, const char *ip, unsigned port)
{
    char got[64];

    assert_int_equal(ip_of(ss, got, sizeof(got)), port);
    assert_string_equal(got, ip);
}

/* v2_build - a v2 header: ver_cmd, fam, then the block; its length */
static size_t
v2_build(uint8_t *out, uint8_t ver_cmd, uint8_t fam, const uint8_t *block, size_t blen)
{
    memcpy(out, sig, 12);
    out[12] = ver_cmd;
    out[13] = fam;
    out[14] = (uint8_t)(blen >> 8);
    out[15] = (uint8_t)blen;
    memcpy(out + 16, block, blen);
    return 16 + blen;
}

/* v2_tlv - append a TLV to the header of length n; the new length */
static size_t
v2_tlv(uint8_t *out, size_t n, uint8_t type, const void *v, size_t vlen)
{
    size_t blen;

    out[n] = type;
    out[n + 1] = (uint8_t)(vlen >> 8);
    out[n + 2] = (uint8_t)vlen;
    memcpy(out + n + 3, v, vlen);
    n += 3 + vlen;
    blen = n - 16;
    out[14] = (uint8_t)(blen >> 8);
    out[15] = (uint8_t)blen;
    return n;
}

/* v2_crc - append a CRC32C TLV and fill it in; the new length */
static size_t
v2_crc(uint8_t *out, size_t n)
{
    static const uint8_t zero[4];
    size_t at = n + 3;
    uint32_t crc;

    n = v2_tlv(out, n, 0x03, zero, 4);
    crc = proxy_crc32c(0, out, n);
    out[at] = (uint8_t)(crc >> 24);
    out[at + 1] = (uint8_t)(crc >> 16);
    out[at + 2] = (uint8_t)(crc >> 8);
    out[at + 3] = (uint8_t)crc;
    return n;
}

/* tcp4_block - the 12-octet INET block 192.0.2.7:40000 -> 198.51.100.1:25 */
static const uint8_t tcp4_block[12] = {192, 0, 2, 7, 198, 51, 100, 1, 0x9c, 0x40, 0, 25};

static void
test_crc32c_vectors(void **state)
{
    (void)state;
    assert_int_equal(proxy_crc32c(0, "123456789", 9), 0xE3069283u);
    assert_int_equal(proxy_crc32c(0, "", 0), 0);
    /* in pieces: the same as at once */
    assert_int_equal(proxy_crc32c(proxy_crc32c(0, "1234", 4), "56789", 5), 0xE3069283u);
    /* 32 zero octets (RFC 3720 B.4) */
    uint8_t z[32] = {0};
    assert_int_equal(proxy_crc32c(0, z, sizeof(z)), 0x8A9136AAu);
}

static void
test_v1_tcp4_capture(void **state)
{
    struct proxy_hdr h;
    const char *line = "PROXY TCP4 127.0.0.1 127.0.0.1 44328 17025\r\n";
    char buf[128];
    (void)state;

    snprintf(buf, sizeof(buf), "%sEHLO x\r\n", line); /* what follows is not consumed */
    assert_int_equal(parse(buf, &h), (int)strlen(line));
    assert_int_equal(h.version, 1);
    assert_false(h.local);
    assert_addr(&h.src, "127.0.0.1", 44328);
    assert_addr(&h.dst, "127.0.0.1", 17025);
}

static void
test_v1_tcp6_and_unknown(void **state)
{
    struct proxy_hdr h;
    const char *l6 = "PROXY TCP6 2001:db8::1 ::ffff:192.0.2.1 65535 0\r\n";
    (void)state;

    assert_int_equal(parse(l6, &h), (int)strlen(l6));
    assert_addr(&h.src, "2001:db8::1", 65535);
    assert_addr(&h.dst, "::ffff:192.0.2.1", 0);
    assert_int_equal(parse("PROXY UNKNOWN\r\n", &h), 15);
    assert_true(h.local);
    assert_int_equal(parse("PROXY UNKNOWN ffff:f::1 ffff:f::2 1 2\r\n", &h), 39);
    assert_true(h.local);
    assert_int_equal(parse("PROXY UNKNOWNX\r\n", &h), PROXY_E_SYNTAX);
}

static void
test_v1_every_prefix_waits(void **state)
{
    struct proxy_hdr h;
    const char *l = "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\n";
    (void)state;

    for (size_t n = 0; n < strlen(l); n++)
        assert_int_equal(proxy_parse((const uint8_t *)l, n, &h), 0);
    assert_int_equal(parse(l, &h), (int)strlen(l));
}

static void
test_v1_malformed(void **state)
{
    static const char *const bad[] = {
        "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\n",       /* no CR */
        "PROXY TCP4 192.0.2.1 192.0.2.2 1 2\r\r\n",   /* bare CR */
        "PROXY TCP4  192.0.2.1 192.0.2.2 1 2\r\n",    /* double space */
        "PROXY TCP4 192.0.2.1 192.0.2.2 1 2 \r\n",    /* trailing space */
        "PROXY TCP4 192.0.2.1 192.0.2.2 01 2\r\n",    /* leading zero */
        "PROXY TCP4 192.0.2.1 192.0.2.2 1 65536\r\n", /* port range */
        "PROXY TCP4 192.0.2.1 192.0.2.2 -1 2\r\n",    /* sign */
        "PROXY TCP4 192.0.2.1 192.0.2.2 1\r\n",       /* a field short */
        "PROXY TCP4 192.0.2.1 192.0.2.2 1 2 3\r\n",   /* a field more */
        "PROXY TCP4 2001:db8::1 192.0.2.2 1 2\r\n",   /* family mismatch */
        "PROXY TCP6 192.0.2.1 2001:db8::2 1 2\r\n",   /* family mismatch */
        "PROXY TCP4 192.0.2.01 192.0.2.2 1 2\r\n",    /* leading zero in IPv4 */
        "PROXY TCP4 192.0.2.256 192.0.2.2 1 2\r\n",   /* octet range */
        "PROXY TCP5 192.0.2.1 192.0.2.2 1 2\r\n",     /* protocol */
        "PROXY tcp4 192.0.2.1 192.0.2.2 1 2\r\n",     /* case */
        "PROXY \r\n",                                 /* nothing */
        "PROXY \n",                                   /* nothing, no CR */
    };
    struct proxy_hdr h;
    (void)state;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        int rc = parse(bad[i], &h);
        if (rc != PROXY_E_SYNTAX)
            fail_msg("%zu: %s -> %d", i, bad[i], rc);
    }
    /* a NUL inside the line */
    const uint8_t nul[] = "PROXY TCP4 192.0.2.1\0192.0.2.2 1 2\r\n";
    assert_int_equal(proxy_parse(nul, sizeof(nul) - 1, &h), PROXY_E_SYNTAX);
}

static void
test_v1_length_limit(void **state)
{
    struct proxy_hdr h;
    char line[200];
    (void)state;

    /* exactly 107 octets with CRLF: accepted */
    memset(line, 'x', sizeof(line));
    memcpy(line, "PROXY UNKNOWN ", 14);
    memcpy(line + 105, "\r\n", 2);
    assert_int_equal(proxy_parse((uint8_t *)line, 107, &h), 107);
    /* 108: refused as soon as 107 octets hold no LF */
    memcpy(line + 105, "xx\r\n", 4);
    assert_int_equal(proxy_parse((uint8_t *)line, 106, &h), 0);
    assert_int_equal(proxy_parse((uint8_t *)line, 107, &h), PROXY_E_TOO_LONG);
    assert_int_equal(proxy_parse((uint8_t *)line, 108, &h), PROXY_E_TOO_LONG);
}

static void
test_bad_signature_at_once(void **state)
{
    struct proxy_hdr h;
    uint8_t v2[16];
    (void)state;

    assert_int_equal(parse("E", &h), PROXY_E_SIGNATURE);
    assert_int_equal(parse("EHLO client.example\r\n", &h), PROXY_E_SIGNATURE);
    assert_int_equal(parse("PROX", &h), 0);
    assert_int_equal(parse("PROXX", &h), PROXY_E_SIGNATURE);
    assert_int_equal(parse("proxy TCP4", &h), PROXY_E_SIGNATURE);
    memcpy(v2, sig, 12);
    assert_int_equal(proxy_parse(v2, 7, &h), 0);
    v2[7] = 'q';
    assert_int_equal(proxy_parse(v2, 8, &h), PROXY_E_SIGNATURE);
    assert_int_equal(proxy_parse(v2, 0, &h), 0);
}

static void
test_v2_capture_crc_unique_id(void **state)
{
    struct proxy_hdr h;
    (void)state;

    assert_int_equal(proxy_parse(capture_v2, sizeof(capture_v2), &h), (int)sizeof(capture_v2));
    assert_int_equal(h.version, 2);
    assert_false(h.local);
    assert_addr(&h.src, "127.0.0.1", 0xe480);
    assert_addr(&h.dst, "127.0.0.1", 0x4282);
    assert_true(h.crc_checked);
    assert_true(h.has_unique_id);
    assert_int_equal(h.unique_id_len, 0);
    assert_string_equal(h.authority, "");
    for (size_t n = 0; n < sizeof(capture_v2); n++)
        assert_int_equal(proxy_parse(capture_v2, n, &h), 0);
}

static void
test_v2_bad_crc(void **state)
{
    struct proxy_hdr h;
    uint8_t b[sizeof(capture_v2)];
    (void)state;

    for (size_t i = 16; i < sizeof(b); i++) {
        if (i >= 28 && i < 31)
            continue; /* the CRC TLV's own type and length: TLV errors instead */
        memcpy(b, capture_v2, sizeof(b));
        b[i] ^= 0x01;
        int rc = proxy_parse(b, sizeof(b), &h);
        if (rc != PROXY_E_CRC && rc != PROXY_E_TLV)
            fail_msg("octet %zu flipped: %d", i, rc);
        if (i < 28 || i >= 35)
            assert_int_equal(rc, PROXY_E_CRC);
    }
}

static void
test_v2_tcp6_tlvs(void **state)
{
    struct proxy_hdr h;
    uint8_t b[512], block[36] = {0}, ssl[64];
    size_t n, sn = 0;
    const uint8_t uid[] = {1, 2, 3, 0, 5};
    (void)state;

    block[0] = 0x20, block[1] = 0x01, block[2] = 0x0d, block[3] = 0xb8, block[15] = 9;
    block[31] = 1;
    block[32] = 0x01, block[33] = 0xbb, block[34] = 0, block[35] = 25;
    n = v2_build(b, 0x21, 0x21, block, sizeof(block));
    n = v2_tlv(b, n, 0x01, "smtp", 4);
    n = v2_tlv(b, n, 0x02, "mx.example.net", 14);
    n = v2_tlv(b, n, 0x04, "\0\0\0", 3); /* NOOP */
    n = v2_tlv(b, n, 0x05, uid, sizeof(uid));
    ssl[sn++] = 0x07, ssl[sn++] = 0, ssl[sn++] = 0, ssl[sn++] = 0, ssl[sn++] = 0;
    memcpy(ssl + sn,
           "\x21\x00\x07"
           "TLSv1.3"
           "\x22\x00\x03"
           "bob"
           "\x99\x00\x01"
           "z",
           20);
    sn += 20;
    n = v2_tlv(b, n, 0x20, ssl, sn);
    n = v2_tlv(b, n, 0xE0, "custom", 6);
    n = v2_crc(b, n);
    assert_int_equal(proxy_parse(b, n, &h), (int)n);
    assert_addr(&h.src, "2001:db8::9", 443);
    assert_addr(&h.dst, "::1", 25);
    assert_string_equal(h.alpn, "smtp");
    assert_string_equal(h.authority, "mx.example.net");
    assert_int_equal(h.unique_id_len, sizeof(uid));
    assert_memory_equal(h.unique_id, uid, sizeof(uid));
    assert_true(h.ssl.present);
    assert_int_equal(h.ssl.client, 7);
    assert_int_equal(h.ssl.verify, 0);
    assert_string_equal(h.ssl.version, "TLSv1.3");
    assert_string_equal(h.ssl.cn, "bob");
    assert_true(h.crc_checked);
}

static void
test_v2_local_and_unspec(void **state)
{
    struct proxy_hdr h;
    uint8_t b[64];
    size_t n;
    (void)state;

    n = v2_build(b, 0x20, 0x00, (const uint8_t *)"", 0); /* LOCAL, haproxy's health check */
    assert_int_equal(proxy_parse(b, n, &h), 16);
    assert_true(h.local);
    n = v2_build(b, 0x20, 0x11, tcp4_block, 5); /* LOCAL: its block is discarded */
    assert_int_equal(proxy_parse(b, n, &h), 21);
    assert_true(h.local);
    n = v2_build(b, 0x21, 0x00, tcp4_block, 12); /* PROXY over UNSPEC */
    assert_int_equal(proxy_parse(b, n, &h), 28);
    assert_true(h.local);
    n = v2_build(b, 0x21, 0x11, tcp4_block, 12);
    assert_int_equal(proxy_parse(b, n, &h), 28);
    assert_false(h.local);
    assert_addr(&h.src, "192.0.2.7", 40000);
    assert_addr(&h.dst, "198.51.100.1", 25);
    assert_false(h.crc_checked);
}

static void
test_v2_version_family_length(void **state)
{
    struct proxy_hdr h;
    uint8_t b[300] = {0}, unix_block[216] = {0};
    (void)state;

    v2_build(b, 0x11, 0x11, tcp4_block, 12);
    assert_int_equal(proxy_parse(b, 28, &h), PROXY_E_VERSION);
    v2_build(b, 0x22, 0x11, tcp4_block, 12);
    assert_int_equal(proxy_parse(b, 28, &h), PROXY_E_VERSION);
    v2_build(b, 0x21, 0x31, unix_block, 216); /* UNIX */
    assert_int_equal(proxy_parse(b, 232, &h), PROXY_E_FAMILY);
    v2_build(b, 0x21, 0x12, tcp4_block, 12); /* DGRAM */
    assert_int_equal(proxy_parse(b, 28, &h), PROXY_E_FAMILY);
    v2_build(b, 0x21, 0x41, tcp4_block, 12); /* no such family */
    assert_int_equal(proxy_parse(b, 28, &h), PROXY_E_FAMILY);
    v2_build(b, 0x21, 0x11, tcp4_block, 8); /* shorter than the addresses */
    assert_int_equal(proxy_parse(b, 24, &h), PROXY_E_LENGTH);
    v2_build(b, 0x21, 0x21, tcp4_block, 12); /* INET6 needs 36 */
    assert_int_equal(proxy_parse(b, 28, &h), PROXY_E_LENGTH);
    /* a length over PROXY_V2_MAX is refused from the fixed 16 octets */
    v2_build(b, 0x21, 0x11, tcp4_block, 12);
    b[14] = 0xff, b[15] = 0xff;
    assert_int_equal(proxy_parse(b, 16, &h), PROXY_E_TOO_LONG);
    b[14] = (PROXY_V2_MAX - 16 + 1) >> 8, b[15] = (uint8_t)(PROXY_V2_MAX - 16 + 1);
    assert_int_equal(proxy_parse(b, 16, &h), PROXY_E_TOO_LONG);
    /* truncated: the length promises more than has come */
    b[14] = 0, b[15] = 12;
    assert_int_equal(proxy_parse(b, 27, &h), 0);
}

/* tlv_rc - a TCP4 header with one TLV appended raw (no length fix-up of
 * the TLV itself), parsed */
static int
tlv_rc(const uint8_t *tlv, size_t tlen)
{
    struct proxy_hdr h;
    uint8_t b[600];
    size_t n = v2_build(b, 0x21, 0x11, tcp4_block, 12);

    memcpy(b + n, tlv, tlen);
    n += tlen;
    b[14] = (uint8_t)((n - 16) >> 8);
    b[15] = (uint8_t)(n - 16);
    return proxy_parse(b, n, &h);
}

static void
test_v2_bad_tlvs(void **state)
{
    uint8_t t[400];
    (void)state;

    assert_int_equal(tlv_rc((const uint8_t *)"\x01\x00\x05"
                                             "smt",
                            6),
                     PROXY_E_TLV);                                         /* past end */
    assert_int_equal(tlv_rc((const uint8_t *)"\x01\x00", 2), PROXY_E_TLV); /* cut header */
    assert_int_equal(tlv_rc((const uint8_t *)"\x01", 1), PROXY_E_TLV);
    assert_int_equal(tlv_rc((const uint8_t *)"\x03\x00\x03"
                                             "abc",
                            6),
                     PROXY_E_TLV); /* CRC size */
    assert_int_equal(tlv_rc((const uint8_t *)"\x03\x00\x04"
                                             "abcd",
                            7),
                     PROXY_E_CRC);
    assert_int_equal(tlv_rc((const uint8_t *)"\x02\x00\x03"
                                             "a\nb",
                            6),
                     PROXY_E_TLV); /* control */
    assert_int_equal(tlv_rc((const uint8_t *)"\x02\x00\x03"
                                             "a\0b",
                            6),
                     PROXY_E_TLV);
    assert_int_equal(tlv_rc((const uint8_t *)"\x20\x00\x04\x01\x00\x00\x00", 7), PROXY_E_TLV);
    /* an SSL sub-TLV running past its SSL TLV */
    assert_int_equal(tlv_rc((const uint8_t *)"\x20\x00\x08\x01\x00\x00\x00\x00\x22\x00\x09", 11),
                     PROXY_E_TLV);
    /* UNIQUE_ID: 128 octets allowed, 129 not */
    memset(t, 'u', sizeof(t));
    t[0] = 0x05, t[1] = 0, t[2] = 128;
    assert_true(tlv_rc(t, 131) > 0);
    t[2] = 129;
    assert_int_equal(tlv_rc(t, 132), PROXY_E_TLV);
    /* AUTHORITY: 255 octets allowed, 256 not */
    t[0] = 0x02, t[1] = 0, t[2] = 255;
    assert_true(tlv_rc(t, 258) > 0);
    t[1] = 1, t[2] = 0;
    assert_int_equal(tlv_rc(t, 259), PROXY_E_TLV);
    /* unknown types are skipped, also with a zero length */
    assert_true(tlv_rc((const uint8_t *)"\xF0\x00\x00\x30\x00\x01x", 7) > 0);
}

static void
test_strerror_texts(void **state)
{
    (void)state;
    for (int rc = PROXY_E_CRC; rc <= PROXY_E_SIGNATURE; rc++) {
        const char *t = proxy_strerror(rc);
        assert_non_null(t);
        assert_true(strlen(t) > 5);
        for (int k = rc + 1; k <= PROXY_E_SIGNATURE; k++)
            assert_string_not_equal(t, proxy_strerror(k));
    }
}

static void
test_log_selector_option(void **state)
{
    struct cfg *c;
    (void)state;

    assert_non_null(c = load("primary_hostname = a.example\n"));
    assert_int_equal(c->log_selector, 0);
    cfg_free(c);
    assert_non_null(c = load("log_selector = +proxy\n"));
    assert_true(c->log_selector & CFG_LOG_PROXY);
    cfg_free(c);
    assert_non_null(c = load("log_selector = +all -proxy\n"));
    assert_false(c->log_selector & CFG_LOG_PROXY);
    cfg_free(c);
    assert_non_null(c = load("log_selector = -proxy \t +proxy\n"));
    assert_int_equal(c->log_selector, CFG_LOG_PROXY);
    cfg_free(c);
    load_fails("log_selector = +proxy +tls_peerdn\n", "tls_peerdn", "log_selector");
    load_fails("log_selector = proxy\n", "\"proxy\"", "log_selector");
    load_fails("log_selector = +\n", "\"+\"", NULL);
}

int
main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_crc32c_vectors),
        cmocka_unit_test(test_v1_tcp4_capture),
        cmocka_unit_test(test_v1_tcp6_and_unknown),
        cmocka_unit_test(test_v1_every_prefix_waits),
        cmocka_unit_test(test_v1_malformed),
        cmocka_unit_test(test_v1_length_limit),
        cmocka_unit_test(test_bad_signature_at_once),
        cmocka_unit_test(test_v2_capture_crc_unique_id),
        cmocka_unit_test(test_v2_bad_crc),
        cmocka_unit_test(test_v2_tcp6_tlvs),
        cmocka_unit_test(test_v2_local_and_unspec),
        cmocka_unit_test(test_v2_version_family_length),
        cmocka_unit_test(test_v2_bad_tlvs),
        cmocka_unit_test(test_strerror_texts),
        cmocka_unit_test(test_log_selector_option),
    };
    if (argc > 1)
        cmocka_set_test_filter(argv[1]);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
