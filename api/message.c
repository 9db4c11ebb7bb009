/*
 * message.c - what the receivers (SMTP and HTTP) do to a message before it
 *             goes to the spool: the Received: trace header (RFC 5321
 *             §4.4, Exim's layout) and the CRLF wire form of the text.
 *
 * Synopsis
 *   api_received_header()  "Received: from HELO (HOST)\r\n\tby NAME (spate)
 *                          with PROTO id ID\r\n\tfor <RCPT>; DATE\r\n"
 *   api_normalize_body()   LF or bare CR -> CRLF, final CRLF added
 *   api_headers_edit()     the ACLs' add_header / remove_header
 *
 * The "from" clause is left out when neither helo nor host is known (HTTP);
 * "for" only when a single recipient is given. The date is RFC 5322 with the
 * local zone offset, written without the locale (day and month names fixed).
 *
 * Any thread; results are malloc'd (NULL when out of memory).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/api.h"

/* rfc5322_date - "Tue, 3 Mar 2026 10:04:05 +0100" for now, into buf */
static void
rfc5322_date(char *buf, size_t len)
{
    static const char days[7][4] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char mons[12][4] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                     "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    time_t now = time(NULL);
    struct tm tm;
    long off;

    localtime_r(&now, &tm);
    off = tm.tm_gmtoff / 60;
    snprintf(buf, len, "%s, %d %s %d %02d:%02d:%02d %c%02ld%02ld", days[tm.tm_wday % 7], tm.tm_mday,
             mons[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec,
             off < 0 ? '-' : '+', (off < 0 ? -off : off) / 60, (off < 0 ? -off : off) % 60);
}

/* proto_upper - the protocol name in upper case ("esmtp" -> "ESMTP") */
static void
proto_upper(const char *proto, char *out, size_t len)
{
    size_t i = 0;

    for (; proto != NULL && proto[i] != '\0' && i + 1 < len; i++)
        out[i] = (char)(proto[i] >= 'a' && proto[i] <= 'z' ? proto[i] - 'a' + 'A' : proto[i]);
    out[i] = '\0';
}

/* api_received_header - the Received: header spate prepends */
char *
api_received_header(const struct cfg *cfg, const char *helo, const char *host,
                    const char *with_proto, const char *id, const char *rcpt)
{
    char date[64], proto[16], from[600] = "", forc[300] = "";
    const char *name =
        cfg != NULL && cfg->primary_hostname != NULL ? cfg->primary_hostname : "localhost";
    int has_helo = helo != NULL && *helo != '\0', has_host = host != NULL && *host != '\0';
    char *out;

    rfc5322_date(date, sizeof(date));
    proto_upper(with_proto != NULL && *with_proto != '\0' ? with_proto : "local", proto,
                sizeof(proto));
    if (has_helo && has_host)
        snprintf(from, sizeof(from), "from %s (%s)\r\n\t", helo, host);
    else if (has_helo || has_host)
        snprintf(from, sizeof(from), "from %s\r\n\t", has_helo ? helo : host);
    if (rcpt != NULL && *rcpt != '\0')
        snprintf(forc, sizeof(forc), "\r\n\tfor <%s>", rcpt);
    if (asprintf(&out, "Received: %sby %s (spate) with %s id %s%s; %s\r\n", from, name, proto,
                 id != NULL ? id : "", forc, date) < 0)
        return NULL;
    return out;
}

/* api_normalize_body - text to CRLF lines, after an optional prefix */
char *
api_normalize_body(const char *prefix, const char *text, size_t len, size_t *outlen)
{
    size_t plen = prefix != NULL ? strlen(prefix) : 0, o = plen;
    char *out;

    /* worst case: every octet a bare CR or LF doubling, plus a final CRLF */
    if (len > (SIZE_MAX - plen - 3) / 2)
        return NULL;
    out = malloc(plen + 2 * len + 3);
    if (out == NULL)
        return NULL;
    if (plen > 0)
        memcpy(out, prefix, plen);
    for (size_t i = 0; i < len; i++) {
        char c = text[i];
        if (c == '\r') {
            if (i + 1 < len && text[i + 1] == '\n')
                i++;
            out[o++] = '\r';
            out[o++] = '\n';
        } else if (c == '\n') {
            out[o++] = '\r';
            out[o++] = '\n';
        } else
            out[o++] = c;
    }
    if (len > 0 && out[o - 1] != '\n')
        out[o++] = '\r', out[o++] = '\n';
    out[o] = '\0';
    *outlen = o;
    return out;
}

/* header_end - offset of the blank line ending the header section at or
 * after from (the offset of its CRLF), or from when the text has no header */
static size_t
header_end(const char *b, size_t len, size_t from)
{
    size_t i = from;

    if (len - from >= 2 && b[from] == '\r' && b[from + 1] == '\n')
        return from;
    while (i + 3 < len) {
        const char *p = memchr(b + i, '\r', len - i - 3);
        if (p == NULL)
            break;
        i = (size_t)(p - b);
        if (p[1] == '\n' && p[2] == '\r' && p[3] == '\n')
            return i + 2;
        i++;
    }
    return len; /* headers only: add at the end */
}

/* named - does the header field at p (up to end) have one of the names? */
static int
named(const char *p, const char *end, char *const *names, size_t n)
{
    for (size_t k = 0; k < n; k++) {
        size_t l = strlen(names[k]);
        if ((size_t)(end - p) > l && p[l] == ':' && strncasecmp(p, names[k], l) == 0)
            return 1;
    }
    return 0;
}

/* field_len - octets of the header field at b[i] up to hend, continuation
 * lines included */
static size_t
field_len(const char *b, size_t i, size_t hend)
{
    size_t j = i;

    do {
        const char *nl = memchr(b + j, '\n', hend - j);
        j = nl ? (size_t)(nl - b) + 1 : hend;
    } while (j < hend && (b[j] == ' ' || b[j] == '\t'));
    return j - i;
}

/* api_headers_edit - see api.h */
char *
api_headers_edit(const char *body, size_t len, size_t from, const char *add, size_t addlen,
                 char *const *remove, size_t nremove, size_t *outlen)
{
    size_t hend = header_end(body, len, from), o = 0;
    char *out = malloc(len + addlen + 1);

    if (out == NULL)
        return NULL;
    memcpy(out, body, from);
    o = from;
    for (size_t i = from; i < hend;) {
        size_t n = field_len(body, i, hend);
        if (!named(body + i, body + hend, remove, nremove)) {
            memcpy(out + o, body + i, n);
            o += n;
        }
        i += n;
    }
    memcpy(out + o, add, addlen);
    o += addlen;
    memcpy(out + o, body + hend, len - hend);
    o += len - hend;
    *outlen = o;
    return out;
}
