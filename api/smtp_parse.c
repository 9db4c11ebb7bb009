/*
 * smtp_parse.c - SMTP command-line parser (RFC 5321 §4.1 with the SIZE,
 *                8BITMIME, SMTPUTF8 and DSN parameters). See smtp_parse.h
 *                for the contract and the reply codes.
 *
 * The line is examined as octets: it may hold anything a client sends,
 * including NUL and invalid UTF-8, and nothing is read beyond len.
 */
#include "api/smtp_parse.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* parameters seen, for duplicate detection */
#define P_SIZE 0x01u
#define P_BODY 0x02u
#define P_UTF8 0x04u
#define P_RET 0x08u
#define P_ENVID 0x10u
#define P_NOTIFY 0x20u
#define P_ORCPT 0x40u
#define P_PRDR 0x80u

struct span {
    const char *p;
    size_t n;
};

static const struct {
    const char *name;
    enum smtp_verb verb;
} verbs[] = {
    {"EHLO", SMTP_V_EHLO}, {"HELO", SMTP_V_HELO},         {"MAIL", SMTP_V_MAIL},
    {"RCPT", SMTP_V_RCPT}, {"DATA", SMTP_V_DATA},         {"RSET", SMTP_V_RSET},
    {"NOOP", SMTP_V_NOOP}, {"QUIT", SMTP_V_QUIT},         {"VRFY", SMTP_V_VRFY},
    {"HELP", SMTP_V_HELP}, {"STARTTLS", SMTP_V_STARTTLS}, {"BDAT", SMTP_V_BDAT},
    {"AUTH", SMTP_V_AUTH},
};

/* fail - write the reply line and return its code */
static int
fail(struct smtp_cmd *cmd, int code, const char *esc, const char *text, const char *detail)
{
    snprintf(cmd->reply, sizeof(cmd->reply), "%d %s %s%s%s", code, esc, text,
             detail != NULL ? ": " : "", detail != NULL ? detail : "");
    return code;
}

/* span_is - case-insensitive comparison of a span with a word */
static int
span_is(struct span s, const char *word)
{
    return s.n == strlen(word) && strncasecmp(s.p, word, s.n) == 0;
}

/* is_alnum - ASCII letter or digit */
static int
is_alnum(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* is_hex - ASCII hex digit (RFC 3461 asks for upper case; lower case is tolerated) */
static int
is_hex(unsigned char c)
{
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
}

/* hexval - value of a hex digit */
static int
hexval(unsigned char c)
{
    if (c <= '9')
        return c - '0';
    return (c | 0x20) - 'a' + 10;
}

/* smtp_xtext_valid - RFC 3461 §4: xchar (33-126 but '+' '=') or "+" 2HEXCHAR */
int
smtp_xtext_valid(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '+') {
            if (len - i < 3)
                return 0;
            if (!is_hex((unsigned char)s[i + 1]) || !is_hex((unsigned char)s[i + 2]))
                return 0;
            i += 2;
        } else if (c < 33 || c > 126 || c == '=')
            return 0;
    }
    return 1;
}

/* smtp_xtext_decode - decode a valid xtext string into out */
int
smtp_xtext_decode(const char *s, char *out, size_t outlen)
{
    size_t len = strlen(s), o = 0;

    if (!smtp_xtext_valid(s, len))
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '+') {
            c = (char)(hexval((unsigned char)s[i + 1]) * 16 + hexval((unsigned char)s[i + 2]));
            i += 2;
        }
        if (o + 1 >= outlen)
            return -1;
        out[o++] = c;
    }
    if (outlen == 0)
        return -1;
    out[o] = '\0';
    return (int)o;
}

/* smtp_xtext_encode - see smtp_parse.h */
char *
smtp_xtext_encode(const char *s)
{
    size_t n = strlen(s), o = 0;
    char *out = malloc(n * 3 + 1);

    if (out == NULL)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 33 && c <= 126 && c != '+' && c != '=')
            out[o++] = (char)c;
        else
            o += (size_t)sprintf(out + o, "+%02X", c);
    }
    out[o] = '\0';
    return out;
}

/* smtp_orcpt_encode - see smtp_parse.h */
char *
smtp_orcpt_encode(const char *orcpt)
{
    const char *semi = strchr(orcpt, ';');
    char *x, *out;

    if (semi == NULL)
        return NULL;
    if ((x = smtp_xtext_encode(semi + 1)) == NULL)
        return NULL;
    if (asprintf(&out, "%.*s;%s", (int)(semi - orcpt), orcpt, x) < 0)
        out = NULL;
    free(x);
    return out;
}

