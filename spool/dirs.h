/*
 * dirs.h - the spool's folders (private to spool/).
 */
#ifndef SPATE_SPOOL_DIRS_H
#define SPATE_SPOOL_DIRS_H

/* spool_mkdir_p - create dir and its parents; 0 or -errno */
int spool_mkdir_p(const char *dir);
/* spool_dir_usable - 0 if dir is a directory this process may list and enter, and
 * with write also create files in, else -errno */
int spool_dir_usable(const char *dir, int write);

#endif
