/*
 * mailauth.h - message authentication for the inbound server: SPF
 *              (RFC 7208, spf.h); DKIM and DMARC join here.
 *
 * The folder sits on conf's floor: it includes base/, dns/, tls/ and spool/
 * only, does no I/O of its own and keeps no globals. Evaluators are state
 * machines fed DNS answers by their caller (api/ on its event loop, tests
 * from zone data), so nothing here blocks a loop.
 */
#ifndef SPATE_MAILAUTH_MAILAUTH_H
#define SPATE_MAILAUTH_MAILAUTH_H

#include "mailauth/dkim.h"
#include "mailauth/dmarc.h"
#include "mailauth/spf.h"

#endif
