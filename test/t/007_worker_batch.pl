# A batch through the worker: calls really run in parallel, never more than
# stockelt.max_concurrent_requests at once, with no transaction open while
# they are in flight; gold is refreshed once for the batch; the watchlist is
# fetched when due and not before; finished jobs are pruned after
# stockelt.job_retention.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;
use Time::HiRes qw(time usleep);

# Every answer takes a second, and the limiter does not space calls: only the
# pool limits how many are in flight.
my $standin = start_standin('--weeks', '52', '--latency-ms', '1000');
my $node = worker_node('batch', $standin, q{
stockelt.max_concurrent_requests = 3
});

ok(defined wait_for($node,
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'stockelt worker'}, 15),
	'the worker runs');

# ---------------------------------------------------------------- parallel calls

my $refreshes_before = $node->safe_psql('postgres', 'SELECT count(*) FROM stockelt.gold_refreshes');
my $t0 = time;
$node->safe_psql('postgres', q{
	SELECT stockelt_enqueue(ARRAY(SELECT 'PAR' || i FROM generate_series(1, 9) i))});

# While calls are in flight, the worker has no transaction open.
my $idle_in_io;
for (1 .. 100)
{
	my ($running, $xact) = query_row($node, q{
		SELECT (SELECT count(*) FROM stockelt.jobs WHERE state = 'running'),
			   (SELECT xact_start IS NULL AND backend_xid IS NULL AND backend_xmin IS NULL
				  FROM pg_stat_activity WHERE backend_type = 'stockelt worker')});
	if ($running >= 2 && $xact eq 't')
	{
		$idle_in_io = 1;
		last;
	}
	usleep(20_000);
}
ok($idle_in_io, 'while calls are in flight the worker holds no transaction and no snapshot');

ok(defined wait_for($node, q{
		SELECT count(*) = 9 FROM stockelt.jobs WHERE symbol LIKE 'PAR%' AND state = 'done'}, 60),
	'all nine jobs are done');
my $elapsed = time - $t0;
cmp_ok($elapsed, '<', 7,
	sprintf('nine one-second calls took %.1f s: in parallel, not one after another', $elapsed));

# Each call from when it left the worker to its answer, as the jobs recorded it; the most
# that overlapped.
my $overlap = $node->safe_psql('postgres', q{
	WITH calls AS (
		SELECT finished_at - make_interval(secs => (ingest_ms + fetch_ms) / 1000) AS sent,
			   finished_at - make_interval(secs => ingest_ms / 1000) AS answered
		  FROM stockelt.jobs WHERE symbol LIKE 'PAR%'),
	events AS (
		SELECT sent AS at, 1 AS delta FROM calls
		UNION ALL
		SELECT answered, -1 FROM calls)
	SELECT max(in_flight) FROM (
		SELECT sum(delta) OVER (ORDER BY at, delta) AS in_flight FROM events) e});
is($overlap, 3, 'three calls were in flight at once, the setting, and never more');
is($standin->counts->{total}, 9, 'the server saw one call a job');

# One gold refresh for the batch, after its last job.
ok(defined wait_for($node, qq{
		SELECT count(*) > $refreshes_before FROM stockelt.gold_refreshes}, 30),
	'gold was refreshed');
sleep 1;
is( $node->safe_psql('postgres', qq{
		SELECT count(*) || ' ' || bool_and(started_at >= (SELECT max(finished_at) FROM stockelt.jobs))::int
		  FROM (SELECT * FROM stockelt.gold_refreshes ORDER BY id OFFSET $refreshes_before) r}),
	'1 1',
	'once for the batch of nine, after its last job');
is($node->safe_psql('postgres', q{
		SELECT count(*) FROM gold.dim_stock WHERE symbol LIKE 'PAR%'}),
	9, 'with the nine stocks');

# ---------------------------------------------------------------- the watchlist

$node->safe_psql('postgres', q{
	SELECT stockelt_watch('PAR1', '1 hour'), stockelt_watch('WATCH1', '1 hour')});
ok(defined wait_for($node, q{
		SELECT EXISTS (SELECT FROM stockelt.jobs WHERE symbol = 'WATCH1' AND state = 'done')}, 30),
	'a watched symbol never fetched is fetched');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stockelt.jobs WHERE symbol = 'PAR1'}),
	1, 'a watched symbol fetched within its interval is not fetched again');
# Older than its interval: due again at the next pass (every 10 s).
$node->safe_psql('postgres', q{
	UPDATE stockelt.bronze_objects SET fetched_at = fetched_at - interval '2 hours'
	 WHERE symbol = 'PAR1'});
ok(defined wait_for($node, q{
		SELECT count(*) = 2 FROM stockelt.jobs WHERE symbol = 'PAR1' AND state = 'done'}, 30),
	'it is fetched again once its newest fetch is older than the interval');
is($node->safe_psql('postgres', q{
		SELECT count(*) FROM stockelt.jobs WHERE symbol = 'WATCH1'}),
	1, 'and the fresh one is still not');

# ---------------------------------------------------------------- retention

my $kept = $node->safe_psql('postgres', q{
	SELECT count(*) FROM stockelt.jobs WHERE state = 'done' AND finished_at < now() - interval '5 s'});
cmp_ok($kept, '>=', 10, "finished jobs are kept for the default week ($kept)");
reload_settings($node, 'stockelt.job_retention' => '1s');
ok(defined wait_for($node, q{
		SELECT NOT EXISTS (SELECT FROM stockelt.jobs
						    WHERE state = 'done' AND finished_at < now() - interval '2 s')}, 30),
	'finished jobs older than stockelt.job_retention are pruned');

done_testing();
