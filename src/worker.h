/*
 * worker.h
 *		The background worker that runs queued pipeline jobs.
 */
#ifndef STOCKELT_WORKER_H
#define STOCKELT_WORKER_H

/*
 * From _PG_init: the worker's shared memory, and the worker itself (not
 * during a binary upgrade).
 */
extern void worker_register(void);

/* Sets the worker's latch, so that it looks for work at once. */
extern void worker_wake(void);

#endif							/* STOCKELT_WORKER_H */
