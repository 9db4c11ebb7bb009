/*
 * privs.c - giving up root after the listeners are bound. See privs.h.
 */
#include "cmd/privs.h"

#include <errno.h>
#include <ftw.h>
#include <grp.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* privs_active - spate_user set and running as root */
int
privs_active(const struct cfg *c)
{
    return c->run_as.has_user && geteuid() == 0;
}

/* make_dirs - create the missing folders of dir, each owned by uid:gid */
static int
make_dirs(const char *dir, uid_t uid, gid_t gid)
{
    char tmp[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(tmp))
        return -ENAMETOOLONG;
    memcpy(tmp, dir, n + 1);
    for (char *p = tmp + 1;; p++) {
        char c = *p;
        if (c != '/' && c != '\0')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0750) == 0) {
            if (chown(tmp, uid, gid) < 0)
                return -errno;
        } else if (errno != EEXIST)
            return -errno;
        *p = c;
        if (c == '\0')
            return 0;
    }
}

/* what the nftw callback compares against, and the first stranger it met */
static uid_t walk_uid;
static char walk_bad[4096];
static uid_t walk_bad_uid;

/* check_owner - nftw: stop at the first entry walk_uid does not own */
static int
check_owner(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)flag;
    (void)ftw;
    if (st->st_uid == walk_uid)
        return 0;
    snprintf(walk_bad, sizeof(walk_bad), "%s", path);
    walk_bad_uid = st->st_uid;
    return 1;
}

/* privs_check_spool - the spool must be the account's, every file in it */
int
privs_check_spool(const struct cfg *c, char *err, size_t errlen)
{
    const struct cfg_run_as *ra = &c->run_as;
    const char *dir = c->spool_directory;
    int rc;
    if (!privs_active(c))
        return 0;
    if ((rc = make_dirs(dir, ra->uid, ra->gid)) < 0) {
        snprintf(err, errlen, "cannot create spool_directory %s: %s", dir, strerror(-rc));
        return -1;
    }
    walk_uid = ra->uid;
    rc = nftw(dir, check_owner, 16, FTW_PHYS | FTW_MOUNT);
    if (rc < 0) {
        snprintf(err, errlen, "cannot read spool_directory %s: %s", dir, strerror(errno));
        return -1;
    }
    if (rc > 0) {
        snprintf(err, errlen,
                 "spool_directory: %s belongs to uid %u, not to spate_user %s (uid %u); "
                 "spated runs as %s after start: chown -R %u:%u %s",
                 walk_bad, (unsigned)walk_bad_uid, ra->user, (unsigned)ra->uid, ra->user,
                 (unsigned)ra->uid, (unsigned)ra->gid, dir);
        return -1;
    }
    return 0;
}

/* privs_assume - effective gid, then effective uid (the other way round
 * the gid could no longer be changed) */
int
privs_assume(const struct cfg *c, char *err, size_t errlen)
{
    if (!privs_active(c))
        return 0;
    if (setegid(c->run_as.gid) < 0 || seteuid(c->run_as.uid) < 0) {
        snprintf(err, errlen, "cannot act as %s: %s", c->run_as.user, strerror(errno));
        return -1;
    }
    return 0;
}

/* privs_resume - effective uid 0 first, then the gid */
int
privs_resume(const struct cfg *c, char *err, size_t errlen)
{
    if (!c->run_as.has_user || getuid() != 0)
        return 0;
    if (seteuid(0) < 0 || setegid(0) < 0) {
        snprintf(err, errlen, "cannot take root back: %s", strerror(errno));
        return -1;
    }
    return 0;
}

/* privs_drop - groups, gid, uid; then prove root is gone */
int
privs_drop(const struct cfg *c, char *err, size_t errlen)
{
    const struct cfg_run_as *ra = &c->run_as;
    gid_t g = ra->gid;
    if (!privs_active(c))
        return 0;
    if (setgroups(1, &g) < 0 || setresgid(g, g, g) < 0 ||
        setresuid(ra->uid, ra->uid, ra->uid) < 0) {
        snprintf(err, errlen, "cannot become %s (uid %u, gid %u): %s", ra->user, (unsigned)ra->uid,
                 (unsigned)g, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0 || geteuid() == 0 || getuid() == 0 || getegid() != g) {
        snprintf(err, errlen, "still able to act as root after becoming %s: refusing to run",
                 ra->user);
        return -1;
    }
    return 0;
}
