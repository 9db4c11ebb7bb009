/*
 * event.h - event actions (seed "Event Actions"): the event_action option,
 *           main section and smtp transport, expanded when an event fires.
 *
 * Events and when they are raised (by the scheduler and the workers):
 *   msg:complete       after  main       per message
 *   msg:delivery       after  transport  per recipient   $event_data: SMTP confirmation
 *   msg:host:defer     after  transport  per attempt     $event_data: error string,
 *                                                        $event_defer_errno
 *   msg:fail:delivery  after  main       per recipient
 *   msg:fail:internal  after  main       per recipient
 *   tcp:connect        before transport  per connection
 *   tcp:close          after  transport  per connection
 *   tls:cert           before both       per certificate in the verification chain,
 *                                        $event_data: its depth; raised from
 *                                        inside verification (tls.h cert_hook),
 *                                        top of the chain first, leaf (0) last;
 *                                        $tls_out_peercert: that certificate
 *   smtp:connect       after  transport  per connection  $event_data: the banner
 *   tls:cert (inbound) before main       per certificate of a client's chain
 *                                        (STARTTLS on the SMTP server, with
 *                                        tls_verify_hosts/tls_try_verify_hosts);
 *                                        $event_data: its depth;
 *                                        $tls_in_peercert: that certificate;
 *                                        $sender_host_address: the client
 * A non-empty result forces: tcp:connect - do not connect (next host or
 * defer); tls:cert - refuse verification; smtp:connect - close the
 * connection. Other results are ignored.
 *
 * Two ways to raise:
 *   event_raise()       evaluates in the calling thread and returns the
 *                       result: for tcp:connect, tls:cert, smtp:connect, where
 *                       it decides something (tls:cert on the worker thread, in
 *                       the middle of the TLS handshake). It may block the caller for a
 *                       lookup's timeouts (1 s by default per Redis server).
 *   event_raise_async() queues the event to a small pool of threads
 *                       (EVENT_POOL_THREADS) and returns at once: for msg:*
 *                       and tcp:close, whose results are ignored, so a slow
 *                       Redis never stalls a worker's event loop. Events
 *                       of one message go to one pool thread (the message id
 *                       is hashed), so they run in the order raised. A queue
 *                       holds at most EVENT_QUEUE_MAX events; beyond that
 *                       events are dropped and counted in the log.
 * With no action (NULL) both return at once: an unused feature costs a test.
 *
 * $tls_out_peercert is a PEM certificate (read it with ${certextract}):
 * during tls:cert the one at depth $event_data; in the later events of a TLS
 * session (smtp:connect, tcp:close, msg:delivery, msg:host:defer) the
 * server's own; unset in clear text and for main-section events.
 * $verify_mode is the session's TLS verification policy: "required"
 * (tls_verify_hosts), "optional" (tls_try_verify_hosts), "none", "dane";
 * unset in clear text. (Exim sets it only during callouts, which spate does
 * not make.)
 *
 * Variables: the action sees exactly the names of enum event_var (and
 * $message_id as another name for $message_exim_id); an unset one reads "".
 * $sender_address_domain and $sender_address_local_part are derived from
 * $sender_address when not given. Any other name is an expansion error.
 *
 * Logging: an action that defers or fails with an error is logged (warn) as
 * "MSGID OPTION: EVENT: defer|error: MESSAGE", with OPTION the caller's
 * event_ctx.option ("event_action" when NULL). A forced failure is not
 * logged (Exim); its result counts as empty.
 *
 * Lifetimes: the compiled action given to event_raise_async() must stay
 * valid until the event has run: call event_pool_flush() (or
 * event_pool_stop()) before freeing a configuration whose actions may be
 * queued. The pool starts on first use (or event_pool_start()); stop it
 * after the threads that raise events have stopped.
 */
#ifndef SPATE_ENGINE_EVENT_H
#define SPATE_ENGINE_EVENT_H

#include <stddef.h>

