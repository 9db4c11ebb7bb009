/*
 * proxy.c - the PROXY protocol header parser, versions 1 and 2 (see
 *           proxy.h for the rules and haproxy's proxy-protocol.txt).
 *
 * Every length read from the wire is checked against what is left before
 * it is used; nothing is read past len. CRC32C is computed bit by bit: it
 * only ever covers one header (at most PROXY_V2_MAX octets) per
 * connection, and Debian 12 ships no C library for it.
 */
#include "api/proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#define V2_HDR 16 /* signature, ver_cmd, fam, len */

/* the v2 TLV types (proxy-protocol.txt §2.2) */
enum {
    PP2_TYPE_ALPN = 0x01,
    PP2_TYPE_AUTHORITY = 0x02,
    PP2_TYPE_CRC32C = 0x03,
    PP2_TYPE_UNIQUE_ID = 0x05,
    PP2_TYPE_SSL = 0x20,
    PP2_SUBTYPE_SSL_VERSION = 0x21,
    PP2_SUBTYPE_SSL_CN = 0x22,
    PP2_SUBTYPE_SSL_CIPHER = 0x23,
    PP2_SUBTYPE_SSL_SIG_ALG = 0x24,
    PP2_SUBTYPE_SSL_KEY_ALG = 0x25,
};

static const uint8_t v2_sig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D,
                                   0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};

/* proxy_crc32c - CRC32C (Castagnoli) of n octets, continuing crc */
uint32_t
proxy_crc32c(uint32_t crc, const void *p, size_t n)
{
    const uint8_t *b = p;

    crc = ~crc;
    for (size_t i = 0; i < n; i++) {
        crc ^= b[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0x82F63B78u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* be16 - a 16-bit big-endian number */
static size_t
be16(const uint8_t *p)
{
    return (size_t)p[0] << 8 | p[1];
}

/* be32 - a 32-bit big-endian number */
static uint32_t
be32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* ---- version 1 ------------------------------------------------------- */

/* v1_port - decimal 0-65535, no sign, no leading zero; -1 if bad */
static long
v1_port(const char *s)
{
    long v = 0;

    if (*s == '\0' || strlen(s) > 5 || (s[0] == '0' && s[1] != '\0'))
        return -1;
    for (; *s != '\0'; s++) {
        if (*s < '0' || *s > '9')
            return -1;
        v = v * 10 + (*s - '0');
    }
    return v <= 65535 ? v : -1;
}

/* v1_addr - text address and port of family af into ss; 0 or -1 */
static int
v1_addr(int af, const char *ip, const char *port, struct sockaddr_storage *ss)
{
    long p = v1_port(port);

    memset(ss, 0, sizeof(*ss));
    if (p < 0)
        return -1;
    if (af == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)p);
        return inet_pton(AF_INET, ip, &a->sin_addr) == 1 ? 0 : -1;
    }
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)p);
    return inet_pton(AF_INET6, ip, &a->sin6_addr) == 1 ? 0 : -1;
}

/* v1_split - cut line at single spaces into exactly n fields; 0 or -1 */
static int
v1_split(char *line, char **f, int n)
{
    for (int i = 0; i < n; i++) {
        f[i] = line;
        char *sp = strchr(line, ' ');
        if (i == n - 1)
            return sp == NULL && *line != '\0' ? 0 : -1;
        if (sp == NULL || sp == line)
            return -1;
        *sp = '\0';
        line = sp + 1;
    }
    return -1;
}

/* v1_fields - "TCP4 src dst sport dport", "TCP6 ..." or "UNKNOWN..." */
static int
v1_fields(char *line, struct proxy_hdr *h)
{
    char *f[5];
    int af;

    if (strncmp(line, "UNKNOWN", 7) == 0 && (line[7] == '\0' || line[7] == ' ')) {
        h->local = 1;
        return 0;
    }
    if (v1_split(line, f, 5) < 0)
        return PROXY_E_SYNTAX;
    if (strcmp(f[0], "TCP4") == 0)
        af = AF_INET;
    else if (strcmp(f[0], "TCP6") == 0)
        af = AF_INET6;
    else
        return PROXY_E_SYNTAX;
    if (v1_addr(af, f[1], f[3], &h->src) < 0 || v1_addr(af, f[2], f[4], &h->dst) < 0)
        return PROXY_E_SYNTAX;
    return 0;
}

