/*
 * spf.h - Sender Policy Framework (RFC 7208): check_host() for the HELO and
 *         MAIL FROM identities, as a pure state machine over DNS answers.
 *
 * Synopsis
 *   struct spf_request rq = {.ip = "192.0.2.1", .sender = "a@example.com",
 *                            .helo = "mx.example.com", .receiver = "mx.local"};
 *   struct spf_ctx *c = spf_new(&rq);
 *   while (spf_step(c) == SPF_STEP_QUERY) {
 *       ... look up spf_query_name(c), spf_query_type(c) (asynchronously) ...
 *       spf_answer(c, SPF_DNS_OK, rrs, n);
 *   }
 *   spf_result(c), spf_explanation(c), spf_received(c) ...; spf_free(c);
 *
 * Description
 *   The evaluator does no I/O. spf_step() runs check_host() from the start
 *   against the answers given so far (kept in the context, one per name and
 *   type) and stops at the first query it has no answer for: SPF_STEP_QUERY,
 *   with the name and type to look up. The caller looks it up however it
 *   likes (dns/ on an event loop, a zone file in a test), hands the answer to
 *   spf_answer() and steps again. Re-running from the start keeps no stack
 *   across the wait; an evaluation makes a few dozen queries at most, so the
 *   replay costs microseconds.
 *
 *   Implemented (RFC 7208): record selection (§4.5: one "v=spf1" TXT record,
 *   several are a permerror, non-ASCII or control characters a permerror),
 *   every mechanism (all include a mx ptr ip4 ip6 exists, dual CIDR lengths)
 *   and modifier (redirect, exp, unknown modifiers ignored; a repeated
 *   redirect or exp is a permerror), macros (§7, all letters, transformers,
 *   delimiters, URL-escaping upper-case letters, c/r/t in exp only), the
 *   limits of §4.6.4 (10 DNS-querying terms, 10 MX and 10 PTR names, 2 void
 *   lookups), the explanation (§6.2: exp= of the record that failed, or of
 *   its redirect target; a broken exp gives the default), initial checks
 *   (§4.3: a malformed or single-label domain is "none"; a sender without a
 *   local part gets "postmaster"). An IPv4-mapped IPv6 client address is
 *   evaluated as IPv4. No address is exempt: loopback is evaluated like any
 *   other (the caller decides whom to check).
 *
 * Identities: sender NULL or "" checks the HELO identity
 * ("postmaster@HELO"); otherwise MAIL FROM (the caller may check HELO first,
 * RFC 7208 §2.3, by calling with sender NULL).
 *
 * Ownership: the request's strings are copied by spf_new(). Strings returned
 * by the getters belong to the context and live until spf_free().
 * Threads: a context belongs to one thread at a time; no globals.
 * Errors: spf_new() returns NULL for an unparsable ip; other functions
 * cannot fail (out of memory aborts, as everywhere in spate).
 */
#ifndef SPATE_MAILAUTH_SPF_H
#define SPATE_MAILAUTH_SPF_H

#include <stddef.h>
#include <stdint.h>

/* RFC 7208 §2.6 results; the values are stable (tests and logs). */
enum spf_result {
    SPF_RESULT_NONE,
    SPF_RESULT_NEUTRAL,
    SPF_RESULT_PASS,
    SPF_RESULT_FAIL,
    SPF_RESULT_SOFTFAIL,
    SPF_RESULT_TEMPERROR,
    SPF_RESULT_PERMERROR
};

/* DNS record types the evaluator asks for (IANA numbers) */
enum spf_qtype { SPF_QT_A = 1, SPF_QT_PTR = 12, SPF_QT_MX = 15, SPF_QT_TXT = 16, SPF_QT_AAAA = 28 };
/* How a query ended: records, name error (RCODE 3), no records of the type,
 * or a temporary failure (timeout, SERVFAIL, ...) */
enum spf_dns_status { SPF_DNS_OK, SPF_DNS_NXDOMAIN, SPF_DNS_NODATA, SPF_DNS_TEMP };

/* One record of an answer. TXT: text is the record's strings joined with
 * nothing between them (len bytes, may hold any byte); MX: pref and the
 * target name in text; PTR: the name in text; A/AAAA: addr (4 or 16 bytes
 * used). */
struct spf_rr {
    const char *text;
    size_t len; /* bytes of text (0: strlen(text)) */
    uint16_t pref;
    uint8_t addr[16];
};

