/*
 * lookup_lsearch.c - the lsearch lookup: a text file of "key: value",
 *                    "key value" or bare "key" lines (Exim's lsearch).
 *
 * Keys are matched case-insensitively; a key may be written in double
 * quotes (with \" and \\ escapes) to hold ':' or white space. Lines that
 * start with white space continue the previous value; '#' lines and blank
 * lines are ignored. The first line with the key wins.
 *
 * Each file is read once into a sorted table and cached process-wide under
 * a mutex; the cache entry is re-read when the file's mtime, size or inode
 * changes (checked with stat(2) at each lookup). A missing or unreadable
 * file is a defer. Any thread may call it.
 */
#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "conf/lookup.h"

#define LS_MAX_FILES 64

struct ls_ent {
    char *key, *value;
    size_t idx; /* line order, so the first of equal keys sorts first */
};
struct ls_file {
    char *path;
    struct stat st;
    struct ls_ent *ents; /* sorted by key (strcasecmp), first line kept on ties */
    size_t n;
};

static pthread_mutex_t ls_lock = PTHREAD_MUTEX_INITIALIZER;
static struct ls_file ls_files[LS_MAX_FILES];
static size_t ls_nfiles;

/* ls_xstrdup - copy; out of memory is fatal */
static char *
ls_xstrdup(const char *s)
{
    char *d = strdup(s);
    if (d == NULL)
        abort();
    return d;
}

/* ls_key - cut the key off line (quoted or up to ':' / blank); *rest after it */
static char *
ls_key(char *line, char **rest)
{
    char *s = line, *o = line;
    if (*s == '"') {
        for (s++; *s && *s != '"'; s++)
            *o++ = (*s == '\\' && s[1]) ? *++s : *s;
        if (*s == '"')
            s++;
    } else {
        while (*s && *s != ':' && !isspace((unsigned char)*s))
            *o++ = *s++;
    }
    while (isspace((unsigned char)*s))
        s++;
    if (*s == ':')
        s++;
    while (isspace((unsigned char)*s))
        s++;
    *rest = s;
    *o = '\0';
    return line;
}

/* ls_cmp - order of entries: key, then line order */
static int
ls_cmp(const void *a, const void *b)
{
    const struct ls_ent *x = a, *y = b;
    int c = strcasecmp(x->key, y->key);
    return c != 0 ? c : (x->idx < y->idx ? -1 : x->idx > y->idx);
}

/* ls_append - add text to the value of the last entry (a continuation line) */
static void
ls_append(struct ls_ent *e, const char *text)
{
    size_t a = strlen(e->value), b = strlen(text);
    char *v = realloc(e->value, a + b + 2);
    if (v == NULL)
        abort();
    if (a > 0)
        v[a++] = ' ';
    memcpy(v + a, text, b + 1);
    e->value = v;
}

/* ls_trim_end - drop trailing white space */
static void
ls_trim_end(char *s)
{
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
}

/* ls_read - read f's lines into out */
static void
ls_read(FILE *f, struct ls_file *out)
{
    char *line = NULL, *rest;
    size_t cap = 0, ecap = 0;
    while (getline(&line, &cap, f) >= 0) {
        ls_trim_end(line);
        if (line[0] == '\0' || line[0] == '#')
            continue;
        if (isspace((unsigned char)line[0])) {
            char *t = line;
            while (isspace((unsigned char)*t))
                t++;
            if (out->n > 0 && *t != '#')
                ls_append(&out->ents[out->n - 1], t);
            continue;
        }
        if (out->n == ecap) {
            ecap = ecap ? 2 * ecap : 64;
            out->ents = realloc(out->ents, ecap * sizeof *out->ents);
            if (out->ents == NULL)
                abort();
        }
        char *key = ls_key(line, &rest);
        out->ents[out->n].idx = out->n;
        out->ents[out->n].key = ls_xstrdup(key);
        out->ents[out->n++].value = ls_xstrdup(rest);
    }
    free(line);
    if (out->n > 1)
        qsort(out->ents, out->n, sizeof *out->ents, ls_cmp);
}

/* ls_drop - forget a file's table */
static void
ls_drop(struct ls_file *lf)
{
    for (size_t i = 0; i < lf->n; i++) {
        free(lf->ents[i].key);
        free(lf->ents[i].value);
    }
    free(lf->ents);
    lf->ents = NULL;
    lf->n = 0;
}

/* ls_same - is st the version of the file already read? */
static int
ls_same(const struct stat *a, const struct stat *b)
{
    return a->st_ino == b->st_ino && a->st_dev == b->st_dev && a->st_size == b->st_size &&
           a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* ls_slot - the cache entry for path (made or evicted as needed) */
static struct ls_file *
ls_slot(const char *path)
{
    for (size_t i = 0; i < ls_nfiles; i++)
        if (strcmp(ls_files[i].path, path) == 0)
            return &ls_files[i];
    struct ls_file *lf = &ls_files[ls_nfiles < LS_MAX_FILES ? ls_nfiles++ : 0];
    ls_drop(lf);
    free(lf->path);
    memset(lf, 0, sizeof *lf);
    lf->path = ls_xstrdup(path);
    return lf;
}

/* ls_load - the up-to-date table of path, or NULL with err (lock held) */
static struct ls_file *
ls_load(const char *path, char *err, size_t errlen)
{
    struct stat st;
    FILE *f = fopen(path, "r");
    if (f == NULL || fstat(fileno(f), &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (f != NULL)
            fclose(f);
        return NULL;
    }
    struct ls_file *lf = ls_slot(path);
    if (lf->ents == NULL || !ls_same(&lf->st, &st)) {
        ls_drop(lf);
        lf->st = st;
        ls_read(f, lf);
        if (lf->ents == NULL)
            lf->ents = calloc(1, sizeof *lf->ents); /* read, but empty */
    }
    fclose(f);
    return lf;
}

/* ls_find - the first entry with key, or NULL */
static const struct ls_ent *
ls_find(const struct ls_file *lf, const char *key)
{
    size_t lo = 0, hi = lf->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (strcasecmp(lf->ents[mid].key, key) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < lf->n && strcasecmp(lf->ents[lo].key, key) == 0 ? &lf->ents[lo] : NULL;
}

/* lookup__lsearch_find - ${lookup{key}lsearch{file}} */
enum lookup_rc
lookup__lsearch_find(const char *key, const char *file, char **result, char *err, size_t errlen)
{
    enum lookup_rc rc = LOOKUP_NOTFOUND;
    pthread_mutex_lock(&ls_lock);
    const struct ls_file *lf = ls_load(file, err, errlen);
    if (lf == NULL) {
        rc = LOOKUP_DEFER;
    } else {
        const struct ls_ent *e = ls_find(lf, key);
        if (e != NULL) {
            *result = ls_xstrdup(e->value);
            rc = LOOKUP_OK;
        }
    }
    pthread_mutex_unlock(&ls_lock);
    return rc;
}