/* copy_arg - copy a span into cmd->arg (the caller has bounded it) */
static void
copy_arg(struct smtp_cmd *cmd, struct span s)
{
    size_t n = s.n < sizeof(cmd->arg) - 1 ? s.n : sizeof(cmd->arg) - 1;
    memcpy(cmd->arg, s.p, n);
    cmd->arg[n] = '\0';
}

/* parse_helo - EHLO/HELO domain-or-literal: one token of printable ASCII */
static int
parse_helo(struct smtp_cmd *cmd, struct span a)
{
    const char *verb = cmd->verb == SMTP_V_EHLO ? "EHLO" : "HELO";
    char syntax[32];

    snprintf(syntax, sizeof(syntax), "syntax: %s domain", verb);
    if (a.n == 0 || a.n > 255)
        return fail(cmd, 501, "5.5.4", syntax, NULL);
    for (size_t i = 0; i < a.n; i++)
        if ((unsigned char)a.p[i] < 33 || (unsigned char)a.p[i] > 126)
            return fail(cmd, 501, "5.5.4", syntax, NULL);
    copy_arg(cmd, a);
    return 0;
}

/* parse_notify - NOTIFY=NEVER or a comma list of SUCCESS, FAILURE, DELAY */
static int
parse_notify(struct smtp_cmd *cmd, struct span v)
{
    size_t i = 0;

    while (i <= v.n) {
        struct span w = {v.p + i, 0};
        while (i + w.n < v.n && v.p[i + w.n] != ',')
            w.n++;
        if (span_is(w, "NEVER"))
            cmd->notify |= SMTP_NOTIFY_NEVER;
        else if (span_is(w, "SUCCESS"))
            cmd->notify |= SMTP_NOTIFY_SUCCESS;
        else if (span_is(w, "FAILURE"))
            cmd->notify |= SMTP_NOTIFY_FAILURE;
        else if (span_is(w, "DELAY"))
            cmd->notify |= SMTP_NOTIFY_DELAY;
        else
            return fail(cmd, 501, "5.5.4", "bad NOTIFY value", NULL);
        i += w.n + 1;
    }
    if ((cmd->notify & SMTP_NOTIFY_NEVER) && cmd->notify != SMTP_NOTIFY_NEVER)
        return fail(cmd, 501, "5.5.4", "NOTIFY=NEVER cannot be combined", NULL);
    return 0;
}

/* orcpt_text_ok - the decoded xtext holds no control character (RFC 3461
 * §4.2: the original address, printable) */
static int
orcpt_text_ok(const char *x, size_t n)
{
    char buf[SMTP_ORCPT_MAX + 1], tmp[SMTP_ORCPT_MAX + 1];
    int len;

    if (n > SMTP_ORCPT_MAX)
        return 0;
    memcpy(tmp, x, n);
    tmp[n] = '\0';
    if ((len = smtp_xtext_decode(tmp, buf, sizeof(buf))) < 0)
        return 0;
    for (int i = 0; i < len; i++)
        if ((unsigned char)buf[i] < 0x20 || buf[i] == 0x7f)
            return 0;
    return 1;
}

/* parse_orcpt - ORCPT=addr-type;xtext */
static int
parse_orcpt(struct smtp_cmd *cmd, struct span v)
{
    const char *semi = memchr(v.p, ';', v.n);
    size_t tlen;

    if (semi == NULL || semi == v.p || (size_t)(semi - v.p) + 1 == v.n)
        return fail(cmd, 501, "5.5.4", "bad ORCPT syntax", NULL);
    tlen = (size_t)(semi - v.p);
    for (size_t i = 0; i < tlen; i++)
        if (!is_alnum((unsigned char)v.p[i]) && v.p[i] != '-')
            return fail(cmd, 501, "5.5.4", "bad ORCPT address type", NULL);
    if (!smtp_xtext_valid(semi + 1, v.n - tlen - 1))
        return fail(cmd, 501, "5.5.4", "bad xtext in ORCPT", NULL);
    if (v.n > SMTP_ORCPT_MAX)
        return fail(cmd, 501, "5.5.4", "ORCPT too long", NULL);
    if (!orcpt_text_ok(semi + 1, v.n - tlen - 1))
        return fail(cmd, 501, "5.5.4", "control character in ORCPT", NULL);
    memcpy(cmd->orcpt, v.p, v.n);
    cmd->orcpt[v.n] = '\0';
    return 0;
}