/* v1_parse - "PROXY ..." up to its CRLF, within PROXY_V1_MAX octets */
static int
v1_parse(const uint8_t *b, size_t len, struct proxy_hdr *h)
{
    size_t n = len < PROXY_V1_MAX ? len : PROXY_V1_MAX;
    const uint8_t *lf = memchr(b, '\n', n);
    char line[PROXY_V1_MAX];
    size_t end;
    int rc;

    if (lf == NULL)
        return len >= PROXY_V1_MAX ? PROXY_E_TOO_LONG : 0;
    end = (size_t)(lf - b); /* the LF; "PROXY " is before it */
    if (end < 7 || b[end - 1] != '\r')
        return PROXY_E_SYNTAX;
    memcpy(line, b + 6, end - 7);
    line[end - 7] = '\0';
    if (strlen(line) != end - 7 || strchr(line, '\r') != NULL)
        return PROXY_E_SYNTAX; /* a NUL or a bare CR inside */
    memset(h, 0, sizeof(*h));
    h->version = 1;
    if ((rc = v1_fields(line, h)) < 0)
        return rc;
    return (int)(end + 1);
}

/* ---- version 2: TLVs ------------------------------------------------- */

struct walk {
    const uint8_t *hdr; /* the whole header, for the CRC */
    size_t total;
    struct proxy_hdr *h;
};

typedef int (*tlv_fn)(struct walk *w, uint8_t type, const uint8_t *v, size_t n);

/* tlv_walk - call fn for each TLV of p[0, n); each must end inside it */
static int
tlv_walk(struct walk *w, const uint8_t *p, size_t n, tlv_fn fn)
{
    size_t off = 0;

    while (off < n) {
        size_t vlen;
        int rc;

        if (n - off < 3)
            return PROXY_E_TLV;
        vlen = be16(p + off + 1);
        if (n - off - 3 < vlen)
            return PROXY_E_TLV;
        if ((rc = fn(w, p[off], p + off + 3, vlen)) < 0)
            return rc;
        off += 3 + vlen;
    }
    return 0;
}

/* tlv_text - a text value: shorter than PROXY_TEXT_MAX, no control octets */
static int
tlv_text(char *dst, const uint8_t *v, size_t n)
{
    if (n >= PROXY_TEXT_MAX)
        return PROXY_E_TLV;
    for (size_t i = 0; i < n; i++)
        if (v[i] < 0x20 || v[i] == 0x7F)
            return PROXY_E_TLV;
    memcpy(dst, v, n);
    dst[n] = '\0';
    return 0;
}

/* tlv_crc - the CRC32C TLV: the header's CRC with this value zeroed */
static int
tlv_crc(struct walk *w, const uint8_t *v, size_t n)
{
    static const uint8_t zero[4];
    size_t at = (size_t)(v - w->hdr);
    uint32_t crc;

    if (n != 4)
        return PROXY_E_TLV;
    crc = proxy_crc32c(0, w->hdr, at);
    crc = proxy_crc32c(crc, zero, 4);
    crc = proxy_crc32c(crc, v + 4, w->total - at - 4);
    if (crc != be32(v))
        return PROXY_E_CRC;
    w->h->crc_checked = 1;
    return 0;
}

/* ssl_sub - one sub-TLV of the SSL TLV */
static int
ssl_sub(struct walk *w, uint8_t type, const uint8_t *v, size_t n)
{
    struct proxy_ssl *ssl = &w->h->ssl;

    switch (type) {
    case PP2_SUBTYPE_SSL_VERSION:
        return tlv_text(ssl->version, v, n);
    case PP2_SUBTYPE_SSL_CN:
        return tlv_text(ssl->cn, v, n);
    case PP2_SUBTYPE_SSL_CIPHER:
        return tlv_text(ssl->cipher, v, n);
    case PP2_SUBTYPE_SSL_SIG_ALG:
        return tlv_text(ssl->sig_alg, v, n);
    case PP2_SUBTYPE_SSL_KEY_ALG:
        return tlv_text(ssl->key_alg, v, n);
    default:
        return 0;
    }
}

/* tlv_ssl - client (1 octet), verify (4), then sub-TLVs */
static int
tlv_ssl(struct walk *w, const uint8_t *v, size_t n)
{
    if (n < 5)
        return PROXY_E_TLV;
    w->h->ssl.present = 1;
    w->h->ssl.client = v[0];
    w->h->ssl.verify = be32(v + 1);
    return tlv_walk(w, v + 5, n - 5, ssl_sub);
}

