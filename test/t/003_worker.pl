# The background worker: it serves stockelt.database, is woken by an enqueue
# at once, exits quickly on SIGTERM with a request in flight and comes back,
# follows a reload, and gives each kind of provider answer the state, backoff
# and error the README promises.  A trigger on stockelt.jobs records every
# state the worker writes, so that short backoffs can be checked afterwards.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;
use Time::HiRes qw(time usleep);

my $standin = start_standin('--weeks', '52');
my $node = worker_node('worker', $standin, q{
stockelt.retry_delay = '200ms'
stockelt.max_attempts = 4
});

$node->safe_psql('postgres', q{
CREATE TABLE public.job_history (
	n bigserial PRIMARY KEY, symbol text, state text, attempts integer,
	next_attempt_at timestamptz, last_sqlstate text, last_http_status integer,
	at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION public.record_job() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
	INSERT INTO public.job_history (symbol, state, attempts, next_attempt_at, last_sqlstate,
									last_http_status)
	VALUES (NEW.symbol, NEW.state, NEW.attempts, NEW.next_attempt_at, NEW.last_sqlstate,
			NEW.last_http_status);
	RETURN NULL;
END $$;
CREATE TRIGGER record_job AFTER INSERT OR UPDATE ON stockelt.jobs
	FOR EACH ROW EXECUTE FUNCTION public.record_job();
});

sub enqueue
{
	my ($symbol) = @_;
	$node->safe_psql('postgres', "SELECT stockelt_enqueue(ARRAY['$symbol'])");
	return;
}

# Enqueues a symbol and waits until its job is done or failed.
sub run_job
{
	my ($symbol) = @_;
	enqueue($symbol);
	wait_for($node,
		"SELECT state IN ('done', 'failed') FROM stockelt.jobs WHERE symbol = '$symbol'", 30);
	return;
}

# The job's final state, attempts, last SQLSTATE and HTTP status.
sub job
{
	my ($symbol) = @_;
	return join ' ', query_row($node, qq{
		SELECT state, attempts, coalesce(last_sqlstate, '-'), coalesce(last_http_status::text, '-')
		  FROM stockelt.jobs WHERE symbol = '$symbol'});
}

# Every state the job went through, as "state/attempts" words.
sub states
{
	my ($symbol) = @_;
	return $node->safe_psql('postgres', qq{
		SELECT string_agg(state || '/' || attempts, ' ' ORDER BY n)
		  FROM public.job_history WHERE symbol = '$symbol'});
}

# Each retry's SQLSTATE, HTTP status and delay (next_attempt_at minus the time it was
# written, in ms), and whether every next attempt waited for next_attempt_at.
sub retries
{
	my ($symbol) = @_;
	my @rows = split /\n/, $node->safe_psql('postgres', qq{
		SELECT last_sqlstate, coalesce(last_http_status::text, '-'),
			   round(extract(epoch FROM next_attempt_at - at) * 1000)
		  FROM public.job_history WHERE symbol = '$symbol' AND state = 'retry' ORDER BY n});
	my $waited = $node->safe_psql('postgres', qq{
		SELECT coalesce(bool_and(at >= previous_next), true) FROM (
			SELECT state, at, lag(state) OVER w AS previous_state,
				   lag(next_attempt_at) OVER w AS previous_next
			  FROM public.job_history WHERE symbol = '$symbol' WINDOW w AS (ORDER BY n)) h
		 WHERE state = 'running' AND previous_state = 'retry'});
	return ([ map { [ split /\|/ ] } @rows ], $waited);
}

# ---------------------------------------------------------------- the worker runs

ok(defined wait_for($node,
		q{SELECT count(*) = 1 FROM pg_stat_activity WHERE backend_type = 'stockelt worker'}, 15),
	'one stockelt worker runs');
is( $node->safe_psql('postgres', q{
		SELECT datname || ', ' || application_name || ', ' || current_setting('stockelt.database')
		  FROM pg_stat_activity WHERE backend_type = 'stockelt worker'}),
	'postgres, stockelt worker, postgres',
	'it shows as "stockelt worker" in the database of stockelt.database');

# The enqueue wakes the worker that waited for CREATE EXTENSION.
run_job('WARM');
is(job('WARM'), 'done 1 - 200', 'a first job is done');
ok($node->log_contains('stockelt worker started for database "postgres"'),
	'the worker says which database it serves');
ok(defined wait_for($node,
		q{SELECT EXISTS (SELECT FROM gold.dim_stock WHERE symbol = 'WARM')}, 10),
	'the drained queue refreshed gold');

# ---------------------------------------------------------------- woken at once

# Idle, the worker sleeps up to 10 s; an enqueue must wake it through its latch.
for my $symbol ('WAKE1', 'WAKE2')
{
	wait_for($node, q{
		SELECT wait_event = 'Extension' FROM pg_stat_activity
		 WHERE backend_type = 'stockelt worker'
		   AND NOT EXISTS (SELECT FROM stockelt.jobs WHERE state IN ('queued', 'running', 'retry'))},
		10);
	sleep 1;
	run_job($symbol);
	my ($state, $seconds) = query_row($node, qq{
		SELECT state, extract(epoch FROM finished_at - enqueued_at)
		  FROM stockelt.jobs WHERE symbol = '$symbol'});
	is($state, 'done', "$symbol done");
	cmp_ok($seconds, '<', 1, "$symbol was done within 1 s of its enqueue (${seconds}s)");
}

# ---------------------------------------------------------------- reload

is($node->safe_psql('postgres', 'SELECT round(spacing_ms::numeric, 1) FROM stockelt_usage()'),
	'0.0', 'no limit: no spacing');
reload_settings($node, 'stockelt.requests_per_minute' => '120');
is($node->safe_psql('postgres', 'SELECT round(spacing_ms::numeric, 1) FROM stockelt_usage()'),
	'505.0', 'after a reload with 120 a minute: 505 ms between calls');
$node->safe_psql('postgres', q{SELECT stockelt_enqueue(ARRAY['HUP1', 'HUP2', 'HUP3'])});
wait_for($node,
	q{SELECT bool_and(state = 'done') FROM stockelt.jobs WHERE symbol LIKE 'HUP_'}, 20);
# When each request left the worker: the answer came fetch_ms later, was stored ingest_ms later.
my @sent = split /\n/, $node->safe_psql('postgres', q{
	SELECT extract(epoch FROM finished_at) - (fetch_ms + ingest_ms) / 1000
	  FROM stockelt.jobs WHERE symbol LIKE 'HUP_' ORDER BY 1});
is(scalar @sent, 3, 'three calls for three jobs');
my @gaps = map { sprintf '%.0f', 1000 * ($sent[$_] - $sent[ $_ - 1 ]) } 1 .. $#sent;
ok(@gaps == 2 && !grep({ $_ < 495 } @gaps), "the worker sent them 505 ms apart (@gaps ms)");
reload_settings($node, 'stockelt.requests_per_minute' => '0');
is($node->safe_psql('postgres', 'SELECT round(spacing_ms::numeric, 1) FROM stockelt_usage()'),
	'0.0', 'back to no spacing');

# ---------------------------------------------------------------- SIGTERM with a request in flight

$standin->ctl('next', 'delay_ms=20000');
enqueue('SLOW');
ok(defined wait_for($node,
		q{SELECT state = 'running' FROM stockelt.jobs WHERE symbol = 'SLOW'}, 10),
	'the slow job runs');
for (1 .. 100)
{
	last if $standin->count('SLOW') == 1;
	usleep(50_000);
}
is($standin->count('SLOW'), 1, 'its request reached the server');
usleep(200_000);
my $pid = worker_pid($node);
my $signalled = time;
kill 'TERM', $pid;
usleep(5_000) until process_gone($pid) || time - $signalled > 5;
my $exit_seconds = time - $signalled;
cmp_ok($exit_seconds, '<', 1,
	sprintf('the worker exited %.0f ms after SIGTERM with a request in flight',
		1000 * $exit_seconds));
ok(defined wait_for($node, qq{
		SELECT pid <> $pid FROM pg_stat_activity WHERE backend_type = 'stockelt worker'}, 10),
	sprintf('a new worker runs %.1f s after the SIGTERM', time - $signalled));
ok(defined wait_for($node, q{SELECT state = 'done' FROM stockelt.jobs WHERE symbol = 'SLOW'}, 15),
	'the new worker finished the interrupted job');
is(job('SLOW'), 'done 2 - 200', 'with one repeated call');
is($standin->count('SLOW'), 2, 'the server saw two calls for it');
ok($node->log_contains(
		'terminating background worker "stockelt worker" due to administrator command'),
	'the worker was terminated, not crashed');

# ---------------------------------------------------------------- answers

# HTTP 503 every time: retried with growing delays, failed after max_attempts.
$standin->ctl('next', 'status=503&count=4');
run_job('S503');
is(job('S503'), 'failed 4 SE100 503', '503: failed after 4 attempts, SQLSTATE SE100, HTTP 503');
is(states('S503'),
	'queued/0 running/1 retry/1 running/2 retry/2 running/3 retry/3 running/4 failed/4',
	'503: retried until stockelt.max_attempts');
is($standin->count('S503'), 4, '503: four calls');
my ($r, $waited) = retries('S503');
my @delays = map { $_->[2] } @$r;
is(scalar @delays, 3, 'three retries');
# 200 ms · 2^(n−1) · [0.5, 1.5), less a little for the time the update took
for my $i (0 .. $#delays)
{
	my ($low, $high) = (100 * 2**$i - 50, 300 * 2**$i);
	ok($delays[$i] >= $low && $delays[$i] <= $high,
		"retry " . ($i + 1) . " waits $delays[$i] ms, within [$low, $high]");
}
cmp_ok($delays[2], '>', $delays[0], 'the delays grow');
is($waited, 't', 'no attempt started before its next_attempt_at');
is(join(' ', map { "$_->[0]/$_->[1]" } @$r), 'SE100/503 SE100/503 SE100/503',
	'each retry kept SE100 and HTTP 503');

# Timeout: retried, done at the second attempt.
reload_settings($node, 'stockelt.request_timeout' => '700ms');
$standin->ctl('next', 'delay_ms=3000');
run_job('STIMEOUT');
is(states('STIMEOUT'), 'queued/0 running/1 retry/1 running/2 done/2',
	'timeout: retried, then done');
($r) = retries('STIMEOUT');
is("$r->[0][0] $r->[0][1]", 'SE101 -', 'timeout: SQLSTATE SE101, no HTTP status');
reload_settings($node, 'stockelt.request_timeout' => '10s');

# Connection reset: retried.  libcurl itself retries once when a reused
# connection dies before any byte of the answer, so two resets are queued:
# the worker's first attempt reuses the connection of the job before.
$standin->ctl('next', 'reset=1&count=2');
run_job('SRESET');
is(states('SRESET'), 'queued/0 running/1 retry/1 running/2 done/2', 'reset: retried, then done');
($r) = retries('SRESET');
is("$r->[0][0] $r->[0][1]", 'SE103 -', 'reset: SQLSTATE SE103');
is($standin->count('SRESET'), 3, 'reset: three calls, one of them libcurl\'s own retry');

# An unknown symbol and a premium answer fail at once.
$standin->ctl('symbol', 'symbol=SBAD&unknown=1');
run_job('SBAD');
is(job('SBAD'), 'failed 1 SE005 200', 'invalid symbol: failed after 1 attempt, SE005');
is(states('SBAD'), 'queued/0 running/1 failed/1', 'invalid symbol: never retried');
is($standin->count('SBAD'), 1, 'invalid symbol: one call');

$standin->ctl('next', 'message=premium');
run_job('SPREMIUM');
is(job('SPREMIUM'), 'failed 1 SE003 200', 'premium: failed after 1 attempt, SE003');
is(states('SPREMIUM'), 'queued/0 running/1 failed/1', 'premium: never retried');

# The worker follows no redirect, not even to the same host.
$standin->ctl('next', 'redirect=same');
run_job('SREDIRECT');
is(job('SREDIRECT'), 'failed 1 SE105 -', 'redirect: failed after 1 attempt, SE105');
is($standin->count('SREDIRECT'), 1, 'redirect: the target was not requested');

# Throttle: retried after a backoff, and the limiter slows every caller.
reload_settings($node, 'stockelt.requests_per_second' => '10');
my ($throttled_before, $spacing_before) =
  query_row($node, 'SELECT throttled, round(spacing_ms::numeric, 1) FROM stockelt_usage()');
is($spacing_before, '101.0', '10 a second: 101 ms between calls');
$standin->ctl('next', 'message=burst');
run_job('STHROTTLE');
is(states('STHROTTLE'), 'queued/0 running/1 retry/1 running/2 done/2',
	'throttle: retried, then done');
($r, $waited) = retries('STHROTTLE');
is("$r->[0][0] $r->[0][1]", 'SE001 200', 'throttle: SQLSTATE SE001');
ok($r->[0][2] >= 50 && $r->[0][2] <= 300,
	"throttle: next_attempt_at was $r->[0][2] ms in the future");
is($waited, 't', 'throttle: the retry waited for it');
my ($throttled_after, $spacing_after) =
  query_row($node, 'SELECT throttled, round(spacing_ms::numeric, 1) FROM stockelt_usage()');
is($throttled_after, $throttled_before + 1, 'throttle: counted in stockelt_usage()');
is($spacing_after, '202.0', 'throttle: the spacing doubled');
reload_settings($node, 'stockelt.requests_per_second' => '0');

# Daily quota: the job waits for the next day, and so does every caller.
my $next_day = q{(date_trunc('day', now() AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC'};
$standin->ctl('next', 'message=daily_quota');
enqueue('SQUOTA');
ok(defined wait_for($node,
		q{SELECT state = 'retry' FROM stockelt.jobs WHERE symbol = 'SQUOTA'}, 15),
	'daily quota: the job waits');
is( $node->safe_psql('postgres', qq{
		SELECT attempts || ' ' || last_sqlstate || ' ' || (next_attempt_at = $next_day)
		  FROM stockelt.jobs WHERE symbol = 'SQUOTA'}),
	'1 SE002 true', 'daily quota: SE002, next attempt at the start of the next day');
is( $node->safe_psql('postgres', qq{SELECT paused_until = $next_day FROM stockelt_usage()}),
	't', 'daily quota: the limiter is paused until then');
my $t0 = time;
is(sqlstate_of($node, q{SELECT stockelt_fetch('SSYNC')}), 'SE002',
	'daily quota: a synchronous fetch fails with SE002');
cmp_ok(time - $t0, '<', 1, 'at once');
is($standin->count('SSYNC'), 0, 'without calling the API');
enqueue('SQUOTA2');
sleep 2;
is( $node->safe_psql('postgres', qq{
		SELECT state || ' ' || attempts || ' ' || (next_attempt_at = $next_day)
		  FROM stockelt.jobs WHERE symbol = 'SQUOTA2'}),
	'queued 0 true', 'daily quota: a new job waits for the next day too');
is($standin->count('SQUOTA2'), 0, 'without calling the API');

# stockelt_resume() lifts the pause, and the worker takes up both jobs.
is($node->safe_psql('postgres', 'SELECT stockelt_resume()'), 't', 'the pause is lifted');
my $resumed = wait_for($node,
	q{SELECT bool_and(state = 'done') FROM stockelt.jobs WHERE symbol IN ('SQUOTA', 'SQUOTA2')}, 15);
ok(defined $resumed && $resumed < 2,
	sprintf('the worker did the held-back jobs at once (%.1f s)', $resumed // -1));
is($standin->count('SQUOTA') . ' ' . $standin->count('SQUOTA2'), '2 1',
	'with one more call each');

my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|server process .* was terminated/, 'no process crashed');

$node->stop;
$standin->stop;
done_testing();
