/*
 * admin_requeue.c - POST /api/v1/admin/requeue {"directory": DIR}: bring
 *                   the spool exports a queuefile transport wrote (spool/
 *                   export.c, docs/spool-export.md) back into the queue.
 *
 * Every regular file of DIR whose name does not start with '.' is read and
 * decoded; its pending recipients are submitted to the spool under the
 * export's own id (final ones stay so: they are not submitted), and the
 * file is removed only once the spool's done callback has said the message
 * is durable, so each export is queued once. A file whose id is already in
 * the spool (a requeue that died between the commit and the unlink) is not
 * submitted again, only removed. A file that cannot be read or decoded, or
 * whose commit failed, is left in place and reported. One requeue runs at
 * a time; at most REQUEUE_MAX files per request (call again for more).
 *
 * Answer: 200 {"requeued": N, "skipped": N, "failed": [{"file": NAME,
 * "error": TEXT}], "more": BOOL}; 400 for a bad request body, 404 when DIR
 * cannot be opened, 503 while shutting down.
 *
 * Threads: runs on a libmicrohttpd polling thread, which it holds while the
 * spool commits (the done callbacks run on the spool writer thread).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "api/http_int.h"
#include "base/log.h"

#define REQUEUE_MAX 10000
#define REQUEUE_BODY_MAX 65536

/* The request between the access handler's calls. */
struct http_requeue {
    enum http_kind kind; /* HTTP_K_REQUEUE */
    char *buf;
    size_t len;
};

/* One export file being requeued. */
struct rq_file {
    char name[256];
    char id[SPOOL_ID_SIZE];
    int status; /* 1: waiting for the spool; 0 durable; -errno */
};

/* What one run waits on (the done callbacks count down). */
static struct {
    pthread_mutex_t run; /* one requeue at a time */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int waiting;
} rq = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};

/* rq_done - spool writer thread: a submission's outcome */
static void
rq_done(struct spool_submission *sub, int status, void *arg)
{
    struct rq_file *f = arg;
    (void)sub;
    pthread_mutex_lock(&rq.mu);
    f->status = status;
    rq.waiting--;
    pthread_cond_signal(&rq.cv);
    pthread_mutex_unlock(&rq.mu);
}

/* xdup - strdup that aborts on no memory (NULL stays NULL) */
static char *
xdup(const char *s)
{
    char *d = s ? strdup(s) : NULL;
    if (s != NULL && d == NULL)
        abort();
    return d;
}

/* rq_submission - the submission for x's pending recipients (NULL: none);
 * takes x's body */
static struct spool_submission *
rq_submission(struct spool_export *x, struct rq_file *f)
{
    struct spool_msg *m = x->msg;
    struct spool_submission *s = calloc(1, sizeof(*s));
    if (s == NULL || (s->rcpts = calloc(m->nrcpt, sizeof(char *))) == NULL ||
        (s->dsn_notify = calloc(m->nrcpt, 1)) == NULL ||
        (s->dsn_orcpt = calloc(m->nrcpt, sizeof(char *))) == NULL)
        abort();
    for (uint32_t i = 0; i < m->nrcpt; i++) {
        if (m->rcpt[i].state != SPOOL_RCPT_PENDING)
            continue;
        s->rcpts[s->nrcpt] = xdup(m->rcpt[i].address);
        s->dsn_notify[s->nrcpt] = m->rcpt[i].dsn_notify;
        s->dsn_orcpt[s->nrcpt++] = xdup(m->rcpt[i].dsn_orcpt);
    }
    memcpy(s->id, m->id, SPOOL_ID_SIZE);
    s->sender = xdup(m->sender);
    s->proto = xdup(m->proto), s->host = xdup(m->host), s->helo = xdup(m->helo);
    s->flags = m->flags;
    s->dsn_ret = m->dsn_ret;
    s->dsn_envid = xdup(m->dsn_envid);
    s->body = x->body, s->body_len = x->body_len;
    x->body = NULL;
    s->done = rq_done;
    s->arg = f;
    if (s->nrcpt == 0) {
        spool_submission_free(s);
        return NULL;
    }
    return s;
}

