/*
 * auth.h - SMTP AUTH on the server side, below the SMTP server: the
 *          "begin authenticators" section with Exim's plaintext driver, the
 *          evaluation of an authenticator's conditions, and the crypteq
 *          password comparison of the expansion language.
 *
 * Section (Exim's "plaintext" driver, server side only)
 *   name:
 *     driver = plaintext                 required; the only driver
 *     public_name = PLAIN | LOGIN        the SASL mechanism advertised; default:
 *                                        the instance name in upper case
 *     server_prompts = list              plain-text prompts, sent base64'd in
 *                                        334 challenges; an Exim list, so a
 *                                        colon is written "::". Default: ""
 *                                        for PLAIN, "Username:: : Password::"
 *                                        for LOGIN. PLAIN takes one prompt,
 *                                        LOGIN two.
 *     server_condition = expansion       required. After decoding, $auth1..3
 *                                        hold the parts: PLAIN authzid, user,
 *                                        password; LOGIN user, password.
 *     server_set_id = expansion          gives $authenticated_id; default:
 *                                        the user name ($auth2 for PLAIN,
 *                                        $auth1 for LOGIN)
 *     server_advertise_condition = expansion
 *                                        unset: always advertised; otherwise
 *                                        not advertised when it expands to
 *                                        "", "0", "no", "false" or fails
 *   client_* options are refused (spate does not authenticate as a client),
 *   as is any other driver. Two instances with the same public_name, an
 *   instance without server_condition, and the usual duplicate instance
 *   names are errors, each with FILE:LINE.
 *
 * server_condition results (Exim's rules)
 *   "1", "yes", "true" (any case)      AUTH_OK
 *   "", "0", "no", "false", forced failure
 *                                      AUTH_FAIL (wrong credentials: 535)
 *   a lookup that could not be done   AUTH_DEFER (454), msg says why
 *   any other result                   AUTH_DEFER, msg is that text (Exim
 *                                      sends it as the temporary error)
 *   an expansion error                 AUTH_ERROR (454, and log it), msg
 *
 * crypteq {password}{hash} (expansion condition, Exim's)
 *   hash is "{md5}X" (X: 32 hex digits or 24 base64 characters), "{sha1}X"
 *   (40 hex or 28 base64), "{sha256}X" (64 hex or 44 base64), "{crypt}X" or
 *   "{crypt16}X" (X a crypt(3) string: DES, $1$, $5$, $6$, $2b$ bcrypt, $y$
 *   yescrypt - whatever libxcrypt knows; crypt16 is Exim's double DES for
 *   24-character strings), or a bare crypt(3) string. Type names are matched
 *   in any case. A digest of the wrong length, an empty hash and a string
 *   crypt(3) cannot use never match. Comparisons are constant-time.
 *
 * Thread rules: everything here reads the immutable configuration and may
 * be called from any thread at once. auth_check() runs lookups (and crypt)
 * in the calling thread; bcrypt or yescrypt may take tens of milliseconds.
 */
#ifndef SPATE_CONF_AUTH_H
#define SPATE_CONF_AUTH_H

#include <stddef.h>

struct cfg;
struct exp_str;

enum auth_mech { AUTH_MECH_PLAIN = 0, AUTH_MECH_LOGIN = 1 };

/* One authenticator instance (immutable once loaded). */
struct cfg_auth {
    char *name;                                 /* the instance name */
    char *public_name;                          /* "PLAIN" or "LOGIN" */
    enum auth_mech mech;                        /* from public_name */
    char *server_prompts;                       /* the option as written, NULL: default */
    const char *prompts[2];                     /* decoded prompts (LOGIN: 2, PLAIN: 1) */
    struct exp_str *server_condition;           /* required */
    struct exp_str *server_set_id;              /* NULL: the user name */
    struct exp_str *server_advertise_condition; /* NULL: always advertised */
    const char *file;
    int line;
};

enum auth_rc {
    AUTH_OK = 0,     /* credentials accepted; *id set */
    AUTH_FAIL = 1,   /* wrong credentials */
    AUTH_DEFER = -1, /* could not decide now (lookup down, or the condition said so) */
    AUTH_ERROR = -2, /* the configuration does not work (expansion error) */
};

/* auth_find - the authenticator whose public_name is mechanism (any case), or NULL */
const struct cfg_auth *auth_find(const struct cfg *c, const char *mechanism);
/* auth_count - how many authenticators are configured */
size_t auth_count(const struct cfg *c);
/* auth_at - authenticator i (file order), NULL past the end */
const struct cfg_auth *auth_at(const struct cfg *c, size_t i);
/* auth_public_name - the mechanism name to advertise ("PLAIN", "LOGIN") */
const char *auth_public_name(const struct cfg_auth *a);
/* auth_prompt - prompt i (0 first) in plain text, "" past the end */
const char *auth_prompt(const struct cfg_auth *a, size_t i);

/* auth_check - expand server_condition with $auth1..$auth3 = parts[0..n)
 * (missing ones ""; n at most 3) and the caller's variables through
 * var(arg, name) (may be NULL). AUTH_OK with *id a malloc'd authenticated id
 * (server_set_id, or the user name); otherwise *id is NULL and, for
 * AUTH_DEFER and AUTH_ERROR, msg (msglen bytes, may be 0) says why. */
int auth_check(const struct cfg_auth *a, const char *const *parts, size_t n,
               const char *(*var)(void *, const char *), void *arg, char **id, char *msg,
               size_t msglen);

/* auth_advertise - server_advertise_condition: 1 advertise, 0 do not (also
 * when the expansion fails or defers, as in Exim). The caller checks
 * auth_advertise_hosts (struct cfg) first. */
int auth_advertise(const struct cfg_auth *a, const char *(*var)(void *, const char *), void *arg);

/* auth_crypteq - the crypteq condition: 1 when password matches hash, 0
 * when not, -1 with why in err for a hash of an unknown "{type}" */
int auth_crypteq(const char *password, const char *hash, char *err, size_t errlen);

/* auth_cfg_free - release the authenticators' compiled expansions (cfg_free) */
void auth_cfg_free(struct cfg *c);

#endif
