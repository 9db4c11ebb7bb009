/*
 * sink_store.c - spate-sink: the stats file, the message body of a
 * transaction (in memory, then spilled) and the stored .eml/.env files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "sink.h"

static const char *const stat_names[ST_NFIELDS] = {
    "connections_total",
    "connections_now",
    "connections_max",
    "messages",
    "recipients",
    "max_messages_per_connection",
    "rcpt_tempfail",
    "rcpt_permfail",
    "messages_rejected",
    "tls_sessions",
    "tls_failed",
    "tls_resumed",
    "pipelining_violations",
};

/* json_str - append s as a JSON string to buf (bounded); returns new length */
static size_t
json_str(char *buf, size_t len, size_t cap, const char *s)
{
    if (len + 2 >= cap)
        return len;
    buf[len++] = '"';
    for (; *s && len + 8 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            buf[len++] = '\\';
            buf[len++] = (char)ch;
        } else if (ch < 0x20) {
            len += (size_t)snprintf(buf + len, cap - len, "\\u%04x", ch);
        } else {
            buf[len++] = (char)ch;
        }
    }
    buf[len++] = '"';
    buf[len] = '\0';
    return len;
}

/* counters_json - append one counters object to buf; returns new length */
static size_t
counters_json(char *buf, size_t len, size_t cap, struct counters *c)
{
    for (int f = 0; f < ST_NFIELDS && len < cap; f++)
        len += (size_t)snprintf(buf + len, cap - len, "%s\"%s\": %lu", f ? ", " : "", stat_names[f],
                                atomic_load(&c->v[f]));
    return len < cap ? len : cap - 1;
}

/* write_atomic - write buf to path via path.tmp and rename; 0 or -errno */
static int
write_atomic(const char *path, const char *buf, size_t len)
{
    char tmp[4200];
    if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
        return -ENAMETOOLONG;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    ssize_t n = write(fd, buf, len);
    int rc = n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc != 0)
        unlink(tmp);
    return rc;
}

/* stats_write - write the stats JSON to a temp file and rename it into place */
void
stats_write(void)
{
    size_t cap = 1024 + g.nlisteners * 800, len = 0;
    char *buf = xmalloc(cap);
    len += (size_t)snprintf(buf, cap, "{");
    len = counters_json(buf, len, cap, &g.c);
    len += (size_t)snprintf(buf + len, cap - len, ", \"by_local\": {");
    for (size_t i = 0; i < g.nlisteners; i++) {
        len += (size_t)snprintf(buf + len, cap - len, "%s", i ? ", " : "");
        len = json_str(buf, len, cap, g.listeners[i].name);
        len += (size_t)snprintf(buf + len, cap - len, ": {");
        len = counters_json(buf, len, cap, &g.listeners[i].c);
        len += (size_t)snprintf(buf + len, cap - len, "}");
    }
    len += (size_t)snprintf(buf + len, cap - len, "}}\n");
    int rc = write_atomic(g.statsfile, buf, strlen(buf));
    if (rc < 0 && !g.quiet)
        fprintf(stderr, "spate-sink: writing %s: %s\n", g.statsfile, strerror(-rc));
    free(buf);
}

/* tx_reset - forget the current transaction (envelope and body) */
void
tx_reset(struct conn *c)
{
    free(c->mail_from);
    c->mail_from = NULL;
    free(c->mail_params);
    c->mail_params = NULL;
    c->prdr_req = false;
    for (size_t i = 0; i < c->nrcpt; i++) {
        free(c->rcpts[i]);
        free(c->rcpt_params[i]);
    }
    c->nrcpt = 0;
    c->in_tx = c->datafail = c->slow = c->too_big = c->bdat_bad = c->via_bdat = false;
    c->body_size = 0;
    c->body_len = 0;
    if (c->spill_fd >= 0) {
        close(c->spill_fd);
        unlink(c->spill_name);
        c->spill_fd = -1;
    }
}

