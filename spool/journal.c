/*
 * journal.c - the recipient-state journal: appends, rotation, replay at
 *             recovery. See journal.h for the format and spool.h for where
 *             it sits in the spool's durability.
 */
#include "spool/journal.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"

#define HDR_LEN (4 + 8 + 1 + SPOOL_ID_LEN + 4)
#define RCPT_LEN (1 + 2 + 8 + 8 + 4)
#define SUM_LEN 8
#define ENTRY_MAX (64u << 20) /* larger lengths are corruption */

struct retired {
    uint64_t first, last; /* its name, and its highest sequence number */
};

struct jnl {
    char *dir; /* <spool>/journal */
    int fd;
    uint64_t first; /* the current file's name */
    uint64_t size;
    struct retired *ret;
    size_t nret;
};

/* fnv64 - FNV-1a, 64 bits */
static uint64_t
fnv64(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* file_path - the name of the journal file that starts at first */
static void
file_path(const char *jdir, uint64_t first, char *out, size_t outlen)
{
    snprintf(out, outlen, "%s/%016llx.jnl", jdir, (unsigned long long)first);
}

/* open_file - create (or truncate) the file starting at first */
static int
open_file(const char *jdir, uint64_t first)
{
    char path[4096];
    file_path(jdir, first, path, sizeof(path));
    return open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
}

/* jnl_open - a fresh journal file from next_seq on */
struct jnl *
jnl_open(const char *spooldir, uint64_t next_seq)
{
    struct jnl *j = calloc(1, sizeof(*j));
    size_t n = strlen(spooldir) + sizeof("/journal");
    if (j == NULL || (j->dir = malloc(n)) == NULL)
        abort();
    snprintf(j->dir, n, "%s/journal", spooldir);
    if ((mkdir(j->dir, 0750) < 0 && errno != EEXIST) || (j->fd = open_file(j->dir, next_seq)) < 0) {
        int e = errno;
        free(j->dir);
        free(j);
        errno = e;
        return NULL;
    }
    j->first = next_seq;
    return j;
}

/* jnl_append - one entry, one write() */
int
jnl_append(struct jnl *j, enum jnl_kind kind, uint64_t seq, const struct spool_msg *msg)
{
    unsigned char stack[4096], *buf = stack, *p;
    uint32_t n = kind == JNL_UPDATE ? msg->nrcpt : 0;
    size_t len = HDR_LEN + (size_t)n * RCPT_LEN + SUM_LEN;
    uint32_t len32 = (uint32_t)len;
    uint8_t k = (uint8_t)kind;
    uint64_t sum;
    ssize_t w;
    int rc = 0;

    if (len > sizeof(stack) && (buf = malloc(len)) == NULL)
        return -ENOMEM;
    p = buf;
    memcpy(p, &len32, 4), p += 4;
    memcpy(p, &seq, 8), p += 8;
    memcpy(p, &k, 1), p += 1;
    memcpy(p, msg->id, SPOOL_ID_LEN), p += SPOOL_ID_LEN;
    memcpy(p, &n, 4), p += 4;
    for (uint32_t i = 0; i < n; i++) {
        const struct spool_rcpt *r = &msg->rcpt[i];
        memcpy(p, &r->state, 1), p += 1;
        memcpy(p, &r->attempts, 2), p += 2;
        memcpy(p, &r->first_failure, 8), p += 8;
        memcpy(p, &r->next_try, 8), p += 8;
        memcpy(p, &r->last_interval, 4), p += 4;
    }
    sum = fnv64(buf, (size_t)(p - buf));
    memcpy(p, &sum, 8);
    do
        w = write(j->fd, buf, len);
    while (w < 0 && errno == EINTR);
    if (w < 0)
        rc = -errno;
    else if ((size_t)w != len)
        rc = -EIO; /* a short write (disk full): replay stops at it */
    if (w > 0)
        j->size += (uint64_t)w;
    if (buf != stack)
        free(buf);
    return rc;
}

/* jnl_size - bytes in the current file */
uint64_t
jnl_size(const struct jnl *j)
{
    return j->size;
}

/* jnl_rotate - retire the current file, go on in a fresh one */
int
jnl_rotate(struct jnl *j, uint64_t last_seq)
{
    int fd = open_file(j->dir, last_seq + 1);
    if (fd < 0)
        return -errno;
    j->ret = realloc(j->ret, (j->nret + 1) * sizeof(*j->ret));
    if (j->ret == NULL)
        abort();
    j->ret[j->nret++] = (struct retired){.first = j->first, .last = last_seq};
    close(j->fd);
    j->fd = fd;
    j->first = last_seq + 1;
    j->size = 0;
    return 0;
}

/* jnl_applied - unlink the retired files holding nothing after seq */
void
jnl_applied(struct jnl *j, uint64_t seq)
{
    char path[4096];
    for (size_t i = 0; i < j->nret;) {
        if (j->ret[i].last > seq) {
            i++;
            continue;
        }
        file_path(j->dir, j->ret[i].first, path, sizeof(path));
        unlink(path);
        j->ret[i] = j->ret[--j->nret];
    }
}

/* jnl_close - close, unlinking the files when everything is applied */
void
jnl_close(struct jnl *j, int all_applied)
{
    char path[4096];
    if (j == NULL)
        return;
    close(j->fd);
    if (all_applied) {
        jnl_applied(j, UINT64_MAX);
        file_path(j->dir, j->first, path, sizeof(path));
        unlink(path);
    }
    free(j->ret);
    free(j->dir);
    free(j);
}

/* ------------------------------------------------------------- replay */

/* cmp_u64 - qsort order of file numbers */
static int
cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* list_files - the numbers of the journal files under jdir, sorted; the
 * count, or -1 when the folder cannot be read (none: 0) */
static long
list_files(const char *jdir, uint64_t **out)
{
    DIR *d = opendir(jdir);
    struct dirent *de;
    uint64_t *v = NULL;
    long n = 0;
    *out = NULL;
    if (d == NULL)
        return errno == ENOENT ? 0 : -1;
    while ((de = readdir(d)) != NULL) {
        unsigned long long x;
        char tail[8];
        if (strlen(de->d_name) != 20 || sscanf(de->d_name, "%16llx%7s", &x, tail) != 2 ||
            strcmp(tail, ".jnl") != 0)
            continue;
        if ((v = realloc(v, (size_t)(n + 1) * sizeof(*v))) == NULL)
            abort();
        v[n++] = x;
    }
    closedir(d);
    if (n > 1)
        qsort(v, (size_t)n, sizeof(*v), cmp_u64);
    *out = v;
    return n;
}

/* read_file - the whole file into a malloc'd buffer; 0 or -errno */
static int
read_file(const char *path, unsigned char **buf, size_t *len)
{
    struct stat st;
    size_t got = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    *buf = NULL;
    *len = 0;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || (*buf = malloc((size_t)st.st_size + 1)) == NULL) {
        close(fd);
        return -EIO;
    }
    while (got < (size_t)st.st_size) {
        ssize_t k = read(fd, *buf + got, (size_t)st.st_size - got);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0)
            break;
        got += (size_t)k;
    }
    close(fd);
    *len = got;
    return 0;
}

