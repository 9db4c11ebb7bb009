/*
 * smtp_int.h - the inside of the SMTP server, shared by its files. Not part
 *              of the api/ contract: only api/smtp_*.c include it.
 *
 * The files, lowest first (each calls only the ones above it; a lower file
 * reaches a higher one only through the listener's callbacks):
 *   smtp_io.c    replies, output, input, closing and freeing a session
 *   smtp_proxy.c the PROXY protocol header before the greeting (api/proxy.h)
 *   smtp_vars.c  the session's expansion variables
 *   smtp_acl.c   the ACL of each stage, verify, the default relay policy
 *   smtp_auth.c  AUTH
 *   smtp_tls.c   STARTTLS: the command, the handshake, $tls_in_* variables
 *   smtp_prdr.c  PRDR: the per-recipient ACL and replies after the text
 *   smtp_dkim_vars.c  the DKIM results: $dkim_*, $authentication_results
 *                (calls none of the files above but smtp_spf.c)
 *   smtp_dkim.c  DKIM verification after the text: key lookups, then
 *                acl_smtp_dkim per signer
 *   smtp_data.c  message text: DATA and BDAT collection, limits, the
 *                submission to the spool and its answer
 *   smtp_cmd.c   the commands of RFC 5321 (one function a command)
 *   smtp_in.c    the session loop, timers, accepting connections, limits
 *                on connections, the listener thread
 *
 * A session is a small state machine (enum sess_state):
 *   CMD   reading command lines
 *   DATA  collecting message text after 354 (dot-unstuffed)
 *   BDAT  reading the octets of a BDAT chunk (RFC 3030)
 *   WAIT  the message is with the spool; input is left unread until the
 *         done callback, run on the spool writer thread, posts the result
 *         back to the listener loop.
 *   TLS_START, TLS  after STARTTLS (smtp_tls.c)
 *   AUTH  reading SASL answers (smtp_auth.c)
 *   ACL   an ACL is suspended for "delay" or "verify" (smtp_acl.c)
 *   PROXY a client in proxy_required_hosts: waiting for the PROXY header,
 *         or answering 503 to all but QUIT once it failed (smtp_proxy.c)
 *   DKIM  the text is complete and its DKIM keys are in: acl_smtp_dkim
 *         once per signer (smtp_dkim.c; while keys are awaited: ACL)
 *   DMARC the message's DMARC result is in (smtp_dmarc.c; while SPF or the
 *         _dmarc records are awaited: ACL)
 */
#ifndef SPATE_API_SMTP_INT_H
#define SPATE_API_SMTP_INT_H

#include <netinet/in.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "api/hostcount.h"
#include "api/smtp_frame.h"
#include "api/smtp_parse.h"
#include "base/loop.h"
#include "conf/acl.h"
#include "conf/config.h"
#include "spool/spool.h"

struct tls_conn;
struct dns_resolver;
struct sasl;
struct cfg_auth;
struct tls_server_ctx;

#define SESS_IN_CAP 16384   /* input buffer per session */
#define SESS_OUT_HIGH 16384 /* stop processing input while this much output waits */
#define CLOSE_GRACE_MS 5000 /* time to flush a final reply before a hard close */

enum sess_state {
    SS_CMD,
    SS_DATA,
    SS_BDAT,
    SS_WAIT,
    SS_TLS_START, /* STARTTLS answered: the handshake begins once the 220 is out */
    SS_TLS,       /* the TLS handshake is in progress */
    SS_AUTH,      /* AUTH: reading the client's answer to a 334 challenge */
    SS_ACL,       /* an ACL waits for a delay or a verification (smtp_acl.c) */
    SS_PRDR,      /* after 353: acl_smtp_data_prdr for each recipient (smtp_prdr.c) */
    SS_PROXY,     /* the PROXY protocol header first (smtp_proxy.c) */
    SS_DKIM,      /* after the text: acl_smtp_dkim for each signer (smtp_dkim.c) */
    SS_DMARC,     /* DMARC evaluated: the message goes on to PRDR or DATA (smtp_dmarc.c) */
};

