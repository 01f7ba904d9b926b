/*
 * goldlog.h
 *		Gold's change log (stockelt.gold_pending): which symbols changed in
 *		silver, and from which week, since the last gold refresh.
 */
#ifndef STOCKELT_GOLDLOG_H
#define STOCKELT_GOLDLOG_H

#include "utils/date.h"

/*
 * Notes that a symbol changed in silver from a week on; the next refresh
 * rebuilds it from the oldest week noted.  Within the caller's transaction.
 */
extern void goldlog_note_change(const char *symbol, DateADT from_week);

/*
 * Takes the lock goldlog_note_change takes, waiting as lock_timeout allows:
 * a caller that must not wait for another session can take it before it
 * writes anything.
 */
extern void goldlog_lock(void);

#endif							/* STOCKELT_GOLDLOG_H */
