/*
 * expand_parse.c - the recursive-descent parser of expansion strings: builds
 *                  the tree (expand_int.h) once, at configuration load.
 *                  Constant "match" regexes are compiled here. Parsing is
 *                  bounded in depth (EXP_MAX_DEPTH), so hostile input cannot
 *                  exhaust the stack; the first error is reported with its
 *                  column.
 */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/expand_int.h"
#include "conf/lookup.h"

/* ---- parser ---- */

struct parser {
    const char *src;
    const char *p;
    char *err;
    size_t errlen;
    int depth;
    int failed;
};

/* perr - record the first syntax error, at byte offset pos of the source */
__attribute__((format(printf, 3, 4))) static void
perr(struct parser *ps, const char *pos, const char *fmt, ...)
{
    va_list ap;
    int n;

    if (ps->failed)
        return;
    ps->failed = 1;
    if (ps->err == NULL || ps->errlen == 0)
        return;
    n = snprintf(ps->err, ps->errlen, "column %zu: ", (size_t)(pos - ps->src) + 1);
    if (n < 0 || (size_t)n >= ps->errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(ps->err + n, ps->errlen - n, fmt, ap);
    va_end(ap);
}

/* col_of - 1-based column of a position */
static size_t
col_of(const struct parser *ps, const char *pos)
{
    return (size_t)(pos - ps->src) + 1;
}

/* skip_ws - step over white space */
static void
skip_ws(struct parser *ps)
{
    while (isspace((unsigned char)*ps->p))
        ps->p++;
}

/* is_name - a character of a variable name or keyword */
static int
is_name(int c)
{
    return isalnum(c) || c == '_';
}

/* read_word - the run of name characters at p (may be empty) */
static size_t
read_word(struct parser *ps)
{
    size_t n = 0;
    while (is_name((unsigned char)ps->p[n]))
        n++;
    return n;
}

/* word_is - the word at p (of length n) equals kw */
static int
word_is(const char *p, size_t n, const char *kw)
{
    return strlen(kw) == n && memcmp(p, kw, n) == 0;
}

/* enter - one nesting level deeper; 0, or -1 (error recorded) */
static int
enter(struct parser *ps)
{
    if (++ps->depth > EXP_MAX_DEPTH) {
        perr(ps, ps->p, "nesting deeper than %d levels", EXP_MAX_DEPTH);
        return -1;
    }
    return 0;
}

/* new_node - a node of kind at pos */
static struct node *
new_node(struct parser *ps, enum node_kind kind, const char *pos)
{
    struct node *n = exp__xcalloc(sizeof *n);
    n->kind = kind;
    n->col = col_of(ps, pos);
    return n;
}

static struct node *parse_seq(struct parser *ps, int in_braces);
static struct cond *parse_cond(struct parser *ps);
static struct node *var_node(struct parser *ps, const char *start, const char *w, size_t wl);

/* hexval - value of a hex digit, or -1 */
static int
hexval(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* parse_escape - p at '\': append what it stands for to b; 0 or -1 */
static int
parse_escape(struct parser *ps, struct sbuf *b)
{
    const char *start = ps->p++;
    int c = (unsigned char)*ps->p, v = 0, i;
    char ch;

    if (c == '\0') { /* a trailing backslash stands for itself */
        exp__sb_add(b, "\\", 1);
        return 0;
    }
    ps->p++;
    if (c == 'N') {
        const char *end = strstr(ps->p, "\\N");
        if (end == NULL) {
            perr(ps, start, "\\N without a closing \\N");
            return -1;
        }
        exp__sb_add(b, ps->p, end - ps->p);
        ps->p = end + 2;
        return 0;
    }
    if (c == 'x' && hexval((unsigned char)*ps->p) >= 0) {
        for (i = 0; i < 2 && hexval((unsigned char)*ps->p) >= 0; i++)
            v = v * 16 + hexval((unsigned char)*ps->p++);
    } else if (c >= '0' && c <= '7') {
        v = c - '0';
        for (i = 1; i < 3 && *ps->p >= '0' && *ps->p <= '7'; i++)
            v = v * 8 + (*ps->p++ - '0');
    } else {
        v = c == 'n' ? '\n' : c == 'r' ? '\r' : c == 't' ? '\t' : c;
    }
    if (v == 0 || v > 255) {
        perr(ps, start, "escape gives a NUL or out-of-range character");
        return -1;
    }
    ch = (char)v;
    exp__sb_add(b, &ch, 1);
    return 0;
}

/* parse_arg - white space, then "{string}"; the string's list (NULL when empty) */
static struct node *
parse_arg(struct parser *ps, const char *what)
{
    const char *open;
    struct node *n;

    skip_ws(ps);
    if (*ps->p != '{') {
        perr(ps, ps->p, "expected '{' to start %s", what);
        return NULL;
    }
    open = ps->p++;
    n = parse_seq(ps, 1);
    if (ps->failed) {
        exp__node_free(n);
        return NULL;
    }
    if (*ps->p != '}') {
        perr(ps, ps->p, "missing '}' to end %s (opened at column %zu)", what, col_of(ps, open));
        exp__node_free(n);
        return NULL;
    }
    ps->p++;
    return n;
}

/* expect_close - white space then the '}' that ends an item started at start */
static int
expect_close(struct parser *ps, const char *start, const char *item)
{
    skip_ws(ps);
    if (*ps->p != '}') {
        perr(ps, ps->p, "missing '}' to end ${%s (started at column %zu)", item, col_of(ps, start));
        return -1;
    }
    ps->p++;
    return 0;
}

/* is_constant_seq - the list is empty or one text node */
static int
is_constant_seq(const struct node *n)
{
    return n == NULL || (n->kind == N_TEXT && n->next == NULL);
}

/* compile_regex - compile a constant match pattern at load */
static int
compile_regex(struct parser *ps, struct cond *c, const char *pos)
{
    const char *pat = c->b != NULL ? c->b->text : "";
    size_t len = c->b != NULL ? c->b->len : 0;
    int code;
    PCRE2_SIZE off;
    PCRE2_UCHAR msg[256];

    c->re = pcre2_compile((PCRE2_SPTR)pat, len, 0, &code, &off, NULL);
    if (c->re == NULL) {
        pcre2_get_error_message(code, msg, sizeof msg);
        perr(ps, pos, "regex error at offset %zu: %s", (size_t)off, (char *)msg);
        return -1;
    }
    return 0;
}

/* parse_cond_list - "{{c1}{c2}...}" of and/or into c->sub */
static int
parse_cond_list(struct parser *ps, struct cond *c, const char *kw)
{
    struct cond **tail = &c->sub;
    const char *open;

    skip_ws(ps);
    if (*ps->p != '{') {
        perr(ps, ps->p, "expected '{' after \"%s\"", kw);
        return -1;
    }
    ps->p++;
    for (;;) {
        skip_ws(ps);
        if (*ps->p == '}')
            break;
        if (*ps->p != '{') {
            perr(ps, ps->p, "expected '{' or '}' in the \"%s\" list", kw);
            return -1;
        }
        open = ps->p++;
        *tail = parse_cond(ps);
        if (*tail == NULL)
            return -1;
        tail = &(*tail)->next;
        skip_ws(ps);
        if (*ps->p != '}') {
            perr(ps, ps->p, "missing '}' after a condition of \"%s\" (opened at column %zu)", kw,
                 col_of(ps, open));
            return -1;
        }
        ps->p++;
    }
    ps->p++;
    return 0;
}

/* cond_keyword - the condition kind named by the token at p (n bytes); -1 if none */
static int
cond_keyword(const char *p, size_t n)
{
    static const struct {
        const char *kw;
        enum cond_kind kind;
    } tab[] = {{"eq", C_EQ},       {"eqi", C_EQI},   {"=", C_NUM_EQ},   {"==", C_NUM_EQ},
               {"<", C_LT},        {">", C_GT},      {"<=", C_LE},      {">=", C_GE},
               {"match", C_MATCH}, {"def", C_DEF},   {"bool", C_BOOL},  {"and", C_AND},
               {"or", C_OR},       {"true", C_TRUE}, {"false", C_FALSE}};
    if (word_is(p, n, "crypteq")) /* crypteq {password}{hash}: conf/auth_crypt.c */
        return (int)C_CRYPTEQ;
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (word_is(p, n, tab[i].kw))
            return (int)tab[i].kind;
    return -1;
}

/* parse_def - "def:name" after the keyword */
static int
parse_def(struct parser *ps, struct cond *c)
{
    const char *start = ps->p;
    size_t n;

    if (*ps->p != ':') {
        perr(ps, ps->p, "expected ':' after \"def\"");
        return -1;
    }
    ps->p++;
    if (*ps->p == '$')
        ps->p++;
    n = read_word(ps);
    if (n == 0) {
        perr(ps, ps->p, "expected a variable name after \"def:\"");
        return -1;
    }
    c->a = var_node(ps, start, ps->p, n);
    ps->p += n;
    return 0;
}

/* parse_cond_args - the arguments of a condition of kind c->kind */
static int
parse_cond_args(struct parser *ps, struct cond *c)
{
    const char *pos;

    switch (c->kind) {
    case C_DEF:
        return parse_def(ps, c);
    case C_AND:
    case C_OR:
        return parse_cond_list(ps, c, c->kind == C_AND ? "and" : "or");
    case C_TRUE:
    case C_FALSE:
        return 0;
    case C_BOOL:
        c->a = parse_arg(ps, "the argument of \"bool\"");
        return ps->failed ? -1 : 0;
    default:
        break;
    }
    c->a = parse_arg(ps, "the first argument of the condition");
    if (ps->failed)
        return -1;
    skip_ws(ps);
    pos = ps->p;
    c->b = parse_arg(ps, "the second argument of the condition");
    if (ps->failed)
        return -1;
    if (c->kind == C_MATCH && is_constant_seq(c->b))
        return compile_regex(ps, c, pos + 1);
    return 0;
}

/* parse_cond - one condition, possibly negated */
static struct cond *
parse_cond(struct parser *ps)
{
    struct cond *c;
    const char *start;
    size_t n = 0;
    int kind;

    if (enter(ps) != 0)
        return NULL;
    skip_ws(ps);
    start = ps->p;
    if (*ps->p == '!') {
        ps->p++;
        c = parse_cond(ps);
        if (c != NULL)
            c->negate ^= 1;
        ps->depth--;
        return c;
    }
    if (*ps->p != '\0' && strchr("=<>", *ps->p) != NULL)
        while (n < 2 && ps->p[n] != '\0' && strchr("=<>", ps->p[n]) != NULL)
            n++;
    else
        n = read_word(ps);
    kind = cond_keyword(ps->p, n);
    if (kind < 0) {
        if (n == 0)
            perr(ps, start, "expected a condition");
        else
            perr(ps, start, "unknown condition \"%.*s\"", (int)n, start);
        return NULL;
    }
    ps->p += n;
    c = exp__xcalloc(sizeof *c);
    c->kind = (enum cond_kind)kind;
    c->col = col_of(ps, start);
    if (parse_cond_args(ps, c) != 0 || ps->failed) {
        exp__cond_free(c);
        return NULL;
    }
    ps->depth--;
    return c;
}

/* parse_fail_word - "fail" at p (after white space): consume it, 1; else 0 */
static int
parse_fail_word(struct parser *ps)
{
    skip_ws(ps);
    if (strncmp(ps->p, "fail", 4) == 0 && !is_name((unsigned char)ps->p[4])) {
        ps->p += 4;
        return 1;
    }
    return 0;
}

/* parse_branches - "{yes}{no}", "{yes}fail", "{yes}", "fail" or nothing */
static void
parse_branches(struct parser *ps, struct node *n, const char *what)
{
    skip_ws(ps);
    if (*ps->p == '{') {
        n->c = parse_arg(ps, what);
        n->nbranch = 1;
        if (ps->failed)
            return;
        skip_ws(ps);
        if (*ps->p == '{') {
            n->d = parse_arg(ps, what);
            n->nbranch = 2;
            return;
        }
    }
    n->fail = parse_fail_word(ps);
}

/* parse_if - after "${if" */
static struct node *
parse_if(struct parser *ps, const char *start)
{
    struct node *n = new_node(ps, N_IF, start);

    n->cond = parse_cond(ps);
    if (n->cond == NULL)
        goto bad;
    parse_branches(ps, n, "a branch of ${if");
    if (ps->failed)
        goto bad;
    /* ${if} keeps its branches in a and b */
    n->a = n->c;
    n->b = n->d;
    n->c = n->d = NULL;
    if (n->fail && n->nbranch == 0) {
        perr(ps, ps->p, "\"fail\" needs a yes-branch before it in ${if");
        goto bad;
    }
    if (expect_close(ps, start, "if") != 0)
        goto bad;
    return n;
bad:
    exp__node_free(n);
    return NULL;
}

/* parse_lookup - after "${lookup" */
static struct node *
parse_lookup(struct parser *ps, const char *start)
{
    struct node *n = new_node(ps, N_LOOKUP, start);
    const char *tpos;
    size_t len;
    int keyed;

    skip_ws(ps);
    keyed = *ps->p == '{';
    if (keyed) {
        n->a = parse_arg(ps, "the lookup key");
        if (ps->failed)
            goto bad;
        skip_ws(ps);
    }
    tpos = ps->p;
    len = read_word(ps);
    if (len == 0) {
        perr(ps, tpos, "expected a lookup type");
        goto bad;
    }
    n->lt = lookup_type_find(tpos, len);
    if (n->lt == NULL) {
        perr(ps, tpos, "unknown lookup type \"%.*s\"", (int)len, tpos);
        goto bad;
    }
    if (keyed && lookup_type_is_query(n->lt)) {
        perr(ps, tpos, "%s lookups take a query: ${lookup %s{query}}", lookup_type_name(n->lt),
             lookup_type_name(n->lt));
        goto bad;
    }
    if (!keyed && !lookup_type_is_query(n->lt)) {
        perr(ps, tpos, "%s lookups need a key: ${lookup{key}%s{file}}", lookup_type_name(n->lt),
             lookup_type_name(n->lt));
        goto bad;
    }
    ps->p += len;
    n->b = parse_arg(ps, keyed ? "the lookup file" : "the lookup query");
    if (ps->failed)
        goto bad;
    parse_branches(ps, n, "a branch of ${lookup");
    if (ps->failed || expect_close(ps, start, "lookup") != 0)
        goto bad;
    return n;
bad:
    exp__node_free(n);
    return NULL;
}

/* parse_acl - after "${acl": {name} and up to nine {arg}s; each argument
 * hangs off n->b as an N_ACL holder node whose a is the argument */
static struct node *
parse_acl(struct parser *ps, const char *start)
{
    struct node *n = new_node(ps, N_ACL, start), **tail = &n->b;

    n->a = parse_arg(ps, "the ACL name");
    for (int i = 0; i < 9 && !ps->failed; i++) {
        skip_ws(ps);
        if (*ps->p != '{')
            break;
        struct node *h = new_node(ps, N_ACL, ps->p);
        h->a = parse_arg(ps, "an ACL argument");
        *tail = h;
        tail = &h->next;
    }
    if (ps->failed || expect_close(ps, start, "acl") != 0) {
        exp__node_free(n);
        return NULL;
    }
    return n;
}

/* parse_certextract - after "${certextract": {field}{certificate} and the
 * branches of a lookup; a constant field must be known */
static struct node *
parse_certextract(struct parser *ps, const char *start)
{
    struct node *n = new_node(ps, N_CERT, start);
    const char *fpos;

    skip_ws(ps);
    fpos = ps->p + 1;
    n->a = parse_arg(ps, "the certextract field");
    if (ps->failed)
        goto bad;
    if (is_constant_seq(n->a) && !exp__cert_field_known(n->a ? n->a->text : "")) {
        perr(ps, fpos, "unknown certextract field \"%s\"", n->a ? n->a->text : "");
        goto bad;
    }
    n->b = parse_arg(ps, "the certificate");
    if (ps->failed)
        goto bad;
    parse_branches(ps, n, "a branch of ${certextract");
    if (ps->failed || expect_close(ps, start, "certextract") != 0)
        goto bad;
    return n;
bad:
    exp__node_free(n);
    return NULL;
}

/* parse_op - after "${word:" */
static struct node *
parse_op(struct parser *ps, const char *start, const char *w, size_t wl)
{
    struct node *n;
    enum op_kind op;
    char item[40];

    if (word_is(w, wl, "lc"))
        op = OP_LC;
    else if (word_is(w, wl, "uc"))
        op = OP_UC;
    else if (word_is(w, wl, "quote_redis"))
        op = OP_QUOTE_REDIS;
    else if (wl > 6 && memcmp(w, "quote_", 6) == 0) {
        perr(ps, w, "unknown quoting type \"%.*s\"", (int)(wl - 6), w + 6);
        return NULL;
    } else {
        perr(ps, w, "unknown operator \"%.*s\"", (int)wl, w);
        return NULL;
    }
    n = new_node(ps, N_OP, start);
    n->op = op;
    ps->p++; /* ':' */
    n->a = parse_seq(ps, 1);
    snprintf(item, sizeof item, "%.*s:", (int)wl, w);
    if (ps->failed || expect_close(ps, start, item) != 0) {
        exp__node_free(n);
        return NULL;
    }
    return n;
}

/* var_node - a variable node named w (wl bytes) */
static struct node *
var_node(struct parser *ps, const char *start, const char *w, size_t wl)
{
    struct node *n = new_node(ps, N_VAR, start);
    size_t i;

    n->text = exp__xstrndup(w, wl);
    for (i = 0; i < wl && isdigit((unsigned char)w[i]); i++)
        ;
    if (i == wl) {
        n->var = V_CAPTURE;
        n->capture = wl > 2 ? 99 : atoi(n->text);
    } else if (word_is(w, wl, "value"))
        n->var = V_VALUE;
    return n;
}

/* parse_dollar - p at '$' */
static struct node *
parse_dollar(struct parser *ps)
{
    const char *start = ps->p, *w;
    size_t wl;
    struct node *n = NULL;

    ps->p++;
    if (*ps->p != '{') {
        wl = read_word(ps);
        if (wl == 0) {
            perr(ps, start, "'$' not followed by a name or '{' (write \\$ for a dollar)");
            return NULL;
        }
        ps->p += wl;
        return var_node(ps, start, start + 1, wl);
    }
    ps->p++;
    w = ps->p;
    wl = read_word(ps);
    if (wl == 0) {
        perr(ps, w, "expected a name after \"${\"");
        return NULL;
    }
    ps->p += wl;
    if (*ps->p == '}') {
        ps->p++;
        return var_node(ps, start, w, wl);
    }
    if (enter(ps) != 0)
        return NULL;
    if (*ps->p == ':')
        n = parse_op(ps, start, w, wl);
    else if (word_is(w, wl, "if"))
        n = parse_if(ps, start);
    else if (word_is(w, wl, "lookup"))
        n = parse_lookup(ps, start);
    else if (word_is(w, wl, "acl"))
        n = parse_acl(ps, start);
    else if (word_is(w, wl, "certextract"))
        n = parse_certextract(ps, start);
    else if (*ps->p == '\0')
        perr(ps, ps->p, "missing '}' to end ${%.*s", (int)wl, w);
    else
        perr(ps, w, "unknown expansion item \"%.*s\"", (int)wl, w);
    ps->depth--;
    return n;
}

/* flush_text - turn accumulated text into a node appended at *tail */
static void
flush_text(struct parser *ps, struct sbuf *b, const char *pos, struct node ***tail)
{
    struct node *n;

    if (b->len == 0)
        return;
    n = new_node(ps, N_TEXT, pos);
    n->text = b->s;
    n->len = b->len;
    memset(b, 0, sizeof *b);
    **tail = n;
    *tail = &n->next;
}

/* parse_seq - a string up to the end (or, in braces, an unescaped '}') */
static struct node *
parse_seq(struct parser *ps, int in_braces)
{
    struct node *head = NULL, **tail = &head;
    struct sbuf text = {0};
    const char *tstart = ps->p;

    while (*ps->p != '\0' && !ps->failed) {
        char c = *ps->p;
        if (in_braces && c == '}')
            break;
        if (c == '\\') {
            if (text.len == 0)
                tstart = ps->p;
            parse_escape(ps, &text);
        } else if (c == '$') {
            flush_text(ps, &text, tstart, &tail);
            *tail = parse_dollar(ps);
            if (*tail != NULL)
                tail = &(*tail)->next;
        } else {
            const char *run = ps->p;
            if (text.len == 0)
                tstart = ps->p;
            while (*ps->p != '\0' && *ps->p != '\\' && *ps->p != '$' &&
                   !(in_braces && *ps->p == '}'))
                ps->p++;
            exp__sb_add(&text, run, ps->p - run);
        }
    }
    flush_text(ps, &text, tstart, &tail);
    free(text.s);
    return head;
}

/* exp_compile - parse a string into its compiled form */
struct exp_str *
exp_compile(const char *src, char *err, size_t errlen)
{
    struct parser ps = {.src = src, .p = src, .err = err, .errlen = errlen};
    struct exp_str *e;

    if (err != NULL && errlen > 0)
        err[0] = '\0';
    e = exp__xcalloc(sizeof *e);
    e->src = exp__xstrndup(src, strlen(src));
    e->root = parse_seq(&ps, 0);
    if (ps.failed) {
        exp_free(e);
        return NULL;
    }
    e->constant = is_constant_seq(e->root);
    return e;
}
