# Concurrent batch ingests that name the same symbols in opposite orders, and
# gold refreshes between them, never deadlock: every ingest takes its symbols'
# locks up front in one global order, before it writes silver or
# stockelt.gold_pending (which a refresh locks in SHARE ROW EXCLUSIVE mode).
# Silver ends up exactly as one of the objects of each symbol has it.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;

my $symbols = 6;
my $weeks = 150;
my $transactions = $ENV{STOCKELT_LOCK_TRANSACTIONS} // 40;

# No API call is made: the objects are written into bronze directly.
my $node = new_node('ingest_locks', 'http://127.0.0.1:9', q{
deadlock_timeout = '100ms'
max_connections = 20
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION stockelt');

# Two objects per symbol with different adjusted closes and the same fetch time in the
# catalog (so neither is older), so that each forced ingest rewrites the symbol's rows
# (and marks gold_pending) when the other object was applied last.
$node->safe_psql('postgres', qq{
CREATE TABLE public.lock_objects (symbol text, version int, key text, body text);
INSERT INTO public.lock_objects
SELECT s.symbol, v, format('alphavantage/time_series_weekly_adjusted/symbol=%s/fetched=20240415T210000.00000%sZ.json', s.symbol, v),
	   format('{"Meta Data": {"2. Symbol": "%s"}, "Weekly Adjusted Time Series": {%s}}', s.symbol,
			  (SELECT string_agg(format('"%s": {"1. open": "10.0000", "2. high": "12.0000", "3. low": "9.0000", '
										'"4. close": "11.0000", "5. adjusted close": "%s", "6. volume": "1000", '
										'"7. dividend amount": "0.0000"}',
										date '2021-01-01' + 7 * w, to_char(10 + v + w / 1000.0, 'FM990.0000')), ', ')
				 FROM generate_series(0, $weeks - 1) w))
  FROM (SELECT 'LOCK' || i AS symbol FROM generate_series(1, $symbols) i) s, generate_series(1, 2) v;
INSERT INTO stockelt.bronze_objects (key, symbol, api_function, fetched_at, size_bytes, sha256, store)
SELECT key, symbol, 'TIME_SERIES_WEEKLY_ADJUSTED', '2024-04-15 21:00:00+00', octet_length(body),
	   encode(sha256(convert_to(body, 'UTF8')), 'hex'), 'table' FROM public.lock_objects;
INSERT INTO stockelt.bronze_bodies SELECT key, convert_to(body, 'UTF8') FROM public.lock_objects;
});

my $dir = PostgreSQL::Test::Utils::tempdir('pgbench');
my %scripts = (
	forward => q{\set v random(1, 2)
SELECT count(*) FROM stockelt_ingest(ARRAY(SELECT key FROM public.lock_objects WHERE version = :v ORDER BY symbol), force => true);
},
	backward => q{\set v random(1, 2)
SELECT count(*) FROM stockelt_ingest(ARRAY(SELECT key FROM public.lock_objects WHERE version = :v ORDER BY symbol DESC), force => true);
},
	refresh => q{SELECT * FROM stockelt_refresh_gold();
},);
for my $name (keys %scripts)
{
	open my $fh, '>', "$dir/$name.sql" or die $!;
	print $fh $scripts{$name};
	close $fh;
}

my ($out, $err) = ('', '');
IPC::Run::run(
	[
		'pgbench', '-n', '-c', '6', '-j', '3', '-t', $transactions,
		'--failures-detailed', '-f', "$dir/forward.sql\@4",
		'-f', "$dir/backward.sql\@4", '-f', "$dir/refresh.sql\@2",
		'-d', $node->connstr('postgres')
	],
	'>', \$out, '2>', \$err);
note($out);
note($err) if $err ne '';

my ($processed) = $out =~ /number of transactions actually processed: (\d+)/;
my ($deadlocks) = $out =~ /number of deadlock failures: (\d+)/;
ok(defined $processed && defined $deadlocks, 'pgbench ran the scripts to the end');
is($deadlocks, 0, 'no batch ingest or gold refresh failed with a deadlock (40P01)');
is($processed, 6 * $transactions, 'every transaction committed');
like($out, qr/SQL script 3: \S*refresh\.sql.*?\n - (\d+) transactions/s, 'gold refreshes ran between the ingests');
my $log = slurp_file($node->logfile);
unlike($log, qr/deadlock detected/, 'the server log has no deadlock');
unlike($err, qr/ERROR/, 'no client saw an error');

# Each symbol's rows come from one object, whole, with that object's values.
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM (
	SELECT s.symbol FROM silver.weekly_adjusted_prices s
	  JOIN public.lock_objects o ON o.key = s.bronze_key
	  JOIN LATERAL jsonb_each(o.body::jsonb -> 'Weekly Adjusted Time Series') w
		ON w.key::date = s.week_ending
	 WHERE s.adjusted_close = (w.value ->> '5. adjusted close')::numeric
	 GROUP BY s.symbol HAVING count(DISTINCT s.bronze_key) = 1 AND count(*) = } . $weeks . q{) ok}),
	$symbols,
	'silver holds every week of each symbol from one object, with its values');

$node->safe_psql('postgres', 'SELECT stockelt_refresh_gold()');
is( $node->safe_psql(
		'postgres', q{
SELECT count(*) FROM gold.fact_weekly_prices f JOIN gold.dim_stock d USING (stock_key)
  JOIN silver.weekly_adjusted_prices s ON s.symbol = d.symbol
   AND f.date_key = to_char(s.week_ending, 'YYYYMMDD')::int
 WHERE f.adjusted_close = s.adjusted_close}),
	$symbols * $weeks,
	'gold agrees with silver after a last refresh');

$node->stop;
done_testing();
