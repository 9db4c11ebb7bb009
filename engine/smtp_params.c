/*
 * smtp_params.c - the SMTP client's MAIL and RCPT command lines with their
 *                 parameters (smtp_params.h).
 *
 * Thread rules: pure functions; any thread.
 */
#include "engine/smtp_params.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* is_ascii - no octet above 127 */
static int
is_ascii(const char *s)
{
    for (; s != NULL && *s; s++)
        if ((unsigned char)*s & 0x80)
            return 0;
    return 1;
}

/* smtp_msg_needs_utf8 - see smtp_params.h */
int
smtp_msg_needs_utf8(const struct spool_msg *m)
{
    if ((m->flags & SPOOL_F_SMTPUTF8) || !is_ascii(m->sender))
        return 1;
    for (size_t i = 0; i < m->nrcpt; i++)
        if (!is_ascii(m->rcpt[i].address))
            return 1;
    return 0;
}

/* xtext_plain - may octet c stand for itself in xtext? */
static int
xtext_plain(unsigned char c)
{
    return c >= 33 && c <= 126 && c != '+' && c != '=';
}

/* smtp_xtext - see smtp_params.h */
size_t
smtp_xtext(const char *s, char *out, size_t outlen)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t n = 0;
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        char e[3] = {(char)c, 0, 0};
        size_t k = 1;
        if (!xtext_plain(c)) {
            e[0] = '+';
            e[1] = hex[c >> 4];
            e[2] = hex[c & 15];
            k = 3;
        }
        for (size_t i = 0; i < k; i++, n++)
            if (n + 1 < outlen)
                out[n] = e[i];
    }
    if (outlen > 0)
        out[n < outlen ? n : outlen - 1] = '\0';
    return n;
}

/* put_value - a stored parameter value, its unsafe octets as "+XX" */
static void
put_value(FILE *f, const char *v, int utf8)
{
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;
        if ((c > 32 && c < 127) || (utf8 && c >= 128))
            fputc(c, f);
        else
            fprintf(f, "+%02X", c);
    }
}

/* put_unitext - RFC 6533 utf-8-addr-unitext: "+", "=", "\" and the
 * octets below 33 or 127 as "\x{HH}", the rest (UTF-8 included) as is */
static void
put_unitext(FILE *f, const char *v)
{
    for (; *v; v++) {
        unsigned char c = (unsigned char)*v;
        if (c < 33 || c == 127 || c == '+' || c == '=' || c == '\\')
            fprintf(f, "\\x{%02X}", c);
        else
            fputc(c, f);
    }
}

/* put_xtext - s as xtext */
static void
put_xtext(FILE *f, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (xtext_plain(c))
            fputc(c, f);
        else
            fprintf(f, "+%02X", c);
    }
}

/* finish - close the stream and hand back its text */
static char *
finish(FILE *f, char **buf)
{
    if (fclose(f) != 0 || *buf == NULL)
        abort();
    return *buf;
}

/* smtp_mail_cmd - see smtp_params.h */
char *
smtp_mail_cmd(const struct spool_msg *m, const struct smtp_mail_opts *o, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (f == NULL)
        abort();
    fprintf(f, "MAIL FROM:<%s>", m->sender);
    if (o->size)
        fprintf(f, " SIZE=%zu", o->body_len);
    if (o->body_8bit)
        fputs(" BODY=8BITMIME", f);
    if (o->smtputf8)
        fputs(" SMTPUTF8", f);
    if (o->dsn && m->dsn_ret != SPOOL_RET_NONE)
        fputs(m->dsn_ret == SPOOL_RET_HDRS ? " RET=HDRS" : " RET=FULL", f);
    if (o->dsn && m->dsn_envid != NULL && *m->dsn_envid) {
        fputs(" ENVID=", f);
        put_value(f, m->dsn_envid, 0);
    }
    if (o->prdr)
        fputs(" PRDR", f);
    fputs("\r\n", f);
    return finish(f, &buf);
}

/* put_notify - " NOTIFY=..." for the NOTIFY bits (RFC 3461 4.1) */
static void
put_notify(FILE *f, unsigned bits)
{
    static const struct {
        unsigned bit;
        const char *name;
    } words[] = {{SPOOL_NOTIFY_SUCCESS, "SUCCESS"},
                 {SPOOL_NOTIFY_FAILURE, "FAILURE"},
                 {SPOOL_NOTIFY_DELAY, "DELAY"}};
    const char *sep = "=";
    if (bits == 0)
        return;
    fputs(" NOTIFY", f);
    if (bits & SPOOL_NOTIFY_NEVER) {
        fputs("=NEVER", f);
        return;
    }
    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (bits & words[i].bit) {
            fprintf(f, "%s%s", sep, words[i].name);
            sep = ",";
        }
}

/* put_orcpt - " ORCPT=...": the stored one, or one made from the address */
static void
put_orcpt(FILE *f, const struct spool_rcpt *r, int utf8)
{
    fputs(" ORCPT=", f);
    if (r->dsn_orcpt != NULL && *r->dsn_orcpt) {
        put_value(f, r->dsn_orcpt, utf8);
        return;
    }
    if (is_ascii(r->address)) {
        fputs("rfc822;", f);
        put_xtext(f, r->address);
        return;
    }
    fputs("utf-8;", f);
    put_unitext(f, r->address);
}

/* smtp_rcpt_cmd - see smtp_params.h */
char *
smtp_rcpt_cmd(const struct spool_rcpt *r, int dsn, int utf8, size_t *len)
{
    char *buf = NULL;
    FILE *f = open_memstream(&buf, len);
    if (f == NULL)
        abort();
    fprintf(f, "RCPT TO:<%s>", r->address);
    if (dsn) {
        put_notify(f, r->dsn_notify);
        put_orcpt(f, r, utf8);
    }
    fputs("\r\n", f);
    return finish(f, &buf);
}
