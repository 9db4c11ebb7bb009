/*
 * config_dsn.c - the setters of the options that shape delivery status
 *                notifications (engine/dsn.h): delay_warning, a list of
 *                times, and the template files of the text part, read and
 *                compiled as expansion strings at load time so that a syntax
 *                error stops the load with the file and line of the option.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/config_int.h"
#include "conf/expand.h"

#define TEMPLATE_MAX (64 * 1024) /* bytes of a template file */

/* cfg_opt_delay_warning - "24h", "4h:8h:24h" (the last repeats) or "0" (none) */
int
cfg_opt_delay_warning(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    struct cfg *c = base;
    char **items;
    size_t n;
    long prev = 0;
    cfg_split_list(p, val, ':', 0, &items, &n);
    if (n == 0 || n > CFG_DELAY_WARNING_MAX)
        return cfg_bad_value(p, d, val, "a list of at most 8 rising times, or 0");
    c->n_delay_warning = 0;
    for (size_t i = 0; i < n; i++) {
        long v = cfg_parse_time(items[i]);
        if (v < 0 || v > INT32_MAX || (v == 0 && n > 1) || (v > 0 && v <= prev))
            return cfg_bad_value(p, d, val, "a list of at most 8 rising times, or 0");
        if (v == 0)
            return 0; /* no warnings */
        c->delay_warning_s[c->n_delay_warning++] = (int)v;
        prev = v;
    }
    return 0;
}

/* read_small - a whole file of at most TEMPLATE_MAX bytes, malloc'd; NULL with errno */
static char *
read_small(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    size_t n;
    if (f == NULL)
        return NULL;
    if ((buf = malloc(TEMPLATE_MAX + 1)) == NULL)
        abort();
    n = fread(buf, 1, TEMPLATE_MAX + 1, f);
    fclose(f);
    if (n > TEMPLATE_MAX) {
        free(buf);
        errno = EFBIG;
        return NULL;
    }
    buf[n] = '\0';
    return buf;
}

/* cfg_opt_template_file - bounce_message_file and the like: the file's text,
 * compiled as an expansion string */
int
cfg_opt_template_file(struct pctx *p, const struct cfg_optdef *d, void *base, const char *val)
{
    struct exp_str **slot = CFG_AT(base, d->off, struct exp_str *);
    char err[256], *text;
    struct exp_str *e;
    if (*val == '\0')
        return 0;
    if ((text = read_small(val)) == NULL)
        return cfg_perr(p, "option %s: cannot read %s: %s", d->name, val, strerror(errno));
    if (memchr(text, '\0', strlen(text)) != NULL || strlen(text) == 0) {
        free(text);
        return cfg_perr(p, "option %s: %s is empty", d->name, val);
    }
    e = exp_compile(text, err, sizeof(err));
    free(text);
    if (e == NULL)
        return cfg_perr(p, "option %s: %s: %s", d->name, val, err);
    exp_free(*slot); /* set twice: the later one wins */
    *slot = e;
    return 0;
}

/* cfg_dsn_free - the compiled strings of the DSN options */
void
cfg_dsn_free(struct cfg *c)
{
    exp_free(c->delay_warning_condition);
    exp_free(c->bounce_message);
    exp_free(c->warn_message);
    exp_free(c->success_message);
}
