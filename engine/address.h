/*
 * address.h - mail addresses: RFC 5321 paths and mailboxes.
 *
 * Used by the SMTP server (MAIL/RCPT paths) and the HTTP API (JSON
 * addresses). Pure functions, any thread.
 */
#ifndef SPATE_ENGINE_ADDRESS_H
#define SPATE_ENGINE_ADDRESS_H

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

#endif
