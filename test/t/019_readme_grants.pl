# The README's "Granting access" recipe, as written, for two login roles of their own: the
# pipeline role, connected as itself, queues work and sees what became of it (its jobs, the
# watchlist, the worker's row, gold's refreshes, the day's usage) and lifts a quota pause,
# but cannot write the queue; the analyst role reads silver and gold and nothing of the
# pipeline; the dashboard's role reads what every source query of dashboard/ reads, and
# can neither write nor queue.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;

my $standin = start_standin('--weeks', '60');
my $node = worker_node('readme_grants', $standin);
$node->safe_psql('postgres', 'CREATE ROLE etl LOGIN; CREATE ROLE analyst LOGIN; CREATE ROLE dashboard LOGIN;');
$node->safe_psql('postgres', readme_grants('etl', 'analyst', 'dashboard'));

# psql as one of the roles, connected as it (not SET ROLE); returns (exit code, output, error).
sub as_role
{
	my ($role, $sql) = @_;
	my ($out, $err);
	my $ret = $node->psql('postgres', $sql, stdout => \$out, stderr => \$err,
		extra_params => [ '-U', $role ]);
	return ($ret, $out, $err);
}

sub as_role_ok
{
	my ($role, $sql) = @_;
	my ($ret, $out, $err) = as_role($role, $sql);
	diag("as $role: $sql\n$err") if $ret != 0;
	return $ret == 0 ? $out : "error: $err";
}

# The SQLSTATE a statement raises for the role, or 00000.
sub role_sqlstate
{
	my ($role, $sql) = @_;
	my ($ret, $out, $err) = as_role($role, "\\set VERBOSITY verbose\n$sql");
	return '00000' if $ret == 0;
	return $err =~ /ERROR:\s+([0-9A-Z]{5}):/ ? $1 : "unknown: $err";
}

is(as_role_ok('etl', 'SELECT rolsuper FROM pg_roles WHERE rolname = current_user'), 'f',
	'the pipeline role is no superuser');

# It queues work and sees the jobs done.
is(as_role_ok('etl', q{SELECT count(*) FROM stockelt_enqueue(ARRAY['GRANTA', 'GRANTB'])}), '2',
	'the pipeline role queues two jobs');
ok(defined wait_for($node, q{SELECT count(*) = 2 AND bool_and(state = 'done') FROM stockelt.jobs
		WHERE symbol IN ('GRANTA', 'GRANTB')}, 30), 'the worker did them');
is( as_role_ok('etl', q{SELECT string_agg(symbol || ' ' || state || ' ' || (bronze_key IS NOT NULL), ', '
		ORDER BY symbol) FROM stockelt.jobs}),
	'GRANTA done true, GRANTB done true', 'the pipeline role sees its jobs, done, with their bronze keys');
is( as_role_ok('etl', q{SELECT count(*) FROM stockelt.bronze_objects WHERE symbol IN ('GRANTA', 'GRANTB')}),
	'2', 'and the bronze catalog');

# The worker's row and gold's refreshes.
ok(defined wait_for($node, q{SELECT count(*) > 0 FROM stockelt.gold_refreshes WHERE stocks >= 2}, 30),
	'the worker refreshed gold');
is( as_role_ok('etl', q{SELECT count(*) > 0 AND bool_and(finished_at IS NOT NULL)
		FROM stockelt.gold_refreshes WHERE stocks >= 2}),
	't', 'the pipeline role sees gold\'s refreshes');
is( as_role_ok('etl', q{SELECT count(*) || ' ' || bool_and(pid IS NOT NULL AND database = 'postgres'
		AND started_at IS NOT NULL) || ' ' || min(queued) || ' ' || min(failed)
		FROM stockelt.worker}),
	'1 true 0 0', 'the pipeline role sees the worker\'s row and its queue');
is(as_role_ok('etl', q{SELECT state IS NULL FROM stockelt.worker}), 't',
	'but not its state, which pg_stat_activity keeps for pg_read_all_stats');

# The day's usage, and a quota pause it lifts.
$standin->ctl('next', 'message=daily_quota');
as_role_ok('etl', q{SELECT stockelt_enqueue(ARRAY['GRANTQ'])});
ok(defined wait_for($node, q{SELECT state = 'retry' FROM stockelt.jobs WHERE symbol = 'GRANTQ'}, 15),
	'a daily-quota answer holds the job');
is( as_role_ok('etl', q{SELECT used >= 3 AND paused_until > now() FROM stockelt_usage()}),
	't', 'the pipeline role sees the calls made and the pause in stockelt_usage()');
is( as_role_ok('etl', q{SELECT last_sqlstate FROM stockelt.jobs WHERE symbol = 'GRANTQ'}),
	'SE002', 'and the held job\'s reason');
is(as_role_ok('etl', 'SELECT stockelt_resume()'), 't', 'the pipeline role lifts the pause');
ok(defined wait_for($node, q{SELECT state = 'done' FROM stockelt.jobs WHERE symbol = 'GRANTQ'}, 15),
	'and the worker does the held job');
is(as_role_ok('etl', q{SELECT paused_until IS NULL FROM stockelt_usage()}), 't', 'no pause left');

