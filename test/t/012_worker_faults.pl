# The worker around faults: a stockelt.database that does not exist yet is
# logged once and waited for; a granted role's idle transactions (an ingest,
# an enqueue) hold back the gold refresh and the watchlist pass but not the
# fetching; a stopped S3 bronze store holds the jobs without spending a call,
# and an answer that could not be stored is retried, not failed; a SIGKILL of
# the postmaster with calls in flight ends the worker at once, and the server
# restarts at once.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;
use Time::HiRes qw(time usleep);

my $s3server = dirname(__FILE__) . '/../s3server.sh';
my $s3_running;    # its directory while the test's S3 cluster runs

# Whatever happens, the S3 cluster started here is stopped.
END
{
	system("'$s3server' stop '$s3_running' >/dev/null 2>&1") if $s3_running;
}
my $have_ceph =
  system('command -v radosgw && command -v ceph-mon && command -v s3cmd >/dev/null 2>&1') == 0;

# The S3 credentials reach the server through its environment.
($ENV{AWS_ACCESS_KEY_ID}, $ENV{AWS_SECRET_ACCESS_KEY}) = split ' ', `'$s3server' credentials`;

my $standin = start_standin('--weeks', '52');
my $node = worker_node('faults', $standin, q{
stockelt.database = 'later'
stockelt.max_concurrent_requests = 4
stockelt.max_attempts = 1
stockelt.retry_delay = '200ms'
});

