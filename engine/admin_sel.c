/*
 * admin_sel.c - which messages, recipients and waiting jobs an admin
 *               request selects, and taking selected jobs back from the
 *               ready queues. Scheduler thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "conf/address.h"
#include "engine/admin_int.h"

/* admin_cmp_str - qsort/bsearch over char * */
int
admin_cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* ---- matching ------------------------------------------------------- */

/* rcpt_in_domain - is recipient i of q in a's domain? */
static int
rcpt_in_domain(const struct adm_job *a, const struct eng_qmsg *q, uint32_t i)
{
    return strcasecmp(addr_domain(q->m->rcpt[i].address), a->domain) == 0;
}

/* id_selected - is q among a's ids? */
static int
id_selected(const struct adm_job *a, const struct eng_qmsg *q)
{
    const char *id = q->m->id;

    return bsearch(&id, a->ids, a->nids, sizeof(char *), admin_cmp_str) != NULL;
}

/* sender_match - the sender filter: the address, or "@domain" */
static int
sender_match(const struct adm_job *a, const struct eng_qmsg *q)
{
    if (a->sender[0] == '@')
        return strcasecmp(addr_domain(q->m->sender), a->sender + 1) == 0 &&
               strchr(q->m->sender, '@') != NULL;
    return strcasecmp(q->m->sender, a->sender) == 0;
}

/* list_filters - a listing's filters past the selection */
static int
list_filters(const struct adm_job *a, const struct eng_qmsg *q)
{
    if (a->sender != NULL && !sender_match(a, q))
        return 0;
    if (a->older_than_s > 0 && a->now - q->m->arrival_us / 1000000 < a->older_than_s)
        return 0;
    return a->state == ENG_ADMIN_ANY || admin_msg_state(q, a->now) == a->state;
}

/* adm_match - does q fall under a's selection (and, listing, its filters)?
 * A listing page first asks admin_list_wants: most messages stop there */
int
adm_match(struct adm_job *a, const struct eng_qmsg *q)
{
    int hit = a->domain == NULL;

    if (a->keep != NULL && !admin_list_wants(a, q))
        return 0;
    if (a->nids > 0 && !id_selected(a, q))
        return 0;
    for (uint32_t i = 0; !hit && i < q->m->nrcpt; i++)
        hit = rcpt_in_domain(a, q, i) &&
              (a->op == ENG_ADMIN_LIST || q->m->rcpt[i].state == SPOOL_RCPT_PENDING);
    if (!hit || a->op != ENG_ADMIN_LIST)
        return hit;
    return list_filters(a, q);
}

/* rcpt_selected - recipient i of q is one a acts on: pending, not lent,
 * and in a's domain when it has one */
int
rcpt_selected(const struct adm_job *a, const struct eng_qmsg *q, uint32_t i)
{
    return q->m->rcpt[i].state == SPOOL_RCPT_PENDING && !q->busy[i] &&
           (a->domain == NULL || rcpt_in_domain(a, q, i));
}

/* job_selected - does waiting job j hold a message or recipient a acts on? */
static int
job_selected(const struct adm_job *a, const struct eng_job *j)
{
    if (a->nids > 0)
        return id_selected(a, j->q);
    for (size_t k = 0; k < j->n; k++)
        if (rcpt_in_domain(a, j->q, j->ridx[k]))
            return 1;
    return 0;
}

/* ---- taking jobs back from the ready queues ------------------------- */

/* dest_take_back - unlink the waiting jobs of d that a selects; their
 * recipients are no longer busy (the walk then acts on their messages) */
static void
dest_take_back(const struct adm_job *a, struct eng_dest *d)
{
    struct eng_job **pp = &d->ready_head, *j;

    d->ready_tail = &d->ready_head;
    while ((j = *pp) != NULL) {
        if (!job_selected(a, j)) {
            pp = &j->next;
            d->ready_tail = pp;
            continue;
        }
        *pp = j->next;
        d->nready--;
        job_release_rcpts(j);
        job_free(j);
    }
}

/* take_back_all - dest_take_back over every destination */
void
take_back_all(const struct adm_job *a)
{
    for (size_t b = 0; b < DEST_BUCKETS; b++)
        for (struct eng_dest *d = sch.dests[b]; d; d = d->hnext)
            dest_take_back(a, d);
}
