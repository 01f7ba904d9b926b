/*
 * cluster.h
 *		Whether this database is part of a Citus cluster, and whether silver is
 *		laid out there as stockelt supports.
 */
#ifndef STOCKELT_CLUSTER_H
#define STOCKELT_CLUSTER_H

/*
 * Whether silver.weekly_adjusted_prices is a Citus table distributed by
 * symbol, which silver's writer must then reach through SQL.  False on a
 * database without Citus, at the cost of one catalog cache look-up.  Raises
 * SE300 for a layout stockelt does not support (silver distributed by another
 * column or as another kind of Citus table, a table of stockelt's own catalog
 * made a Citus table, stockelt's triggers left on distributed silver) and
 * SE301 on a worker node of the cluster.  The answer is kept until the end
 * of the transaction or a relation cache invalidation.
 */
extern bool cluster_silver_distributed(void);

/*
 * Raises SE301 when this database is a worker node of a Citus cluster, where
 * stockelt's catalog, change log and limiter are not the coordinator's;
 * nothing on a database without Citus.
 */
extern void cluster_require_coordinator(void);

#endif							/* STOCKELT_CLUSTER_H */
