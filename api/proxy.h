/*
 * proxy.h - the PROXY protocol header (haproxy's proxy-protocol.txt,
 *           versions 1 and 2): a load balancer in front of the SMTP
 *           listener opens each connection with one header naming the
 *           client it relays. This is the pure parser; the SMTP session
 *           that waits for the header is api/smtp_proxy.c.
 *
 * Version 1 (text):
 *   "PROXY TCP4 src dst sport dport\r\n", "PROXY TCP6 ...", or
 *   "PROXY UNKNOWN<anything>\r\n"; at most PROXY_V1_MAX octets, CRLF
 *   included; single spaces; ports decimal 0-65535 without leading zeros;
 *   addresses of the family named (inet_pton, so no leading zeros in IPv4).
 *   UNKNOWN carries no addresses: the connection's own are kept.
 * Version 2 (binary):
 *   the 12-octet signature 0D 0A 0D 0A 00 0D 0A 51 55 49 54 0A, ver_cmd
 *   (version 2 in the high nibble; command 0 LOCAL, 1 PROXY), fam (address
 *   family 0 UNSPEC, 1 INET, 2 INET6, 3 UNIX high; transport 0 UNSPEC,
 *   1 STREAM, 2 DGRAM low), a 16-bit big-endian length of what follows.
 *   LOCAL (a health check from the proxy itself) and PROXY over UNSPEC
 *   carry no client: the block is skipped and the connection's own
 *   addresses are kept. PROXY needs STREAM over INET (12-octet address
 *   block) or INET6 (36); UNIX and DGRAM are refused. The TLVs after the
 *   address block (type, 16-bit big-endian length, value) are each checked
 *   to lie inside the header; known ones are kept (below), others skipped.
 *   A CRC32C TLV (03) must be 4 octets and match the CRC32C (Castagnoli,
 *   RFC 3720) of the whole header with its value zeroed, big-endian;
 *   UNIQUE_ID (05) is at most 128 octets; ALPN (01), AUTHORITY (02) and
 *   the SSL (20) sub-TLVs 21-25 are text of at most PROXY_TEXT_MAX - 1
 *   octets without control characters; SSL holds client (1 octet) and
 *   verify (4 octets) before its sub-TLVs. A whole v2 header is at most
 *   PROXY_V2_MAX octets (Postfix allows far less; haproxy sends < 300).
 *
 * Incremental use: call proxy_parse() with all the octets received so far
 *   (from the first). It decides as soon as the octets cannot start a valid
 *   header (a wrong first octet is refused at once), so a client that talks
 *   SMTP instead is refused without waiting.
 *
 * Pure: no allocation, no I/O; any thread. struct proxy_hdr is valid only
 *   when proxy_parse() returns > 0; it holds copies (nothing points into buf).
 */
#ifndef SPATE_API_PROXY_H
#define SPATE_API_PROXY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#define PROXY_V1_MAX 107     /* a whole v1 line, CRLF included (the spec's limit) */
#define PROXY_V2_MAX 4096    /* a whole v2 header: 16 octets and the block */
#define PROXY_TEXT_MAX 256   /* text TLV values, NUL included */
#define PROXY_UNIQUE_MAX 128 /* UNIQUE_ID octets (the spec's limit) */

/* proxy_parse's refusals (negative) */
enum proxy_err {
    PROXY_E_SIGNATURE = -1, /* neither "PROXY " nor the v2 signature */
    PROXY_E_TOO_LONG = -2,  /* v1 without CRLF in 107 octets, v2 over PROXY_V2_MAX */
    PROXY_E_SYNTAX = -3,    /* a malformed v1 line (spaces, bare LF, addresses, ports) */
    PROXY_E_VERSION = -4,   /* v2 version other than 2, or command other than LOCAL/PROXY */
    PROXY_E_FAMILY = -5,    /* v2 PROXY over UNIX, DGRAM or an unknown family */
    PROXY_E_LENGTH = -6,    /* v2 block shorter than its address block */
    PROXY_E_TLV = -7,       /* a TLV past the end, or a value too long or malformed */
    PROXY_E_CRC = -8,       /* the CRC32C TLV does not match */
};

/* The SSL TLV (0x20): how the client reached the proxy */
struct proxy_ssl {
    int present;
    uint8_t client;  /* PP2_CLIENT_* bits: 1 SSL, 2 CERT_CONN, 4 CERT_SESS */
    uint32_t verify; /* 0: the client's certificate verified */
    char version[PROXY_TEXT_MAX], cn[PROXY_TEXT_MAX], cipher[PROXY_TEXT_MAX];
    char sig_alg[PROXY_TEXT_MAX], key_alg[PROXY_TEXT_MAX];
};

/* A parsed header */
struct proxy_hdr {
    int version; /* 1 or 2 */
    int local;   /* no client named (v1 UNKNOWN, v2 LOCAL or UNSPEC): keep the connection's */
    struct sockaddr_storage src; /* the client (AF_INET or AF_INET6, port set) unless local */
    struct sockaddr_storage dst; /* the address the client reached on the proxy */
    /* v2 TLVs; "" / 0 when absent */
    char alpn[PROXY_TEXT_MAX];
    char authority[PROXY_TEXT_MAX];
    uint8_t unique_id[PROXY_UNIQUE_MAX];
    size_t unique_id_len;
    int has_unique_id;
    int crc_checked; /* a CRC32C TLV was present and matched */
    struct proxy_ssl ssl;
};

/* proxy_parse - the header at the start of buf[0, len): its length in
 * octets (> 0; *out filled), 0 when buf is a valid beginning that needs
 * more octets, or a negative enum proxy_err */
int proxy_parse(const uint8_t *buf, size_t len, struct proxy_hdr *out);

/* proxy_strerror - a short text for a proxy_parse result */
const char *proxy_strerror(int rc);

/* proxy_crc32c - update crc (start with 0) by n octets: CRC32C, RFC 3720,
 * reflected polynomial 0x82F63B78, init and final xor 0xFFFFFFFF; so
 * proxy_crc32c(0, "123456789", 9) == 0xE3069283 */
uint32_t proxy_crc32c(uint32_t crc, const void *p, size_t n);

#endif
