/*
 * fuzz_spool.c - libFuzzer target for what the spool reads back from disk:
 *                the message record decoder (spool_msg_decode) and the
 *                recipient-state journal replayed by spool_recover.
 *
 * 1. The input as a record: when it decodes, encoding the result and
 *    decoding that again must give the same encoding (a stable format).
 * 2. The input as a journal: entries are built from it (kind, recipient
 *    states, sequence gaps, whether the id is the one record's), with valid
 *    checksums, then its remaining octets as a torn or corrupt tail, and the
 *    journal is replayed onto a spool holding one message of 2 recipients.
 *    The record must then be gone exactly when a removal of its id came
 *    before the first gap; otherwise it must still decode with 2
 *    recipients. A copy of the spool made once is restored for each input.
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/log.h"
#include "spool/spool.h"

#define HDR_LEN (4 + 8 + 1 + SPOOL_ID_LEN + 4)
#define RCPT_LEN (1 + 2 + 8 + 8 + 4)

static char dir[64], the_id[SPOOL_ID_SIZE];
static unsigned char *tmpl;
static size_t tmpl_len;

/* fnv64 - FNV-1a 64, as the journal's checksum */
static uint64_t
fnv64(const unsigned char *p, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* record_roundtrip - part 1 */
static void
record_roundtrip(const uint8_t *data, size_t size)
{
    struct spool_msg *m = spool_msg_decode(data, size), *m2;
    size_t l1, l2;
    void *e1, *e2;
    if (m == NULL)
        return;
    e1 = spool_msg_encode(m, &l1);
    m2 = spool_msg_decode(e1, l1);
    if (m2 == NULL)
        abort(); /* what the encoder wrote must decode */
    e2 = spool_msg_encode(m2, &l2);
    if (l1 != l2 || memcmp(e1, e2, l1) != 0)
        abort();
    free(e1);
    free(e2);
    spool_msg_free(m);
    spool_msg_free(m2);
}

/* slurp / spill - a whole file in and out */
static unsigned char *
slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b = NULL;
    long n;
    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET))
        abort();
    if ((b = malloc((size_t)n + 1)) == NULL || fread(b, 1, (size_t)n, f) != (size_t)n)
        abort();
    fclose(f);
    *len = (size_t)n;
    return b;
}

static void
spill(const char *path, const unsigned char *b, size_t n)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, b, n) != (ssize_t)n)
        abort();
    close(fd);
}

struct waiter {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int done;
};

static void
on_done(struct spool_submission *sub, int status, void *arg)
{
    struct waiter *w = arg;
    (void)sub;
    if (status != 0)
        abort();
    pthread_mutex_lock(&w->mu);
    w->done = 1;
    pthread_cond_signal(&w->cv);
    pthread_mutex_unlock(&w->mu);
}

static void
on_commit(struct spool_msg *m, void *arg)
{
    (void)arg;
    spool_msg_free(m);
}

/* setup - once: a spool holding one message with 2 recipients; its LMDB
 * data file is kept as the template */
static void
setup(void)
{
    char err[256], path[128];
    struct waiter w = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0};
    struct spool_submission *sub = calloc(1, sizeof(*sub));
    spool *sp;
    log_set_level(LOG_ERR + 1);
    snprintf(dir, sizeof(dir), "/tmp/fuzz_spool.%d", (int)getpid());
    if ((sp = spool_open(dir, err, sizeof(err))) == NULL || sub == NULL ||
        spool_start(sp, on_commit, NULL, 16) != 0)
        abort();
    spool_new_id(sp, sub->id);
    memcpy(the_id, sub->id, sizeof(the_id));
    sub->sender = strdup("s@example.org");
    sub->rcpts = calloc(2, sizeof(char *));
    sub->rcpts[0] = strdup("a@example.org");
    sub->rcpts[1] = strdup("b@example.org");
    sub->nrcpt = 2;
    sub->body = strdup("Subject: x\r\n\r\nx\r\n");
    sub->body_len = strlen(sub->body);
    sub->done = on_done;
    sub->arg = &w;
    spool_submit(sp, sub);
    pthread_mutex_lock(&w.mu);
    while (!w.done)
        pthread_cond_wait(&w.cv, &w.mu);
    pthread_mutex_unlock(&w.mu);
    spool_close(sp);
    snprintf(path, sizeof(path), "%s/db/data.mdb", dir);
    tmpl = slurp(path, &tmpl_len);
}

