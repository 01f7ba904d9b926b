# The README's "Loading it into your server", as written, on clusters set up as Debian sets
# one up (its pg_hba.conf: peer over the Unix socket, a password over TCP; nothing preloaded):
# its preload block pasted into psql adds stockelt to shared_preload_libraries, alone on a
# stock cluster and beside the libraries already there (pg_stat_statements and pg_cron, kept
# in their order, and not added twice when pasted again); after a restart its CREATE
# EXTENSION block runs, stockelt's worker serves the database, and the other libraries still
# work; and the README's way of keeping bronze across DROP EXTENSION brings it back.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;

my $heading = '### Loading it into your server';
my ($preload, $create) = readme_section_blocks($heading, 'sql');
like($preload, qr/ALTER SYSTEM SET shared_preload_libraries/, 'the README\'s first block preloads');
like($create, qr/CREATE EXTENSION stockelt;/, 'and its second creates the extension');

my $standin = start_standin('--weeks', '52');

# A cluster as Debian's pg_createcluster makes it: its pg_hba.conf, listening on TCP, stockelt
# installed but not preloaded (its settings written beforehand, as a user might).
sub debian_node
{
	my ($name, $settings) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	write_secret_file($node, 'alphavantage.key', $standin->{apikey});
	$node->append_conf('postgresql.conf', qq{
stockelt.api_key_file = 'alphavantage.key'
stockelt.api_base_url = '$standin->{url}/query'
} . ($settings // ''));
	debian_hba($node);
	$node->start;
	return $node;
}

# A block through psql as a user pastes it (stop at the first error).
sub run_block
{
	my ($node, $script) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
		'<', \$script, '>', \$out, '2>', \$err);
	diag("psql failed:\n$err") if $? != 0;
	return $? == 0;
}

sub preloaded
{
	my ($node) = @_;
	return $node->safe_psql('postgres', 'SHOW shared_preload_libraries');
}

# The worker of the database, as a superuser sees it in stockelt.worker.
sub worker_serves
{
	my ($node) = @_;
	return wait_for($node, q{SELECT count(*) = 1 AND bool_and(database = 'postgres')
		FROM stockelt.worker}, 20);
}

# A stock cluster: nothing preloaded.
my $stock = debian_node('stock');
is(preloaded($stock), '', 'a stock cluster preloads nothing');
is( $stock->safe_psql('postgres', q{SELECT string_agg(auth_method, ' ' ORDER BY line_number)
		FROM pg_hba_file_rules WHERE 'all' = ANY (database)}),
	'peer peer scram-sha-256 scram-sha-256', 'and trusts no connection');
ok(run_block($stock, $preload), 'stock: the preload block runs');
$stock->restart;
is(preloaded($stock), 'stockelt', 'stock: stockelt alone is preloaded');
ok(run_block($stock, $create), 'stock: the CREATE EXTENSION block runs');
ok(defined worker_serves($stock), 'stock: the worker serves the database');
$stock->stop;

# A cluster that preloads other libraries already.
my $others = debian_node('others', qq{
shared_preload_libraries = 'pg_stat_statements,pg_cron'
cron.database_name = 'postgres'
});
ok(run_block($others, $preload), 'others: the preload block runs');
ok(run_block($others, $preload), 'others: and runs again');
$others->restart;
is(preloaded($others), 'pg_stat_statements, pg_cron, stockelt',
	'others: stockelt is added after the libraries already there, once');
ok(run_block($others, $create), 'others: the CREATE EXTENSION block runs');
ok(defined worker_serves($others), 'others: the worker serves the database');
is( $others->safe_psql('postgres', q{CREATE EXTENSION pg_stat_statements;
		SELECT count(*) > 0 FROM pg_stat_statements}),
	't', 'others: pg_stat_statements still works');
ok(defined wait_for($others, q{SELECT count(*) = 1 FROM pg_stat_activity
		WHERE backend_type IN ('pg_cron launcher', 'pg_cron scheduler')}, 10),
	'others: pg_cron\'s launcher still runs');

# The extension works there: a call through the limiter, into bronze, then silver and gold.
my $key = $others->safe_psql('postgres', q{SELECT stockelt_fetch('IBM')});
like($key, qr{^alphavantage/time_series_weekly_adjusted/symbol=IBM/}, 'others: stockelt fetches');
$others->safe_psql('postgres', qq{SELECT stockelt_ingest('$key'); SELECT stockelt_refresh_gold()});

# Removing it, bronze kept as the README says: its dump before DROP EXTENSION, its restore and
# replay after a new CREATE EXTENSION, run as written but for the server's user (the cluster's
# own, connected through PGHOST and PGPORT) and the dump's path (the test's directory).
my ($keep) = readme_section_blocks($heading, 'sh');
my ($dump, $restore) = split /^# later, after CREATE EXTENSION stockelt:\n/m, $keep;
ok(defined $restore && $dump =~ /pg_dump/ && $restore =~ /stockelt_replay/,
	'the README keeps bronze with a dump before and a restore after');
my $dump_file = PostgreSQL::Test::Utils::tempdir('bronze') . '/stockelt-bronze.sql';
sub run_shell
{
	my ($script) = @_;
	$script =~ s/\bsudo -u postgres //g;
	$script =~ s{/var/tmp/stockelt-bronze\.sql}{$dump_file}g;
	local $ENV{PGHOST} = $others->host;
	local $ENV{PGPORT} = $others->port;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'bash', '-euo', 'pipefail', '-c', $script ], '>', \$out, '2>', \$err);
	diag("the README's commands failed:\n$err") if $? != 0;
	return $? == 0;
}
my $before = $others->safe_psql('postgres', q{
	SELECT (SELECT string_agg(key || ' ' || sha256, ', ' ORDER BY key) FROM stockelt.bronze_objects)
		   || ' / ' || (SELECT count(*) FROM silver.weekly_adjusted_prices)
		   || ' / ' || (SELECT count(*) FROM gold.fact_weekly_prices)});
ok(run_shell($dump), 'the README\'s pg_dump of bronze runs');
$others->safe_psql('postgres', 'DROP EXTENSION stockelt');
is( $others->safe_psql('postgres', q{SELECT count(*) FROM pg_namespace
		WHERE nspname IN ('stockelt', 'silver', 'gold')}),
	'0', 'DROP EXTENSION drops the three schemas, bronze with them');
$others->safe_psql('postgres', 'CREATE EXTENSION stockelt');
ok(run_shell($restore), 'the README\'s restore and replay run');
is( $others->safe_psql('postgres', q{
	SELECT (SELECT string_agg(key || ' ' || sha256, ', ' ORDER BY key) FROM stockelt.bronze_objects)
		   || ' / ' || (SELECT count(*) FROM silver.weekly_adjusted_prices)
		   || ' / ' || (SELECT count(*) FROM gold.fact_weekly_prices)}),
	$before, 'bronze, silver and gold are back as they were');
is( $others->safe_psql('postgres', qq{SELECT sha256(body) = decode(o.sha256, 'hex')
		FROM stockelt.bronze_bodies b JOIN stockelt.bronze_objects o USING (key) WHERE key = '$key'}),
	't', 'the body is byte for byte the one fetched');
is($standin->count('IBM'), 1, 'no call was made again');
$others->stop;
$standin->stop;
done_testing();
