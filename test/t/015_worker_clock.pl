# stockelt's clock moved by stockelt.test_clock_offset: the daily budget starts
# again at the next midnight and a retry comes due after its backoff, each
# seen without sleeping through the wait; until the clock moves, the job waits,
# and every job held for the budget or a quota pause says so and when it runs.
# The setting is for superusers alone and the same in every process.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;
use Time::HiRes qw(usleep);

my $standin = start_standin('--weeks', '52');
my $node = worker_node('clock', $standin, q{
stockelt.requests_per_day = 1
stockelt.day_time_zone = 'UTC'
stockelt.retry_delay = '1h'
});
my $offset = 0;

sub enqueue
{
	my ($symbol) = @_;
	$node->safe_psql('postgres', "SELECT stockelt_enqueue(ARRAY['$symbol'])");
	return;
}

sub job
{
	my ($symbol) = @_;
	return $node->safe_psql('postgres',
		"SELECT state || ' ' || attempts FROM stockelt.jobs WHERE symbol = '$symbol'");
}

# queued_during_wait(symbol, reason, due, name): a job queued while the worker holds every job
# says why and when it will run, and so does stockelt.worker for the next job.
sub queued_during_wait
{
	my ($symbol, $reason, $due, $name) = @_;
	(my $quoted = $reason) =~ s/'/''/g;
	enqueue($symbol);
	ok(defined wait_for($node, qq{
			SELECT state = 'queued' AND waiting_for = '$quoted' AND next_attempt_at = $due
			  FROM stockelt.jobs WHERE symbol = '$symbol'}, 15),
		$name);
	is($node->safe_psql('postgres', qq{
			SELECT waiting_for || ', ' || (next_attempt_at = $due) FROM stockelt.worker}),
		"$reason, true", 'and so does stockelt.worker, with the time the next job runs');
	return;
}

# Moves stockelt's clock forward to $offset seconds past the server's and
# returns once a new session sees it, plus a moment for the worker's reload.
sub move_clock
{
	($offset) = @_;
	$node->safe_psql('postgres', "ALTER SYSTEM SET stockelt.test_clock_offset = $offset");
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	defined wait_for($node, qq{SELECT setting = '$offset' FROM pg_catalog.pg_settings
								WHERE name = 'stockelt.test_clock_offset'}, 30)
	  or die 'stockelt.test_clock_offset not reloaded';
	usleep(300_000);
	return;
}

# stockelt's moved time, as SQL.
sub moved_now
{
	return "(pg_catalog.now() + pg_catalog.make_interval(secs => $offset))";
}

# ---------------------------------------------------------------- the setting

$node->safe_psql('postgres', 'CREATE ROLE tester LOGIN');
my ($ret, $out, $err) = $node->psql('postgres', 'SHOW stockelt.test_clock_offset',
	extra_params => [ '-U', 'tester' ]);
# PostgreSQL 16 reworded the refusal ("permission denied to examine ...").
like($err, qr/must be superuser or have privileges of pg_read_all_settings|permission denied to examine "stockelt\.test_clock_offset"/,
	'an ordinary role cannot read the clock offset');
($ret, $out, $err) = $node->psql('postgres',
	'ALTER SYSTEM SET stockelt.test_clock_offset = 86400', extra_params => [ '-U', 'tester' ]);
like($err, qr/permission denied to set parameter/, 'nor set it');
is(sqlstate_of($node, 'SET stockelt.test_clock_offset = 86400'), '55P02',
	'a session cannot move its own clock apart from the others');

# ---------------------------------------------------------------- the day's budget

enqueue('DAY1');
ok(defined wait_for($node, q{SELECT state = 'done' FROM stockelt.jobs WHERE symbol = 'DAY1'}, 15),
	'the first job of the day is done');
enqueue('DAY2');
my $next_midnight = q{(pg_catalog.date_trunc('day', pg_catalog.now() AT TIME ZONE 'UTC')
					   + interval '1 day') AT TIME ZONE 'UTC'};
ok(defined wait_for($node, qq{
		SELECT state = 'queued' AND attempts = 0 AND next_attempt_at = $next_midnight
		  FROM stockelt.jobs WHERE symbol = 'DAY2'}, 15),
	'the second waits for the next day: the budget of one call is spent');
sleep 2;
is(job('DAY2'), 'queued 0', 'while the clock stands, it still waits');
is($standin->count('DAY2'), 0, 'without calling the API');
is($node->safe_psql('postgres', qq{SELECT waiting_for FROM stockelt.jobs WHERE symbol = 'DAY2'}),
	"the next day's budget", 'the job says what it waits for');
