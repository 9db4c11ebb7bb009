/*
 * cfgfx.c - what the configuration unit programs share (cfgfx.h).
 */
#include "cfgfx.h"

#include <arpa/inet.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

char load_err[CFG_ERR_MAX];

/* load - parse text as "t.conf"; NULL on error (load_err holds why) */
struct cfg *
load(const char *text)
{
    struct cfg *c = NULL;
    load_err[0] = '\0';
    if (cfg_load_string(text, "t.conf", NULL, 0, &c, load_err, sizeof load_err) < 0)
        return NULL;
    return c;
}

/* load_fails - assert that text is refused and load_err contains each given fragment */
void
load_fails(const char *text, const char *frag1, const char *frag2)
{
    struct cfg *c = load(text);
    if (c != NULL) {
        cfg_free(c);
        fail_msg("accepted: %s", text);
    }
    if (frag1 != NULL && strstr(load_err, frag1) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", load_err, frag1);
    if (frag2 != NULL && strstr(load_err, frag2) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", load_err, frag2);
}

/* sa4 - an IPv4 socket address */
struct sockaddr_storage
sa4(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in *s = (struct sockaddr_in *)&ss;
    s->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, ip, &s->sin_addr), 1);
    return ss;
}

/* sa6 - an IPv6 socket address */
struct sockaddr_storage
sa6(const char *ip)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
    s->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, ip, &s->sin6_addr), 1);
    return ss;
}

/* host_in - does ip (v4 or v6 text) match list? */
int
host_in(const struct cfg_hostlist *l, const char *ip)
{
    struct sockaddr_storage ss = strchr(ip, ':') ? sa6(ip) : sa4(ip);
    return cfg_hostlist_match(l, (struct sockaddr *)&ss);
}

/* ovr_fails - assert that the override ov is refused with an error holding frag */
void
ovr_fails(const char *ov, const char *frag)
{
    struct cfg *c = NULL;
    const char *v[] = {ov};
    if (cfg_load_string("", "t.conf", v, 1, &c, load_err, sizeof load_err) == 0) {
        cfg_free(c);
        fail_msg("accepted -o %s", ov);
    }
    if (strstr(load_err, frag) == NULL)
        fail_msg("error \"%s\" lacks \"%s\"", load_err, frag);
}
