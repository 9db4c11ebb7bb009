/*
 * spatectl_progress.c - an admin action's progress as spatectl shows it
 *                       while it waits for the answer (spatectl.h,
 *                       docs/admin-api.md): its entry picked out of
 *                       GET /api/v1/admin/actions, and the line printed.
 *                       No I/O here.
 */
#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cmd/spatectl.h"

/* prog_matches - is entry a p's action (before its id is known)? */
static int
prog_matches(const struct ctl_prog *p, json_t *entry)
{
    const char *op = json_string_value(json_object_get(entry, "op"));
    const char *dom = json_string_value(json_object_get(entry, "domain"));
    const char *sel = json_string_value(json_object_get(entry, "selector"));

    if (op == NULL || strcmp(op, p->op) != 0)
        return 0;
    if (p->domain != NULL)
        return dom != NULL && strcmp(dom, p->domain) == 0;
    return dom == NULL && sel != NULL && p->id0 != NULL && strncmp(sel, "ids=", 4) == 0 &&
           strncmp(sel + 4, p->id0, strlen(p->id0)) == 0;
}

/* prog_take - entry's counts and selector into p */
static void
prog_take(struct ctl_prog *p, json_t *entry)
{
    const char *sel = json_string_value(json_object_get(entry, "selector"));
    size_t n = sizeof(p->selector) - 1;

    p->id = (long long)json_integer_value(json_object_get(entry, "id"));
    p->visited = (long)json_integer_value(json_object_get(entry, "visited"));
    p->queued = (long)json_integer_value(json_object_get(entry, "queued"));
    p->affected = (long)json_integer_value(json_object_get(entry, "affected"));
    snprintf(p->selector, sizeof(p->selector), "%s", sel ? sel : "?");
    if (sel != NULL && strlen(sel) > n)
        memcpy(p->selector + n - 3, "...", 3);
    for (char *c = p->selector; *c; c++)
        if ((unsigned char)*c < 0x20 || *c == 0x7f)
            *c = '?';
}

/* ctl_prog_pick - find p's action in the answer; 1 and p updated, or 0 */
int
ctl_prog_pick(struct ctl_prog *p, json_t *answer)
{
    json_t *e, *best = NULL;
    size_t i;

    json_array_foreach(json_object_get(answer, "actions"), i, e)
    {
        long long id = (long long)json_integer_value(json_object_get(e, "id"));
        if (p->id != 0 ? id == p->id
                       : prog_matches(p, e) &&
                             (best == NULL ||
                              id > (long long)json_integer_value(json_object_get(best, "id"))))
            best = e;
    }
    if (best == NULL)
        return 0;
    prog_take(p, best);
    return 1;
}

/* ctl_prog_line - "OP SELECTOR: V/Q messages visited, A affected, S s" */
void
ctl_prog_line(const struct ctl_prog *p, long secs, char *buf, size_t len)
{
    snprintf(buf, len, "%s %s: %ld/%ld messages visited, %ld affected, %ld s", p->op, p->selector,
             p->visited, p->queued, p->affected, secs);
}
