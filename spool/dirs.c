/*
 * dirs.c - the spool's folders: creating them, checking them. See dirs.h.
 */
#include "spool/dirs.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* spool_mkdir_p - create dir and its parents */
int
spool_mkdir_p(const char *dir)
{
    char tmp[4096];
    size_t n = strlen(dir);
    if (n == 0 || n >= sizeof(tmp))
        return -ENAMETOOLONG;
    memcpy(tmp, dir, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
            return -errno;
        *p = '/';
    }
    if (mkdir(tmp, 0750) < 0 && errno != EEXIST)
        return -errno;
    return 0;
}

/* spool_dir_usable - 0 if dir is a directory this process may list and enter, and
 * with write also create files in (a read-only file system refuses even
 * root), else -errno */
int
spool_dir_usable(const char *dir, int write)
{
    struct stat st;
    if (stat(dir, &st) < 0)
        return -errno;
    if (!S_ISDIR(st.st_mode))
        return -ENOTDIR;
    if (access(dir, R_OK | X_OK | (write ? W_OK : 0)) < 0)
        return -errno;
    return 0;
}
