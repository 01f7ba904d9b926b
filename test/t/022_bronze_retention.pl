# Bronze retention: with stockelt.bronze_retention set, the worker deletes the
# weekly objects older than it that silver's lineage and a replay do not need,
# and nothing else.  Silver rebuilt from what is left (TRUNCATE, stockelt_replay)
# equals silver before the pruning, row for row, and every silver row still names
# an object in bronze.  With bronze in S3 the pruning is refused with a clear error.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;
use Time::HiRes qw(usleep);

my $standin = start_standin();
my $node = worker_node('retention', $standin);
is($node->safe_psql('postgres', 'SHOW stockelt.bronze_retention'), '0', 'retention is off by default');

# Fetches a weekly series the stand-in makes as `mapping` says; ingests it unless told not to.
sub fetch
{
	my ($symbol, $mapping, $ingest) = @_;
	$standin->ctl('symbol', "symbol=$symbol&$mapping");
	my $key = $node->safe_psql('postgres', "SELECT stockelt_fetch('$symbol')");
	$node->safe_psql('postgres', "SELECT stockelt_ingest('$key')") if $ingest // 1;
	return $key;
}

# RA: two objects whose every row a full restatement (same first week) overwrote, then a
# shorter newer history on another basis (the restated object's older weeks stay, rebased),
# then the same answer again (it changes nothing, and is the newest).
my @ra = (
	fetch('RA', 'weeks=100&end=2024-01-05'),
	fetch('RA', 'weeks=101&end=2024-01-12'),
	fetch('RA', 'weeks=103&end=2024-01-26&restate=1.1'),
	fetch('RA', 'weeks=50&end=2024-02-02&restate=1.2'),
	fetch('RA', 'weeks=50&end=2024-02-02&restate=1.2'));
# RC: the newest object restated every row of the one before it, but the oldest object's
# longer history is still in silver: the middle object was a seam of its rebasing.
my @rc = (
	fetch('RC', 'weeks=100&end=2024-01-05'),
	fetch('RC', 'weeks=60&end=2024-01-12&restate=1.1'),
	fetch('RC', 'weeks=61&end=2024-01-19&restate=1.2'));
# RB: an object never ingested, then a newer one that was.
my @rb = (fetch('RB', 'weeks=80&end=2024-01-05', 0), fetch('RB', 'weeks=40&end=2024-01-12'));
my $overview = $node->safe_psql('postgres',
	q{SELECT k FROM stockelt_fetch_overview('RA') k, stockelt_ingest(k) i});

sub named
{
	my ($key) = @_;
	return $node->safe_psql('postgres',
		"SELECT count(*) > 0 FROM silver.weekly_adjusted_prices WHERE bronze_key = '$key'");
}
is(join(',', map { named($_) } @ra), 'f,f,t,t,f', 'RA: silver names the third and fourth objects');
is(join(',', map { named($_) } @rc), 't,f,t', 'RC: silver names the first and the last');
ok($node->safe_psql('postgres',
		q{SELECT count(*) > 0 FROM silver.weekly_adjusted_prices
		   WHERE symbol = 'RA' AND basis_factor <> 1}),
	'RA has rows rebased onto the newest basis');

# What may go, decided on silver as the ingests left it (undone: the replay below needs it).
is($node->safe_psql('postgres', q{SELECT stockelt._prune_bronze('1 hour')}),
	'0', 'nothing younger than the retention is pruned');
sleep 2;
sub fates
{
	my ($left) = @_;
	my %left = map { $_ => 1 } split /\n/, $left;
	return join(' ', map { join(',', map { $left{$_} ? 'kept' : 'gone' } @$_) }
		  (\@ra, \@rc, \@rb, [$overview]));
}
is( fates($node->safe_psql('postgres', q{
BEGIN;
SELECT FROM stockelt._prune_bronze('1 second');
SELECT key FROM stockelt.bronze_objects;
ROLLBACK;})),
	'gone,gone,kept,kept,kept kept,kept,kept kept,kept kept',
	'what may go: RA\'s two overwritten objects; not RC\'s middle object, newer than a named '
	  . 'one (a replay rebases through it), RB\'s object never ingested, the named, the newest, '
	  . 'the listing');

# Silver as a replay of the whole lake rebuilds it: the ingests' silver, and RB's older weeks.
my $columns = q{symbol, week_ending, open, high, low, close, adjusted_close, volume,
	dividend_amount, basis_factor, bronze_key, fetched_at, last_refreshed};
my $symbol_columns = q{symbol, name, asset_type, exchange, region, country, currency, timezone,
	market_open, market_close, sector, industry, bronze_key, fetched_at, source};