/* parse_size - SIZE=digits; a value that overflows is kept as UINT64_MAX */
static int
parse_size(struct smtp_cmd *cmd, struct span v)
{
    uint64_t n = 0;

    if (v.n == 0)
        return fail(cmd, 501, "5.5.4", "bad SIZE value", NULL);
    for (size_t i = 0; i < v.n; i++) {
        unsigned d = (unsigned char)v.p[i] - '0';
        if (d > 9)
            return fail(cmd, 501, "5.5.4", "bad SIZE value", NULL);
        n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;
    }
    cmd->has_size = 1;
    cmd->size = n;
    return 0;
}

/* mail_param - one MAIL parameter; bit gets its P_* flag */
static int
mail_param(struct smtp_cmd *cmd, struct span k, struct span v, int hasv, unsigned *bit)
{
    if (span_is(k, "SMTPUTF8")) {
        *bit = P_UTF8;
        if (hasv)
            return fail(cmd, 501, "5.5.4", "SMTPUTF8 takes no value", NULL);
        cmd->smtputf8 = 1;
        return 0;
    }
    if (span_is(k, "PRDR")) {
        *bit = P_PRDR;
        if (hasv)
            return fail(cmd, 501, "5.5.4", "PRDR takes no value", NULL);
        cmd->prdr = 1;
        return 0;
    }
    if (!hasv &&
        (span_is(k, "SIZE") || span_is(k, "BODY") || span_is(k, "RET") || span_is(k, "ENVID")))
        return fail(cmd, 501, "5.5.4", "parameter needs a value", NULL);
    if (span_is(k, "SIZE")) {
        *bit = P_SIZE;
        return parse_size(cmd, v);
    }
    if (span_is(k, "BODY")) {
        *bit = P_BODY;
        if (span_is(v, "7BIT"))
            cmd->body = SMTP_BODY_7BIT;
        else if (span_is(v, "8BITMIME"))
            cmd->body = SMTP_BODY_8BITMIME;
        else
            return fail(cmd, 501, "5.5.4", "bad BODY value", NULL);
        return 0;
    }
    if (span_is(k, "RET")) {
        *bit = P_RET;
        if (span_is(v, "FULL"))
            cmd->ret = SMTP_RET_FULL;
        else if (span_is(v, "HDRS"))
            cmd->ret = SMTP_RET_HDRS;
        else
            return fail(cmd, 501, "5.5.4", "bad RET value", NULL);
        return 0;
    }
    if (span_is(k, "ENVID")) {
        *bit = P_ENVID;
        if (!smtp_xtext_valid(v.p, v.n))
            return fail(cmd, 501, "5.5.4", "bad xtext in ENVID", NULL);
        if (v.n > SMTP_ENVID_MAX)
            return fail(cmd, 501, "5.5.4", "ENVID too long", NULL);
        memcpy(cmd->envid, v.p, v.n);
        cmd->envid[v.n] = '\0';
        return 0;
    }
    return fail(cmd, 555, "5.5.4", "unsupported parameter", NULL);
}

/* rcpt_param - one RCPT parameter */
static int
rcpt_param(struct smtp_cmd *cmd, struct span k, struct span v, int hasv, unsigned *bit)
{
    if (span_is(k, "NOTIFY") || span_is(k, "ORCPT")) {
        if (!hasv)
            return fail(cmd, 501, "5.5.4", "parameter needs a value", NULL);
        if (span_is(k, "NOTIFY")) {
            *bit = P_NOTIFY;
            return parse_notify(cmd, v);
        }
        *bit = P_ORCPT;
        return parse_orcpt(cmd, v);
    }
    return fail(cmd, 555, "5.5.4", "unsupported parameter", NULL);
}

