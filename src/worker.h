/*
 * worker.h
 *		The background worker that runs queued pipeline jobs.
 */
#ifndef STOCKELT_WORKER_H
#define STOCKELT_WORKER_H

/* From _PG_init; not during a binary upgrade. */
extern void worker_register(void);

#endif							/* STOCKELT_WORKER_H */
