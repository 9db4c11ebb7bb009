/*
 * dmarc_cases.h - the message table of test_dmarc.c (its rows live in
 *                 dmarc_cases.c): a From domain, SPF and DKIM outcomes, the
 *                 fake DNS, and the expected result.
 */
#ifndef SPATE_TESTS_DMARC_CASES_H
#define SPATE_TESTS_DMARC_CASES_H

#include <stddef.h>

#include "mailauth/dmarc.h"

enum { OK = 0, NX = 1, TEMP = 2 }; /* a zone entry's answer */

struct zone {
    const char *name; /* the TXT owner, "_dmarc.<domain>" */
    int rc;           /* OK, NX, TEMP */
    const char *txt[3];
};

struct tcase {
    const char *name;
    int walk;         /* DMARCbis tree walk */
    const char *from; /* NULL: nofrom */
    const char *spf_dom;
    enum dmarc_auth spf;
    const char *dkim_d[2];
    enum dmarc_auth dkim[2];
    unsigned rnd; /* the pct draw */
    int from_nx;  /* the From domain does not exist */
    int off;      /* dmarc_disable */
    struct zone z[4];
    enum dmarc_status want;
    const char *used; /* expected used domain, NULL: "" */
    int sampled;
};

extern const struct tcase dmarc_cases[];
extern const size_t dmarc_ncases;

#endif
