# The shared limiter as synchronous fetches see it: the daily budget is
# refused at once and its count survives a restart and a crash; calls are
# spaced by stockelt.requests_per_second; a fetch waiting for its slot is
# cancelled at once and gives the slot back.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;
use Time::HiRes qw(time usleep);

my $standin = start_standin('--weeks', '52');
my $node = worker_node('limiter', $standin, q{
stockelt.requests_per_day = 3
});
my $next_day = q{(date_trunc('day', now() AT TIME ZONE 'UTC') + interval '1 day') AT TIME ZONE 'UTC'};

sub usage
{
	return $node->safe_psql('postgres', q{
		SELECT used || ' used, limit ' || daily_limit || ', ' || remaining || ' left'
		  FROM stockelt_usage()});
}

# The fourth fetch of the day fails at once, without a call.
sub check_budget_spent
{
	my ($when) = @_;
	my $start = time;
	is(sqlstate_of($node, q{SELECT stockelt_fetch('BUDGET4')}), 'SE014',
		"$when: a fourth fetch fails with SE014");
	my $seconds = time - $start;
	cmp_ok($seconds, '<', 1, sprintf('%s: at once (%.0f ms)', $when, 1000 * $seconds));
	is($standin->counts->{total}, 3, "$when: the server saw only the three calls");
	return;
}

# ---------------------------------------------------------------- the daily budget

for my $i (1 .. 3)
{
	like($node->safe_psql('postgres', "SELECT stockelt_fetch('BUDGET$i')"),
		qr{/symbol=BUDGET$i/}, "fetch $i of 3 is stored");
}
is(usage(), '3 used, limit 3, 0 left', 'three of three used');
check_budget_spent('budget spent');

$node->restart;
is(usage(), '3 used, limit 3, 0 left', 'the count survives a restart');
check_budget_spent('after a restart');

$node->stop('immediate');
$node->start;
is(usage(), '3 used, limit 3, 0 left', 'the count survives an immediate stop');
check_budget_spent('after an immediate stop');

# The worker keeps to the same budget: its job waits for the next day…
$node->safe_psql('postgres', q{SELECT stockelt_enqueue(ARRAY['BUDGETJOB'])});
ok(defined wait_for($node, qq{
		SELECT state = 'queued' AND attempts = 0 AND next_attempt_at = $next_day
		  FROM stockelt.jobs WHERE symbol = 'BUDGETJOB'}, 15),
	'a job waits for the next day');
is($standin->count('BUDGETJOB'), 0, 'without calling the API');

# … unless a reload raises the budget.
reload_settings($node, 'stockelt.requests_per_day' => '0');
ok(defined wait_for($node, q{SELECT state = 'done' FROM stockelt.jobs WHERE symbol = 'BUDGETJOB'}, 15),
	'with no budget any more, the job is done at once');
is($standin->count('BUDGETJOB'), 1, 'with one call');

# ---------------------------------------------------------------- spacing

reload_settings($node, 'stockelt.requests_per_second' => '2');
my $start = time;
is($node->safe_psql('postgres',
		q{SELECT count(stockelt_fetch('SPACED' || i)) FROM generate_series(1, 5) i}),
	'5', 'five fetches at 2 a second');
my $seconds = time - $start;
# 4 × 505 ms between the first call and the fifth
ok($seconds >= 2.02 && $seconds < 6, sprintf('they took %.2f s', $seconds));

# ---------------------------------------------------------------- a cancelled wait

reload_settings($node, 'stockelt.requests_per_second' => '0',
	'stockelt.requests_per_minute' => '1');
my $used_before = $node->safe_psql('postgres', 'SELECT used FROM stockelt_usage()');
my ($out, $err) = ('', '');
my $h = IPC::Run::start(
	[
		'psql', '-X', '-At', '-d', $node->connstr('postgres'), '-c',
		q{SELECT stockelt_fetch('WAIT1'); SELECT stockelt_fetch('WAIT2');}
	],
	'>', \$out, '2>', \$err);
# The second fetch waits a minute for its slot.
my $waiting = q{SELECT pid FROM pg_stat_activity
				 WHERE query LIKE '%WAIT2%' AND wait_event = 'Extension' AND pid <> pg_backend_pid()};
for (1 .. 200)
{
	last if $standin->count('WAIT1') == 1;
	usleep(50_000);
}
is($standin->count('WAIT1'), 1, 'the first fetch called the API');
ok(defined wait_for($node, "SELECT EXISTS ($waiting)", 15), 'the second waits for its slot');
usleep(300_000);
my $pid = $node->safe_psql('postgres', $waiting);
$start = time;
$node->safe_psql('postgres', "SELECT pg_cancel_backend($pid)");
$h->finish;
$seconds = time - $start;
like($err, qr/canceling statement due to user request/, 'the waiting fetch was cancelled');
cmp_ok($seconds, '<', 1, sprintf('within %.0f ms', 1000 * $seconds));
is($standin->count('WAIT2'), 0, 'it made no call');
is($node->safe_psql('postgres', 'SELECT used FROM stockelt_usage()'), $used_before + 1,
	'its slot left the day\'s count: only the call made is counted');

$node->stop;
$standin->stop;
done_testing();
