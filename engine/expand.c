/*
 * expand.c - expansion strings: a recursive-descent parser that builds a
 *            tree once, and an evaluator that walks it per use. See expand.h
 *            for the language.
 *
 * The tree: a string is a list of nodes (text, variable, ${if}, operator,
 * lookup, acl); ${if} holds a condition tree. Constant regexes of "match"
 * are compiled by the parser and shared read-only by evaluating threads.
 * Parsing is bounded in depth (EXP_MAX_DEPTH), so hostile input cannot
 * exhaust the stack; evaluation follows the same tree.
 */
#include "engine/expand.h"

#define PCRE2_CODE_UNIT_WIDTH 8

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <pcre2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/lookup.h"

#define EXP_MAX_DEPTH 64
#define EXP_NCAPS 10

enum node_kind { N_TEXT, N_VAR, N_IF, N_OP, N_LOOKUP, N_ACL };
enum op_kind { OP_LC, OP_UC, OP_QUOTE_REDIS };
enum var_kind { V_NAMED, V_CAPTURE, V_VALUE };
enum cond_kind {
    C_EQ,
    C_EQI,
    C_NUM_EQ,
    C_LT,
    C_GT,
    C_LE,
    C_GE,
    C_MATCH,
    C_DEF,
    C_BOOL,
    C_AND,
    C_OR,
    C_TRUE,
    C_FALSE
};

struct node;

struct cond {
    enum cond_kind kind;
    int negate;
    size_t col;
    struct node *a, *b; /* arguments; def: a is the variable */
    pcre2_code *re;     /* match: constant regex compiled at load */
    struct cond *sub;   /* and/or: first member */
    struct cond *next;  /* and/or: next member */
};

struct node {
    enum node_kind kind;
    struct node *next;
    size_t col;
    char *text; /* N_TEXT: the text (len bytes); N_VAR: the name */
    size_t len;
    enum var_kind var; /* N_VAR */
    int capture;       /* N_VAR V_CAPTURE: the number */
    enum op_kind op;   /* N_OP */
    struct cond *cond; /* N_IF */
    /* N_IF: a yes, b no; N_OP: a argument; N_LOOKUP: a key, b query or
     * file, c yes, d no; N_ACL: a name */
    struct node *a, *b, *c, *d;
    int nbranch; /* N_IF, N_LOOKUP: branches written (0, 1 or 2) */
    int fail;    /* N_IF, N_LOOKUP: "fail" written in place of the no-branch */
    const struct lookup_type *lt;
};

struct exp_str {
    char *src;
    struct node *root;
    int constant;
};

/* ---- memory ---- */

/* xmalloc - malloc; out of memory is fatal in the engine */
static void *
xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        abort();
    return p;
}

/* xcalloc - zeroed allocation, fatal when out of memory */
static void *
xcalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (p == NULL)
        abort();
    return p;
}