/* body_spill - move the in-memory body to the connection's spill file */
static int
body_spill(struct conn *c)
{
    if (c->spill_fd < 0) {
        int n = snprintf(c->spill_name, sizeof(c->spill_name), "%s/conn-%lu.tmp", g.dir, c->id);
        if (n < 0 || (size_t)n >= sizeof(c->spill_name))
            return -ENAMETOOLONG;
        c->spill_fd = open(c->spill_name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (c->spill_fd < 0)
            return -errno;
    }
    size_t off = 0;
    while (off < c->body_len) {
        ssize_t n = write(c->spill_fd, c->body + off, c->body_len - off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -EIO;
        off += (size_t)n;
    }
    c->body_len = 0;
    return 0;
}

/* body_append - add message bytes (already unstuffed) to the transaction */
void
body_append(struct conn *c, const char *p, size_t n)
{
    c->body_size += n;
    if (c->too_big)
        return;
    if (c->body_size > size_max()) {
        c->too_big = true;
        return;
    }
    if (!g.dir)
        return;
    if (!c->body)
        c->body = xmalloc(SPILL_CAP);
    while (n) {
        size_t k = SPILL_CAP - c->body_len;
        if (k > n)
            k = n;
        memcpy(c->body + c->body_len, p, k);
        c->body_len += k;
        p += k;
        n -= k;
        if (c->body_len == SPILL_CAP && body_spill(c) < 0)
            c->too_big = true; /* cannot store it: refuse at the end */
    }
}

/* json_str_or_null - append s as a JSON string, or null when empty */
static size_t
json_str_or_null(char *buf, size_t len, size_t cap, const char *s)
{
    if (*s)
        return json_str(buf, len, cap, s);
    len += (size_t)snprintf(buf + len, cap - len, "null");
    return len < cap ? len : cap - 1;
}

/* store_env_tls - append the "tls" member of the .env object */
static size_t
store_env_tls(struct conn *c, char *buf, size_t len, size_t cap)
{
    if (!c->tls_done) {
        len += (size_t)snprintf(buf + len, cap - len, ", \"tls\": null");
        return len < cap ? len : cap - 1;
    }
    len += (size_t)snprintf(buf + len, cap - len, ", \"tls\": {\"version\": ");
    len = json_str(buf, len, cap, c->tls_version);
    len += (size_t)snprintf(buf + len, cap - len, ", \"cipher\": ");
    len = json_str(buf, len, cap, c->tls_cipher);
    len += (size_t)snprintf(buf + len, cap - len, ", \"sni\": ");
    len = json_str_or_null(buf, len, cap, c->tls_sni);
    len += (size_t)snprintf(buf + len, cap - len, ", \"ocsp_requested\": %s, \"client_cert\": ",
                            c->ocsp_requested ? "true" : "false");
    len = json_str_or_null(buf, len, cap, c->tls_client);
    len += (size_t)snprintf(buf + len, cap - len, "}");
    return len < cap ? len : cap - 1;
}

/* store_env - write DIR/NNNNNNNN.env for an accepted message */
static int
store_env(struct conn *c, unsigned long seq)
{
    size_t cap = 4096 + c->nrcpt * 2400 + (c->mail_params ? strlen(c->mail_params) * 2 : 0),
           len = 0;
    char *buf = xmalloc(cap), path[4200];
    len += (size_t)snprintf(buf, cap, "{\"mail_from\": ");
    len = json_str(buf, len, cap, c->mail_from);
    len += (size_t)snprintf(buf + len, cap - len, ", \"rcpt_to\": [");
    for (size_t i = 0; i < c->nrcpt; i++) {
        len += (size_t)snprintf(buf + len, cap - len, "%s", i ? ", " : "");
        len = json_str(buf, len, cap, c->rcpts[i]);
    }
    len += (size_t)snprintf(buf + len, cap - len, "], \"mail_params\": ");
    len = json_str(buf, len, cap, c->mail_params ? c->mail_params : "");
    len += (size_t)snprintf(buf + len, cap - len, ", \"rcpt_params\": [");
    for (size_t i = 0; i < c->nrcpt; i++) {
        len += (size_t)snprintf(buf + len, cap - len, "%s", i ? ", " : "");
        len = json_str(buf, len, cap, c->rcpt_params[i]);
    }
    len += (size_t)snprintf(buf + len, cap - len, "], \"peer\": \"%s\", \"local\": \"%s\"", c->peer,
                            c->local);
    len += (size_t)snprintf(buf + len, cap - len, ", \"conn_id\": %lu, \"msg_in_conn\": %lu", c->id,
                            c->nmsg);
    len += (size_t)snprintf(buf + len, cap - len, ", \"transfer\": \"%s\"",
                            c->via_bdat ? "BDAT" : "DATA");
    len += (size_t)snprintf(buf + len, cap - len, ", \"helo\": ");
    len = json_str(buf, len, cap, c->helo);
    len = store_env_tls(c, buf, len, cap);
    len += (size_t)snprintf(buf + len, cap - len, "}\n");
    snprintf(path, sizeof(path), "%s/%08lu.env", g.dir, seq);
    int rc = write_atomic(path, buf, len);
    free(buf);
    return rc;
}

/* store_message - write DIR/NNNNNNNN.env and DIR/NNNNNNNN.eml */
int
store_message(struct conn *c, unsigned long seq)
{
    char path[4200];
    if (store_env(c, seq) < 0)
        return -EIO;
    if (body_spill(c) < 0) /* also creates the file for an empty or small body */
        return -EIO;
    int rc = close(c->spill_fd);
    c->spill_fd = -1;
    snprintf(path, sizeof(path), "%s/%08lu.eml", g.dir, seq);
    if (rc != 0 || rename(c->spill_name, path) != 0) {
        unlink(c->spill_name);
        return -EIO;
    }
    return 0;
}
