/*
 * aclfx.h - what the ACL unit programs (test_acl.c, test_acl_run.c) share:
 *           a configuration loaded per case, an environment whose verify
 *           and var callbacks the case scripts, and running an ACL by name.
 */
#ifndef SPATE_TESTS_ACLFX_H
#define SPATE_TESTS_ACLFX_H

#include <sys/socket.h>

#include "cfgfx.h"
#include "conf/acl.h"
#include "conf/config.h"

struct fx {
    struct cfg *cfg;
    struct acl_env env;
    struct acl_result res;
    struct sockaddr_storage client, local;
    int verify_answer; /* what fx_verify answers (ACL_VERIFY_*) */
    int verify_calls;
    char verify_addr[256];
};

extern struct fx fx;

/* fx_load - load text (fails the case on error) and reset the environment:
 * client 192.0.2.10:4000 connected to 198.51.100.1, sender
 * a@sender.example, recipient user@example.com, helo client.example */
void fx_load(const char *text);
/* fx_run - run the ACL named name (NULL: not set); returns res.rc */
int fx_run(const char *name);
/* fx_expect - run each ACL of the space-separated names in turn and
 * check that each returns want (its result cleared after each) */
void fx_expect(const char *names, int want);
/* fx_error_names - run ACL name: an error whose log message names word */
void fx_error_names(const char *name, const char *word);
/* fx_done - free everything of the case */
void fx_done(void);
/* fx_ip - set the client address (v4 or v6 text) */
void fx_ip(const char *ip);

#endif