# Polls a query in database "later" until it returns 't'; the seconds it took, or undef.
sub later_wait
{
	my ($sql, $timeout) = @_;
	my $start = time;
	my ($ret, $out, $err);

	while (time - $start < ($timeout // 30))
	{
		($ret, $out, $err) = $node->psql('later', $sql);
		return time - $start if $ret == 0 && $out eq 't';
		usleep(50_000);
	}
	diag("timed out waiting for: $sql\nlast output: " . ($out // '') . ' ' . ($err // ''));
	return undef;
}

sub later
{
	my ($sql) = @_;
	return $node->safe_psql('later', $sql);
}

sub enqueue
{
	my (@symbols) = @_;
	later('SELECT count(*) FROM stockelt_enqueue(ARRAY[' . join(', ', map { "'$_'" } @symbols) . '])');
	return;
}

sub done
{
	my ($like, $n) = @_;
	return "SELECT count(*) = $n FROM stockelt.jobs WHERE symbol LIKE '$like' AND state = 'done'";
}

# Lines of the server log that speak of the missing database.
sub missing_lines
{
	my @lines = grep { /database "later"/ && !/statement:/ } split /\n/, slurp_file($node->logfile);
	return scalar @lines;
}

# ---------------------------------------------------------------- a database that does not exist yet

sleep 2;
my $early = missing_lines();
sleep 4;
my $late = missing_lines();
cmp_ok($early, '>=', 1, "the missing database is logged ($early lines)");
is($late, $early, "and not again over 4 more seconds ($late lines)");
ok($node->log_contains('stockelt worker waits for database "later" to be created'),
	'the worker says it waits for it');

$node->safe_psql('postgres', 'CREATE DATABASE later');
later('CREATE EXTENSION stockelt');
ok(defined wait_for($node, q{
		SELECT count(*) = 1 FROM pg_stat_activity
		 WHERE backend_type = 'stockelt worker' AND datname = 'later'}, 30),
	'once it exists, the worker connects to it');
enqueue('LATER1');
ok(defined later_wait(done('LATER1', 1)), 'and serves it');

# ---------------------------------------------------------------- another session's locks

# A pipeline role with exactly the README's grants.
later(q{CREATE ROLE etl LOGIN});
later(readme_grants('etl'));

# An ingest left open: its change record blocks the refresh's lock.
my $ingest = $node->background_psql('later', extra_params => [ '-U', 'etl' ]);
$ingest->query_safe('BEGIN');
$ingest->query_safe(q{SELECT inserted FROM stockelt_ingest(stockelt_fetch('HOLD1'))});
# An enqueue left open: the watchlist pass would insert the same symbol.
my $enqueue = $node->background_psql('later', extra_params => [ '-U', 'etl' ]);
$enqueue->query_safe('BEGIN');
$enqueue->query_safe(q{SELECT stockelt_enqueue(ARRAY['WL1'])});
$node->safe_psql('later', q{SELECT stockelt_watch('WL1'), stockelt_watch('WL2')}, extra_params => [ '-U', 'etl' ]);

enqueue(map { "LKX$_" } 1 .. 3);
ok(defined later_wait(done('LKX%', 3), 10), 'with both sessions open, a batch is done');
my $held_refresh = 0;
for (1 .. 100)
{
	$held_refresh = $node->log_contains('stockelt worker could not refresh gold yet');
	last if $held_refresh;
	usleep(100_000);
}
ok($held_refresh, 'the refresh after the batch was held back by the open ingest');
# The watchlist pass runs every 10 s.
my $held_watch = 0;
for (1 .. 150)
{
	$held_watch = $node->log_contains('stockelt worker could not enqueue due watchlist symbols yet');
	last if $held_watch;
	usleep(100_000);
}
ok($held_watch, 'the watchlist pass was held back by the open enqueue');
my $t0 = time;
enqueue(map { "LKY$_" } 1 .. 3);
my $took = later_wait(done('LKY%', 3), 10);
ok(defined $took, sprintf('and a batch enqueued meanwhile was done in %.1f s', $took // -1));
is(later(q{SELECT count(*) FROM gold.dim_stock WHERE symbol LIKE 'LK%'}), '0',
	'gold waits for the open ingest');

$ingest->query_safe('COMMIT');
$enqueue->query_safe('COMMIT');
$ingest->quit;
$enqueue->quit;
ok(defined later_wait(q{
		SELECT count(*) = 7 FROM gold.dim_stock WHERE symbol LIKE 'LK%' OR symbol = 'HOLD1'}, 10),
	'once the sessions end, gold is refreshed');
ok(defined later_wait(q{
		SELECT count(*) = 2 FROM stockelt.jobs WHERE symbol IN ('WL1', 'WL2') AND state = 'done'}, 10),
	'and the watchlist is fetched');

# ---------------------------------------------------------------- the bronze store stopped

SKIP:
{
	skip 'Ceph (radosgw, ceph-mon) and s3cmd are needed for the S3 bronze store', 8
	  unless $have_ceph;
	my $s3dir = PostgreSQL::Test::Utils::tempdir('s3');
	my $s3 = sub {
		my ($verb) = @_;
		system("'$s3server' $verb '$s3dir' >>'$s3dir.log' 2>&1") == 0
		  or die "s3server.sh $verb failed: " . slurp_file("$s3dir.log");
	};
	$s3_running = $s3dir;
	$s3->('start');
	my %s3 = map { /^(\w+)=(.*)$/ } split /\n/, slurp_file("$s3dir/env");
	reload_settings($node,
		'stockelt.s3_endpoint' => $s3{S3_ENDPOINT},
		'stockelt.s3_region' => $s3{S3_REGION},
		'stockelt.s3_bucket' => $s3{S3_BUCKET});
	enqueue('STORE1');
	ok(defined later_wait(q{
			SELECT state = 'done' AND bronze_key IS NOT NULL FROM stockelt.jobs j
			  JOIN stockelt.bronze_objects o ON o.key = j.bronze_key AND o.store = 's3'
			 WHERE j.symbol = 'STORE1'}), 'a job stores its answer on S3');

	$s3->('stop-gateway');
	sleep 1;    # past the last probe's second
	my $calls = $standin->counts->{total};
	enqueue(map { "STOREDOWN$_" } 1 .. 4);
	sleep 4;
	is($standin->counts->{total} - $calls, 0, 'with the store stopped, no call is made');
	is( later(q{
			SELECT count(*) FILTER (WHERE state IN ('queued', 'retry') AND attempts = 0
									  AND last_sqlstate = 'SE102'
									  AND last_error LIKE 'waiting for the bronze store%')
			  FROM stockelt.jobs WHERE symbol LIKE 'STOREDOWN%'}),
		'4', 'the jobs wait, and say why (SE102)');

	$s3->('start-gateway');
	ok(defined later_wait(done('STOREDOWN%', 4), 60), 'once the store is back, the jobs are done');
	is($standin->counts->{total} - $calls, 4, 'with one call each');

	# Answers in flight when the store stops: kept as retries, even with max_attempts = 1.
	$standin->ctl('next', 'delay_ms=4000&count=2');
	$calls = $standin->counts->{total};
	enqueue('STORELATE1', 'STORELATE2');
	for (1 .. 100)
	{
		last if $standin->counts->{total} - $calls >= 2;
		usleep(20_000);
	}
	$s3->('stop-gateway');
	ok(defined later_wait(q{
			SELECT bool_and(state = 'retry' AND last_sqlstate LIKE 'SE%') FROM stockelt.jobs
			 WHERE symbol LIKE 'STORELATE%'}, 15),
		'answers that could not be stored: the jobs are to be retried, not failed');
	$s3->('start-gateway');
	ok(defined later_wait(done('STORELATE%', 2), 60), 'and are done once the store is back');
	is(later(q{SELECT count(*) FROM stockelt.jobs WHERE state = 'failed'}), '0', 'no job failed');

	reload_settings($node, 'stockelt.s3_endpoint' => '');
	$s3->('stop');
	undef $s3_running;
}

# ---------------------------------------------------------------- SIGKILL of the postmaster

$standin->ctl('next', 'delay_ms=3000&count=8');
my $calls = $standin->counts->{total};
enqueue(map { "PMKILL$_" } 1 .. 8);
for (1 .. 200)
{
	last if $standin->counts->{total} - $calls >= 4;
	usleep(10_000);
}
is($standin->counts->{total} - $calls, 4, 'four calls in flight');
my $pid = worker_pid($node);
my $postmaster = $node->{_pid};
my $killed = time;
$node->kill9;
usleep(2_000) until process_gone($pid) || time - $killed > 30;
my $lived = time - $killed;
cmp_ok($lived, '<', 1, sprintf('the worker exited %.0f ms after the postmaster was killed', 1000 * $lived));
sleep 1;
is($standin->counts->{total} - $calls, 4, 'the server received no call after the kill');
# The dead postmaster holds its lock file until it is reaped (here by PID 1, lazily).
usleep(20_000) while kill(0, $postmaster) && time - $killed < 30;
ok($node->start(fail_ok => 1), 'the server restarts at the first attempt');
cmp_ok(time - $killed, '<', 5, sprintf('%.1f s after the kill', time - $killed));
ok(defined later_wait(done('PMKILL%', 8), 60), 'and its worker finishes the interrupted batch');

$node->stop;
$standin->stop;
done_testing();