#define SESS_REMOVE_MAX 16 /* remove_header names kept per message */

struct sess;
/* smtp_acl_cont - what a stage does with its ACL's result (rc: enum acl_rc;
 * the result itself is in s->acl_res until the continuation returns). It
 * must not free the session: it replies, and sets close_after to drop. */
typedef void (*smtp_acl_cont)(struct sess *s, int rc);

/* A "verify =" waiting for the DNS (smtp_acl.c); orphaned (s = NULL) when
 * the session ends first, and then freed by the DNS callback. */
struct smtp_vreq {
    struct sess *s;
    int what;
    char *address; /* the domain routed (the answer holds for any address there) */
    int answer;    /* ACL_VERIFY_* once known, -1 while pending */
    char msg[160];
};

struct smtp_listener;

struct sess {
    struct smtp_listener *lis;
    struct sess *prev, *next;
    struct eng_io io;
    struct eng_timer timer;
    enum sess_state st;
    char host[INET6_ADDRSTRLEN + 10]; /* "[ip]:port" */
    char ip[INET6_ADDRSTRLEN];        /* the client's address as text */
    char port[8];                     /* and its port */
    struct sockaddr_storage peer;     /* counted in lis->hosts */
    struct sockaddr_storage local;    /* the address the client connected to */
    int had_cmd;                      /* a first command line has arrived */
    int relay_ok;
    char helo[256];
    int greeted, esmtp;
    int unknown_cmds; /* unrecognised commands so far (smtp_max_unknown_commands) */
    int synprot_errs; /* syntax and protocol errors so far (smtp_max_synprot_errors) */
    /* transaction */
    int in_mail, smtputf8, eightbit;
    char *sender;
    char **rcpts;
    size_t nrcpt, rcptcap;
    /* DSN request (RFC 3461): RET, ENVID (xtext) of the MAIL command; per
     * recipient NOTIFY bits and ORCPT (parallel to rcpts, NULL when none
     * was given); the pending RCPT's while its ACL runs */
    int dsn_ret;
    char *dsn_envid;
    uint8_t *rcpt_notify;
    char **rcpt_orcpt;
    unsigned pend_notify;
    char *pend_orcpt;
    int prdr;               /* MAIL ... PRDR was given and is on offer */
    size_t prdr_i;          /* PRDR: the recipient whose ACL runs next */
    unsigned char *prdr_ok; /* PRDR: per recipient, 1 accepted, 0 refused */
    /* input: in[inoff, inlen) not yet processed */
    char in[SESS_IN_CAP];
    size_t inoff, inlen;
    struct smtp_frame fr; /* where lines and the message end */
    int eof;
    /* message text (DATA or BDAT) */
    char *body;
    size_t blen, bcap, hdrlen;
    int too_big;
    size_t linelen;     /* octets of the current text line so far */
    int long_line;      /* a text line over message_linelength_limit was seen */
    int bdat;           /* the transaction uses BDAT */
    uint64_t bdat_left; /* octets of the current chunk still to read */
    int bdat_last;      /* the current chunk is the LAST one */
    unsigned bdat_bad;  /* SMTP_FRAME_BAD_* seen in BDAT text */
    int bdat_cr;        /* the last BDAT octet was a CR */
    int bdat_discard;   /* the current chunk was refused: read and drop it */
    char id[SPOOL_ID_SIZE];
    char *logline; /* the "<=" record, written once the commit is known */
    int commit_status;
    int peer_gone; /* connection closed while the spool held the message */
    int shutdown;  /* listener stopping: close after the pending answer */
    /* output: out[outoff, outlen) not yet written */
    char *out;
    size_t outoff, outlen, outcap;
    int close_after; /* close once the output is written */
    /* TLS (smtp_tls.c) */
    struct tls_conn *tls; /* NULL: clear text */
    int tls_want;         /* TLS_WANT_READ / TLS_WANT_WRITE of the last TLS call, or 0 */
    int tls_cv;           /* the client's certificate verified */
    int tls_ocsp;         /* $tls_in_ocsp */
    char tls_x[96];       /* X= "TLS1.3:CIPHER:BITS" */
    char tls_cipher[64];
    char tls_sni[256];
    char tls_peerdn[256];
    char tls_ocsp_text[8], tls_ver[16];
    /* SMTP AUTH (smtp_auth.c) */
    char *auth_id;      /* $authenticated_id; NULL: not authenticated */
    char auth_name[64]; /* the authenticator's public name, for A= */
    int auth_failures;  /* failed AUTH attempts in this session */
    struct sasl *sasl;  /* an AUTH exchange in progress (SS_AUTH) */
    const struct cfg_auth *auth_cur;
    char vbuf[64]; /* smtp_var's scratch */
    /* ACLs (smtp_acl.c) */
    struct acl_env acl_env;
    struct acl_result acl_res;
    const struct acl *acl_cur;
    smtp_acl_cont acl_cont;
    enum sess_state acl_prev_st;
    char *acl_rcpt;
    struct eng_timer acl_timer;
    struct acl_vars *cvars, *mvars;
    char conn_scope[32], mail_scope[48];
    struct smtp_vreq *vreq;
    char *add_hdrs; /* add_header lines of accepting ACLs, CRLF-terminated */
    size_t add_hdrs_len;
    char *remove_hdrs[SESS_REMOVE_MAX];
    size_t nremove;
    unsigned controls; /* ACL_CONTROL_* set by accepting ACLs */
    /* PROXY protocol (smtp_proxy.c); peer, ip, port and host become the
     * client's once the header names one */
    int proxy_state;                     /* enum smtp_proxy_state */
    struct sockaddr_storage proxy_peer;  /* the proxy itself (the TCP peer) */
    char proxy_ip[INET6_ADDRSTRLEN];     /* $proxy_host_address: "" unless the header was read */
    char proxy_port[8];                  /* $proxy_host_port */
    char proxy_dst_ip[INET6_ADDRSTRLEN]; /* $proxy_target_address: what the client reached */
    char proxy_dst_port[8];              /* $proxy_target_port */
    /* SPF of the current identity (smtp_spf.c) */
    struct smtp_spfreq *spf;
    /* DKIM verification of the current message (smtp_dkim.c) */
    struct smtp_dkimreq *dkim;
    /* DMARC of the current message (smtp_dmarc.c); controls set by the
     * MAIL, RCPT and predata ACLs of this transaction (cleared with it) */
    struct smtp_dmarcreq *dmarc;
    unsigned txn_controls;
};