/* parse_params - SP-separated "keyword[=value]" list after a path */
static int
parse_params(struct smtp_cmd *cmd, struct span a)
{
    unsigned seen = 0;
    size_t i = 0;

    while (i < a.n) {
        struct span k = {a.p + i, 0}, v = {NULL, 0};
        int hasv = 0, rc;
        unsigned bit = 0;
        while (i < a.n && a.p[i] != ' ' && a.p[i] != '=')
            i++, k.n++;
        if (i < a.n && a.p[i] == '=') {
            hasv = 1;
            v.p = a.p + ++i;
            while (i < a.n && a.p[i] != ' ')
                i++, v.n++;
        }
        if (k.n == 0 || !is_alnum((unsigned char)k.p[0]))
            return fail(cmd, 501, "5.5.4", "bad parameter syntax", NULL);
        for (size_t j = 0; j < k.n; j++)
            if (!is_alnum((unsigned char)k.p[j]) && k.p[j] != '-')
                return fail(cmd, 501, "5.5.4", "bad parameter syntax", NULL);
        for (size_t j = 0; j < v.n; j++)
            if ((unsigned char)v.p[j] < 33 || (unsigned char)v.p[j] > 126 || v.p[j] == '=')
                return fail(cmd, 501, "5.5.4", "bad parameter value", NULL);
        rc = cmd->verb == SMTP_V_MAIL ? mail_param(cmd, k, v, hasv, &bit)
                                      : rcpt_param(cmd, k, v, hasv, &bit);
        if (rc != 0)
            return rc;
        if (seen & bit)
            return fail(cmd, 501, "5.5.4", "duplicate parameter", NULL);
        seen |= bit;
        cmd->nparams++;
        while (i < a.n && a.p[i] == ' ')
            i++;
    }
    return 0;
}

/* path_error - the reply for a path that does not parse */
static int
path_error(struct smtp_cmd *cmd, const char *why)
{
    if (cmd->verb == SMTP_V_MAIL)
        return fail(cmd, 501, "5.1.7", "bad sender address syntax", why);
    return fail(cmd, 501, "5.1.3", "bad recipient address syntax", why);
}

/* parse_mail_rcpt - "FROM:<path> params" / "TO:<path> params" */
static int
parse_mail_rcpt(struct smtp_cmd *cmd, struct span a, unsigned flags)
{
    int mail = cmd->verb == SMTP_V_MAIL;
    const char *kw = mail ? "FROM:" : "TO:", *why = NULL, *end;
    size_t kwlen = strlen(kw);
    struct span rest;
    char path[ADDR_MAX + 1];
    int utf8, rc;

    if (a.n < kwlen || strncasecmp(a.p, kw, kwlen) != 0)
        return fail(cmd, 501, "5.5.2",
                    mail ? "syntax: MAIL FROM:<address>" : "syntax: RCPT TO:<address>", NULL);
    a.p += kwlen, a.n -= kwlen;
    while (a.n > 0 && a.p[0] == ' ')
        a.p++, a.n--;
    if (a.n == 0 || a.p[0] != '<')
        return fail(cmd, 501, "5.5.2",
                    mail ? "syntax: MAIL FROM:<address>" : "syntax: RCPT TO:<address>", NULL);
    /* find where the path ends with the most permissive syntax first, then
     * apply the parameters, then check the path against them */
    if (addr_parse_path(a.p, a.n, mail, 1, path, sizeof(path), &end, &why) != 0)
        return path_error(cmd, why);
    rest.p = end, rest.n = a.n - (size_t)(end - a.p);
    if (rest.n > 0 && rest.p[0] != ' ')
        return path_error(cmd, "unexpected text after '>'");
    while (rest.n > 0 && rest.p[0] == ' ')
        rest.p++, rest.n--;
    if ((rc = parse_params(cmd, rest)) != 0)
        return rc;
    utf8 = mail ? cmd->smtputf8 : (flags & SMTP_PARSE_UTF8) != 0;
    if (!utf8 && addr_parse_path(a.p, a.n, mail, 0, path, sizeof(path), &end, &why) != 0)
        return fail(cmd, 553, "5.6.7", "non-ASCII address needs SMTPUTF8", NULL);
    strcpy(cmd->arg, path);
    return 0;
}

/* parse_bdat - "BDAT chunk-size [LAST]" (RFC 3030 §2) */
static int
parse_bdat(struct smtp_cmd *cmd, struct span a)
{
    size_t i = 0;
    uint64_t v = 0;

    for (; i < a.n && a.p[i] >= '0' && a.p[i] <= '9'; i++) {
        if (v > (UINT64_MAX - 9) / 10)
            return fail(cmd, 501, "5.5.4", "syntax: BDAT chunk size too large", NULL);
        v = v * 10 + (uint64_t)(a.p[i] - '0');
    }
    if (i == 0 || i > 20)
        return fail(cmd, 501, "5.5.4", "syntax: BDAT chunk-size [LAST]", NULL);
    cmd->size = v;
    cmd->has_size = 1;
    while (i < a.n && a.p[i] == ' ')
        i++;
    if (i == a.n)
        return 0;
    if (span_is((struct span){a.p + i, a.n - i}, "LAST")) {
        cmd->bdat_last = 1;
        return 0;
    }
    return fail(cmd, 501, "5.5.4", "syntax: BDAT chunk-size [LAST]", NULL);
}

