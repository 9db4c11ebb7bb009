/*
 * fuzz_spf_record.c - libFuzzer target for mailauth/spf: any octets as the
 *                     TXT record of the checked domain. The record is
 *                     syntax-checked, then evaluated to the end against a
 *                     made-up zone where every name holds that record, an A
 *                     and AAAA record, an MX and a PTR: the evaluation must
 *                     end within the processing limits with a valid result
 *                     and well-formed comments.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailauth/spf.h"

/* answer - the made-up zone's answer to the current query */
static void
answer(struct spf_ctx *c, const char *rec, size_t len)
{
    struct spf_rr rr = {0};
    switch (spf_query_type(c)) {
    case SPF_QT_TXT:
        rr.text = rec, rr.len = len;
        break;
    case SPF_QT_A:
        memcpy(rr.addr, "\xc0\x00\x02\x01", 4);
        break;
    case SPF_QT_AAAA:
        rr.addr[0] = 0x20, rr.addr[1] = 0x01, rr.addr[15] = 1;
        break;
    case SPF_QT_MX:
        rr.text = "mx.example.com", rr.pref = 10;
        break;
    default:
        rr.text = "host.example.com";
        break;
    }
    if (len == 0 && spf_query_type(c) == SPF_QT_TXT)
        spf_answer(c, SPF_DNS_NXDOMAIN, NULL, 0);
    else
        spf_answer(c, SPF_DNS_OK, &rr, 1);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char err[256];
    const char *rec = (const char *)data;
    int steps = 0;
    spf_record_check(rec, size, err, sizeof err);
    for (int v6 = 0; v6 < 2; v6++) {
        struct spf_request rq = {.ip = v6 ? "2001::1" : "192.0.2.1",
                                 .sender = "user@example.com",
                                 .helo = "helo.example.com",
                                 .now = 1};
        struct spf_ctx *c = spf_new(&rq);
        while (spf_step(c) == SPF_STEP_QUERY) {
            if (++steps > 1000)
                abort(); /* the limits must end an evaluation long before */
            answer(c, rec, size);
        }
        if ((int)spf_result(c) < 0 || spf_result(c) > SPF_RESULT_PERMERROR)
            abort();
        if (strncmp(spf_received(c), "Received-SPF: ", 14) != 0)
            abort();
        if (strlen(spf_explanation(c)) + strlen(spf_header_comment(c)) +
                strlen(spf_smtp_comment(c)) >
            (size_t)1 << 20)
            abort();
        spf_free(c);
    }
    return 0;
}
