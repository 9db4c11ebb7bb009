/*
 * address.h - mail addresses: RFC 5321 paths and mailboxes.
 *
 * Used by the SMTP server (MAIL/RCPT paths), the HTTP API (JSON addresses)
 * and routing (A-label domains, literal addresses). Pure functions, any
 * thread. Syntax: RFC 5321 §4.1.2 (paths, mailboxes) and §4.1.3 (address
 * literals), with RFC 6531 UTF-8 when allowed; internationalised domains:
 * RFC 5890/5891 and UTS #46 (through libidn2).
 */
#ifndef SPATE_CONF_ADDRESS_H
#define SPATE_CONF_ADDRESS_H

#include <stddef.h>

#define ADDR_MAX 256 /* RFC 5321 §4.5.3.1.3: a path is at most 256 octets */

/* addr_parse_path - parse a "<...>" path at s (RFC 5321 §4.1.2), such as the
 * argument of MAIL FROM: / RCPT TO:. Accepts "<>" (null path, out = "") when
 * allow_null; drops an obsolete source route ("<@a,@b:u@d>"); keeps quoted
 * local parts as written. On success writes the mailbox (no brackets) to out,
 * sets *end just past '>' and returns 0; else returns -1 and *why says what
 * is wrong (static text). allow_utf8: accept UTF-8 (SMTPUTF8). */
int addr_parse_path(const char *s, size_t len, int allow_null, int allow_utf8, char *out,
                    size_t outlen, const char **end, const char **why);

/* addr_valid_mailbox - "local@domain" with a dot-atom or quoted-string local
 * part and a domain (or address literal) that is syntactically valid;
 * 1 valid, 0 not (and *why set) */
int addr_valid_mailbox(const char *addr, int allow_utf8, const char **why);

/* addr_valid_literal - s as a whole is an address literal (RFC 5321
 * §4.1.3): "[" IPv4 "]" or "[IPv6:" IPv6 "]", every octet within that
 * grammar (a NUL or blank inside is refused); 1 valid, 0 not */
int addr_valid_literal(const char *s);

/* addr_domain - the domain part (after the last '@'), or "" */
const char *addr_domain(const char *addr);

/* addr_domain_lower - copy the domain in lower case into out; 0 or -1 if too long */
int addr_domain_lower(const char *addr, char *out, size_t outlen);

/* addr_domain_ascii - the domain d (no '@') as DNS and destination keys
 * see it: ASCII letters lowered, and each U-label turned into its A-label
 * ("xn--...", RFC 5890 §2.3.2.1, RFC 5891 §4) by IDNA2008 with UTS #46
 * non-transitional processing (libidn2, NFC applied first), so "Bücher.Example"
 * becomes "xn--bcher-kva.example" and "faß.de" stays distinct from "fass.de".
 * An all-ASCII d (also an address literal) is only lowered. 0, or -1 with
 * *why (static text) when the name is refused or does not fit outlen. The
 * address on the wire keeps its UTF-8 form (SMTPUTF8, RFC 6531). */
int addr_domain_ascii(const char *d, char *out, size_t outlen, const char **why);

/* addr_literal_ip - for the literal d ("[192.0.2.1]", "[IPv6:2001:db8::1]")
 * the address text inside ("192.0.2.1", "2001:db8::1"); 0, or -1 when d
 * is not a valid address literal or does not fit outlen */
int addr_literal_ip(const char *d, char *out, size_t outlen);

/* addr_rcpt_check - whether a syntactically valid recipient (see
 * addr_valid_mailbox) can be delivered, so it is refused at once rather than
 * accepted and bounced: 0 yes; 550 when its domain is an address literal and
 * !allow_literals; 501 when its domain holds a U-label that IDNA2008 /
 * UTS #46 refuses. *why (static text) is the reason; an SMTP server answers
 * "<code> 5.1.2 <why>" (RFC 3463 §3.2: bad destination system address). */
int addr_rcpt_check(const char *addr, int allow_literals, const char **why);

#endif