/* apply_update - set the recipients' states of the record id from an
 * update entry's recipient part; 0, or an LMDB error */
static int
apply_update(MDB_txn *txn, MDB_dbi msgs, const char *id, uint32_t n, const unsigned char *p)
{
    MDB_val key = {.mv_size = SPOOL_ID_LEN, .mv_data = (void *)id}, val;
    struct spool_msg *m;
    size_t len;
    void *rec;
    int rc = mdb_get(txn, msgs, &key, &val);
    if (rc == MDB_NOTFOUND) {
        log_err("spool: journal update of %.*s: no such record; skipped", SPOOL_ID_LEN, id);
        return 0;
    }
    if (rc != 0)
        return rc;
    if ((m = spool_msg_decode(val.mv_data, val.mv_size)) == NULL || m->nrcpt != n) {
        log_err("spool: journal update of %.*s does not match its record; skipped", SPOOL_ID_LEN,
                id);
        spool_msg_free(m);
        return 0;
    }
    for (uint32_t i = 0; i < n; i++, p += RCPT_LEN) {
        struct spool_rcpt *r = &m->rcpt[i];
        memcpy(&r->state, p, 1);
        memcpy(&r->attempts, p + 1, 2);
        memcpy(&r->first_failure, p + 3, 8);
        memcpy(&r->next_try, p + 11, 8);
        memcpy(&r->last_interval, p + 19, 4);
        if (r->state > SPOOL_RCPT_FAILED)
            r->state = SPOOL_RCPT_PENDING; /* cannot pass the checksum; be safe */
    }
    rec = spool_msg_encode(m, &len);
    val = (MDB_val){.mv_size = len, .mv_data = rec};
    rc = mdb_put(txn, msgs, &key, &val, 0);
    free(rec);
    spool_msg_free(m);
    return rc;
}

/* entry_ok - the length of a whole, well-formed entry at p (n octets
 * left), or 0 */
static size_t
entry_ok(const unsigned char *p, size_t n)
{
    uint32_t len, nr;
    uint64_t sum;
    if (n < HDR_LEN + SUM_LEN)
        return 0;
    memcpy(&len, p, 4);
    memcpy(&nr, p + 4 + 8 + 1 + SPOOL_ID_LEN, 4);
    if (len > n || len > ENTRY_MAX || len < HDR_LEN + SUM_LEN ||
        (len - HDR_LEN - SUM_LEN) != (size_t)nr * RCPT_LEN)
        return 0;
    memcpy(&sum, p + len - SUM_LEN, 8);
    if (sum != fnv64(p, len - SUM_LEN))
        return 0;
    if (p[12] != JNL_UPDATE && p[12] != JNL_REMOVE)
        return 0;
    return len;
}

