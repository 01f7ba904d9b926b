/*
 * trailing.c
 *		The trailing-window statistics of the gold refresh, as window functions
 *		that read each row once.
 *
 * stockelt._trailing_corr(y, x, width, wanted) and
 * stockelt._trailing_stddev(x, width, wanted) return, at each row where wanted
 * is true, what corr(y, x) and stddev_samp(x) return over the frame
 * ROWS width - 1 PRECEDING, bit for bit: the same Youngs-Cramer sums
 * (the algorithm of PostgreSQL's float8 aggregates), added oldest row first
 * over the same rows.  PostgreSQL has no inverse transition for those float8
 * aggregates, so over a moving frame it sums each row's frame afresh, fetching
 * every one of its rows from the window's tuple store again.  These keep the
 * partition's last width inputs in a ring and sum them there.  A week's
 * statistic still depends on its own width rows alone, so an incremental
 * refresh and a full rebuild give the same bits.  At a row not wanted (the
 * weeks an incremental refresh reads only for the windows of later ones) the
 * ring takes the row and nothing is summed: the result is NULL.
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"
#include "utils/float.h"
#include "windowapi.h"

PG_FUNCTION_INFO_V1(stockelt_trailing_corr);
PG_FUNCTION_INFO_V1(stockelt_trailing_stddev);

/* Wider windows than the refresh needs are refused, so that a ring stays small. */
#define TRAILING_MAX_WIDTH 1000

/*
 * The partition's last rows, in the window function's partition-local memory
 * (zeroed when a partition starts).  Slot i holds one row's inputs; a row
 * where an input is NULL is held as absent, as an aggregate skips it.
 */
typedef struct TrailingRing
{
	int			width;			/* 0 until the partition's first row */
	int			filled;			/* rows held, at most width */
	int			next;			/* the slot the next row goes to */
	int64		position;		/* the newest row's position in the partition */
	bool	   *present;
	double	   *a;				/* the first input, and the second */
	double	   *b;
} TrailingRing;

/* What corr() and stddev_samp() keep: count, sums, sums of squared deviations. */
typedef struct TrailingSums
{
	double		n;
	double		sx;
	double		sxx;
	double		sy;
	double		syy;
	double		sxy;
} TrailingSums;

static Size
ring_size(int width)
{
	return MAXALIGN(sizeof(TrailingRing)) + MAXALIGN(sizeof(bool) * width)
		+ 2 * sizeof(double) * width;
}

/*
 * Adds the current row to the ring: arguments 0 .. nvalues - 1 are its inputs,
 * argument nvalues the window's width.  Rows come in partition order, each
 * once (as WindowAgg evaluates a window function); anything else is a bug.
 */
static TrailingRing *
ring_push(WindowObject winobj, int nvalues)
{
	int64		position = WinGetCurrentPosition(winobj);
	TrailingRing *ring;
	Datum		values[2];
	bool		isnull;
	bool		absent = false;
	int			width;
	int			slot;

	width = DatumGetInt32(WinGetFuncArgCurrent(winobj, nvalues, &isnull));
	if (isnull || width < 1 || width > TRAILING_MAX_WIDTH)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("trailing window width must be between 1 and %d", TRAILING_MAX_WIDTH)));
	ring = WinGetPartitionLocalMemory(winobj, ring_size(width));
	if (ring->width == 0)
	{
		char	   *p = (char *) ring + MAXALIGN(sizeof(TrailingRing));

		ring->width = width;
		ring->position = -1;
		ring->present = (bool *) p;
		ring->a = (double *) (p + MAXALIGN(sizeof(bool) * width));
		ring->b = ring->a + width;
	}
	else if (ring->width != width)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("trailing window width must be the same for every row of a partition")));
	if (position != ring->position + 1)
		elog(ERROR, "trailing window function called for row " INT64_FORMAT " after row " INT64_FORMAT,
			 position, ring->position);

	for (int i = 0; i < nvalues; i++)
	{
		values[i] = WinGetFuncArgCurrent(winobj, i, &isnull);
		absent |= isnull;
	}
	slot = ring->next;
	ring->present[slot] = !absent;
	if (!absent)
	{
		ring->a[slot] = DatumGetFloat8(values[0]);
		ring->b[slot] = nvalues > 1 ? DatumGetFloat8(values[1]) : 0.0;
	}
	ring->next = (slot + 1) % width;
	if (ring->filled < width)
		ring->filled++;
	ring->position = position;
	/* earlier rows are never read again through this function */
	WinSetMarkPosition(winobj, position);
	return ring;
}

