/*
 * conf.h - the configuration language: floor 2, above base/ and below the
 *          engine and the servers.
 *
 * Owns
 *   config.h        the Exim-style file syntax, the option tables of the main
 *                   section, routers, transports, retry and destinations,
 *                   named host and domain lists; parsed once into an immutable
 *                   struct cfg (SIGHUP builds a new one); time and size units
 *   expand.h        expansion strings: compiled at load (file:line:column
 *                   errors), evaluated per use by any thread
 *   lookup.h        the lookups behind ${lookup...}: lsearch-style files,
 *                   LMDB (read-only, opened once), Redis (per-thread pools)
 *   retry_syntax.h  the "begin retry" rule syntax and the default rule
 *   address.h       RFC 5321 path and mailbox syntax
 *
 * Rules
 *   - conf/ includes base/ only (and its libraries: PCRE2, hiredis, LMDB);
 *     never engine/ or api/. What the values mean at delivery time (retry
 *     schedules, routing) is the engine's.
 *   - A struct cfg is read-only once loaded: every thread may read it
 *     without a lock while it is the current one.
 */
#ifndef SPATE_CONF_CONF_H
#define SPATE_CONF_CONF_H

#include "conf/address.h"
#include "conf/config.h"
#include "conf/expand.h"
#include "conf/lookup.h"
#include "conf/retry_syntax.h"

#endif