struct lsock {
    struct eng_io io;
    struct smtp_listener *lis;
};

struct smtp_listener {
    const struct cfg *cfg;
    spool *sp;
    eng_loop *loop;
    pthread_t thread;
    struct lsock *socks;
    size_t nsocks;
    struct sess *sessions;
    int nsess;
    struct hostcount *hosts; /* sessions open per client IP */
    int stopping;
    struct tls_server_ctx *tls; /* STARTTLS context; NULL: not offered */
    struct dns_resolver *dns;   /* for verify = recipient|sender */
    unsigned long long conn_seq, mail_seq;
    /* run - process buffered input of s (smtp_in.c's session loop); lower
     * files call it when a wait ends */
    void (*run)(struct sess *s);
    /* DMARC: the public suffix list of dmarc_tld_file, read on first use */
    struct dmarc_psl *dmarc_psl;
    char *dmarc_psl_file;
};

/* ---- smtp_io.c ------------------------------------------------------- */

/* smtp_reply - queue one reply line (CRLF added) */
__attribute__((format(printf, 2, 3))) void smtp_reply(struct sess *s, const char *fmt, ...);
/* smtp_txn_reset - forget the mail transaction (RSET, EHLO, after DATA) */
void smtp_txn_reset(struct sess *s);
/* smtp_sess_free - release a session that is closed and not waiting for the spool */
void smtp_sess_free(struct sess *s);
/* smtp_sess_close - drop the connection; a session waiting for the spool
 * lives on until the done callback arrives */