/* parse_verb - the command word up to the first space */
static int
parse_verb(struct smtp_cmd *cmd, struct span line, struct span *arg)
{
    struct span w = {line.p, 0};

    while (w.n < line.n && line.p[w.n] != ' ')
        w.n++;
    for (size_t i = 0; i < sizeof(verbs) / sizeof(verbs[0]); i++)
        if (span_is(w, verbs[i].name)) {
            cmd->verb = verbs[i].verb;
            arg->p = line.p + w.n;
            arg->n = line.n - w.n;
            while (arg->n > 0 && arg->p[0] == ' ')
                arg->p++, arg->n--;
            return 0;
        }
    cmd->unknown = 1;
    return fail(cmd, 500, "5.5.2", "command not recognized", NULL);
}

/* param_len - octets of the " NAME=value" parameter in line, 0 if none */
static size_t
param_len(const char *line, size_t len, const char *name)
{
    size_t nl = strlen(name);

    for (size_t i = 0; i + nl + 1 < len; i++)
        if (line[i] == ' ' && strncasecmp(line + i + 1, name, nl) == 0 && line[i + 1 + nl] == '=') {
            size_t j = i + 1;
            while (j < len && line[j] != ' ')
                j++;
            return j - i;
        }
    return 0;
}

/* line_limit - the longest line (CRLF included) this command may have:
 * 512, plus the ENVID parameter on MAIL and ORCPT on RCPT (RFC 3461 §4) */
static size_t
line_limit(const char *line, size_t len)
{
    size_t extra = 0;

    if (len >= 5 && strncasecmp(line, "MAIL ", 5) == 0)
        extra = param_len(line, len, "ENVID");
    else if (len >= 5 && strncasecmp(line, "RCPT ", 5) == 0)
        extra = param_len(line, len, "ORCPT");
    return SMTP_LINE_MAX + (extra < 510 ? extra : 510);
}

/* smtp_parse - one command line into cmd */
int
smtp_parse(const char *line, size_t len, unsigned flags, struct smtp_cmd *cmd)
{
    struct span l = {line, len}, a = {NULL, 0};
    int rc;

    memset(cmd, 0, sizeof(*cmd));
    if (len + 2 > line_limit(line, len))
        return fail(cmd, 500, "5.5.2", "line too long", NULL);
    if (memchr(line, '\0', len) != NULL)
        return fail(cmd, 500, "5.5.2", "NUL character in command", NULL);
    while (l.n > 0 && (l.p[l.n - 1] == ' ' || l.p[l.n - 1] == '\t'))
        l.n--;
    if ((rc = parse_verb(cmd, l, &a)) != 0)
        return rc;
    switch (cmd->verb) {
    case SMTP_V_EHLO:
    case SMTP_V_HELO:
        return parse_helo(cmd, a);
    case SMTP_V_MAIL:
    case SMTP_V_RCPT:
        return parse_mail_rcpt(cmd, a, flags);
    case SMTP_V_DATA:
    case SMTP_V_RSET:
    case SMTP_V_QUIT:
    case SMTP_V_STARTTLS:
        if (a.n != 0)
            return fail(cmd, 501, "5.5.4", "syntax: this command takes no argument", NULL);
        return 0;
    case SMTP_V_VRFY:
        if (a.n == 0)
            return fail(cmd, 501, "5.5.4", "syntax: VRFY address", NULL);
        copy_arg(cmd, a);
        return 0;
    case SMTP_V_NOOP:
    case SMTP_V_HELP:
        copy_arg(cmd, a);
        return 0;
    case SMTP_V_BDAT:
        return parse_bdat(cmd, a);
    case SMTP_V_AUTH:
        if (a.n == 0)
            return fail(cmd, 501, "5.5.4", "syntax: AUTH mechanism [initial-response]", NULL);
        copy_arg(cmd, a);
        return 0;
    }
    return fail(cmd, 500, "5.5.2", "command not recognized", NULL);
}
