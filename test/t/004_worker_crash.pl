# Crash safety of the worker and the limiter: a batch interrupted by a
# SIGKILL of the worker (crash recovery of the whole server) and by an
# immediate restart ends with every job done once in effect, no duplicate
# silver rows, at most one repeated call per job, and the day's usage equal
# to the calls the server saw.  Then a batch run at the stand-in's own limit
# is never throttled.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;
use Time::HiRes qw(time usleep);

my $weeks = 52;
my $pool = 4;
my $batch = 40;
my $standin = start_standin('--weeks', $weeks, '--latency-ms', '100');
my $node = worker_node('worker_crash', $standin, qq{
restart_after_crash = on
stockelt.requests_per_second = 20
stockelt.max_concurrent_requests = $pool
stockelt.retry_delay = '100ms'
});

sub symbols
{
	my ($prefix) = @_;
	return map { sprintf '%s%03d', $prefix, $_ } 1 .. $batch;
}

sub enqueue_batch
{
	my ($prefix) = @_;
	my $list = join ', ', map { "'$_'" } symbols($prefix);
	$node->safe_psql('postgres', "SELECT count(*) FROM stockelt_enqueue(ARRAY[$list])");
	return;
}

sub done_count
{
	my ($prefix) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) FROM stockelt.jobs WHERE symbol LIKE '$prefix%' AND state = 'done'");
}

# Waits until a few jobs of the batch are done and more are left, and says how many were.
sub wait_mid_batch
{
	my ($prefix) = @_;
	wait_for($node, qq{SELECT count(*) >= 8 FROM stockelt.jobs
						WHERE symbol LIKE '$prefix%' AND state = 'done'}, 30);
	return done_count($prefix);
}

# What must hold once an interrupted batch is finished.
sub check_batch
{
	my ($prefix, $how) = @_;
	my @symbols = symbols($prefix);

	ok(defined wait_for($node, qq{SELECT count(*) = $batch FROM stockelt.jobs
								  WHERE symbol LIKE '$prefix%' AND state = 'done'}, 60),
		"$how: the batch finished");
	is( $node->safe_psql('postgres', qq{
			SELECT count(*) || ' jobs, ' || count(*) FILTER (WHERE state = 'done') || ' done'
			  FROM stockelt.jobs WHERE symbol LIKE '$prefix%'}),
		"$batch jobs, $batch done", "$how: every job done, none lost or doubled");
	is( $node->safe_psql('postgres', qq{
			SELECT count(*) || ' rows, ' || count(DISTINCT (symbol, week_ending)) || ' distinct, '
				   || count(DISTINCT symbol) || ' symbols'
			  FROM silver.weekly_adjusted_prices WHERE symbol LIKE '$prefix%'}),
		$batch * $weeks . ' rows, ' . $batch * $weeks . " distinct, $batch symbols",
		"$how: silver has every week of every symbol once");

	my ($max, $sum, $repeated) = query_row($node, qq{
		SELECT max(attempts), sum(attempts), count(*) FILTER (WHERE attempts > 1)
		  FROM stockelt.jobs WHERE symbol LIKE '$prefix%'});
	cmp_ok($max, '<=', 2, "$how: no job needed more than one repeated attempt");
	cmp_ok($sum, '<=', $batch + $pool, "$how: $sum attempts for $batch jobs");
	cmp_ok($repeated, '>=', 1, "$how: $repeated jobs in flight at the interruption were repeated");

	my $by_symbol = $standin->counts->{by_symbol};
	my @calls = map { $by_symbol->{$_} // 0 } @symbols;
	is(scalar(grep { $_ < 1 || $_ > 2 } @calls), 0, "$how: one or two calls for each symbol");
	cmp_ok(scalar(grep { $_ == 2 } @calls), '<=', $pool,
		"$how: at most $pool symbols called twice");

	my $total = $standin->counts->{total};
	my $used = $node->safe_psql('postgres', 'SELECT used FROM stockelt_usage()');
	cmp_ok($used, '>=', $total, "$how: the day's usage ($used) counts every call the server saw ($total)");
	cmp_ok($used - $total, '<=', $pool, "$how: and at most $pool reservations not sent");
	return;
}

# ---------------------------------------------------------------- SIGKILL of the worker

enqueue_batch('K');
my $done_at_kill = wait_mid_batch('K');
my $pid = worker_pid($node);
kill 'KILL', $pid;
ok($done_at_kill >= 8 && $done_at_kill < $batch,
	"the worker was killed mid-batch ($done_at_kill of $batch done)");
ok(defined wait_for($node, q{SELECT count(*) = 1 FROM pg_stat_activity
							  WHERE backend_type = 'stockelt worker'}, 30),
	'the server came back from crash recovery with a worker');
ok($node->log_contains(qr/background worker "stockelt worker" \(PID $pid\) was terminated by signal 9/),
	'the worker was killed');
ok($node->log_contains('all server processes terminated; reinitializing'),
	'the server went through crash recovery');
check_batch('K', 'SIGKILL');

# ---------------------------------------------------------------- immediate restart

enqueue_batch('R');
my $done_at_stop = wait_mid_batch('R');
$node->stop('immediate');
ok($done_at_stop >= 8 && $done_at_stop < $batch,
	"the server stopped in immediate mode mid-batch ($done_at_stop of $batch done)");
$node->start;
check_batch('R', 'immediate restart');

# ---------------------------------------------------------------- at the provider's limit

# Both at 10 a second: the limiter must keep every second window at or under it.
reload_settings($node, 'stockelt.requests_per_second' => '10');
$standin->ctl('limits', 'rps=10');
my $throttled_before = $standin->counts->{throttled};
my $usage_throttled_before = $node->safe_psql('postgres', 'SELECT throttled FROM stockelt_usage()');
enqueue_batch('L');
ok(defined wait_for($node, qq{SELECT count(*) = $batch FROM stockelt.jobs
							  WHERE symbol LIKE 'L%' AND state = 'done'}, 60),
	'a batch at the limit finished');
is($standin->counts->{throttled} - $throttled_before, 0, 'the server throttled no call');
is($node->safe_psql('postgres', 'SELECT throttled FROM stockelt_usage()'),
	$usage_throttled_before, 'the worker saw no throttle');
my $by_symbol = $standin->counts->{by_symbol};
my $calls = 0;
$calls += $by_symbol->{$_} // 0 for symbols('L');
is($calls, $node->safe_psql('postgres', q{SELECT sum(attempts) FROM stockelt.jobs WHERE symbol LIKE 'L%'}),
	"the server saw as many calls as the jobs' attempts ($calls)");
# When each request left: the answer came fetch_ms later, was stored ingest_ms later.
my @sent = split /\n/, $node->safe_psql('postgres', q{
	SELECT extract(epoch FROM finished_at) - (fetch_ms + ingest_ms) / 1000
	  FROM stockelt.jobs WHERE symbol LIKE 'L%' ORDER BY 1});
my @gaps = sort { $a <=> $b } map { 1000 * ($sent[$_] - $sent[ $_ - 1 ]) } 1 .. $#sent;
cmp_ok($gaps[0], '>=', 95, sprintf('calls left at least %.0f ms apart (101 ms spacing)', $gaps[0]));
cmp_ok($sent[-1] - $sent[0], '>=', 0.095 * ($batch - 1),
	sprintf('the batch took %.2f s to send', $sent[-1] - $sent[0]));

my $log = slurp_file($node->logfile);
my @crashes = $log =~ /terminated by signal/g;
is(scalar @crashes, 1, 'no process crashed but the one killed');

$node->stop;
$standin->stop;
done_testing();
