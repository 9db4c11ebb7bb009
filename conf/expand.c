/*
 * expand.c - expansion strings: what the parser and the evaluator share
 *            (allocation, buffers, freeing) and the small public calls. The
 *            parser is expand_parse.c, the evaluator expand_eval.c; see
 *            expand.h for the language.
 *
 * The tree: a string is a list of nodes (text, variable, ${if}, operator,
 * lookup, acl); ${if} holds a condition tree. Constant regexes of "match"
 * are compiled by the parser and shared read-only by evaluating threads.
 * Parsing is bounded in depth (EXP_MAX_DEPTH), so hostile input cannot
 * exhaust the stack; evaluation follows the same tree.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/expand_int.h"

/* exp__xmalloc - malloc; out of memory is fatal in the engine */
void *
exp__xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        abort();
    return p;
}

/* exp__xcalloc - zeroed allocation, fatal when out of memory */
void *
exp__xcalloc(size_t n)
{
    void *p = calloc(1, n ? n : 1);
    if (p == NULL)
        abort();
    return p;
}

/* exp__xstrndup - copy n bytes and a NUL */
char *
exp__xstrndup(const char *s, size_t n)
{
    char *p = exp__xmalloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* A growable output buffer. */
/* exp__sb_add - append n bytes */
void
exp__sb_add(struct sbuf *b, const char *s, size_t n)
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

/* exp__sb_str - the buffer as a NUL-terminated string (allocating "" if empty) */
char *
exp__sb_str(struct sbuf *b)
{
    if (b->s == NULL)
        exp__sb_add(b, "", 0);
    return b->s;
}

/* exp__cond_free - release a condition tree */
void
exp__cond_free(struct cond *c)
{
    while (c != NULL) {
        struct cond *next = c->next;
        exp__node_free(c->a);
        exp__node_free(c->b);
        if (c->re != NULL)
            pcre2_code_free(c->re);
        exp__cond_free(c->sub);
        free(c);
        c = next;
    }
}

/* exp__node_free - release a node list */
void
exp__node_free(struct node *n)
{
    while (n != NULL) {
        struct node *next = n->next;
        free(n->text);
        exp__cond_free(n->cond);
        exp__node_free(n->a);
        exp__node_free(n->b);
        exp__node_free(n->c);
        exp__node_free(n->d);
        free(n);
        n = next;
    }
}

/* exp_free - release a compiled string */
void
exp_free(struct exp_str *e)
{
    if (e == NULL)
        return;
    exp__node_free(e->root);
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

