/*
 * journal.h - the spool's recipient-state journal (private to spool/).
 *
 * Files under <spool>/journal/, named by the sequence number of their first
 * entry (16 hex digits, ".jnl"), hold one entry after another, each written
 * with one write() on an O_APPEND descriptor and never fsynced. An entry,
 * integers in host byte order:
 *
 *   length (4, the whole entry)  seq (8)  kind (1: update, 2: removal)
 *   id (16)  recipient count (4, 0 for a removal)
 *   per recipient: state (1), attempts (2), first failure (8), next try (8),
 *                  last interval (4)
 *   FNV-1a 64 of every octet before it (8)
 *
 * Sequence numbers rise by one from entry to entry, across files. The
 * functions that write (jnl_append, jnl_rotate) and jnl_size need the
 * caller's serialisation; jnl_applied and jnl_close touch only files already
 * retired and run on one thread (the spool writer).
 */
#ifndef SPATE_SPOOL_JOURNAL_H
#define SPATE_SPOOL_JOURNAL_H

#include <lmdb.h>
#include <stddef.h>
#include <stdint.h>

#include "spool/spool.h"

#define JNL_ROTATE_BYTES (64u << 10) /* retire the current file past this size */

enum jnl_kind { JNL_UPDATE = 1, JNL_REMOVE = 2 };

struct jnl;

/* jnl_open - start a fresh journal file for entries from next_seq on (the
 * journal/ folder is created); NULL with errno on failure */
struct jnl *jnl_open(const char *spooldir, uint64_t next_seq);
/* jnl_append - the entry for msg (kind JNL_UPDATE: its recipients' states;
 * JNL_REMOVE: the id alone) with sequence seq, in one write(); 0 or -errno */
int jnl_append(struct jnl *j, enum jnl_kind kind, uint64_t seq, const struct spool_msg *msg);
/* jnl_size - bytes in the current file */
uint64_t jnl_size(const struct jnl *j);
/* jnl_rotate - retire the current file, whose entries all have sequence
 * numbers up to last_seq, and go on in a fresh one from last_seq + 1;
 * 0 or -errno (then the current file stays) */
int jnl_rotate(struct jnl *j, uint64_t last_seq);
/* jnl_applied - every entry up to seq is committed: unlink the retired
 * files that hold nothing newer */
void jnl_applied(struct jnl *j, uint64_t seq);
/* jnl_close - close; with all_applied unlink every file of the journal */
void jnl_close(struct jnl *j, int all_applied);

/* jnl_replay - apply, in txn, the entries of every journal file under
 * spooldir with a sequence number above after, in order, stopping at the
 * first torn or corrupt entry or a gap in the numbers; an update sets the
 * recipients' states and retry fields of the record (skipped when the
 * record is missing or its recipients do not match), a removal deletes it.
 * *last: the last sequence number read in order (at least after);
 * *applied: entries applied. 0 or an LMDB error. */
int jnl_replay(const char *spooldir, MDB_txn *txn, MDB_dbi msgs, uint64_t after, uint64_t *last,
               long *applied);
/* jnl_remove_all - unlink every journal file under spooldir */
void jnl_remove_all(const char *spooldir);

/* jnl_meta_put - record in txn that every entry up to seq is applied */
int jnl_meta_put(MDB_txn *txn, MDB_dbi meta, uint64_t seq);
/* jnl_recover - at start: replay the journal under spooldir onto the
 * records (jnl_replay after the sequence number in meta), commit, then
 * unlink the journal files; *next_seq: where a fresh journal starts,
 * *applied: entries applied. 0 or an LMDB error (nothing changed). */
int jnl_recover(const char *spooldir, MDB_env *env, MDB_dbi msgs, MDB_dbi meta, uint64_t *next_seq,
                long *applied);

#endif
