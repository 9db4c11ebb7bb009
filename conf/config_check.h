/*
 * config_check.h - checks on configuration values, for engine/config.c.
 *
 * Values that reach the network (the SMTP greeting and EHLO reply, the
 * EHLO/HELO we send, log lines) must not carry octets that end or forge a
 * protocol line. The parser therefore refuses, in every line it reads and in
 * every -o override, any control octet (below 0x20, or 0x7f) other than tab;
 * and in every unquoted string value (after the "\r", "\n", "\t" escapes are
 * turned into octets) any control octet, tab included, except in expansion
 * strings, where a tab is kept.
 *
 * Host names (primary_hostname, helo_data) are RFC 1123 §2.1 names as
 * RFC 5321 §4.1.2 "Domain" has them: dot-separated labels of ASCII letters,
 * digits and inner hyphens, 1-63 octets each, at most 255 in all, no empty
 * label and no trailing dot. helo_data may instead be an address literal
 * (RFC 5321 §4.1.1.1 and §4.1.3), since EHLO takes either. helo_data is sent
 * as written: it is not an expansion string.
 *
 * Pure functions, any thread.
 */
#ifndef SPATE_CONF_CONFIG_CHECK_H
#define SPATE_CONF_CONFIG_CHECK_H

/* cfg_ctl_octet - the first control octet of s (tab skipped when allow_tab),
 * or -1 when there is none */
int cfg_ctl_octet(const char *s, int allow_tab);

/* cfg_valid_ldh_name - s is a host name as described above; 1 or 0 */
int cfg_valid_ldh_name(const char *s);

/* cfg_valid_helo - s is a host name or an address literal; 1 or 0 */
int cfg_valid_helo(const char *s);

#endif
