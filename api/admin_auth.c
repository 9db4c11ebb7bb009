/*
 * admin_auth.c - who may use the admin API (http_int.h: http_admin_access).
 *
 * A request is trusted without a token when both its ends are loopback
 * addresses proper: 127.0.0.1 or ::1 (an IPv4-mapped 127.0.0.1 too). Any
 * other local address - a LAN address, a wildcard listener reached from
 * outside, or another 127.x address such as an admin_listen on 127.2.0.1 -
 * needs "Authorization: Bearer TOKEN" with a token from admin_token_file.
 * The file is read at each request (at most 64 KiB), so a new token takes
 * effect without a reload. A token that is sent is always checked, even on
 * loopback. Tokens are compared as SHA-256 digests with CRYPTO_memcmp, every
 * line of the file each time, so the time taken does not depend on where
 * or whether a token matches.
 *
 * Every refusal is logged: "admin: refused METHOD URL from [ip]:port: WHY".
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "api/http_int.h"
#include "base/log.h"

#define ADMIN_TOKEN_FILE_MAX 65536

/* sa_is_loopback - 127.0.0.1, ::1 or ::ffff:127.0.0.1 */
static int
sa_is_loopback(const struct sockaddr *sa)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (sa == NULL)
        return 0;
    if (sa->sa_family == AF_INET)
        return ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_LOOPBACK);
    if (sa->sa_family == AF_INET6) {
        const struct in6_addr *a = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        return IN6_IS_ADDR_LOOPBACK(a) ||
               (memcmp(a->s6_addr, mapped, 12) == 0 && a->s6_addr[12] == 127 &&
                a->s6_addr[13] == 0 && a->s6_addr[14] == 0 && a->s6_addr[15] == 1);
    }
    return 0;
}

/* conn_is_loopback - are both ends of c loopback addresses proper? */
static int
conn_is_loopback(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *peer, *fd;
    struct sockaddr_storage local;
    socklen_t len = sizeof(local);

    peer = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (peer == NULL || fd == NULL || !sa_is_loopback(peer->client_addr))
        return 0;
    if (getsockname(fd->connect_fd, (struct sockaddr *)&local, &len) != 0)
        return 0;
    return sa_is_loopback((const struct sockaddr *)&local);
}

/* digest - SHA-256 of p[0..n) */
static void
digest(const void *p, size_t n, unsigned char out[32])
{
    unsigned int len = 32;

    if (EVP_Digest(p, n, out, &len, EVP_sha256(), NULL) != 1)
        memset(out, 0, 32);
}

/* line_token - split one line into scope and token; 0, or -1 when it holds none */
static int
line_token(char *line, enum http_admin_scope *scope, char **tok)
{
    char *save = NULL, *w1 = strtok_r(line, " \t\r", &save), *w2 = strtok_r(NULL, " \t\r", &save);

    if (w1 == NULL || w1[0] == '#' || strtok_r(NULL, " \t\r", &save) != NULL)
        return -1;
    if (w2 == NULL) {
        *scope = HTTP_ADMIN_FULL;
        *tok = w1;
        return 0;
    }
    if (strcmp(w1, "admin") != 0 && strcmp(w1, "read") != 0)
        return -1;
    *scope = strcmp(w1, "read") == 0 ? HTTP_ADMIN_READ : HTTP_ADMIN_FULL;
    *tok = w2;
    return 0;
}

/* http_admin_token_scope - the scope token has in the file's text */
enum http_admin_scope
http_admin_token_scope(const char *file_text, const char *token, size_t len)
{
    enum http_admin_scope found = HTTP_ADMIN_NONE, scope;
    unsigned char want[32], have[32];
    char *copy = strdup(file_text), *save = NULL, *tok;

    if (copy == NULL || len == 0) {
        free(copy);
        return HTTP_ADMIN_NONE;
    }
    digest(token, len, want);
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (line_token(line, &scope, &tok) < 0)
            continue;
        digest(tok, strlen(tok), have);
        if (CRYPTO_memcmp(want, have, 32) == 0 && scope > found)
            found = scope;
    }
    OPENSSL_cleanse(copy, strlen(file_text));
    free(copy);
    return found;
}

/* read_token_file - the file's text (malloc'd) or NULL */
static char *
read_token_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    size_t n;

    if (f == NULL)
        return NULL;
    buf = malloc(ADMIN_TOKEN_FILE_MAX + 1);
    n = buf ? fread(buf, 1, ADMIN_TOKEN_FILE_MAX, f) : 0;
    fclose(f);
    if (buf != NULL)
        buf[n] = '\0';
    return buf;
}

/* bearer_scope - the scope of the request's bearer token; *sent tells
 * whether one came; *why on failure */
static enum http_admin_scope
bearer_scope(struct MHD_Connection *c, const char *path, int *sent, const char **why)
{
    const char *h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Authorization");
    enum http_admin_scope s;
    char *text;

    *sent = h != NULL;
    if (h == NULL)
        return HTTP_ADMIN_NONE;
    if (strncasecmp(h, "Bearer ", 7) != 0 || h[7] == '\0') {
        *why = "the Authorization header is not a bearer token";
        return HTTP_ADMIN_NONE;
    }
    if (path == NULL || (text = read_token_file(path)) == NULL) {
        *why = path ? "admin_token_file cannot be read" : "no admin_token_file is configured";
        return HTTP_ADMIN_NONE;
    }
    s = http_admin_token_scope(text, h + 7, strlen(h + 7));
    OPENSSL_cleanse(text, strlen(text));
    free(text);
    if (s == HTTP_ADMIN_NONE)
        *why = "unknown token";
    return s;
}

/* http_admin_access - the request's scope, or a refusal (logged) */
enum http_admin_scope
http_admin_access(struct MHD_Connection *c, const char *method, const char *url, char *who,
                  size_t wholen, const char **why, unsigned *status)
{
    const struct cfg *cfg = atomic_load(&http_cfg);
    enum http_admin_scope s;
    char lit[80], host[80];
    int sent, lo = conn_is_loopback(c);

    http_client(c, lit, sizeof(lit), host, sizeof(host));
    *why = "a bearer token is required on this address";
    *status = MHD_HTTP_UNAUTHORIZED;
    s = bearer_scope(c, cfg ? cfg->admin_token_file : NULL, &sent, why);
    if (!sent && lo)
        s = HTTP_ADMIN_FULL;
    if (s == HTTP_ADMIN_READ && strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
        s = HTTP_ADMIN_NONE;
        *why = "the token's scope is read-only";
        *status = MHD_HTTP_FORBIDDEN;
    }
    if (s == HTTP_ADMIN_NONE) {
        log_warn("admin: refused %s %s from %s: %s", method, url, host, *why);
        return s;
    }
    snprintf(who, wholen, "%s scope=%s via %s", host, s == HTTP_ADMIN_READ ? "read" : "admin",
             sent ? "token" : "loopback");
    return s;
}