/* clear_journal - unlink every file of <dir>/journal */
static void
clear_journal(void)
{
    char jdir[96], path[512];
    DIR *d;
    struct dirent *e;
    snprintf(jdir, sizeof(jdir), "%s/journal", dir);
    mkdir(jdir, 0700);
    if ((d = opendir(jdir)) == NULL)
        abort();
    while ((e = readdir(d)) != NULL)
        if (e->d_name[0] != '.') {
            snprintf(path, sizeof(path), "%s/%s", jdir, e->d_name);
            unlink(path);
        }
    closedir(d);
}

/* build_journal - entries from data (see the opening comment); *removed:
 * a removal of the record's id came before the first gap */
static size_t
build_journal(const uint8_t *data, size_t size, unsigned char *out, int *removed)
{
    size_t o = 0, i = 0;
    uint64_t seq = 1;
    int gap = 0;
    *removed = 0;
    while (i + 2 <= size && o + HDR_LEN + 3 * RCPT_LEN + 8 <= 65536) {
        uint8_t flags = data[i], nr = (uint8_t)(data[i + 1] % 4);
        uint32_t len, n32 = nr;
        i += 2;
        if ((flags & 0x80) != 0)
            break; /* the rest is the raw tail */
        if ((flags & 0x08) != 0) {
            seq += 2; /* a gap: replay stops before this entry (not the first) */
            gap |= o > 0;
        }
        if (flags & 0x01)
            nr = n32 = 0; /* a removal carries no recipients */
        len = HDR_LEN + (uint32_t)nr * RCPT_LEN + 8;
        memcpy(out + o, &len, 4);
        memcpy(out + o + 4, &seq, 8);
        out[o + 12] = (flags & 0x01) ? 2 : 1;
        memcpy(out + o + 13, the_id, SPOOL_ID_LEN);
        if (flags & 0x02)
            out[o + 13] ^= 0x20; /* another id */
        memcpy(out + o + 13 + SPOOL_ID_LEN, &n32, 4);
        for (size_t k = 0; k < (size_t)nr * RCPT_LEN; k++)
            out[o + HDR_LEN + k] = i < size ? data[i++] : 0;
        {
            uint64_t sum = fnv64(out + o, len - 8);
            memcpy(out + o + len - 8, &sum, 8);
        }
        if ((flags & 0x03) == 0x01 && !gap)
            *removed = 1;
        o += len;
        seq++;
    }
    while (i < size && o < 65536 + 1024)
        out[o++] = data[i++];
    return o;
}

/* journal_replay - part 2 */
static void
journal_replay(const uint8_t *data, size_t size)
{
    static unsigned char jbuf[65536 + 2048];
    char path[128], err[256];
    int removed;
    long n;
    spool *sp;
    size_t jl = build_journal(data, size, jbuf, &removed);
    snprintf(path, sizeof(path), "%s/db/data.mdb", dir);
    spill(path, tmpl, tmpl_len);
    clear_journal();
    snprintf(path, sizeof(path), "%s/journal/0000000000000001.jnl", dir);
    spill(path, jbuf, jl);
    if ((sp = spool_open(dir, err, sizeof(err))) == NULL)
        abort();
    n = spool_recover(sp, on_commit, NULL);
    spool_close(sp);
    if (n != (removed ? 0 : 1))
        abort(); /* the record survived a removal, or vanished without one */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (tmpl == NULL)
        setup();
    record_roundtrip(data, size);
    journal_replay(data, size);
    return 0;
}
