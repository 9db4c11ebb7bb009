/*
 * admin_hold.c - what the scheduler's files call in the admin code
 *                (admin_int.h, "Hooks"): it calls nothing of theirs, so the
 *                scheduler does not depend on the admin files above it. A
 *                message being deleted is finished through admin_delete_hook,
 *                which admin_act.c sets before it marks the first one, and a
 *                listing drops a freed message through admin_list_hook,
 *                which admin_list.c sets before its first walk.
 *                Scheduler thread only.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/address.h"
#include "engine/admin_int.h"

struct adm_job *admin_active;                  /* walks in progress */
void (*admin_delete_hook)(struct eng_qmsg *q); /* admin_act.c's delete_apply */
void (*admin_list_hook)(struct adm_job *a, const struct eng_qmsg *q); /* admin_list_forget */

/* admin_forget - q goes away: walks step past it, listings drop it; its
 * rebinds go */
void
admin_forget(struct eng_qmsg *q)
{
    admin_rebind_clear(q);
    for (struct adm_job *a = admin_active; a != NULL; a = a->next_active) {
        if (a->cur == q)
            a->cur = q->next;
        if (a->nkeep > 0 && admin_list_hook != NULL)
            admin_list_hook(a, q);
    }
}

/* admin_sched_hook - qmsg_schedule's first step: a message being deleted
 * is finished here instead (1: do not go on, q may be gone) */
int
admin_sched_hook(struct eng_qmsg *q)
{
    if (!(q->admin & ADMIN_Q_DELETE) || admin_delete_hook == NULL)
        return 0;
    admin_delete_hook(q);
    return 1;
}

/* admin_held - recipient i of q is held: its message frozen, or its domain suspended */
int
admin_held(const struct eng_qmsg *q, uint32_t i)
{
    if (q->admin & ADMIN_Q_FROZEN)
        return 1;
    if (admin_susp_count() == 0)
        return 0;
    return admin_susp_find(addr_domain(q->m->rcpt[i].address), (int64_t)time(NULL)) >= 0;
}