/* Whether the current row's statistic is wanted: argument nvalues + 1, NULL as false. */
static bool
row_wanted(WindowObject winobj, int nvalues)
{
	bool		isnull;
	Datum		wanted = WinGetFuncArgCurrent(winobj, nvalues + 1, &isnull);

	return !isnull && DatumGetBool(wanted);
}

/*
 * One row into the sums of one variable, as float8_accum does it: the
 * Youngs-Cramer update, NaN for the sum of squares once an input is infinite
 * or NaN, an overflow error when finite inputs overflow.
 */
static void
accumulate(double value, double *n, double *s, double *ss)
{
	double		n_before = *n;
	double		s_before = *s;
	double		deviation;

	*n += 1.0;
	*s += value;
	if (n_before > 0.0)
	{
		deviation = value * *n - *s;
		*ss += deviation * deviation / (*n * n_before);
		if (isinf(*s) || isinf(*ss))
		{
			if (!isinf(s_before) && !isinf(value))
				float_overflow_error();
			*ss = get_float8_nan();
		}
	}
	else if (isnan(value) || isinf(value))
		*ss = get_float8_nan();
}

/* One pair (x, y) into the sums of both, as float8_regr_accum does it. */
static void
accumulate_pair(double x, double y, TrailingSums *sums)
{
	double		n_before = sums->n;
	double		sx_before = sums->sx;
	double		sy_before = sums->sy;
	double		dx;
	double		dy;
	double		scale;

	sums->n += 1.0;
	sums->sx += x;
	sums->sy += y;
	if (n_before > 0.0)
	{
		dx = x * sums->n - sums->sx;
		dy = y * sums->n - sums->sy;
		scale = 1.0 / (sums->n * n_before);
		sums->sxx += dx * dx * scale;
		sums->syy += dy * dy * scale;
		sums->sxy += dx * dy * scale;
		if (isinf(sums->sx) || isinf(sums->sxx))
		{
			if (!isinf(sx_before) && !isinf(x))
				float_overflow_error();
			sums->sxx = get_float8_nan();
		}
		if (isinf(sums->sy) || isinf(sums->syy))
		{
			if (!isinf(sy_before) && !isinf(y))
				float_overflow_error();
			sums->syy = get_float8_nan();
		}
		if (isinf(sums->sxy))
		{
			if (!isinf(sx_before) && !isinf(x) && !isinf(sy_before) && !isinf(y))
				float_overflow_error();
			sums->sxy = get_float8_nan();
		}
	}
	else
	{
		if (isnan(x) || isinf(x))
			sums->sxx = sums->sxy = get_float8_nan();
		if (isnan(y) || isinf(y))
			sums->syy = sums->sxy = get_float8_nan();
	}
}

/* The sums over the ring's rows, oldest first, skipping absent ones. */
static TrailingSums
ring_sums(const TrailingRing *ring, bool pairs)
{
	TrailingSums sums = {0};
	int			slot = ring->filled < ring->width ? 0 : ring->next;

	for (int i = 0; i < ring->filled; i++, slot = (slot + 1) % ring->width)
	{
		if (!ring->present[slot])
			continue;
		if (pairs)
			accumulate_pair(ring->b[slot], ring->a[slot], &sums);
		else
			accumulate(ring->a[slot], &sums.n, &sums.sx, &sums.sxx);
	}
	return sums;
}

/*
 * stockelt._trailing_corr(y float8, x float8, width int, wanted bool):
 * corr(y, x) over this row and the width - 1 before it; NULL with no pair,
 * where either varies not at all, or where the row is not wanted.
 */
Datum
stockelt_trailing_corr(PG_FUNCTION_ARGS)
{
	WindowObject winobj = PG_WINDOW_OBJECT();
	TrailingRing *ring = ring_push(winobj, 2);
	TrailingSums sums;

	if (!row_wanted(winobj, 2))
		PG_RETURN_NULL();
	sums = ring_sums(ring, true);

	if (sums.n < 1.0 || sums.sxx == 0 || sums.syy == 0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(sums.sxy / sqrt(sums.sxx * sums.syy));
}

/*
 * stockelt._trailing_stddev(x float8, width int, wanted bool): stddev_samp(x)
 * over this row and the width - 1 before it; NULL with fewer than two values,
 * or where the row is not wanted.
 */
Datum
stockelt_trailing_stddev(PG_FUNCTION_ARGS)
{
	WindowObject winobj = PG_WINDOW_OBJECT();
	TrailingRing *ring = ring_push(winobj, 1);
	TrailingSums sums;

	if (!row_wanted(winobj, 1))
		PG_RETURN_NULL();
	sums = ring_sums(ring, false);

	if (sums.n <= 1.0)
		PG_RETURN_NULL();
	PG_RETURN_FLOAT8(sqrt(sums.sxx / (sums.n - 1.0)));
}
