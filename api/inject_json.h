/*
 * inject_json.h - the request body of POST /api/v1/inject, validated.
 *
 * Accepted forms (SPEC §2):
 *   {"envelope_sender": "a@example.com", "recipients": ["b@example.net"],
 *    "content": "<RFC 5322 message>", "dsn": {...}}
 *   {"messages": [ ...objects of the form above... ]}
 * envelope_sender "" is the null sender. "dsn" is optional:
 *   {"notify": "SUCCESS,FAILURE" | ["SUCCESS", "DELAY"] | "NEVER",
 *    "ret": "FULL" | "HDRS", "envid": "text",
 *    "orcpt": {"<one of the recipients>": "rfc822;original@example.net"}}
 * (RFC 3461: NEVER stands alone; ENVID at most 100 printable ASCII
 * characters; ORCPT at most 500.) ENVID and ORCPT's address are plain text
 * here; the spool and the SMTP wire carry them as xtext ("a+b" is sent as
 * ENVID=a+2Bb).
 *
 * Validation is all-or-nothing: the first problem found ends it, with the
 * HTTP status to answer (400 bad input, 413 too large), a message, and the
 * path of the offending field in the form "messages[3].recipients[1]"
 * (single form: "recipients[1]"; empty for a JSON syntax error, which
 * names invalid UTF-8 as such). Unknown
 * fields are errors too, so a misspelt "recipient" is not silently dropped.
 *
 * The parsed batch keeps a reference to the JSON tree; its strings point into
 * it, or into buffers the batch owns, and stay valid until
 * inject_batch_free(). Pure: any thread.
 *
 * Speed: the content of a message is most of a request, so it is not
 * parsed twice or copied twice. inject_json.c decodes each "content"
 * string once, during the pre-scan, straight into the buffer that is to
 * become the spool body (wire.c), and jansson parses the rest; when that
 * way is not sure of something, jansson parses the whole text as it always
 * did, so errors are the same either way (inject_json.c).
 */
#ifndef SPATE_API_INJECT_JSON_H
#define SPATE_API_INJECT_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#define INJECT_MAX_MESSAGES 10000 /* messages in one request */
#define INJECT_MAX_RCPTS 10000    /* recipients of one message */
/* Bounds checked on the raw text before any JSON tree is built, so a body
 * cannot make the tree cost many times its own size: any array longer than
 * the larger of the two limits above (413, naming the array), more than
 * INJECT_MAX_VALUES values in all, keys included (413), nesting deeper than
 * INJECT_MAX_DEPTH (400; a valid request nests 5 deep). */
#define INJECT_MAX_ARRAY                                                                           \
    (INJECT_MAX_MESSAGES > INJECT_MAX_RCPTS ? INJECT_MAX_MESSAGES : INJECT_MAX_RCPTS)
#define INJECT_MAX_VALUES 1000000
#define INJECT_MAX_DEPTH 32
#define INJECT_ENVID_MAX 100 /* RFC 3461 §4.4 */
#define INJECT_ORCPT_MAX 500 /* RFC 3461 §4.2 */

/* DSN NOTIFY bits (RFC 3461 §4.1); 0 = not given */
#define INJECT_NOTIFY_NEVER 0x1u
#define INJECT_NOTIFY_SUCCESS 0x2u
#define INJECT_NOTIFY_FAILURE 0x4u
#define INJECT_NOTIFY_DELAY 0x8u

enum inject_ret { INJECT_RET_NONE = 0, INJECT_RET_FULL, INJECT_RET_HDRS };

struct inject_msg {
    const char *sender; /* "" = null sender */
    const char **rcpts;
    size_t nrcpt;
    const char *content; /* unescaped; NULL with INJECT_PARSE_WIRE (see buf) */
    size_t content_len;  /* unescaped length, as checked against the size limit */
    /* malloc'd, owned by the batch (NULL when content points into the
     * tree): the content unescaped, or with INJECT_PARSE_WIRE head octets
     * of room, then the content in CRLF wire form (api_normalize_body's
     * rules), then a NUL. Whoever takes it sets buf to NULL. */
    char *buf;
    size_t buf_len; /* octets of content in buf (after the head room) */
    /* DSN; orcpt[i] belongs to rcpts[i] and is NULL when not given */
    unsigned notify;
    enum inject_ret ret;
    const char *envid;  /* NULL when not given */
    const char **orcpt; /* nrcpt entries, or NULL when the message has none */
};

struct inject_batch {
    json_t *root;
    struct inject_msg *msgs;
    size_t n;
    size_t nrcpt; /* recipients over all messages */
};

struct inject_error {
    int status;      /* 400 or 413 */
    char error[320]; /* what is wrong */
    char field[160]; /* offending field path, "" for none */
};

/* inject_json_parse - parse and validate body (len bytes, need not be NUL-
 * terminated). size_limit: largest content in bytes, 0 = no limit. 0 and
 * *out filled (free with inject_batch_free), or -1 and *err filled. */
int inject_json_parse(const char *body, size_t len, uint64_t size_limit, struct inject_batch *out,
                      struct inject_error *err);

/* inject_json_parse_opts flags */
#define INJECT_PARSE_WIRE 0x1u   /* each content into buf in CRLF wire form, head octets in front */
#define INJECT_PARSE_TREE 0x2u   /* only the ordinary way: jansson parses every string */
#define INJECT_PARSE_LIFTED 0x4u /* only the fast way: -1 with err->status 0 where it gives up */

/* inject_json_parse_opts - inject_json_parse with flags (above) and head,
 * the room kept in front of each wire-form content. INJECT_PARSE_TREE and
 * INJECT_PARSE_LIFTED are for tests: each way alone. */
int inject_json_parse_opts(const char *body, size_t len, uint64_t size_limit, unsigned flags,
                           size_t head, struct inject_batch *out, struct inject_error *err);

/* inject_json_screen - after inject_json_parse: move each recipient that
 * addr_rcpt_check() refuses (an address literal when !allow_literals, an
 * IDN that IDNA2008 does not convert) out of b and append
 * {"recipient": ..., "reason": ...} to the JSON array rejected; a message
 * left without recipients is dropped from b. Returns how many were moved. */
size_t inject_json_screen(struct inject_batch *b, int allow_literals, json_t *rejected);

/* inject_batch_free - release what inject_json_parse filled in */
void inject_batch_free(struct inject_batch *b);

#endif
