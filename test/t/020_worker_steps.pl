# The worker's steps besides the jobs (the watchlist pass, the gold refresh,
# pruning) recorded where a psql user looks: each step made to fail in turn,
# by a lock another session holds or by a broken object, is read back from
# stockelt.worker_steps by a role holding the README's grants, with its
# SQLSTATE, message and time, and in stockelt.worker; then mended, seen ok.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;

my $standin = start_standin('--weeks', '52');
my $node = worker_node('steps', $standin);
$node->safe_psql('postgres', q{CREATE ROLE etl LOGIN});
$node->safe_psql('postgres', readme_grants('etl'));

# A step's row as the pipeline role reads it.
sub step
{
	my ($step) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT state || ' ' || failures || ' ' || coalesce(last_sqlstate, '-') || ' '
			   || (last_failed_at IS NOT NULL AND last_failed_at > now() - interval '1 minute')
			   || ' ' || coalesce(last_error, '-')
		  FROM stockelt.worker_steps WHERE step = '$step'}, extra_params => [ '-U', 'etl' ]);
}

sub wait_for_step
{
	my ($step, $condition) = @_;
	return defined wait_for($node, qq{SELECT $condition FROM stockelt.worker_steps
									   WHERE step = '$step'}, 30);
}

sub failing_steps
{
	return $node->safe_psql('postgres',
		q{SELECT coalesce(array_to_string(failing_steps, ', '), 'none') FROM stockelt.worker});
}

# ---------------------------------------------------------------- all well

ok(wait_for_step('enqueue due watchlist symbols', q{state = 'ok'})
	  && wait_for_step('prune finished jobs', q{state = 'ok'}),
	'the housekeeping steps are recorded ok once they ran');
is(failing_steps(), 'none', 'stockelt.worker names no failing step');

# ---------------------------------------------------------------- the watchlist pass, a lock held

my $session = $node->background_psql('postgres');
$session->query_safe('BEGIN');
$session->query_safe('LOCK TABLE stockelt.watchlist IN SHARE MODE');
ok(wait_for_step('enqueue due watchlist symbols', q{state = 'held back'}),
	'a lock another session holds: the watchlist pass is held back');
like(step('enqueue due watchlist symbols'),
	qr/^held back 1 55P03 true canceling statement due to lock timeout: another session holds a lock it needs/,
	'the pipeline role reads the SQLSTATE, the time and why');
is(failing_steps(), 'enqueue due watchlist symbols', 'stockelt.worker names it');
$session->query_safe('COMMIT');
ok(wait_for_step('enqueue due watchlist symbols', q{state = 'ok' AND failures = 0}),
	'once the session ends the pass runs and is ok again');
like(step('enqueue due watchlist symbols'), qr/^ok 0 55P03 true /,
	'the latest failure stays on record');

# ---------------------------------------------------------------- the gold refresh, a broken object

$node->safe_psql('postgres', 'ALTER TABLE gold.fact_weekly_prices RENAME TO fact_broken');
$node->safe_psql('postgres', q{SELECT stockelt_enqueue(ARRAY['STEP1'])});
ok(defined wait_for($node, q{SELECT state = 'done' FROM stockelt.jobs WHERE symbol = 'STEP1'}, 15),
	'the job is done');
ok(wait_for_step('refresh gold', q{state = 'failing'}), 'the refresh after it fails');
like(step('refresh gold'),
	qr/^failing \d+ 42P01 true relation "gold\.fact_weekly_prices" does not exist/,
	'with its SQLSTATE and message');
is(failing_steps(), 'refresh gold', 'stockelt.worker names it');
$node->safe_psql('postgres', 'ALTER TABLE gold.fact_broken RENAME TO fact_weekly_prices');
ok(wait_for_step('refresh gold', q{state = 'ok'}), 'mended, the refresh is tried again and ok');
is($node->safe_psql('postgres',
		q{SELECT count(*) > 0 FROM gold.fact_weekly_prices f JOIN gold.dim_stock s USING (stock_key)
		   WHERE s.symbol = 'STEP1'}),
	't', 'and gold has the job\'s symbol');

# ---------------------------------------------------------------- pruning, a broken object

$node->safe_psql('postgres', q{
CREATE FUNCTION public.refuse_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	RAISE EXCEPTION 'jobs are kept here' USING ERRCODE = 'P0099';
END $$;
CREATE TRIGGER refuse_delete BEFORE DELETE ON stockelt.jobs
	FOR EACH ROW EXECUTE FUNCTION public.refuse_delete();
});
reload_settings($node, 'stockelt.job_retention' => '1s');
ok(wait_for_step('prune finished jobs', q{state = 'failing'}), 'pruning fails');
like(step('prune finished jobs'), qr/^failing \d+ P0099 true jobs are kept here$/,
	'with its SQLSTATE and message');
$node->safe_psql('postgres', 'DROP TRIGGER refuse_delete ON stockelt.jobs');
ok(wait_for_step('prune finished jobs', q{state = 'ok'}), 'mended, pruning is ok');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stockelt.jobs WHERE symbol = 'STEP1'}),
	'0', 'and the finished job is pruned');
is(failing_steps(), 'none', 'no step fails any more');

$node->stop;
$standin->stop;
done_testing();
