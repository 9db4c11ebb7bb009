/*
 * config_user.c - spate_user and spate_group (exim_user / exim_group):
 *                 the account spated runs as once its listeners are bound.
 *
 * A name or a number, looked up in the system's user and group databases
 * (getpwnam_r / getgrnam_r, so NSS applies) while the file is read: an
 * unknown name is a configuration error at start and with --check-config,
 * not a surprise at the drop. Without spate_group the user's login group is
 * used, whatever order the two options are written in.
 */
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/config_int.h"

/* lookup_buf_size - the buffer getpwnam_r / getgrnam_r want */
static size_t
lookup_buf_size(int name)
{
    long n = sysconf(name);
    return n > 0 ? (size_t)n : 16384;
}

/* find_user - the passwd entry of a name or a number; 0, or an errno / ENOENT */
static int
find_user(const char *v, uid_t *uid, gid_t *gid)
{
    struct passwd pw, *res = NULL;
    size_t n = lookup_buf_size(_SC_GETPW_R_SIZE_MAX);
    char *buf = malloc(n), *end;
    unsigned long num = strtoul(v, &end, 10);
    int rc;
    if (buf == NULL)
        abort();
    if (*v >= '0' && *v <= '9' && *end == '\0')
        rc = getpwuid_r((uid_t)num, &pw, buf, n, &res);
    else
        rc = getpwnam_r(v, &pw, buf, n, &res);
    if (rc == 0 && res == NULL)
        rc = ENOENT;
    if (rc == 0) {
        *uid = pw.pw_uid;
        *gid = pw.pw_gid;
    }
    free(buf);
    return rc;
}

/* find_group - the group entry of a name or a number; 0, or an errno / ENOENT */
static int
find_group(const char *v, gid_t *gid)
{
    struct group gr, *res = NULL;
    size_t n = lookup_buf_size(_SC_GETGR_R_SIZE_MAX);
    char *buf = malloc(n), *end;
    unsigned long num = strtoul(v, &end, 10);
    int rc;
    if (buf == NULL)
        abort();
    if (*v >= '0' && *v <= '9' && *end == '\0')
        rc = getgrgid_r((gid_t)num, &gr, buf, n, &res);
    else
        rc = getgrnam_r(v, &gr, buf, n, &res);
    if (rc == 0 && res == NULL)
        rc = ENOENT;
    if (rc == 0)
        *gid = gr.gr_gid;
    free(buf);
    return rc;
}

/* cfg_opt_run_user - spate_user: the name kept, its ids resolved */
int
cfg_opt_run_user(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    struct cfg_run_as *ra = CFG_AT(base, d->off, struct cfg_run_as);
    uid_t uid;
    gid_t gid;
    int rc;
    if (cfg_opt_str(p, d, base, val) < 0) /* stores the name in ra->user */
        return -1;
    if ((rc = find_user(ra->user, &uid, &gid)) != 0)
        return cfg_perr(p, "%s: unknown user \"%s\"%s%s", d->name, ra->user,
                        rc == ENOENT ? "" : ": ", rc == ENOENT ? "" : strerror(rc));
    if (uid == 0)
        return cfg_perr(p, "%s: \"%s\" is root: name an unprivileged account", d->name, ra->user);
    ra->uid = uid;
    ra->has_user = 1;
    if (!ra->has_group)
        ra->gid = gid;
    return 0;
}

/* cfg_opt_run_group - spate_group: overrides the user's login group */
int
cfg_opt_run_group(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    struct cfg_run_as *ra = CFG_AT(base, d->off, struct cfg_run_as);
    struct cfg_optdef name_at = *d;
    gid_t gid;
    int rc;
    name_at.off = d->off + offsetof(struct cfg_run_as, group);
    if (cfg_opt_str(p, &name_at, base, val) < 0)
        return -1;
    if ((rc = find_group(ra->group, &gid)) != 0)
        return cfg_perr(p, "%s: unknown group \"%s\"%s%s", d->name, ra->group,
                        rc == ENOENT ? "" : ": ", rc == ENOENT ? "" : strerror(rc));
    ra->gid = gid;
    ra->has_group = 1;
    return 0;
}
