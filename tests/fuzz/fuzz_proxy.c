/*
 * fuzz_proxy.c - libFuzzer target for api/proxy.c: any octets as the start
 *                of a connection from a PROXY protocol sender. A complete
 *                header must lie inside the input (v1 within 107 octets,
 *                v2 within PROXY_V2_MAX) and carry NUL-terminated text
 *                TLVs of the documented sizes; every proper prefix of it
 *                must ask for more; the result must not depend on what
 *                follows it; an error must have a text.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "api/proxy.h"

/* check_hdr - the invariants of a parsed header of length n */
static void
check_hdr(const struct proxy_hdr *h, int n)
{
    if (h->version == 1 && n > PROXY_V1_MAX)
        abort();
    if (h->version == 2 && (n < 16 || n > PROXY_V2_MAX))
        abort();
    if (h->version != 1 && h->version != 2)
        abort();
    if (!h->local && h->src.ss_family != AF_INET && h->src.ss_family != AF_INET6)
        abort();
    if (strlen(h->alpn) >= PROXY_TEXT_MAX || strlen(h->authority) >= PROXY_TEXT_MAX ||
        strlen(h->ssl.cn) >= PROXY_TEXT_MAX || h->unique_id_len > PROXY_UNIQUE_MAX)
        abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct proxy_hdr h, h2;
    int rc = proxy_parse(data, size, &h);

    if (rc < 0) {
        if (proxy_strerror(rc)[0] == '\0')
            abort();
        return 0;
    }
    if (rc == 0)
        return 0;
    if ((size_t)rc > size)
        abort();
    check_hdr(&h, rc);
    /* the header alone gives the same answer; one octet less asks for more */
    if (proxy_parse(data, (size_t)rc, &h2) != rc || h2.local != h.local ||
        memcmp(&h2.src, &h.src, sizeof(h.src)) != 0)
        abort();
    if (proxy_parse(data, (size_t)rc - 1, &h2) != 0)
        abort();
    return 0;
}
