/*
 * fuzz_acl.c - libFuzzer target for the "begin acl" section parser
 *              (conf/acl_parse.c, conf/acl_list.c).
 *
 * The input (cut at the first NUL) is appended to "begin acl\n" and loaded
 * with cfg_load_string. A refusal must carry a position ("fuzz:LINE:"); a
 * successful load is run: the first written ACL is found by name through
 * acl_find and evaluated (resuming through delays), then everything is
 * freed. The rate limiter is the real one, in memory (its state is bounded).
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/acl.h"
#include "conf/config.h"

/* fuzz_verify - answers verify at once, by the address's length */
static int
fuzz_verify(void *arg, int what, const char *address, char *msg, size_t msglen)
{
    (void)arg;
    (void)what;
    snprintf(msg, msglen, "checked");
    return strlen(address) % 3 == 0 ? ACL_VERIFY_OK : ACL_VERIFY_FAIL;
}

/* fuzz_first_name - the name of the first "NAME:" line after "begin acl" */
static int
fuzz_first_name(const char *text, char *name, size_t len)
{
    for (const char *s = text; s != NULL && *s; s = strchr(s, '\n'), s = s ? s + 1 : NULL) {
        size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.");
        if (n > 0 && n < len && s[n] == ':') {
            memcpy(name, s, n);
            name[n] = '\0';
            return 1;
        }
    }
    return 0;
}

/* fuzz_run - evaluate the ACL, resuming through suspensions */
static void
fuzz_run(const struct cfg *c, const struct acl *a)
{
    struct sockaddr_in cl = {.sin_family = AF_INET}, lo = {.sin_family = AF_INET};
    inet_pton(AF_INET, "192.0.2.1", &cl.sin_addr);
    inet_pton(AF_INET, "192.0.2.2", &lo.sin_addr);
    struct acl_env env = {.where = ACL_WHERE_RCPT,
                          .cfg = c,
                          .client = (struct sockaddr *)&cl,
                          .local = (struct sockaddr *)&lo,
                          .helo = "h.example",
                          .sender = "s@example.com",
                          .recipient = "r@example.net",
                          .verify = fuzz_verify,
                          .cvars = acl_vars_new(),
                          .mvars = acl_vars_new()};
    struct acl_result res = {0};
    int rc = acl_run(a, &env, &res);
    for (int i = 0; i < 50 && rc == ACL_SUSPEND; i++)
        rc = acl_resume(a, &env, &res);
    if (rc < ACL_ACCEPT || rc > ACL_SUSPEND)
        abort();
    acl_result_clear(&res);
    acl_vars_free(env.cvars);
    acl_vars_free(env.mvars);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char head[] = "begin acl\n";
    char *text = malloc(sizeof head + size);
    if (text == NULL)
        return 0;
    memcpy(text, head, sizeof head - 1);
    memcpy(text + sizeof head - 1, data, size);
    text[sizeof head - 1 + size] = '\0';
    char err[CFG_ERR_MAX], name[128];
    struct cfg *c = NULL;
    if (cfg_load_string(text, "fuzz", NULL, 0, &c, err, sizeof err) == 0) {
        if (fuzz_first_name(text + sizeof head - 1, name, sizeof name)) {
            const struct acl *a = acl_find(c, name);
            if (a != NULL)
                fuzz_run(c, a);
        }
        cfg_free(c);
    } else if (strncmp(err, "fuzz:", 5) != 0) {
        abort(); /* every refusal names its position */
    }
    free(text);
    return 0;
}
