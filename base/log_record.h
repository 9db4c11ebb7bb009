/*
 * log_record.h - the JSON delivery log: one structured record per event.
 *
 * Beside the Exim-style main log (log.h), spate can write one JSON object per
 * line (log_json_path) for each reception, delivery, deferral, failure,
 * expiry, delivery status notice and admin action. The record's shape is
 * docs/json-log.schema.json (JSON Schema draft 2020-12); its fields:
 *   time       RFC 3339, UTC, milliseconds ("2024-05-01T12:00:00.123Z")
 *   event      "reception" "delivery" "deferral" "failure" "expiry" "dsn" "admin"
 *   id, sender, recipient, destination, router, transport, host, ip, port,
 *   response {code, enhanced, text}, tls {version, cipher}, verify,
 *   attempt, size, recipients, queue_time_ms, protocol, client, action,
 *   original_id, user, selection, reason, messages.
 * A field whose struct member is NULL (strings), 0 (port, attempt,
 * recipients, arrival_us) or negative (size) is left out.
 *
 * Off the hot path: log_record() formats the line on the calling thread
 * (jansson, a few microseconds) and hands it to a background writer thread
 * through a wait-free queue (liburcu wfcqueue); the writer does the write(2),
 * the size rotation and the reopen. At most LOG_REC_QUEUE_MAX lines wait;
 * beyond that records are dropped and counted (log_record_dropped()).
 *
 * Rotation: when the file reaches max_size bytes the writer renames it to
 * PATH.1 (PATH.1 to PATH.2 ... up to PATH.LOG_REC_KEEP, the oldest dropped)
 * and starts a new PATH. log_reopen() (SIGUSR1) closes and reopens PATH, for
 * an external logrotate that has renamed it; the main log files reopen too.
 *
 * Thread rules: log_record_open()/log_record_close() from the main thread
 * with no concurrent log_record(); log_record() and log_reopen() from any
 * thread (log_reopen() only sets a flag and wakes the writer: it is not
 * async-signal-safe, call it from a sigwait() loop).
 */
#ifndef SPATE_BASE_LOG_RECORD_H
#define SPATE_BASE_LOG_RECORD_H

#include <stdint.h>

#define LOG_REC_QUEUE_MAX 65536
#define LOG_REC_KEEP 9

enum log_rec_kind {
    LOG_REC_RECEPTION, /* a message accepted onto the spool */
    LOG_REC_DELIVERY,  /* a recipient accepted by the next hop (2xx) */
    LOG_REC_DEFERRAL,  /* a recipient deferred (4xx, connection, DNS) */
    LOG_REC_FAILURE,   /* a recipient failed for good (5xx, null MX, ...) */
    LOG_REC_EXPIRY,    /* a recipient failed because its retry period ran out */
    LOG_REC_DSN,       /* a delivery status notice generated (action: its type) */
    LOG_REC_ADMIN,     /* an admin action (action: its name) */
    LOG_REC__COUNT
};

/* One record; every pointer is borrowed for the duration of the call. */
struct log_rec {
    enum log_rec_kind kind;
    const char *id;          /* message id */
    const char *sender;      /* envelope sender, "" the null sender */
    const char *recipient;   /* the recipient concerned */
    const char *destination; /* queue / destination key */
    const char *router, *transport;
    const char *host;        /* remote host name (or "H=..." text as the main log has it) */
    const char *ip;          /* remote host address */
    int port;                /* remote port */
    const char *response;    /* reply or explanation; "NNN X.Y.Z text" is split out */
    const char *tls;         /* X= of the main log: "VERSION:CIPHER[:BITS]"; "" or NULL clear */
    const char *verify;      /* CV= "yes", "no", "dane"; "" or NULL in clear */
    int attempt;             /* 1 for the first attempt */
    int64_t size;            /* message bytes; negative: unknown */
    int nrcpt;               /* recipients (reception) */
    int64_t arrival_us;      /* the message's arrival (unix microseconds): queue_time_ms */
    const char *protocol;    /* reception: "esmtp", "http", "local", ... */
    const char *client;      /* reception: client host */
    const char *action;      /* dsn: "failure", "delay", "success"; admin: the action */
    const char *original_id; /* dsn: the message reported on */
    const char *user;        /* admin: who asked (token name or client), NULL unknown */
    const char *selection;   /* admin: what was selected ("ids=...", "domain=...") */
    const char *reason;      /* admin: the reason given */
    long messages;           /* admin: messages affected (>= 0 always written) */
};

/* log_record_open - start the writer on path (appending; created 0640);
 * max_size bytes before rotation, 0 = never; 0 or -errno */
int log_record_open(const char *path, uint64_t max_size);
/* log_record_close - write what waits, stop the writer, close the file */
void log_record_close(void);
/* log_record_enabled - is a JSON delivery log open? (callers may skip work) */
int log_record_enabled(void);
/* log_record - queue one record (nothing when no log is open) */
void log_record(const struct log_rec *r);
/* log_record_dropped - records dropped because the queue was full */
uint64_t log_record_dropped(void);
/* log_reopen - SIGUSR1: reopen the main log files and the JSON delivery log */
void log_reopen(void);

/* log_record_json - the record as one JSON line ("...}\n", malloc'd,
 * NUL-terminated) stamped now_us (unix microseconds); NULL out of memory.
 * Bytes that are not UTF-8 in a string become U+FFFD. */
char *log_record_json(const struct log_rec *r, int64_t now_us);
/* log_parse_response - find "NNN[ X.Y.Z]" (NNN 2xx-5xx) at the start of text
 * or after ": "; *code (0 none), enhanced ("" none, 16 bytes) and *rest
 * (the text after them, or text itself when no code) */
void log_parse_response(const char *text, int *code, char enhanced[16], const char **rest);
/* log_rfc3339 - "YYYY-MM-DDTHH:MM:SS.mmmZ" of unix microseconds into out (25 bytes) */
void log_rfc3339(int64_t us, char out[25]);

#endif