# What it cannot do: write the queue, the history or the watchlist itself.
is(role_sqlstate('etl', q{INSERT INTO stockelt.jobs (batch, symbol) VALUES (0, 'GRANTX')}), '42501',
	'the pipeline role cannot write the queue directly');
is(role_sqlstate('etl', q{UPDATE stockelt.jobs SET state = 'failed'}), '42501', 'nor change a job');
is(role_sqlstate('etl', q{DELETE FROM stockelt.gold_refreshes}), '42501', 'nor the refresh history');
is(role_sqlstate('etl', q{INSERT INTO stockelt.watchlist (symbol) VALUES ('GRANTX')}), '42501',
	'nor the watchlist');

# A role also granted pg_read_all_stats, as the README offers, sees the worker's state too.
$node->safe_psql('postgres', q{CREATE ROLE etl_stats LOGIN; GRANT pg_read_all_stats TO etl_stats;
	GRANT USAGE ON SCHEMA stockelt TO etl_stats; GRANT SELECT ON stockelt.worker TO etl_stats});
is(as_role_ok('etl_stats', 'SELECT count(*) FILTER (WHERE state IS NOT NULL) FROM stockelt.worker'), '1',
	'with pg_read_all_stats the worker\'s state shows');

# The watchlist it changes (last: the worker may fetch the entry at once).
as_role_ok('etl', q{SELECT stockelt_watch('GRANTW', '1 day')});
is( as_role_ok('etl', q{SELECT refresh_interval FROM stockelt.watchlist WHERE symbol = 'GRANTW'}),
	'1 day', 'the pipeline role sees the watchlist entry it added');
is(as_role_ok('etl', q{SELECT stockelt_unwatch('GRANTW')}), 't', 'and removes it');

# The analyst role reads silver and gold.
is( as_role_ok('analyst', q{SELECT count(DISTINCT symbol) FROM silver.weekly_adjusted_prices
		WHERE symbol IN ('GRANTA', 'GRANTB')}),
	'2', 'the analyst role reads silver');
is( as_role_ok('analyst', q{SELECT count(*) > 0 FROM gold.weekly_performance WHERE symbol = 'GRANTA'}),
	't', 'and the first business question\'s answer');
is( as_role_ok('analyst', q{SELECT count(*) >= 0 FROM gold.volume_volatility_52w}),
	't', 'and the second\'s');
is( as_role_ok('analyst', q{SELECT count(*) >= 0 FROM gold.dividend_growers()}),
	't', 'and the third\'s');
is(role_sqlstate('analyst', q{SELECT stockelt_enqueue(ARRAY['GRANTY'])}), '42501',
	'the analyst role cannot queue work');
is(role_sqlstate('analyst', q{SELECT stockelt_fetch('GRANTY')}), '42501', 'nor fetch');
is(role_sqlstate('analyst', q{SELECT count(*) FROM stockelt.jobs}), '42501', 'nor read the queue');
is($standin->count('GRANTY'), 0, 'no call was made for it');

# The dashboard's role runs every source query of the dashboard, as build.sh does.
my $sources = dirname(__FILE__) . '/../../dashboard/sources/stockelt';
my @queries = sort glob("$sources/*.sql");
ok(@queries >= 10, 'the dashboard has its source queries');
for my $file (@queries)
{
	my $name = (split m{/}, $file)[-1];
	my ($ret, $out, $err) = as_role('dashboard', "SELECT count(*) FROM (\n" . slurp_file($file) . "\n) q");
	ok($ret == 0 && $out > 0, "the dashboard's role runs $name") or diag($err);
}
is( as_role_ok('dashboard', q{SELECT count(*) > 0 FROM stockelt.jobs WHERE symbol = 'GRANTA'}), 't',
	'the dashboard\'s role reads the jobs');
is(as_role_ok('dashboard', q{SELECT count(*) FROM stockelt_check() WHERE severity = 'error'}), '0',
	'and the data-quality findings');
is( role_sqlstate('dashboard', q{SELECT stockelt_enqueue(ARRAY['GRANTZ'])}), '42501',
	'the dashboard\'s role cannot queue work');
is(role_sqlstate('dashboard', q{SELECT stockelt_fetch('GRANTZ')}), '42501', 'nor fetch');
is(role_sqlstate('dashboard', q{SELECT stockelt_refresh_gold(false)}), '42501', 'nor refresh gold');
is(role_sqlstate('dashboard', q{SELECT stockelt_resume()}), '42501', 'nor lift a pause');
is(role_sqlstate('dashboard', q{SELECT stockelt_watch('GRANTZ', '1 day')}), '42501', 'nor watch a symbol');
is(role_sqlstate('dashboard', q{UPDATE stockelt.jobs SET state = 'failed'}), '42501', 'nor change a job');
is(role_sqlstate('dashboard', q{DELETE FROM stockelt.gold_refreshes}), '42501', 'nor the refresh history');
is(role_sqlstate('dashboard', q{UPDATE gold.dim_stock SET name = 'x'}), '42501', 'nor gold');
is(role_sqlstate('dashboard', q{DELETE FROM silver.weekly_adjusted_prices}), '42501', 'nor silver');
is(role_sqlstate('dashboard', q{CREATE TABLE gold.mine (x int)}), '42501', 'nor create in gold');
is($standin->count('GRANTZ'), 0, 'no call was made for it');

$node->stop;
$standin->stop;
done_testing();