struct spf_request {
    const char *ip;          /* client address, IPv4 or IPv6 text (required) */
    const char *sender;      /* MAIL FROM address; NULL or "": the HELO identity */
    const char *helo;        /* HELO/EHLO argument, may be NULL */
    const char *receiver;    /* our host name, for %{r} and Received-SPF; NULL: "unknown" */
    const char *default_exp; /* explanation when a fail has none; NULL: a built-in text */
    unsigned max_lookups;    /* DNS-querying terms allowed; 0: 10 (RFC 7208 §4.6.4) */
    unsigned max_void;       /* void lookups allowed; 0: 2 */
    int64_t now;             /* %{t}: seconds since the epoch; 0: time(NULL) */
};

enum { SPF_STEP_DONE = 0, SPF_STEP_QUERY = 1 };

struct spf_ctx;

/* spf_new - a context for one check_host(); NULL if rq->ip does not parse */
struct spf_ctx *spf_new(const struct spf_request *rq);
/* spf_step - evaluate as far as the answers given allow: SPF_STEP_DONE (the
 * result is ready) or SPF_STEP_QUERY (look up spf_query_name/_type) */
int spf_step(struct spf_ctx *c);
/* spf_query_name / spf_query_type - the lookup asked for by the last step:
 * a domain name without trailing dot, and an enum spf_qtype */
const char *spf_query_name(const struct spf_ctx *c);
int spf_query_type(const struct spf_ctx *c);
/* spf_answer - the answer to the last query: status and n records (copied;
 * records of another type than asked are ignored) */
void spf_answer(struct spf_ctx *c, int status, const struct spf_rr *rrs, size_t n);
/* spf_queries - answers given so far (for logs and tests) */
size_t spf_queries(const struct spf_ctx *c);

/* Outcome, valid after SPF_STEP_DONE */
enum spf_result spf_result(const struct spf_ctx *c);
/* spf_explanation - for a fail: the domain's exp= text, or the default;
 * "" for other results */
const char *spf_explanation(const struct spf_ctx *c);
/* spf_reason - what decided: "mechanism 'ip4:192.0.2.0/24' matched", "no SPF
 * record", "too many DNS lookups", ... (for logs and comments) */
const char *spf_reason(const struct spf_ctx *c);
/* spf_domain - the domain checked ("" when none could be formed) */
const char *spf_domain(const struct spf_ctx *c);
/* spf_header_comment - "RECEIVER: domain of SENDER designates IP as
 * permitted sender" and the like ($spf_header_comment) */
const char *spf_header_comment(const struct spf_ctx *c);
/* spf_smtp_comment - text for an SMTP reply: the explanation on fail, else
 * the result and reason ($spf_smtp_comment) */
const char *spf_smtp_comment(const struct spf_ctx *c);
/* spf_received - a whole "Received-SPF: ..." header (RFC 7208 §9.1),
 * without CRLF ($spf_received) */
const char *spf_received(const struct spf_ctx *c);
void spf_free(struct spf_ctx *c);

/* spf_result_name - "none" "neutral" "pass" "fail" "softfail" "temperror"
 * "permerror" ("?" for an unknown value) */
const char *spf_result_name(int r);
/* spf_result_parse - a result word, case-insensitive, with the deprecated
 * aliases err_perm (permerror) and err_temp (temperror); -1 if unknown */
int spf_result_parse(const char *word, size_t len);

/* spf_record_check - parse a record ("v=spf1 ...") without evaluating it:
 * 0 if it is well-formed, -1 with why in err (for tools and fuzzing) */
int spf_record_check(const char *rec, size_t len, char *err, size_t errlen);
/* spf_macro_check - expand a macro-string with fixed sample values (exp
 * nonzero: explain-string rules); 0 with the text in out, -1 on a syntax
 * error (for tools and fuzzing) */
int spf_macro_check(const char *in, size_t len, int exp, char *out, size_t outlen);

struct net_addr;
/* spf_check_sync - evaluate SPF for the MAIL FROM identity sender
 * ("user@domain"; the domain stands for HELO) and the client address ip,
 * in the calling thread with a private loop and resolver on servers
 * (nservers 0: /etc/resolv.conf). Blocks for the DNS queries (each bounded
 * by the resolver's timeouts). 0 with *word the malloc'd result word
 * ("pass", "fail", ...), or -1 with why in err (bad IP address, no
 * resolver). For ${lookup{user@domain}spf{ip}}; any thread. */
int spf_check_sync(const struct net_addr *servers, size_t nservers, const char *sender,
                   const char *ip, char **word, char *err, size_t errlen);

#endif