queued_during_wait('DAY3', "the next day's budget", $next_midnight,
	'a job queued while the budget is spent shows it too, due at the next midnight');

# One minute past the next midnight.
move_clock($node->safe_psql('postgres', qq{
	SELECT pg_catalog.ceil(extract(epoch FROM $next_midnight - pg_catalog.now()))::int + 60}));
ok(defined wait_for($node, q{SELECT state = 'done' FROM stockelt.jobs WHERE symbol = 'DAY2'}, 15),
	'past midnight on stockelt\'s clock, the job is done');
is($standin->count('DAY2'), 1, 'with one call');
my $following_midnight = "($next_midnight + interval '1 day')";
ok(defined wait_for($node, qq{
		SELECT state = 'queued' AND waiting_for = 'the next day''s budget'
			   AND next_attempt_at = $following_midnight
		  FROM stockelt.jobs WHERE symbol = 'DAY3'}, 15),
	'the job behind it waits for the following day\'s budget');
is($node->safe_psql('postgres', 'SELECT used || \' of \' || daily_limit FROM stockelt_usage()'),
	'1 of 1', 'the new day counts that call alone');
is($node->safe_psql('postgres', q{SELECT day = (} . moved_now() . qq{ AT TIME ZONE 'UTC')::date
									 AND day = ($next_midnight AT TIME ZONE 'UTC')::date
									FROM stockelt_usage()}),
	't', 'a backend\'s stockelt_usage() reads the same moved clock: the day is the next one');

# ---------------------------------------------------------------- a retry's backoff

reload_settings($node, 'stockelt.requests_per_day' => '0');
ok(defined wait_for($node, q{SELECT state = 'done' AND waiting_for IS NULL FROM stockelt.jobs
							 WHERE symbol = 'DAY3'}, 15),
	'a reload that lifts the budget sends it at once');
$standin->ctl('next', 'status=503&count=1');
enqueue('BACKOFF');
ok(defined wait_for($node,
		q{SELECT state = 'retry' FROM stockelt.jobs WHERE symbol = 'BACKOFF'}, 15),
	'an HTTP 503 puts the job back for a retry');
# 1 h · [0.5, 1.5), from stockelt's clock; less the moment since it was set.
my $delay = $node->safe_psql('postgres', q{
	SELECT extract(epoch FROM next_attempt_at - } . moved_now() . q{)::int
	  FROM stockelt.jobs WHERE symbol = 'BACKOFF'});
ok($delay >= 1800 - 60 && $delay < 5400,
	"the retry is due $delay s later on stockelt's clock, within [30 min, 90 min)");
sleep 2;
is(job('BACKOFF'), 'retry 1', 'while the clock stands, the retry waits');
is($standin->count('BACKOFF'), 1, 'one call so far');

move_clock($offset + $delay + 60);
ok(defined wait_for($node, q{SELECT state = 'done' FROM stockelt.jobs WHERE symbol = 'BACKOFF'},
		15),
	'past the backoff on stockelt\'s clock, the retry is made and the job done');
is(job('BACKOFF'), 'done 2', 'at its second attempt');
is($standin->count('BACKOFF'), 2, 'with a second call');

# ---------------------------------------------------------------- a quota pause

$standin->ctl('next', 'message=daily_quota&count=1');
enqueue('QUOTA1');
my $paused_until = q{(SELECT paused_until FROM stockelt_usage())};
ok(defined wait_for($node, qq{
		SELECT state = 'retry' AND waiting_for = 'the end of a quota pause'
			   AND next_attempt_at = $paused_until
		  FROM stockelt.jobs WHERE symbol = 'QUOTA1'}, 15),
	'a quota answer: the job waits for the end of the pause, due when it ends');
queued_during_wait('QUOTA2', 'the end of a quota pause', $paused_until,
	'a job queued during the pause shows it too');
is($standin->count('QUOTA2'), 0, 'without calling the API');
$node->safe_psql('postgres', 'SELECT stockelt_resume()');
ok(defined wait_for($node, q{
		SELECT pg_catalog.bool_and(state = 'done' AND waiting_for IS NULL) FROM stockelt.jobs
		 WHERE symbol IN ('QUOTA1', 'QUOTA2')}, 15),
	'stockelt_resume() sends both at once, and they no longer say they wait');

$node->stop;
$standin->stop;
done_testing();
