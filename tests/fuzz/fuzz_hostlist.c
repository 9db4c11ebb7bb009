/*
 * fuzz_hostlist.c - libFuzzer target for ACL lists (conf/acl_list.c).
 *
 * Input: a first byte choosing the list kind (host, domain, local part,
 * address), then the list text up to the first newline, then subjects one
 * per line (an IP address for host lists, else a domain / local part /
 * address). The list is parsed the way an ACL condition's value is (named
 * lists "+a" and "+b" exist), and matched against every subject; a list
 * with lookup items is only parsed (matching would read files).
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/acl.h"
#include "conf/acl_int.h"
#include "conf/config.h"

static struct cfg *fuzz_cfg;

/* fuzz_setup - a configuration with named lists of every kind */
static void
fuzz_setup(void)
{
    char err[CFG_ERR_MAX];
    if (fuzz_cfg == NULL && cfg_load_string("primary_hostname = mx.example.com\n"
                                            "hostlist a = 10.0.0.0/8 : !10.1.0.0/16\n"
                                            "domainlist a = *.example.org : @\n"
                                            "localpartlist a = postmaster : *-owner\n"
                                            "addresslist a = *@spam.test : user@*\n"
                                            "hostlist b = <; +a ; ::1\n"
                                            "domainlist b = !+a : example.com\n"
                                            "localpartlist b = +a\n"
                                            "addresslist b = +a : ^x.*y$\n",
                                            "fuzz", NULL, 0, &fuzz_cfg, err, sizeof err) < 0) {
        fprintf(stderr, "fuzz_hostlist: %s\n", err);
        abort();
    }
}

/* fuzz_sa - text as a socket address (0 if it is none) */
static int
fuzz_sa(const char *s, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, s, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        return 1;
    }
    if (inet_pton(AF_INET6, s, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        return 1;
    }
    return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    fuzz_setup();
    int kind = data[0] % AL_NKINDS;
    char *text = malloc(size);
    if (text == NULL)
        return 0;
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    char *subjects = strchr(text, '\n');
    if (subjects != NULL)
        *subjects++ = '\0';
    char err[256];
    struct acl_list *l = acl__list_parse(fuzz_cfg->acls, kind, text, err, sizeof err);
    for (size_t i = 0; l != NULL && i < l->n; i++)
        if (l->items[i].kind == LI_LOOKUP)
            subjects = NULL; /* would read files */
    struct sockaddr_storage cl, lo;
    fuzz_sa("192.0.2.1", &lo);
    for (char *s = subjects; l != NULL && s != NULL;) {
        char *next = strchr(s, '\n');
        if (next != NULL)
            *next++ = '\0';
        int have = fuzz_sa(s, &cl);
        struct acl_mctx m = {"mx.example.com", have ? (struct sockaddr *)&cl : NULL,
                             (struct sockaddr *)&lo, err, sizeof err};
        int r = acl__list_match(l, &m, s);
        if (r < -1 || r > 1)
            abort();
        s = next;
    }
    acl__list_free(l);
    free(text);
    return 0;
}