sub snapshot
{
	$node->safe_psql('postgres', qq{
DROP TABLE IF EXISTS public.prices_before, public.symbols_before;
CREATE TABLE public.prices_before AS SELECT $columns FROM silver.weekly_adjusted_prices;
CREATE TABLE public.symbols_before AS SELECT $symbol_columns FROM silver.symbols;
});
}
sub differences
{
	my ($where) = @_;
	$where //= 'true';
	return $node->safe_psql('postgres', qq{
SELECT (SELECT count(*) FROM ((SELECT $columns FROM silver.weekly_adjusted_prices WHERE $where
							   EXCEPT ALL SELECT * FROM public.prices_before WHERE $where)
							  UNION ALL (SELECT * FROM public.prices_before WHERE $where
							   EXCEPT ALL SELECT $columns FROM silver.weekly_adjusted_prices WHERE $where)) d)
	 || ' ' ||
	   (SELECT count(*) FROM ((SELECT $symbol_columns FROM silver.symbols
							   EXCEPT ALL SELECT * FROM public.symbols_before)
							  UNION ALL (SELECT * FROM public.symbols_before
							   EXCEPT ALL SELECT $symbol_columns FROM silver.symbols)) d)});
}
sub replay
{
	return $node->safe_psql('postgres', q{
TRUNCATE silver.weekly_adjusted_prices, silver.symbols;
SELECT objects FROM stockelt_replay();});
}
snapshot();
is(replay(), '11', 'a replay before pruning ingests the eleven objects');
is(differences(q{symbol <> 'RB'}), '0 0', 'and rebuilds silver as the ingests left it');
isnt(differences(q{symbol = 'RB'}), '0 0', 'with RB\'s object never ingested now applied');
snapshot();

# The worker prunes once the retention is set.
reload_settings($node, 'stockelt.bronze_retention' => '1s');
ok( defined wait_for(
		$node, q{SELECT count(*) = 3 FROM stockelt.bronze_objects WHERE symbol = 'RA'
				   AND api_function = 'TIME_SERIES_WEEKLY_ADJUSTED'}, 30),
	'the worker pruned RA');
sleep 1;
my $left = $node->safe_psql('postgres', q{SELECT key FROM stockelt.bronze_objects});
is(fates($left), 'gone,gone,kept,kept,kept kept,kept,kept kept,kept kept',
	'the worker pruned RA\'s two overwritten objects and nothing else');
is($node->safe_psql('postgres', q{SELECT count(*) FROM stockelt.bronze_bodies}),
	scalar(split /\n/, $left), 'the bodies went with their catalog rows');
is($node->safe_psql('postgres', q{
SELECT count(*) FROM stockelt.silver_objects a
 WHERE NOT EXISTS (SELECT FROM stockelt.bronze_objects o WHERE o.key = a.key)}),
	'0', 'the applied-object log forgot the pruned objects');

is(differences(), '0 0', 'pruning changed nothing in silver');
is($node->safe_psql('postgres', q{
SELECT (SELECT count(*) FROM silver.weekly_adjusted_prices p
		 WHERE NOT EXISTS (SELECT FROM stockelt.bronze_objects o WHERE o.key = p.bronze_key))
	 + (SELECT count(*) FROM silver.symbols s
		 WHERE NOT EXISTS (SELECT FROM stockelt.bronze_objects o WHERE o.key = s.bronze_key))}),
	'0', 'every silver row names an object still in bronze');
is(replay(), '9', 'a replay after pruning ingests the nine objects left');
is(differences(), '0 0', 'and rebuilds the same silver, row for row');
is($node->safe_psql('postgres', q{SELECT stockelt._prune_bronze('1 second')}),
	'0', 'after the replay nothing more may go');

# Not for ordinary roles.
$node->safe_psql('postgres', 'CREATE ROLE etl LOGIN');
$node->safe_psql('postgres', readme_grants('etl'));
my ($ret, $out, $err) = $node->psql('postgres', q{SELECT stockelt._prune_bronze('1 second')},
	extra_params => [ '-U', 'etl' ]);
like($err, qr/permission denied for function _prune_bronze/,
	'a role with the README\'s grants may not prune');

# Bronze in S3: refused, with the reason, never half-done.
($ret, $out, $err) = $node->psql('postgres', qq{\\set VERBOSITY verbose
SET stockelt.s3_endpoint = 'http://127.0.0.1:9';
SELECT stockelt._prune_bronze('1 second')});
like($err, qr/0A000: stockelt.bronze_retention does not prune a bronze store in S3.*HINT:.*bronze_retention to 0/s,
	'with bronze in S3 the pruning is refused (0A000)');
my $log_start = -s $node->logfile;
reload_settings($node, 'stockelt.s3_endpoint' => 'http://127.0.0.1:9');
my $seen = 0;
for (1 .. 150)
{
	$seen = slurp_file($node->logfile, $log_start)
	  =~ /could not prune bronze: stockelt.bronze_retention does not prune a bronze store in S3/;
	last if $seen;
	usleep(200_000);
}
ok($seen, 'the worker says in the log why it does not prune');

$node->stop;
done_testing();