void smtp_sess_close(struct sess *s);
/* smtp_sess_flush - write queued replies; -1 if the session was closed */
int smtp_sess_flush(struct sess *s);
/* smtp_sess_update_io - watch for input when it can be processed, output when queued */
void smtp_sess_update_io(struct sess *s);
/* smtp_sess_read - read what the socket has; -1 if the session was closed */
int smtp_sess_read(struct sess *s);
/* smtp_tls_pending - decrypted input waits inside OpenSSL (epoll cannot see it) */
int smtp_tls_pending(const struct sess *s);
/* smtp_idle_ms - how long the client may be silent now */
uint64_t smtp_idle_ms(const struct sess *s);
/* smtp_dup - strdup that treats out of memory as fatal; NULL gives "" */
char *smtp_dup(const char *s);
/* smtp_drop - reply, log why, and close once the reply is written */
void smtp_drop(struct sess *s, const char *why, const char *line);

/* ---- smtp_tls.c ------------------------------------------------------ */

/* smtp_tls_offered - is STARTTLS offered to this session now? */
int smtp_tls_offered(const struct sess *s);
/* smtp_cmd_starttls - STARTTLS: 220, then the handshake once the reply is out */
void smtp_cmd_starttls(struct sess *s);
/* smtp_tls_step - begin or drive the handshake; 1 done, 0 waiting, -1 closed */
int smtp_tls_step(struct sess *s);
/* smtp_tls_ctx_new - the STARTTLS context for cfg: *out NULL when no
 * tls_certificate is set; 0, or -1 with err (unreadable or mismatched files).
 * Main thread. */
int smtp_tls_ctx_new(const struct cfg *c, struct tls_server_ctx **out, char *err, size_t errlen);
/* smtp_tls_var - $tls_in_* of the session ("" in clear text), or NULL for another name */
const char *smtp_tls_var(struct sess *s, const char *name);

/* ---- smtp_vars.c ----------------------------------------------------- */

/* smtp_var - the value of an expansion variable of session arg (a struct
 * sess), "" when known but unset, NULL for a name it does not know */
const char *smtp_var(void *arg, const char *name);

/* ---- smtp_acl.c ------------------------------------------------------ */

/* smtp_acl_session_init - prepare a new session's ACL state */
void smtp_acl_session_init(struct sess *s);
/* smtp_acl_check - run acl for a stage; cont gets the result now or once a
 * delay or verification is over. acl NULL: cont(ACL_ACCEPT) at once. */
void smtp_acl_check(struct sess *s, const struct acl *acl, enum acl_where where, const char *rcpt,
                    smtp_acl_cont cont);
/* smtp_acl_resume - continue a suspended ACL */
void smtp_acl_resume(struct sess *s);
/* smtp_acl_reply - the reply for the result: its message (one reply line
 * per line of it, control characters removed) or dflt */
void smtp_acl_reply(struct sess *s, int code, const char *esc, const char *dflt);
/* smtp_acl_why - the log's reason for a refusal */
const char *smtp_acl_why(const struct sess *s);
/* smtp_acl_refuse - reply to and log an ACL that did not accept: deny and
 * drop 550 5.7.1 (drop then closes), defer and error tempcode 4.x.x; what
 * names the command for the log ("MAIL", "RCPT <a@b>", "DATA") */
void smtp_acl_refuse(struct sess *s, int rc, const char *what, int tempcode);
/* smtp_acl_keep_headers - keep add_header/remove_header of an accepting ACL */
void smtp_acl_keep_headers(struct sess *s);
/* smtp_acl_verify - acl_env.verify for the session (arg) */
int smtp_acl_verify(void *arg, int what, const char *address, char *msg, size_t msglen);
/* smtp_rcpt_default - the policy without acl_smtp_rcpt: 1 accept, 0 refuse */
int smtp_rcpt_default(struct sess *s, const char *rcpt);
/* smtp_acl_new_mail - a new transaction: acl_m_* cleared, a new per_mail scope */
void smtp_acl_new_mail(struct sess *s);

