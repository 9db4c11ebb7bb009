/*
 * privs.h - spated's privileges: started as root, it keeps root only while
 *           it binds its listeners and reads its key files, then runs as
 *           spate_user / spate_group (conf/config.h, struct cfg_run_as).
 *
 * The order spated follows (cmd/spated.c):
 *   1. privs_check_spool: the spool directory must belong to the account
 *      (created for it when missing); a file in it that the account does not
 *      own is an error naming the file and the chown to run.
 *   2. privs_assume: effective ids become the account's, so what spool_open,
 *      spool_recover and the spool writer create is the account's.
 *   3. privs_resume: effective ids back to root to bind the listeners (ports
 *      below 1024) and read the server certificates and keys.
 *   4. privs_drop: supplementary groups, gid and uid all set for good, in
 *      every thread (glibc applies set*id calls process-wide); then root
 *      must be out of reach: a setuid(0) that succeeds is fatal.
 *
 * Every call is a no-op returning 0 unless privs_active(): spate_user set
 * and spated running as root. Thread rules: main thread, at start only.
 * Errors: -1 with the reason in err.
 */
#ifndef SPATE_CMD_PRIVS_H
#define SPATE_CMD_PRIVS_H

#include <stddef.h>

#include "conf/config.h"

/* privs_active - will spated change identity (spate_user set, running as root)? */
int privs_active(const struct cfg *c);
/* privs_check_spool - step 1 above; 0 or -1 */
int privs_check_spool(const struct cfg *c, char *err, size_t errlen);
/* privs_assume - step 2: act as the account (effective ids); 0 or -1 */
int privs_assume(const struct cfg *c, char *err, size_t errlen);
/* privs_resume - step 3: effective ids back to root; 0 or -1 */
int privs_resume(const struct cfg *c, char *err, size_t errlen);
/* privs_drop - step 4: become the account for good; 0 or -1 */
int privs_drop(const struct cfg *c, char *err, size_t errlen);

#endif