/* tlv_one - one top-level TLV; unknown types are skipped */
static int
tlv_one(struct walk *w, uint8_t type, const uint8_t *v, size_t n)
{
    struct proxy_hdr *h = w->h;

    switch (type) {
    case PP2_TYPE_ALPN:
        return tlv_text(h->alpn, v, n);
    case PP2_TYPE_AUTHORITY:
        return tlv_text(h->authority, v, n);
    case PP2_TYPE_CRC32C:
        return tlv_crc(w, v, n);
    case PP2_TYPE_UNIQUE_ID:
        if (n > PROXY_UNIQUE_MAX)
            return PROXY_E_TLV;
        memcpy(h->unique_id, v, n);
        h->unique_id_len = n;
        h->has_unique_id = 1;
        return 0;
    case PP2_TYPE_SSL:
        return tlv_ssl(w, v, n);
    default:
        return 0;
    }
}

/* ---- version 2 ------------------------------------------------------- */

/* v2_addrs - the INET or INET6 address block at p */
static void
v2_addrs(int fam, const uint8_t *p, struct proxy_hdr *h)
{
    if (fam == 1) {
        struct sockaddr_in *s = (struct sockaddr_in *)&h->src, *d = (struct sockaddr_in *)&h->dst;
        s->sin_family = d->sin_family = AF_INET;
        memcpy(&s->sin_addr, p, 4);
        memcpy(&d->sin_addr, p + 4, 4);
        memcpy(&s->sin_port, p + 8, 2); /* both already in network order */
        memcpy(&d->sin_port, p + 10, 2);
        return;
    }
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)&h->src, *d = (struct sockaddr_in6 *)&h->dst;
    s->sin6_family = d->sin6_family = AF_INET6;
    memcpy(&s->sin6_addr, p, 16);
    memcpy(&d->sin6_addr, p + 16, 16);
    memcpy(&s->sin6_port, p + 32, 2);
    memcpy(&d->sin6_port, p + 34, 2);
}

/* v2_proxy - the PROXY command's block: addresses, then TLVs */
static int
v2_proxy(const uint8_t *b, size_t total, struct proxy_hdr *h)
{
    int fam = b[13] >> 4, transport = b[13] & 0x0F;
    size_t alen;
    struct walk w = {b, total, h};

    if (fam == 0) { /* UNSPEC: nothing known of the client */
        h->local = 1;
        return 0;
    }
    if ((fam != 1 && fam != 2) || transport != 1)
        return PROXY_E_FAMILY;
    alen = fam == 1 ? 12 : 36;
    if (total - V2_HDR < alen)
        return PROXY_E_LENGTH;
    v2_addrs(fam, b + V2_HDR, h);
    return tlv_walk(&w, b + V2_HDR + alen, total - V2_HDR - alen, tlv_one);
}

/* v2_parse - the binary header, once its 16 fixed octets are in */
static int
v2_parse(const uint8_t *b, size_t len, struct proxy_hdr *h)
{
    size_t total;
    int cmd, rc;

    if (len < V2_HDR)
        return 0;
    cmd = b[12] & 0x0F;
    if ((b[12] >> 4) != 2 || cmd > 1)
        return PROXY_E_VERSION;
    total = V2_HDR + be16(b + 14);
    if (total > PROXY_V2_MAX)
        return PROXY_E_TOO_LONG;
    if (len < total)
        return 0;
    memset(h, 0, sizeof(*h));
    h->version = 2;
    if (cmd == 0) /* LOCAL: the block is discarded, as the spec says */
        h->local = 1;
    else if ((rc = v2_proxy(b, total, h)) < 0)
        return rc;
    return (int)total;
}

/* proxy_parse - the header at the start of buf: length, 0 for more, or an error */
int
proxy_parse(const uint8_t *buf, size_t len, struct proxy_hdr *out)
{
    if (len == 0)
        return 0;
    if (buf[0] == 'P') {
        if (memcmp(buf, "PROXY ", len < 6 ? len : 6) != 0)
            return PROXY_E_SIGNATURE;
        return len < 6 ? 0 : v1_parse(buf, len, out);
    }
    if (memcmp(buf, v2_sig, len < 12 ? len : 12) != 0)
        return PROXY_E_SIGNATURE;
    return v2_parse(buf, len, out);
}

/* proxy_strerror - a short text for a proxy_parse result */
const char *
proxy_strerror(int rc)
{
    switch (rc) {
    case PROXY_E_SIGNATURE:
        return "not a PROXY protocol header";
    case PROXY_E_TOO_LONG:
        return "header too long";
    case PROXY_E_SYNTAX:
        return "malformed v1 header";
    case PROXY_E_VERSION:
        return "unsupported v2 version or command";
    case PROXY_E_FAMILY:
        return "unsupported v2 address family or transport";
    case PROXY_E_LENGTH:
        return "v2 length shorter than its addresses";
    case PROXY_E_TLV:
        return "malformed v2 TLV";
    case PROXY_E_CRC:
        return "v2 CRC32C mismatch";
    default:
        return rc > 0 ? "complete" : "incomplete";
    }
}