/* replay_buf - apply one file's entries; 1 to go on with the next file, 0
 * to stop (a bad entry or a gap), or -(LMDB error) */
static int
replay_buf(const unsigned char *b, size_t n, MDB_txn *txn, MDB_dbi msgs, uint64_t after,
           uint64_t *prev, int *have_prev, long *applied)
{
    size_t off = 0, len;
    while (off < n) {
        const unsigned char *p = b + off;
        uint64_t seq;
        uint32_t nr;
        int rc = 0;
        if ((len = entry_ok(p, n - off)) == 0)
            return 0;
        memcpy(&seq, p + 4, 8);
        memcpy(&nr, p + 4 + 8 + 1 + SPOOL_ID_LEN, 4);
        if (*have_prev && seq != *prev + 1)
            return 0;
        *prev = seq;
        *have_prev = 1;
        off += len;
        if (seq <= after)
            continue;
        if (p[12] == JNL_UPDATE) {
            rc = apply_update(txn, msgs, (const char *)p + 13, nr, p + HDR_LEN);
        } else {
            MDB_val key = {.mv_size = SPOOL_ID_LEN, .mv_data = (void *)(p + 13)};
            if ((rc = mdb_del(txn, msgs, &key, NULL)) == MDB_NOTFOUND)
                rc = 0;
        }
        if (rc != 0)
            return -rc;
        (*applied)++;
    }
    return 1;
}

/* jnl_replay - apply the entries after the committed sequence number */
int
jnl_replay(const char *spooldir, MDB_txn *txn, MDB_dbi msgs, uint64_t after, uint64_t *last,
           long *applied)
{
    char jdir[4096], path[4096 + 32];
    uint64_t *files, prev = 0;
    int have_prev = 0, rc = 1;
    long nf;

    *last = after;
    *applied = 0;
    snprintf(jdir, sizeof(jdir), "%s/journal", spooldir);
    if ((nf = list_files(jdir, &files)) < 0) {
        log_err("spool: cannot read %s: %s", jdir, strerror(errno));
        return 0;
    }
    for (long i = 0; i < nf && rc == 1; i++) {
        unsigned char *b;
        size_t n;
        file_path(jdir, files[i], path, sizeof(path));
        if (read_file(path, &b, &n) < 0) {
            log_err("spool: cannot read %s: %s", path, strerror(errno));
            break;
        }
        rc = replay_buf(b, n, txn, msgs, after, &prev, &have_prev, applied);
        free(b);
        if (rc == 0 && i + 1 < nf)
            log_err("spool: journal %s ends in a torn or corrupt entry; later ones ignored", path);
    }
    free(files);
    if (have_prev && prev > after)
        *last = prev;
    return rc < 0 ? -rc : 0;
}

/* jnl_remove_all - unlink every journal file */
void
jnl_remove_all(const char *spooldir)
{
    char jdir[4096], path[4096 + 32];
    uint64_t *files;
    long nf;
    snprintf(jdir, sizeof(jdir), "%s/journal", spooldir);
    if ((nf = list_files(jdir, &files)) <= 0)
        return;
    for (long i = 0; i < nf; i++) {
        file_path(jdir, files[i], path, sizeof(path));
        unlink(path);
    }
    free(files);
}

static const char meta_key[] = "journal_applied";

/* jnl_meta_put - the highest applied sequence number, in txn */
int
jnl_meta_put(MDB_txn *txn, MDB_dbi meta, uint64_t seq)
{
    MDB_val key = {.mv_size = sizeof(meta_key) - 1, .mv_data = (void *)meta_key};
    MDB_val val = {.mv_size = sizeof(seq), .mv_data = &seq};
    return mdb_put(txn, meta, &key, &val, 0);
}

/* jnl_recover - replay, commit, unlink the journal */
int
jnl_recover(const char *spooldir, MDB_env *env, MDB_dbi msgs, MDB_dbi meta, uint64_t *next_seq,
            long *applied)
{
    MDB_val key = {.mv_size = sizeof(meta_key) - 1, .mv_data = (void *)meta_key}, val;
    MDB_txn *txn;
    uint64_t after = 0, last;
    int rc = mdb_txn_begin(env, NULL, 0, &txn);
    *applied = 0;
    if (rc != 0)
        return rc;
    rc = mdb_get(txn, meta, &key, &val);
    if (rc == 0 && val.mv_size == sizeof(after))
        memcpy(&after, val.mv_data, sizeof(after));
    else if (rc != 0 && rc != MDB_NOTFOUND)
        goto fail;
    if ((rc = jnl_replay(spooldir, txn, msgs, after, &last, applied)) != 0)
        goto fail;
    if (last > after && (rc = jnl_meta_put(txn, meta, last)) != 0)
        goto fail;
    if ((rc = mdb_txn_commit(txn)) != 0)
        return rc;
    jnl_remove_all(spooldir); /* only once the replayed states are committed */
    *next_seq = last + 1;
    return 0;
fail:
    mdb_txn_abort(txn);
    *applied = 0;
    return rc;
}