#include "conf/expand.h"

#define EVENT_POOL_THREADS 2
#define EVENT_QUEUE_MAX 100000

/* The variables an event action can read. */
enum event_var {
    EV_EVENT_NAME,                  /* $event_name */
    EV_EVENT_DATA,                  /* $event_data */
    EV_EVENT_DEFER_ERRNO,           /* $event_defer_errno */
    EV_ROUTER_NAME,                 /* $router_name */
    EV_TRANSPORT_NAME,              /* $transport_name */
    EV_LOCAL_PART,                  /* $local_part */
    EV_DOMAIN,                      /* $domain */
    EV_HOST,                        /* $host */
    EV_HOST_ADDRESS,                /* $host_address */
    EV_HOST_PORT,                   /* $host_port */
    EV_TLS_OUT_PEERCERT,            /* $tls_out_peercert */
    EV_LOOKUP_DNSSEC_AUTHENTICATED, /* $lookup_dnssec_authenticated */
    EV_TLS_OUT_DANE,                /* $tls_out_dane */
    EV_SENDING_IP_ADDRESS,          /* $sending_ip_address */
    EV_SENDING_PORT,                /* $sending_port */
    EV_MESSAGE_EXIM_ID,             /* $message_exim_id, also $message_id */
    EV_VERIFY_MODE,                 /* $verify_mode */
    EV_SENDER_ADDRESS,              /* $sender_address */
    EV_SENDER_ADDRESS_DOMAIN,       /* $sender_address_domain */
    EV_SENDER_ADDRESS_LOCAL_PART,   /* $sender_address_local_part */
    EV_PRIMARY_HOSTNAME,            /* $primary_hostname */
    EV_TLS_IN_PEERCERT,             /* $tls_in_peercert (inbound tls:cert) */
    EV_SENDER_HOST_ADDRESS,         /* $sender_host_address (inbound events) */
    EV__COUNT
};

/* One event: variable values (borrowed pointers; NULL = unset) and the
 * option name used in log lines. Fill on the stack:
 *   struct event_ctx ev = {0};
 *   ev.v[EV_EVENT_NAME] = "tcp:connect"; ev.v[EV_HOST_ADDRESS] = ip; ... */
struct event_ctx {
    const char *v[EV__COUNT];
    const char *option; /* e.g. "event_action" or "transport smtp event_action" */
};

/* event_var_name - the variable's name without '$' */
const char *event_var_name(enum event_var v);

/* event_raise - evaluate action for ev in this thread. Returns the exp_rc;
 * with EXP_OK and result non-NULL, *result is the malloc'd result (the caller
 * frees it), otherwise *result is NULL. The result forces the event's effect
 * when rc == EXP_OK and (*result)[0] != '\0'. action NULL: EXP_OK, no result. */
int event_raise(const struct event_ctx *ev, const struct exp_str *action, char **result);

/* event_ctx_dup - a deep copy in one allocation (free with event_ctx_free) */
struct event_ctx *event_ctx_dup(const struct event_ctx *ev);
/* event_ctx_free - release a copy */
void event_ctx_free(struct event_ctx *ev);

/* event_raise_async - queue action for ev_copy (from event_ctx_dup; the pool
 * takes it over and frees it) on the pool thread of message_id; any thread,
 * never blocks on the action. action NULL: ev_copy is freed at once. */
void event_raise_async(const char *message_id, struct event_ctx *ev_copy,
                       const struct exp_str *action);

/* event_pool_start - start the pool with nthreads (<= 0: EVENT_POOL_THREADS);
 * 0 (also when already running) or -errno */
int event_pool_start(int nthreads);
/* event_pool_flush - wait until every queued event has run */
void event_pool_flush(void);
/* event_pool_stop - run what is queued, then stop and join the threads */
void event_pool_stop(void);
/* event_pool_dropped - events dropped because a queue was full, since start */
unsigned long event_pool_dropped(void);

#endif