/* ---- smtp_auth.c ----------------------------------------------------- */

/* smtp_auth_ehlo - queue the "250-AUTH ..." line when AUTH is offered */
void smtp_auth_ehlo(struct sess *s);
/* smtp_cmd_auth - AUTH mechanism [initial-response] (RFC 4954) */
void smtp_cmd_auth(struct sess *s, const char *arg);
/* smtp_auth_line - SS_AUTH: the client's answer to a challenge (no CRLF) */
void smtp_auth_line(struct sess *s, const char *line, size_t len);
/* smtp_auth_step - SS_AUTH: consume one answer line; 1 progress, 0 more input needed */
int smtp_auth_step(struct sess *s);
/* smtp_auth_abort - forget an exchange in progress (the session ends) */
void smtp_auth_abort(struct sess *s);

/* ---- smtp_data.c ----------------------------------------------------- */

/* smtp_data_begin - a new message: id, Received: header, limits reset */
void smtp_data_begin(struct sess *s);
/* smtp_data_step - DATA: consume text or the final dot; 1 progress, 0 more input needed */
int smtp_data_step(struct sess *s);
/* smtp_bdat_step - BDAT: consume chunk octets; 1 progress, 0 more input needed */
int smtp_bdat_step(struct sess *s);
/* smtp_data_accept - a complete, well-formed message: the DATA ACL, then the spool */
void smtp_data_accept(struct sess *s);

/* ---- smtp_prdr.c ----------------------------------------------------- */

/* smtp_prdr_step - SS_PRDR: the next recipient's acl_smtp_data_prdr, or
 * the end of PRDR; 1 progress, 0 waiting */
int smtp_prdr_step(struct sess *s);

/* ---- smtp_cmd.c ------------------------------------------------------ */

/* smtp_cmd_step - consume one command line; 1 progress, 0 more input needed */
int smtp_cmd_step(struct sess *s);

/* ---- smtp_proxy.c ---------------------------------------------------- */

#define SMTP_PROXY_WAIT_MS 3000 /* the header's deadline (Exim's proxy_protocol_timeout) */

enum smtp_proxy_state {
    SMTP_PROXY_NONE,   /* the client is not in proxy_required_hosts */
    SMTP_PROXY_WAIT,   /* SS_PROXY: the header has not arrived yet */
    SMTP_PROXY_DONE,   /* the header was read */
    SMTP_PROXY_FAILED, /* SS_PROXY: none came in time: 503 to all but QUIT */
};

/* smtp_proxy_begin - a new session: when the client is in
 * proxy_required_hosts, enter SS_PROXY with the 3 s timer and return 1 (the
 * connect ACL and greeting wait); 0 otherwise */
int smtp_proxy_begin(struct sess *s);
/* smtp_proxy_step - SS_PROXY: read the header (the session leaves for SS_CMD
 * once it is in and applied; the caller then runs the connect stage), or
 * answer a command after a failure; 1 progress, 0 more input needed. A
 * malformed or truncated header closes the connection without a reply. */
int smtp_proxy_step(struct sess *s);
/* smtp_proxy_timeout - the 3 s are over in SMTP_PROXY_WAIT: 1 the session
 * goes on to the greeting in SMTP_PROXY_FAILED, 0 it is being closed (a
 * partial header had arrived) */
int smtp_proxy_timeout(struct sess *s);
/* smtp_proxy_var - $proxy_* of the session, or NULL for another name */
const char *smtp_proxy_var(struct sess *s, const char *name);
/* smtp_proxy_logfield - " PRX=ip" for the "<=" line with log_selector =
 * +proxy on a proxied session, else "" */
