/*
 * fuzz_config.c - libFuzzer target for the configuration parser.
 *
 * The input bytes are a configuration text (cut at the first NUL, as a file
 * with one would be refused); the first input byte, when it is below 4, also
 * selects up to three -o overrides taken from the text's first lines, so the
 * override path is exercised too. A successful load is also queried through
 * the match functions before being freed.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config.h"
#include "engine/retry.h"

/* fuzz_query - touch the parsed structure through the public lookups */
static void
fuzz_query(const struct cfg *c)
{
    struct sockaddr_in6 s6;
    memset(&s6, 0, sizeof s6);
    s6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, "::ffff:127.0.0.1", &s6.sin6_addr);
    (void)cfg_hostlist_match(&c->relay_from_hosts, (struct sockaddr *)&s6);
    for (size_t i = 0; i < c->nrouters; i++) {
        (void)cfg_domainlist_match(&c->routers[i].domains, "a.example.com");
        (void)cfg_router_find_route(&c->routers[i], "a.example.com");
    }
    const struct cfg_retry_rule *r = cfg_retry_find(c, "a.example.com");
    if (r != NULL)
        (void)retry_next_interval(r, 3600, 900, 0.5);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = malloc(size + 1);
    if (text == NULL)
        return 0;
    memcpy(text, data, size);
    text[size] = '\0';
    const char *ov[3];
    size_t nov = 0;
    char *body = text;
    if (size > 0 && (unsigned char)text[0] < 4) {
        size_t want = (unsigned char)text[0];
        body = text + 1;
        for (char *s = body; nov < want && s != NULL && *s; nov++) {
            ov[nov] = s;
            s = strchr(s, '\n');
            if (s != NULL)
                *s++ = '\0';
            body = s != NULL ? s : (char *)"";
        }
    }
    char err[CFG_ERR_MAX];
    struct cfg *c = NULL;
    if (cfg_load_string(body, "fuzz", ov, nov, &c, err, sizeof err) == 0) {
        fuzz_query(c);
        cfg_free(c);
    }
    free(text);
    return 0;
}
