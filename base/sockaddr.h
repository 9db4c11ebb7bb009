/*
 * sockaddr.h - socket addresses written as text: "ip", "ip:port",
 * "[ipv6]:port" or a bare IPv6 address.
 *
 * Knows nothing of mail: the configuration parses listen and DNS server
 * addresses with it, the DNS layer and the listeners take the result.
 * Thread rules: pure functions; any thread.
 */
#ifndef SPATE_BASE_SOCKADDR_H
#define SPATE_BASE_SOCKADDR_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A socket address with its normalised text form. */
struct net_addr {
    struct sockaddr_storage ss;
    socklen_t len; /* bytes of ss in use */
    char text[64]; /* normalised "ip:port" or "[ip]:port" */
};

/* net_addr_parse - "ip", "ip:port", "[v6]:port" or a bare IPv6 address;
 * default_port when the text names none. 0 with *out filled, or -1 (out
 * zeroed) for anything else: host names are not resolved. */
int net_addr_parse(const char *s, uint16_t default_port, struct net_addr *out);

/* net_split_hostport - split "[h]", "[h]:p", "h:p", "h" or a bare IPv6
 * address into host (copied, NUL-terminated, at most hostlen - 1 bytes) and
 * the port text (*port points into s; NULL when there is none); 0 or -1 */
int net_split_hostport(const char *s, char *host, size_t hostlen, const char **port);

/* net_parse_port - "1".."65535", decimal digits only; 0 or -1 */
int net_parse_port(const char *s, uint16_t *port);

#endif
