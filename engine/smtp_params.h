/*
 * smtp_params.h - the SMTP client's MAIL FROM and RCPT TO commands with
 *                 the parameters the server advertised (RFC 5321
 *                 4.1.1.11: a parameter goes only to a server that offered
 *                 its extension): SIZE (RFC 1870), BODY=8BITMIME
 *                 (RFC 6152), SMTPUTF8 (RFC 6531), DSN's RET, ENVID,
 *                 NOTIFY and ORCPT (RFC 3461), and PRDR
 *                 (draft-hall-prdr-00). Pure functions: no I/O, any thread.
 *
 * The caller decides which extensions are in use (what the EHLO reply
 * offered, what the transport allows); these functions only write them.
 * DSN values come from the spool record as the receiving side wrote them
 * (xtext); they are passed on unchanged, except that an octet that may not
 * appear there (a space, a control character, or one above 126 outside an
 * SMTPUTF8 transaction) is written as "+XX", so that no stored value can
 * break the command line.
 */
#ifndef SPATE_ENGINE_SMTP_PARAMS_H
#define SPATE_ENGINE_SMTP_PARAMS_H

#include <stddef.h>

#include "spool/spool.h"

/* What goes on a MAIL command besides the reverse path. */
struct smtp_mail_opts {
    int size; /* SIZE=body_len: the server offered SIZE */
    size_t body_len;
    int body_8bit; /* BODY=8BITMIME */
    int smtputf8;  /* SMTPUTF8 */
    int dsn;       /* RET= and ENVID= when the message has them (DSN offered) */
    int prdr;      /* PRDR */
};

/* smtp_msg_needs_utf8 - does the message need SMTPUTF8 (RFC 6531 3.2): it
 * arrived with SMTPUTF8 (SPOOL_F_SMTPUTF8), or its sender or one of its
 * recipients is not ASCII. 1 yes, 0 no. */
int smtp_msg_needs_utf8(const struct spool_msg *m);

/* smtp_xtext - RFC 3461 4: s as xtext (octets 33..126 but "+" and "="
 * as they are, every other one "+XX", upper-case hex) into out (size
 * outlen, always NUL-terminated when outlen > 0); returns the length the
 * whole text needs, like snprintf */
size_t smtp_xtext(const char *s, char *out, size_t outlen);

/* smtp_mail_cmd - "MAIL FROM:<sender>[ SIZE=n][ BODY=8BITMIME][ SMTPUTF8]
 * [ RET=FULL|HDRS][ ENVID=xtext][ PRDR]\r\n", malloc'd (aborts when out of
 * memory); *len gets its length */
char *smtp_mail_cmd(const struct spool_msg *m, const struct smtp_mail_opts *o, size_t *len);

/* smtp_rcpt_cmd - "RCPT TO:<address>\r\n", with, when dsn is set,
 * " NOTIFY=NEVER|SUCCESS,FAILURE,DELAY" (when asked for) and
 * " ORCPT=addr-type;xtext": the stored one, or, when none was given, one
 * made from the address (RFC 3461 4.2): "rfc822;" and the xtext of an ASCII
 * address, "utf-8;" and the address (RFC 6533 3, utf-8-addr-unitext) for
 * one that is not ASCII. utf8: the transaction uses SMTPUTF8. malloc'd,
 * *len its length. */
char *smtp_rcpt_cmd(const struct spool_rcpt *r, int dsn, int utf8, size_t *len);

#endif
