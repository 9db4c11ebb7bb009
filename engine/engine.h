/*
 * engine.h - the delivery engine: scheduler and worker pool.
 *
 *   spool writer --commit hook--> scheduler thread --job--> worker threads
 *                                  (routing, DNS,    <-result--  (epoll loop,
 *                                   destinations,                 SMTP client
 *                                   retry heap)                    sessions)
 *
 * The scheduler owns every queued message and all routing state; it resolves
 * each recipient domain through the configured routers (dnslookup: MX via
 * dns/, manualroute: route_list), groups recipients by destination (the
 * resolved host set, plus port), and hands delivery jobs to workers through
 * their loop inboxes (lock-free). Workers own SMTP sessions and an idle
 * connection cache per destination; results come back the same way.
 * Recipient state changes are persisted with spool_update(); a message whose
 * recipients are all final is removed from the spool ("Completed").
 *
 * Thread rules: eng_start/eng_stop from the main thread. eng_commit_hook is
 * the spool's commit hook (runs on the writer thread, only posts).
 */
#ifndef SPATE_ENGINE_ENGINE_H
#define SPATE_ENGINE_ENGINE_H

#include <stddef.h>

#include "conf/config.h"
#include "spool/spool.h"

/* eng_start - start the scheduler and cfg->worker_threads workers; queued
 * messages handed over by eng_adopt() before start are scheduled at once */
int eng_start(const struct cfg *cfg, spool *sp, char *err, size_t errlen);
/* eng_adopt - take a recovered message (before eng_start, main thread) */
void eng_adopt(struct spool_msg *msg, void *arg);
/* eng_force_retry - before recovery: ignore the retry times of recovered
 * mail and try every pending recipient at once (spated -qf) */
void eng_force_retry(int on);
/* eng_on_queue_empty - before eng_start: fn runs on the scheduler thread
 * about a second after the queue became empty (and stayed so), e.g. to hand
 * freed memory back to the system after a drain; NULL for none */
void eng_on_queue_empty(void (*fn)(void));
/* eng_commit_hook - spool commit hook: takes ownership of msg */
void eng_commit_hook(struct spool_msg *msg, void *arg);
/* eng_stop - shut down, main thread. First no job is lent and no message
 * is started any more, and each message already on the wire (body and final
 * dot, or BDAT LAST, sent) waits for its reply, at most shutdown_grace
 * seconds; those results are recorded (spool_update) as usual, so a receiver
 * that answers the dot late does not get the message again after a restart.
 * Then the workers stop (other sessions are dropped, their recipients stay
 * queued as they were) and the scheduler frees what it holds. Call before
 * spool_close(), which commits the last updates. */
void eng_stop(void);

/* eng_reload - use cfg from now on (routers, transports, retry rules,
 * destination limits, HELO name). cfg must stay alive until eng_stop():
 * destinations made earlier keep pointing at their transport. Main thread. */
void eng_reload(const struct cfg *cfg);

/* eng_finish - after spool_close(): run what the spool writer handed over
 * last and free the engine; main thread */
void eng_finish(void);

/* eng_queue_json - per-destination queue summary as a malloc'd JSON text;
 * any thread (asks the scheduler and waits up to 2 s) */
char *eng_queue_json(void);

#endif
