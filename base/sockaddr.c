/*
 * sockaddr.c - socket addresses from text (see sockaddr.h).
 */
#include "base/sockaddr.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* net_parse_port - "1".."65535"; 0 or -1 */
int
net_parse_port(const char *s, uint16_t *port)
{
    unsigned long v = 0;
    size_t n = 0;

    for (; s[n] >= '0' && s[n] <= '9' && n < 6; n++)
        v = v * 10 + (unsigned long)(s[n] - '0');
    if (n == 0 || s[n] != '\0' || v < 1 || v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

/* net_split_hostport - see sockaddr.h */
int
net_split_hostport(const char *s, char *host, size_t hostlen, const char **port)
{
    const char *hs = s;
    size_t hl;
    if (*s == '[') {
        const char *e = strchr(s, ']');
        if (e == NULL || (e[1] != '\0' && e[1] != ':'))
            return -1;
        hs = s + 1;
        hl = (size_t)(e - hs);
        *port = e[1] == ':' ? e + 2 : NULL;
    } else {
        const char *c = strchr(s, ':');
        int one_colon = c != NULL && strchr(c + 1, ':') == NULL;
        hl = one_colon ? (size_t)(c - s) : strlen(s);
        *port = one_colon ? c + 1 : NULL;
    }
    if (hl == 0 || hl >= hostlen)
        return -1;
    memcpy(host, hs, hl);
    host[hl] = '\0';
    return 0;
}

/* set_v4 / set_v6 - fill out for one family; 1 if host is such an address */
static int
set_v4(const char *host, uint16_t port, struct net_addr *out)
{
    struct sockaddr_in *s4 = (struct sockaddr_in *)&out->ss;
    char ntop[INET_ADDRSTRLEN];

    if (inet_pton(AF_INET, host, &s4->sin_addr) != 1)
        return 0;
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    out->len = sizeof *s4;
    inet_ntop(AF_INET, &s4->sin_addr, ntop, sizeof ntop);
    snprintf(out->text, sizeof out->text, "%s:%u", ntop, (unsigned)port);
    return 1;
}

static int
set_v6(const char *host, uint16_t port, struct net_addr *out)
{
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&out->ss;
    char ntop[INET6_ADDRSTRLEN];

    if (inet_pton(AF_INET6, host, &s6->sin6_addr) != 1)
        return 0;
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    out->len = sizeof *s6;
    inet_ntop(AF_INET6, &s6->sin6_addr, ntop, sizeof ntop);
    snprintf(out->text, sizeof out->text, "[%s]:%u", ntop, (unsigned)port);
    return 1;
}

/* net_addr_parse - see sockaddr.h */
int
net_addr_parse(const char *s, uint16_t default_port, struct net_addr *out)
{
    char host[INET6_ADDRSTRLEN + 1];
    const char *portstr;
    uint16_t port = default_port;

    if (s == NULL || out == NULL)
        return -1;
    memset(out, 0, sizeof *out);
    if (net_split_hostport(s, host, sizeof host, &portstr) < 0)
        return -1;
    if (portstr != NULL && net_parse_port(portstr, &port) < 0)
        return -1;
    if ((*s != '[' && set_v4(host, port, out)) || set_v6(host, port, out))
        return 0;
    memset(out, 0, sizeof *out);
    return -1;
}