/* rq_read - the whole of dir/name into *buf; 0 or -errno */
static int
rq_read(int dfd, const char *name, char **buf, size_t *len)
{
    struct stat st;
    size_t got = 0;
    int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW), rc = 0;
    if (fd < 0)
        return -errno;
    if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return -EINVAL;
    }
    if ((*buf = malloc((size_t)st.st_size + 1)) == NULL)
        abort();
    while (got < (size_t)st.st_size && rc == 0) {
        ssize_t k = read(fd, *buf + got, (size_t)st.st_size - got);
        if (k < 0 && errno == EINTR)
            continue;
        rc = k < 0 ? -errno : k == 0 ? -EIO : 0;
        got += k > 0 ? (size_t)k : 0;
    }
    close(fd);
    *len = got;
    return rc;
}

/* rq_fail - report one file as left in place */
static void
rq_fail(json_t *failed, const char *name, const char *why)
{
    json_array_append_new(failed, json_pack("{s:s, s:s}", "file", name, "error", why));
    log_warn("requeue: %s left in place: %s", name, why);
}

/* rq_dup - is id already among files[0..n) submitted in this run? */
static int
rq_dup(const struct rq_file *files, size_t n, const char *id)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(files[i].id, id) == 0)
            return 1;
    return 0;
}

/* rq_submit_one - read, decode and submit files[n]; 1 submitted, 0 not */
static int
rq_submit_one(int dfd, struct rq_file *files, size_t n, json_t *failed, long *skipped)
{
    struct rq_file *f = &files[n];
    char *buf = NULL, err[200];
    size_t len = 0;
    struct spool_export x;
    struct spool_submission *sub;
    int rc = rq_read(dfd, f->name, &buf, &len), ex;
    if (rc < 0 || spool_export_decode(buf, len, &x, err, sizeof(err)) < 0) {
        rq_fail(failed, f->name, rc < 0 ? strerror(-rc) : err);
        free(buf);
        return 0;
    }
    free(buf);
    memcpy(f->id, x.msg->id, SPOOL_ID_SIZE);
    if (rq_dup(files, n, f->id)) { /* left for the next run, which will find it queued */
        rq_fail(failed, f->name, "another file of this run has the same id");
        spool_export_clear(&x);
        return 0;
    }
    if ((ex = spool_exists(http_spool, f->id)) != 0) { /* < 0: an error, left in place */
        if (ex > 0 && unlinkat(dfd, f->name, 0) == 0)
            (*skipped)++;
        else
            rq_fail(failed, f->name, ex > 0 ? strerror(errno) : strerror(-ex));
        spool_export_clear(&x);
        return 0;
    }
    if ((sub = rq_submission(&x, f)) == NULL) { /* nothing pending: nothing to queue */
        if (unlinkat(dfd, f->name, 0) == 0)
            (*skipped)++;
        spool_export_clear(&x);
        return 0;
    }
    spool_export_clear(&x);
    pthread_mutex_lock(&rq.mu);
    rq.waiting++;
    f->status = 1;
    pthread_mutex_unlock(&rq.mu);
    spool_submit(http_spool, sub);
    return 1;
}

/* rq_scan - submit every export of the directory; the count submitted */
static size_t
rq_scan(DIR *d, struct rq_file *files, json_t *failed, long *skipped, int *more)
{
    struct dirent *de;
    size_t n = 0;
    while ((de = readdir(d)) != NULL) {
        struct rq_file *f = &files[n];
        if (de->d_name[0] == '.' || strlen(de->d_name) >= sizeof(f->name))
            continue;
        if (n == REQUEUE_MAX) {
            *more = 1;
            break;
        }
        memset(f, 0, sizeof(*f));
        memcpy(f->name, de->d_name, strlen(de->d_name) + 1);
        if (rq_submit_one(dirfd(d), files, n, failed, skipped) == 1)
            n++;
    }
    return n;
}