/* xstrndup - copy n bytes and a NUL */
static char *
xstrndup(const char *s, size_t n)
{
    char *p = xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* A growable output buffer. */
struct sbuf {
    char *s;
    size_t len, cap;
};

/* sb_add - append n bytes */
static void
sb_add(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->s, cap);
        if (p == NULL)
            abort();
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

/* sb_str - the buffer as a NUL-terminated string (allocating "" if empty) */
static char *
sb_str(struct sbuf *b)
{
    if (b->s == NULL)
        sb_add(b, "", 0);
    return b->s;
}

static void node_free(struct node *n);

/* cond_free - release a condition tree */
static void
cond_free(struct cond *c)
{
    while (c != NULL) {
        struct cond *next = c->next;
        node_free(c->a);
        node_free(c->b);
        if (c->re != NULL)
            pcre2_code_free(c->re);
        cond_free(c->sub);
        free(c);
        c = next;
    }
}

/* node_free - release a node list */
static void
node_free(struct node *n)
{
    while (n != NULL) {
        struct node *next = n->next;
        free(n->text);
        cond_free(n->cond);
        node_free(n->a);
        node_free(n->b);
        node_free(n->c);
        node_free(n->d);
        free(n);
        n = next;
    }
}

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
    struct node *n = xcalloc(sizeof *n);
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
        sb_add(b, "\\", 1);
        return 0;
    }
    ps->p++;
    if (c == 'N') {
        const char *end = strstr(ps->p, "\\N");
        if (end == NULL) {
            perr(ps, start, "\\N without a closing \\N");
            return -1;
        }
        sb_add(b, ps->p, end - ps->p);
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
    sb_add(b, &ch, 1);
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
        node_free(n);
        return NULL;
    }
    if (*ps->p != '}') {
        perr(ps, ps->p, "missing '}' to end %s (opened at column %zu)", what, col_of(ps, open));
        node_free(n);
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
    c = xcalloc(sizeof *c);
    c->kind = (enum cond_kind)kind;
    c->col = col_of(ps, start);
    if (parse_cond_args(ps, c) != 0 || ps->failed) {
        cond_free(c);
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
    node_free(n);
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
    node_free(n);
    return NULL;
}

/* parse_acl - after "${acl": {name} and up to nine {arg}s (arguments dropped for now) */
static struct node *
parse_acl(struct parser *ps, const char *start)
{
    struct node *n = new_node(ps, N_ACL, start);

    n->a = parse_arg(ps, "the ACL name");
    for (int i = 0; i < 9 && !ps->failed; i++) {
        skip_ws(ps);
        if (*ps->p != '{')
            break;
        node_free(parse_arg(ps, "an ACL argument"));
    }
    if (ps->failed || expect_close(ps, start, "acl") != 0) {
        node_free(n);
        return NULL;
    }
    return n;
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
        node_free(n);
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

    n->text = xstrndup(w, wl);
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
            sb_add(&text, run, ps->p - run);
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
    e = xcalloc(sizeof *e);
    e->src = xstrndup(src, strlen(src));
    e->root = parse_seq(&ps, 0);
    if (ps.failed) {
        exp_free(e);
        return NULL;
    }
    e->constant = is_constant_seq(e->root);
    return e;
}

/* exp_free - release a compiled string */
void
exp_free(struct exp_str *e)
{
    if (e == NULL)
        return;
    node_free(e->root);
    free(e->src);
    free(e);
}

/* exp_source - the text a string was compiled from */
const char *
exp_source(const struct exp_str *e)
{
    return e->src;
}

/* exp_is_constant - no expansion items */
int
exp_is_constant(const struct exp_str *e)
{
    return e->constant;
}

/* exp_rc_name - the name of a result code */
const char *
exp_rc_name(int rc)
{
    switch (rc) {
    case EXP_OK:
        return "ok";
    case EXP_FAIL:
        return "forced failure";
    case EXP_DEFER:
        return "defer";
    default:
        return "error";
    }
}

/* ---- evaluator ---- */

/* The captures of one successful "match". */
struct caps {
    char *v[EXP_NCAPS];
    int n; /* -1: none set */
};

struct ev {
    const struct exp_ctx *ctx;
    struct caps *caps;   /* visible $0..$9, or NULL */
    struct caps *target; /* where a match in the current condition writes */
    const char *value;   /* $value */
    int errset;
};

/* ev_err - record the first evaluation error, naming the column */
__attribute__((format(printf, 3, 4))) static void
ev_err(struct ev *ev, size_t col, const char *fmt, ...)
{
    const struct exp_ctx *ctx = ev->ctx;
    va_list ap;
    int n;

    if (ev->errset || ctx->err == NULL || ctx->errlen == 0)
        return;
    ev->errset = 1;
    n = snprintf(ctx->err, ctx->errlen, "column %zu: ", col);
    if (n < 0 || (size_t)n >= ctx->errlen)
        return;
    va_start(ap, fmt);
    vsnprintf(ctx->err + n, ctx->errlen - n, fmt, ap);
    va_end(ap);
}

/* caps_clear - free a capture set */
static void
caps_clear(struct caps *c)
{
    for (int i = 0; i < c->n; i++)
        free(c->v[i]);
    c->n = -1;
}

static int eval_seq(struct ev *ev, const struct node *n, struct sbuf *out);
static int eval_cond(struct ev *ev, const struct cond *c, int *truth);

/* eval_str - evaluate a list into a fresh string (*s malloc'd on EXP_OK) */
static int
eval_str(struct ev *ev, const struct node *n, char **s)
{
    struct sbuf b = {0};
    int rc = eval_seq(ev, n, &b);

    if (rc != EXP_OK) {
        free(b.s);
        *s = NULL;
        return rc;
    }
    *s = sb_str(&b);
    return EXP_OK;
}

/* var_value - the value of a variable node, or NULL (error recorded) */
static const char *
var_value(struct ev *ev, const struct node *n)
{
    const char *v;

    if (n->var == V_VALUE)
        return ev->value != NULL ? ev->value : "";
    if (n->var == V_CAPTURE)
        return ev->caps != NULL && n->capture < ev->caps->n ? ev->caps->v[n->capture] : "";
    v = ev->ctx->var != NULL ? ev->ctx->var(ev->ctx->arg, n->text) : NULL;
    if (v == NULL)
        ev_err(ev, n->col, "unknown variable name \"%s\"", n->text);
    return v;
}

/* parse_number - Exim integer: optional sign, digits, optional K/M/G; white
 * space around and an empty string (0) allowed. 0 or -1. */
static int
parse_number(const char *s, long long *out)
{
    char *end;
    long long v;

    while (isspace((unsigned char)*s))
        s++;
    if (*s == '\0') {
        *out = 0;
        return 0;
    }
    errno = 0;
    v = strtoll(s, &end, 10);
    if (end == s || errno == ERANGE)
        return -1;
    int shift = 0;
    switch (*end) {
    case 'k':
    case 'K':
        shift = 10, end++;
        break;
    case 'm':
    case 'M':
        shift = 20, end++;
        break;
    case 'g':
    case 'G':
        shift = 30, end++;
        break;
    }
    if (shift && (v > (LLONG_MAX >> shift) || v < (LLONG_MIN >> shift)))
        return -1;
    v = shift ? v * (1LL << shift) : v;
    while (isspace((unsigned char)*end))
        end++;
    if (*end != '\0')
        return -1;
    *out = v;
    return 0;
}

/* bool_value - Exim's bool{}: 1 true, 0 false, -1 not a boolean */
static int
bool_value(const char *s)
{
    size_t len;
    long long v;

    while (isspace((unsigned char)*s))
        s++;
    len = strlen(s);
    while (len > 0 && isspace((unsigned char)s[len - 1]))
        len--;
    if (len == 0)
        return 0;
    if ((len == 4 && strncasecmp(s, "true", 4) == 0) || (len == 3 && strncasecmp(s, "yes", 3) == 0))
        return 1;
    if ((len == 5 && strncasecmp(s, "false", 5) == 0) || (len == 2 && strncasecmp(s, "no", 2) == 0))
        return 0;
    if ((isdigit((unsigned char)*s) || *s == '-') && parse_number(s, &v) == 0 &&
        strcspn(s, "kKmMgG") >= len)
        return v != 0;
    return -1;
}

/* set_captures - copy $0..$9 of a successful match into the current target */
static void
set_captures(struct ev *ev, const char *subj, pcre2_match_data *md)
{
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
    uint32_t n = pcre2_get_ovector_count(md);
    struct caps *c = ev->target;

    if (c == NULL)
        return;
    caps_clear(c);
    c->n = 0;
    for (uint32_t i = 0; i < n && i < EXP_NCAPS; i++) {
        if (ov[2 * i] == PCRE2_UNSET)
            c->v[i] = xstrndup("", 0);
        else
            c->v[i] = xstrndup(subj + ov[2 * i], ov[2 * i + 1] - ov[2 * i]);
        c->n = (int)i + 1;
    }
    ev->caps = c;
}

/* eval_match - match{subject}{regex}; truth in *t */
static int
eval_match(struct ev *ev, const struct cond *c, const char *subj, const char *pat, int *t)
{
    pcre2_code *re = c->re;
    pcre2_match_data *md;
    int code, rc;
    PCRE2_SIZE off;
    PCRE2_UCHAR msg[256];

    if (re == NULL) {
        re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
        if (re == NULL) {
            pcre2_get_error_message(code, msg, sizeof msg);
            ev_err(ev, c->col, "regex error in \"%s\" at offset %zu: %s", pat, (size_t)off,
                   (char *)msg);
            return EXP_ERROR;
        }
    }
    md = pcre2_match_data_create_from_pattern(re, NULL);
    if (md == NULL)
        abort();
    rc = pcre2_match(re, (PCRE2_SPTR)subj, strlen(subj), 0, 0, md, NULL);
    *t = rc >= 0;
    if (rc >= 0)
        set_captures(ev, subj, md);
    pcre2_match_data_free(md);
    if (re != c->re)
        pcre2_code_free(re);
    if (rc < 0 && rc != PCRE2_ERROR_NOMATCH) {
        pcre2_get_error_message(rc, msg, sizeof msg);
        ev_err(ev, c->col, "regex match failed: %s", (char *)msg);
        return EXP_ERROR;
    }
    return EXP_OK;
}

/* eval_compare - numeric comparisons */
static int
eval_compare(struct ev *ev, const struct cond *c, const char *a, const char *b, int *t)
{
    long long x, y;

    if (parse_number(a, &x) != 0) {
        ev_err(ev, c->col, "\"%s\" is not a number", a);
        return EXP_ERROR;
    }
    if (parse_number(b, &y) != 0) {
        ev_err(ev, c->col, "\"%s\" is not a number", b);
        return EXP_ERROR;
    }
    switch (c->kind) {
    case C_NUM_EQ:
        *t = x == y;
        break;
    case C_LT:
        *t = x < y;
        break;
    case C_GT:
        *t = x > y;
        break;
    case C_LE:
        *t = x <= y;
        break;
    default:
        *t = x >= y;
        break;
    }
    return EXP_OK;
}

/* eval_two - conditions with two string arguments */
static int
eval_two(struct ev *ev, const struct cond *c, int *t)
{
    char *a = NULL, *b = NULL;
    int rc = eval_str(ev, c->a, &a);

    if (rc == EXP_OK && !(c->kind == C_MATCH && c->re != NULL))
        rc = eval_str(ev, c->b, &b);
    if (rc == EXP_OK) {
        switch (c->kind) {
        case C_EQ:
            *t = strcmp(a, b) == 0;
            break;
        case C_EQI:
            *t = strcasecmp(a, b) == 0;
            break;
        case C_MATCH:
            rc = eval_match(ev, c, a, b, t);
            break;
        default:
            rc = eval_compare(ev, c, a, b, t);
            break;
        }
    }
    free(a);
    free(b);
    return rc;
}

/* eval_list - and/or, short-circuit */
static int
eval_list(struct ev *ev, const struct cond *c, int *t)
{
    int want = c->kind == C_OR; /* the member value that decides */

    for (const struct cond *m = c->sub; m != NULL; m = m->next) {
        int rc = eval_cond(ev, m, t);
        if (rc != EXP_OK)
            return rc;
        if (*t == want)
            return EXP_OK;
    }
    *t = !want;
    return EXP_OK;
}

/* eval_cond - a condition's truth in *t */
static int
eval_cond(struct ev *ev, const struct cond *c, int *t)
{
    int rc = EXP_OK, b;
    const char *v;
    char *s;

    switch (c->kind) {
    case C_TRUE:
    case C_FALSE:
        *t = c->kind == C_TRUE;
        break;
    case C_DEF:
        v = var_value(ev, c->a);
        if (v == NULL)
            return EXP_ERROR;
        *t = *v != '\0';
        break;
    case C_BOOL:
        rc = eval_str(ev, c->a, &s);
        if (rc != EXP_OK)
            return rc;
        b = bool_value(s);
        if (b < 0)
            ev_err(ev, c->col, "unrecognised boolean value \"%s\"", s);
        free(s);
        if (b < 0)
            return EXP_ERROR;
        *t = b;
        break;
    case C_AND:
    case C_OR:
        rc = eval_list(ev, c, t);
        break;
    default:
        rc = eval_two(ev, c, t);
        break;
    }
    if (rc == EXP_OK && c->negate)
        *t = !*t;
    return rc;
}

/* eval_if - ${if}: captures set by the condition live until it ends */
static int
eval_if(struct ev *ev, const struct node *n, struct sbuf *out)
{
    struct caps mine = {.n = -1}, *outer = ev->caps, *outer_target = ev->target;
    int t = 0, rc;

    ev->target = &mine;
    rc = eval_cond(ev, n->cond, &t);
    ev->target = outer_target;
    if (rc == EXP_OK) {
        if (n->nbranch == 0)
            sb_add(out, t ? "true" : "", t ? 4 : 0);
        else if (t)
            rc = eval_seq(ev, n->a, out);
        else if (n->fail)
            rc = EXP_FAIL;
        else if (n->nbranch == 2)
            rc = eval_seq(ev, n->b, out);
    }
    ev->caps = outer;
    caps_clear(&mine);
    return rc;
}

/* quote_redis - a backslash before white space and backslashes */
static void
quote_redis(struct sbuf *out, const char *s)
{
    for (; *s != '\0'; s++) {
        if (isspace((unsigned char)*s) || *s == '\\')
            sb_add(out, "\\", 1);
        sb_add(out, s, 1);
    }
}

/* eval_op - ${lc:} ${uc:} ${quote_redis:} */
static int
eval_op(struct ev *ev, const struct node *n, struct sbuf *out)
{
    char *s;
    int rc = eval_str(ev, n->a, &s);

    if (rc != EXP_OK)
        return rc;
    if (n->op == OP_QUOTE_REDIS) {
        quote_redis(out, s);
    } else {
        for (char *p = s; *p != '\0'; p++)
            *p = (char)(n->op == OP_LC ? tolower((unsigned char)*p) : toupper((unsigned char)*p));
        sb_add(out, s, strlen(s));
    }
    free(s);
    return EXP_OK;
}

/* eval_lookup_result - the branches of a lookup, given its outcome */
static int
eval_lookup_result(struct ev *ev, const struct node *n, const char *val, struct sbuf *out)
{
    const char *outer = ev->value;
    int rc = EXP_OK;

    if (val == NULL) { /* not found */
        if (n->fail)
            return EXP_FAIL;
        return n->nbranch == 2 ? eval_seq(ev, n->d, out) : EXP_OK;
    }
    if (n->nbranch == 0) {
        sb_add(out, val, strlen(val));
        return EXP_OK;
    }
    ev->value = val;
    rc = eval_seq(ev, n->c, out);
    ev->value = outer;
    return rc;
}

/* eval_lookup - ${lookup ...} */
static int
eval_lookup(struct ev *ev, const struct node *n, struct sbuf *out)
{
    char *key = NULL, *arg = NULL, *val = NULL, msg[512];
    int rc = EXP_OK;
    enum lookup_rc lr;

    if (ev->ctx->flags & EXP_F_NO_LOOKUPS) {
        ev_err(ev, n->col, "lookups are not allowed here");
        return EXP_ERROR;
    }
    if (!lookup_type_is_query(n->lt))
        rc = eval_str(ev, n->a, &key);
    if (rc == EXP_OK)
        rc = eval_str(ev, n->b, &arg);
    if (rc != EXP_OK)
        goto out;
    msg[0] = '\0';
    lr = lookup_run(n->lt, key, arg, &val, msg, sizeof msg);
    if (lr == LOOKUP_DEFER || lr == LOOKUP_ERROR) {
        ev_err(ev, n->col, "%s lookup %s: %s", lookup_type_name(n->lt),
               lr == LOOKUP_DEFER ? "deferred" : "failed", msg);
        rc = lr == LOOKUP_DEFER ? EXP_DEFER : EXP_ERROR;
        goto out;
    }
    rc = eval_lookup_result(ev, n, lr == LOOKUP_OK ? val : NULL, out);
out:
    free(key);
    free(arg);
    free(val);
    return rc;
}

/* eval_seq - evaluate a node list, appending to out */
static int
eval_seq(struct ev *ev, const struct node *n, struct sbuf *out)
{
    int rc = EXP_OK;
    const char *v;

    for (; n != NULL && rc == EXP_OK; n = n->next) {
        switch (n->kind) {
        case N_TEXT:
            sb_add(out, n->text, n->len);
            break;
        case N_VAR:
            v = var_value(ev, n);
            if (v == NULL)
                return EXP_ERROR;
            sb_add(out, v, strlen(v));
            break;
        case N_IF:
            rc = eval_if(ev, n, out);
            break;
        case N_OP:
            rc = eval_op(ev, n, out);
            break;
        case N_LOOKUP:
            rc = eval_lookup(ev, n, out);
            break;
        case N_ACL:
            ev_err(ev, n->col, "ACLs not available");
            rc = EXP_ERROR;
            break;
        }
    }
    return rc;
}

/* exp_eval - evaluate a compiled string */
int
exp_eval(const struct exp_str *e, const struct exp_ctx *ctx, char **out)
{
    struct ev ev = {.ctx = ctx};
    struct sbuf b = {0};
    int rc;

    if (ctx->err != NULL && ctx->errlen > 0)
        ctx->err[0] = '\0';
    rc = eval_seq(&ev, e->root, &b);
    if (rc != EXP_OK) {
        free(b.s);
        *out = NULL;
        if (rc == EXP_FAIL && ctx->err != NULL && ctx->errlen > 0)
            snprintf(ctx->err, ctx->errlen, "forced failure");
        return rc;
    }
    *out = sb_str(&b);
    return EXP_OK;
}