void smtp_proxy_logfield(const struct sess *s, char *out, size_t len);
/* ---- SPF (smtp_spf.c) ---- */
struct smtp_spfreq;
/* smtp_spf_check - for acl_env.spf: the SPF result word for the session
 * arg's client, sender and HELO, or ACL_VERIFY_PENDING while DNS runs; then
 * resume(s) is called once it is known (a pointer: smtp_acl.c calls in,
 * smtp_spf.c does not call it back by name) */
int smtp_spf_check(void *arg, char *result, size_t len, void (*resume)(struct sess *s));
/* smtp_spf_var - $spf_result, $spf_header_comment, $spf_smtp_comment,
 * $spf_received ("" until evaluated); NULL for other names */
const char *smtp_spf_var(struct sess *s, const char *name);
/* smtp_spf_free - at session end (a request in flight is orphaned) */
void smtp_spf_free(struct sess *s);

/* ---- DKIM verification (smtp_dkim.c) ---- */
struct smtp_dkimreq;
/* smtp_dkim_start - a complete, well-formed message (s->body from
 * s->hdrlen on): look up the keys of its DKIM signatures through the
 * listener's resolver (the session waits in SS_ACL), verify them, then in
 * SS_DKIM run acl_smtp_dkim once per signer. cont(s, rc) gets ACL_ACCEPT to
 * go on, or the result of the signer's ACL that did not accept (s->acl_res
 * holds its message); it may be called before smtp_dkim_start returns
 * (nothing to verify). */
void smtp_dkim_start(struct sess *s, smtp_acl_cont cont);
/* smtp_dkim_step - SS_DKIM: the next signer's ACL, or cont; 1 progress */
int smtp_dkim_step(struct sess *s);
/* smtp_dkim_var - $dkim_verify_status $dkim_verify_reason $dkim_cur_signer
 * $dkim_signers $dkim_domain $dkim_selector $dkim_identity $dkim_algo
 * $dkim_key_length $dkim_key_testing $dkim_canon_headers $dkim_canon_body
 * ("" before verification) and $authentication_results (a whole RFC 8601
 * header, one line); NULL for other names. Valid until the next call. */
const char *smtp_dkim_var(struct sess *s, const char *name);
/* smtp_dkim_free - the transaction ends: results forgotten, lookups in
 * flight orphaned */
void smtp_dkim_free(struct sess *s);

/* ---- DMARC (smtp_dmarc.c, smtp_dmarc_report.c) ---- */
struct smtp_dmarcreq;
struct dmarc_ctx;
struct dmarc_result;
/* smtp_dmarc_start - after DKIM: evaluate the complete message's DMARC
 * (the session waits in SS_ACL while SPF or the DNS run), then cont(s,
 * ACL_ACCEPT), possibly before it returns; nothing to do when no ACL could
 * use the result and no history is kept */
void smtp_dmarc_start(struct sess *s, smtp_acl_cont cont);
/* smtp_dmarc_step - SS_DMARC: the result is in, cont; 1 progress */
int smtp_dmarc_step(struct sess *s);
/* smtp_dmarc_var - $dmarc_status $dmarc_status_text $dmarc_used_domain
 * $dmarc_domain_policy $dmarc_ar_header ("" before the evaluation); NULL
 * for other names */
const char *smtp_dmarc_var(struct sess *s, const char *name);
/* smtp_dmarc_free - the transaction ends (a query in flight is orphaned) */
void smtp_dmarc_free(struct sess *s);
/* smtp_dmarc_listener_free - the listener's public suffix list */
void smtp_dmarc_listener_free(struct smtp_listener *lis);
/* smtp__dmarc_history - one dmarc_history_file entry (a record was found) */
void smtp__dmarc_history(struct sess *s, const struct dmarc_ctx *c);
/* smtp__dmarc_forensic - a failure report to r's ruf= through the spool */
void smtp__dmarc_forensic(struct sess *s, const struct dmarc_result *r, const char *ar);

#endif
