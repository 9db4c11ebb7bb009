/*
 * expand_int.h - the compiled form of expansion strings, shared by the
 *                parser (expand_parse.c) and the evaluator (expand_eval.c).
 *                Not part of the conf/ contract: only conf/expand*.c include it.
 *
 * A string is a list of nodes (text, variable, ${if}, operator, lookup,
 * acl); ${if} holds a condition tree. Everything here is immutable once
 * exp_compile() returns, so any number of threads may evaluate a tree.
 */
#ifndef SPATE_CONF_EXPAND_INT_H
#define SPATE_CONF_EXPAND_INT_H

#define PCRE2_CODE_UNIT_WIDTH 8

#include <pcre2.h>
#include <stddef.h>

#include "conf/expand.h"

#define EXP_MAX_DEPTH 64
#define EXP_NCAPS 10

enum node_kind { N_TEXT, N_VAR, N_IF, N_OP, N_LOOKUP, N_ACL, N_CERT };
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
    C_FALSE,
    C_CRYPTEQ /* crypteq {password}{hash}: conf/auth_crypt.c */
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
     * file, c yes, d no; N_ACL: a name; N_CERT (certextract): a field,
     * b certificate, c yes, d no */
    struct node *a, *b, *c, *d;
    int nbranch; /* N_IF, N_LOOKUP, N_CERT: branches written (0, 1 or 2) */
    int fail;    /* N_IF, N_LOOKUP, N_CERT: "fail" written in place of the no-branch */
    const struct lookup_type *lt;
};

struct exp_str {
    char *src;
    struct node *root;
    int constant;
};

/* ---- memory ---- */

/* A growing output buffer; exp__sb_str() hands its string over. */
struct sbuf {
    char *s;
    size_t len, cap;
};

/* exp__xmalloc / exp__xcalloc / exp__xstrndup - allocation; out of memory is
 * fatal (abort), as everywhere in the engine */
void *exp__xmalloc(size_t n);
void *exp__xcalloc(size_t n);
char *exp__xstrndup(const char *s, size_t n);
/* exp__sb_add - append n bytes to b */
void exp__sb_add(struct sbuf *b, const char *s, size_t n);
/* exp__sb_str - b's contents as a malloc'd NUL-terminated string ("" if empty) */
char *exp__sb_str(struct sbuf *b);
/* exp__node_free / exp__cond_free - release a node list / condition tree */
void exp__node_free(struct node *n);
void exp__cond_free(struct cond *c);

/* ---- certificates (expand_cert.c) ---- */

/* exp__cert_field_known - 1 when name is a certextract field */
int exp__cert_field_known(const char *name);
/* exp__certextract - the field of a PEM certificate: 0 with *out malloc'd,
 * 1 when pem is "" (no certificate), -1 with a message in err */
int exp__certextract(const char *field, const char *pem, char **out, char *err, size_t errlen);

#endif
