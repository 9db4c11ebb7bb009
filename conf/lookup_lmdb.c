/*
 * lookup_lmdb.c - ${lookup{KEY}lmdb{FILE}}: read-only single-key lookups in
 *                 LMDB data files. See lookup.h.
 *
 * Each file's environment is opened once (MDB_NOSUBDIR | MDB_RDONLY |
 * MDB_NOTLS, the lock file FILE-lock beside it; if that cannot be opened for
 * lack of permission, MDB_NOLOCK as well) and kept until exit, with its main
 * database handle. The open environments form a list that only grows: its
 * head is an atomic pointer, so lookups scan it without a lock; opening a new
 * file takes a mutex (and scans again, so one file is never opened twice in
 * the process, which LMDB forbids). Every lookup is one read transaction.
 * The file is checked with stat() before LMDB sees it, so a missing file is a
 * defer and never leaves a stray FILE-lock behind.
 */
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "conf/lookup.h"

struct lmdb_file {
    char *path;
    MDB_env *env;
    MDB_dbi dbi;
    struct lmdb_file *next;
};

static _Atomic(struct lmdb_file *) lmdb_files;
static pthread_mutex_t lmdb_lock = PTHREAD_MUTEX_INITIALIZER;

/* find_file - the open environment for path, or NULL */
static struct lmdb_file *
find_file(const char *path)
{
    for (struct lmdb_file *f = atomic_load(&lmdb_files); f != NULL; f = f->next)
        if (strcmp(f->path, path) == 0)
            return f;
    return NULL;
}

/* env_open - open path read-only and its main database; 0 or an LMDB/errno code */
static int
env_open(const char *path, unsigned extra, MDB_env **envp, MDB_dbi *dbi)
{
    MDB_env *env;
    MDB_txn *txn;
    int rc = mdb_env_create(&env);

    if (rc != 0)
        return rc;
    mdb_env_set_maxreaders(env, 1024);
    rc = mdb_env_open(env, path, MDB_NOSUBDIR | MDB_RDONLY | MDB_NOTLS | extra, 0640);
    if (rc == 0)
        rc = mdb_txn_begin(env, NULL, MDB_RDONLY, &txn);
    if (rc == 0) {
        rc = mdb_dbi_open(txn, NULL, 0, dbi);
        if (rc == 0)
            rc = mdb_txn_commit(txn); /* keeps the dbi handle for the env's life */
        else
            mdb_txn_abort(txn);
    }
    if (rc != 0) {
        mdb_env_close(env);
        return rc;
    }
    *envp = env;
    return 0;
}

/* open_file - the environment for path, opening it on first use; NULL with err */
static struct lmdb_file *
open_file(const char *path, char *err, size_t errlen)
{
    struct lmdb_file *f;
    struct stat st;
    int rc;

    f = find_file(path);
    if (f != NULL)
        return f;
    if (stat(path, &st) != 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    pthread_mutex_lock(&lmdb_lock);
    f = find_file(path);
    if (f == NULL) {
        f = calloc(1, sizeof *f);
        if (f == NULL || (f->path = strdup(path)) == NULL)
            abort();
        rc = env_open(path, 0, &f->env, &f->dbi);
        if (rc == EACCES)
            rc = env_open(path, MDB_NOLOCK, &f->env, &f->dbi);
        if (rc != 0) {
            snprintf(err, errlen, "%s: %s", path, mdb_strerror(rc));
            free(f->path);
            free(f);
            f = NULL;
        } else {
            f->next = atomic_load(&lmdb_files);
            atomic_store(&lmdb_files, f);
        }
    }
    pthread_mutex_unlock(&lmdb_lock);
    return f;
}

/* lookup__lmdb_find - look key up in file */
enum lookup_rc
lookup__lmdb_find(const char *key, const char *file, char **result, char *err, size_t errlen)
{
    struct lmdb_file *f = open_file(file, err, errlen);
    MDB_txn *txn;
    MDB_val k = {.mv_size = strlen(key), .mv_data = (void *)key}, v;
    int rc;

    if (f == NULL)
        return LOOKUP_DEFER;
    rc = mdb_txn_begin(f->env, NULL, MDB_RDONLY, &txn);
    if (rc != 0) {
        snprintf(err, errlen, "%s: %s", file, mdb_strerror(rc));
        return LOOKUP_DEFER;
    }
    rc = k.mv_size == 0 ? MDB_NOTFOUND : mdb_get(txn, f->dbi, &k, &v);
    if (rc == 0) {
        *result = malloc(v.mv_size + 1);
        if (*result == NULL)
            abort();
        memcpy(*result, v.mv_data, v.mv_size);
        (*result)[v.mv_size] = '\0';
    }
    mdb_txn_abort(txn);
    if (rc == 0)
        return LOOKUP_OK;
    if (rc == MDB_NOTFOUND || rc == MDB_BAD_VALSIZE)
        return LOOKUP_NOTFOUND;
    snprintf(err, errlen, "%s: %s", file, mdb_strerror(rc));
    return LOOKUP_DEFER;
}
