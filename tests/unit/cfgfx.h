/*
 * cfgfx.h - what the configuration unit programs (test_config.c,
 *           test_config_drivers.c) share: loading a configuration from
 *           memory as "t.conf" with the error text kept in load_err,
 *           asserting refusals, and socket addresses for host list matching.
 */
#ifndef SPATE_TESTS_CFGFX_H
#define SPATE_TESTS_CFGFX_H

#include <sys/socket.h>

#include "conf/config.h"

/* the error text of the last load() or ovr_fails() */
extern char load_err[CFG_ERR_MAX];

/* load - parse text as "t.conf"; NULL on error (load_err holds why) */
struct cfg *load(const char *text);
/* load_fails - assert that text is refused and load_err contains each given fragment */
void load_fails(const char *text, const char *frag1, const char *frag2);
/* ovr_fails - assert that the override ov is refused with an error holding frag */
void ovr_fails(const char *ov, const char *frag);
/* sa4 - an IPv4 socket address */
struct sockaddr_storage sa4(const char *ip);
/* sa6 - an IPv6 socket address */
struct sockaddr_storage sa6(const char *ip);
/* host_in - does ip (v4 or v6 text) match list? */
int host_in(const struct cfg_hostlist *l, const char *ip);

#endif
