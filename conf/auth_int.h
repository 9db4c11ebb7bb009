/*
 * auth_int.h - the "begin authenticators" section as the configuration
 *              parser sees it (conf/auth_config.c). Not part of the conf/
 *              contract: only config_sections.c and conf/auth*.c include it.
 *
 * auth_config.c sits between config_opts.c and config_sections.c in the
 * parser's order (config_int.h): it uses the setters and the lexical
 * helpers, and config_sections.c lists the section in its table.
 */
#ifndef SPATE_CONF_AUTH_INT_H
#define SPATE_CONF_AUTH_INT_H

#include "conf/auth.h"
#include "conf/config_int.h"

/* the options of an authenticator instance (struct cfg_auth) */
extern const struct cfg_optdef cfg_auth_opts[];

/* cfg_auth_line - a line of the section: "name:" opens an instance, other
 * lines are its options; 0 or -1 (error in p) */
int cfg_auth_line(struct pctx *p, char *line);
/* cfg_auth_finish - check the instance just read (at its own line) */
int cfg_auth_finish(struct pctx *p);

#endif
