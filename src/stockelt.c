/*
 * stockelt.c
 *		Module entry point: the rule that stockelt is preloaded, and the order
 *		in which the modules are set up.
 *
 * The top of the tree: it includes the modules it sets up, and nothing
 * includes it.  Settings live in settings.c, SQLSTATEs in errcodes.h.
 */
#include "postgres.h"

#include <jansson.h>

#include "fmgr.h"
#include "miscadmin.h"

#include "http.h"
#include "ratelimit.h"
#include "settings.h"
#include "worker.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

void
_PG_init(void)
{
	if (!process_shared_preload_libraries_in_progress)
		ereport(ERROR,
				(errcode(ERRCODE_OBJECT_NOT_IN_PREREQUISITE_STATE),
				 errmsg("stockelt must be loaded via shared_preload_libraries"),
				 errhint("Add stockelt to shared_preload_libraries in postgresql.conf and restart the server.")));

	settings_define();

	ratelimit_shmem_request();
	worker_register();

	http_init();
	/* Seeded once, before any parse can run on a helper thread. */
	json_object_seed(0);
}
