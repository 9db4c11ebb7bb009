/*
 * admin_list.c - one page of the queue listing (eng_admin_list) kept in
 *                bounded space while the walk runs. Scheduler thread only.
 *
 * The walk visits the whole queue (sch.qhead is not in id order), but a
 * page only needs the limit + 1 smallest matching ids after the cursor.
 * They are kept as message pointers in a max-heap on the id, so most
 * messages are turned away by one strcmp against the largest id kept
 * (admin_list_wants, before any filter runs), and the JSON is built for the
 * kept ones only, when the walk ends.
 *
 * A kept message freed between slices leaves the heap (admin_list_forget).
 * Then a page may come out shorter than limit: "bound" is the smallest id
 * ever turned away or evicted while the heap was full, so every matching id
 * below it that was visited is in the heap or was freed, and nothing at or
 * past it may enter later. The page then ends at the largest id it kept or
 * lost, and the next page starts after that.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/admin_int.h"

/* qid - q's id */
static const char *
qid(const struct eng_qmsg *q)
{
    return q->m->id;
}

/* keep_less - heap order: x's id sorts before y's */
static int
keep_less(const struct eng_qmsg *x, const struct eng_qmsg *y)
{
    return strcmp(qid(x), qid(y)) < 0;
}

/* sift_up - restore the max-heap from slot i towards the root */
static void
sift_up(struct eng_qmsg **h, size_t i)
{
    while (i > 0 && keep_less(h[(i - 1) / 2], h[i])) {
        struct eng_qmsg *t = h[i];
        h[i] = h[(i - 1) / 2];
        h[(i - 1) / 2] = t;
        i = (i - 1) / 2;
    }
}

/* sift_down - restore the max-heap of n from slot i towards the leaves */
static void
sift_down(struct eng_qmsg **h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, big = i;
        struct eng_qmsg *t;
        if (l < n && keep_less(h[big], h[l]))
            big = l;
        if (r < n && keep_less(h[big], h[r]))
            big = r;
        if (big == i)
            return;
        t = h[i];
        h[i] = h[big];
        h[big] = t;
        i = big;
    }
}

/* lower_bound - bound becomes id when id sorts before it */
static void
lower_bound(struct adm_job *a, const char *id)
{
    if (a->bound[0] == '\0' || strcmp(id, a->bound) < 0)
        snprintf(a->bound, sizeof(a->bound), "%s", id);
}

/* admin_list_init - room for the limit + 1 messages a page keeps */
void
admin_list_init(struct adm_job *a)
{
    admin_list_hook = admin_list_forget; /* admin_forget calls it: see admin_hold.c */
    a->capkeep = a->limit + 1;
    if ((a->keep = calloc(a->capkeep, sizeof(*a->keep))) == NULL)
        abort();
}

/* admin_list_wants - can q still make the page? (before the filters) */
int
admin_list_wants(struct adm_job *a, const struct eng_qmsg *q)
{
    const char *id = qid(q);

    if (a->cursor != NULL && strcmp(id, a->cursor) <= 0)
        return 0;
    if (a->bound[0] != '\0' && strcmp(id, a->bound) >= 0)
        return 0;
    if (a->nkeep == a->capkeep && strcmp(id, qid(a->keep[0])) > 0) {
        lower_bound(a, id);
        return 0;
    }
    return 1;
}

/* admin_list_keep - q matched: keep it, evicting the largest id when full */
void
admin_list_keep(struct adm_job *a, struct eng_qmsg *q)
{
    if (a->nkeep == a->capkeep) {
        lower_bound(a, qid(a->keep[0]));
        a->keep[0] = q;
        sift_down(a->keep, a->nkeep, 0);
        return;
    }
    a->keep[a->nkeep] = q;
    sift_up(a->keep, a->nkeep++);
}

/* admin_list_forget - q goes away: it leaves a's page */
void
admin_list_forget(struct adm_job *a, const struct eng_qmsg *q)
{
    for (size_t i = 0; i < a->nkeep; i++) {
        if (a->keep[i] != q)
            continue;
        if (a->lost[0] == '\0' || strcmp(qid(q), a->lost) > 0)
            snprintf(a->lost, sizeof(a->lost), "%s", qid(q));
        a->keep[i] = a->keep[--a->nkeep];
        if (i < a->nkeep) {
            sift_down(a->keep, a->nkeep, i);
            sift_up(a->keep, i);
        }
        return;
    }
}

/* by_id - qsort over message pointers, ascending id */
static int
by_id(const void *x, const void *y)
{
    return strcmp(qid(*(struct eng_qmsg *const *)x), qid(*(struct eng_qmsg *const *)y));
}

/* page_cursor - the next page's cursor, or NULL when the listing is over */
static const char *
page_cursor(const struct adm_job *a, size_t shown)
{
    const char *last = shown ? qid(a->keep[shown - 1]) : NULL;

    if (a->nkeep > a->limit)
        return last;
    if (a->bound[0] == '\0')
        return NULL; /* nothing was turned away: this is the end */
    if (a->lost[0] != '\0' && (last == NULL || strcmp(a->lost, last) > 0))
        return a->lost;
    return last;
}

/* admin_list_finish - {"messages": [...], "next_cursor": ...} into a->text */
void
admin_list_finish(struct adm_job *a)
{
    size_t shown = a->nkeep > a->limit ? a->limit : a->nkeep;
    json_t *msgs = json_array(), *page;
    const char *next;

    if (msgs == NULL)
        abort();
    qsort(a->keep, a->nkeep, sizeof(*a->keep), by_id);
    for (size_t i = 0; i < shown; i++) {
        json_t *o = admin_msg_json(a->keep[i], 0);
        if (o != NULL)
            json_array_append_new(msgs, o);
    }
    next = page_cursor(a, shown);
    page = json_pack("{s:o, s:o}", "messages", msgs, "next_cursor",
                     next ? json_string(next) : json_null());
    a->text = page ? json_dumps(page, JSON_COMPACT) : NULL;
    json_decref(page);
    a->nkeep = 0; /* the heap is no longer in order */
}