/* rq_finish - wait for the spool, then remove each durable file */
static long
rq_finish(DIR *d, struct rq_file *files, size_t n, json_t *failed)
{
    long done = 0;
    pthread_mutex_lock(&rq.mu);
    while (rq.waiting > 0)
        pthread_cond_wait(&rq.cv, &rq.mu);
    pthread_mutex_unlock(&rq.mu);
    for (size_t i = 0; i < n; i++) {
        if (files[i].status != 0) {
            rq_fail(failed, files[i].name, strerror(-files[i].status));
            continue;
        }
        if (unlinkat(dirfd(d), files[i].name, 0) < 0)
            log_warn("requeue: cannot remove %s: %s", files[i].name, strerror(errno));
        log_info("%s <= requeued from %s", files[i].id, files[i].name);
        done++;
    }
    fsync(dirfd(d)); /* the removals: a rerun would only skip them */
    return done;
}

/* requeue_dir - the whole run over dir; the JSON answer, or NULL (errno) */
static json_t *
requeue_dir(const char *dir)
{
    DIR *d = opendir(dir);
    struct rq_file *files;
    json_t *failed = json_array();
    long skipped = 0, done;
    int more = 0;
    size_t n;
    if (d == NULL) {
        json_decref(failed);
        return NULL;
    }
    if ((files = calloc(REQUEUE_MAX, sizeof(*files))) == NULL)
        abort();
    pthread_mutex_lock(&rq.run);
    n = rq_scan(d, files, failed, &skipped, &more);
    done = rq_finish(d, files, n, failed);
    pthread_mutex_unlock(&rq.run);
    closedir(d);
    free(files);
    return json_pack("{s:I, s:I, s:o, s:b}", "requeued", (json_int_t)done, "skipped",
                     (json_int_t)skipped, "failed", failed, "more", more);
}

/* http_requeue_run - the request is complete: parse it and run */
static enum MHD_Result
http_requeue_run(struct MHD_Connection *c, struct http_requeue *r)
{
    json_error_t je;
    json_t *req = json_loadb(r->buf ? r->buf : "", r->len, 0, &je), *ans;
    const char *dir = json_string_value(json_object_get(req, "directory"));
    enum MHD_Result ret;
    if (dir == NULL || dir[0] != '/') {
        json_decref(req);
        return http_error(c, MHD_HTTP_BAD_REQUEST, "expected {\"directory\": \"/absolute/path\"}",
                          "directory");
    }
    if (atomic_load(&http_stopping)) {
        json_decref(req);
        return http_error(c, MHD_HTTP_SERVICE_UNAVAILABLE, "shutting down", NULL);
    }
    ans = requeue_dir(dir);
    if (ans == NULL)
        ret = http_error(c, MHD_HTTP_NOT_FOUND, strerror(errno), "directory");
    else
        ret = http_reply_json(c, MHD_HTTP_OK, ans);
    json_decref(req);
    return ret;
}

/* http_requeue_step - see http_int.h */
enum MHD_Result
http_requeue_step(struct MHD_Connection *c, const char *method, const char *data, size_t *size,
                  void **con_cls)
{
    struct http_requeue *r = *con_cls;
    if (r == NULL) {
        char who[160];
        const char *why = NULL;
        unsigned status = 0;
        if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
            return http_not_allowed(c, "POST");
        /* the admin API's access rule: loopback, or a bearer token of admin scope */
        if (http_admin_access(c, method, "/api/v1/admin/requeue", who, sizeof(who), &why,
                              &status) == HTTP_ADMIN_NONE) {
            struct http_hdr h = {MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer"};
            return status == MHD_HTTP_UNAUTHORIZED ? http_error_hdr(c, status, why, NULL, &h)
                                                   : http_error(c, status, why, NULL);
        }
        if ((r = calloc(1, sizeof(*r))) == NULL)
            return MHD_NO;
        r->kind = HTTP_K_REQUEUE;
        *con_cls = r;
        return MHD_YES;
    }
    if (*size > 0) {
        if (r->len + *size > REQUEUE_BODY_MAX)
            return http_error(c, MHD_HTTP_CONTENT_TOO_LARGE, "request body too large", NULL);
        if ((r->buf = realloc(r->buf, r->len + *size)) == NULL)
            abort();
        memcpy(r->buf + r->len, data, *size);
        r->len += *size;
        *size = 0;
        return MHD_YES;
    }
    return http_requeue_run(c, r);
}

/* http_requeue_done - see http_int.h */
void
http_requeue_done(void *con_cls)
{
    struct http_requeue *r = con_cls;
    free(r->buf);
    free(r);
}
