# stockelt on Citus: a coordinator and two workers on 127.0.0.1, citus and stockelt preloaded
# on all three.  Layouts stockelt cannot write (silver distributed by another column, a table
# of its own made a Citus table, its triggers left on distributed silver, a write on a worker
# node) fail with SE300 or SE301 and write nothing; stockelt_distribute() lays silver out by
# symbol; fetches through the stand-in, batch, single and forced ingests and the background
# worker's jobs then give, call for call, the counts, the silver rows with their lineage, the
# applied-object log and gold's change log of the same calls in a database without Citus on
# the same server; so do the gold refresh (the worker's, incremental and full), every gold
# table, the answer views and stockelt_check(); each symbol's rows are in its own shard, on
# the workers, none in the coordinator's local tables; a per-symbol query of silver, the facts,
# the corporate actions and the three answer views is routed to one shard; the refresh
# computes each shard's rows in place; bronze retention prunes what it prunes on one node.
# Skipped where Citus is not installed.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;

my $sharedir = `pg_config --sharedir`;
chomp $sharedir;
plan skip_all => 'Citus is not installed' unless -f "$sharedir/extension/citus.control";

my $standin = start_standin('--weeks', '60');
my $citus_settings = q{
shared_preload_libraries = 'citus,stockelt'
listen_addresses = '127.0.0.1'
citus.node_conninfo = 'sslmode=disable'
stockelt.database = 'postgres'
stockelt.requests_per_day = 0
stockelt.requests_per_second = 0
};

# A node of the cluster: Citus's connections come over TCP from 127.0.0.1.
sub citus_node
{
	my ($name, $apikey) = @_;
	my $node = new_node($name, $standin->{url}, $citus_settings, $apikey);
	$node->append_conf('pg_hba.conf', "host all all 127.0.0.1/32 trust\n");
	$node->start;
	$node->safe_psql('postgres', 'CREATE EXTENSION citus');
	return $node;
}

my $coordinator = citus_node('coordinator', $standin->{apikey});
my @workers = map { citus_node("worker$_") } 1, 2;
$coordinator->safe_psql('postgres',
	"SELECT citus_set_coordinator_host('127.0.0.1', " . $coordinator->port . ')');
$coordinator->safe_psql('postgres', "SELECT citus_add_node('127.0.0.1', " . $_->port . ')')
  for @workers;
$coordinator->safe_psql('postgres', 'CREATE EXTENSION stockelt');
is(join(' ', map { $_->safe_psql('postgres', q{SELECT count(*) FROM pg_extension WHERE extname = 'stockelt'}) } @workers),
	'1 1', 'Citus created stockelt on both workers');

# The same server, a database without Citus: the single node the cluster is compared with.
$coordinator->safe_psql('postgres', 'CREATE DATABASE single');
$coordinator->safe_psql('single', 'CREATE EXTENSION stockelt');

# stderr of a script run with verbose errors (psql goes on after an error).
sub errors_of
{
	my ($node, $sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql", on_error_stop => 0);
	return $err;
}

sub silver_rows
{
	my ($node, $db) = @_;
	return $node->safe_psql($db, q{
		SELECT count(*) || ' ' || md5(string_agg(r::text, E'\n' ORDER BY r.symbol, r.week_ending))
		  FROM (SELECT symbol, week_ending, open, high, low, close, adjusted_close, volume,
					   dividend_amount, basis_factor, bronze_key, fetched_at, last_refreshed
				  FROM silver.weekly_adjusted_prices) r});
}

# ---------------------------------------------------------------- fetches

my @symbols = qw(AAPL IBM KO MSFT NVDA ORCL PEP XOM);
# XOM's history ends in 2025; its Christmas week of 2024 has two keys, the Monday's and the
# week's last session.
$standin->ctl('symbol', 'symbol=XOM&end=2025-01-10&christmas_monday=1');
my @round1 = map {
	$coordinator->safe_psql('postgres', "SELECT stockelt_fetch('$_')")
} @symbols;
my $listing = $coordinator->safe_psql('postgres', q{SELECT stockelt_fetch_overview('IBM')});

# Newer fetches that change silver: the partial week closed (re-keyed), a week added, a
# restated history (every row updated or rebased), both, and the Monday key gone (deleted).
$standin->ctl('symbol', 'symbol=KO&end=2024-04-19');
$standin->ctl('symbol', 'symbol=AAPL&end=2024-04-24');
$standin->ctl('symbol', 'symbol=IBM&restate=1.25');
$standin->ctl('symbol', 'symbol=MSFT&end=2024-04-24&restate=0.5');
$standin->ctl('symbol', 'symbol=XOM&end=2025-01-10');
my @round2 = map {
	$coordinator->safe_psql('postgres', "SELECT stockelt_fetch('$_')")
} qw(KO AAPL IBM MSFT XOM);

# ---------------------------------------------------------------- layouts refused

my $key = $round1[0];
# Stockelt's triggers on silver, dropped as stockelt_distribute() drops them, for layouts made by hand.
my $drop_silver_triggers = q{DO $$DECLARE t record; BEGIN
	FOR t IN SELECT tgname FROM pg_trigger WHERE tgrelid = 'silver.weekly_adjusted_prices'::regclass
			   AND NOT tgisinternal LOOP
		EXECUTE format('DROP TRIGGER %I ON silver.weekly_adjusted_prices', t.tgname);
	END LOOP;
END$$;};
like(errors_of($coordinator, qq{
BEGIN;
$drop_silver_triggers
SELECT create_distributed_table('silver.weekly_adjusted_prices', 'week_ending');
SELECT * FROM stockelt_ingest('$key');
ROLLBACK;
}), qr/ERROR:  SE300: silver\.weekly_adjusted_prices is not distributed by symbol\n.*distributed by column "week_ending"/,
	'an ingest into silver distributed by week fails with SE300');
like(errors_of($coordinator, qq{
BEGIN;
$drop_silver_triggers
SELECT create_distributed_table('silver.weekly_adjusted_prices', 'week_ending');
SELECT stockelt_distribute();
ROLLBACK;
}), qr/ERROR:  SE300: silver\.weekly_adjusted_prices is not distributed by symbol/,
	'and stockelt_distribute() refuses to build on it');
like(errors_of($coordinator, qq{
BEGIN;
SELECT create_distributed_table('silver.symbols', 'symbol');
SELECT * FROM stockelt_ingest('$key');
ROLLBACK;
BEGIN;
$drop_silver_triggers
SELECT create_distributed_table('silver.weekly_adjusted_prices', 'symbol');
SELECT create_distributed_table('silver.symbols', 'symbol', colocate_with => 'none');
SELECT * FROM stockelt_ingest('$key');
ROLLBACK;
}), qr/ERROR:  SE300: silver\.symbols is distributed but silver\.weekly_adjusted_prices is not\n.*ERROR:  SE300: silver\.symbols is not co-located with silver\.weekly_adjusted_prices/s,
	'an ingest fails with SE300 while silver\'s tables are not distributed together');
like(errors_of($coordinator, qq{
BEGIN;
SELECT create_reference_table('stockelt.jobs');
SELECT * FROM stockelt_ingest('$key');
ROLLBACK;
BEGIN;
SELECT create_reference_table('stockelt.gold_pending');
SELECT stockelt_distribute();
ROLLBACK;
}), qr/ERROR:  SE300: stockelt\.jobs is a Citus table\n.*reference table.*ERROR:  SE300: stockelt\.gold_pending is a Citus table/s,
	'an ingest and stockelt_distribute() fail with SE300 while a table of stockelt\'s own is a Citus table');
like(errors_of($coordinator, qq{
BEGIN;
$drop_silver_triggers
SELECT create_distributed_table('silver.weekly_adjusted_prices', 'symbol');
SELECT create_distributed_table('silver.symbols', 'symbol', colocate_with => 'silver.weekly_adjusted_prices');
INSERT INTO stockelt.gold_pending VALUES ('IBM', '-infinity');
SELECT * FROM stockelt_refresh_gold();
ROLLBACK;
}), qr/ERROR:  SE300: gold is not laid out with silver on Citus\nDETAIL:  Not distributed: gold\.corporate_actions, gold\.fact_weekly_prices, stockelt\._gold_dirty, stockelt\._gold_new\./,
	'the gold refresh fails with SE300 while silver is distributed and the facts are not');
is($coordinator->safe_psql('postgres', q{SELECT count(*) FROM pg_dist_partition}), '0',
	'the refused layouts were rolled back');

# ---------------------------------------------------------------- the supported layout

$coordinator->safe_psql('postgres', 'SELECT stockelt_distribute()');
$coordinator->safe_psql('postgres', 'SELECT stockelt_distribute()');
is($coordinator->safe_psql('postgres', q{
	SELECT string_agg(logicalrelid::text || ' ' || partmethod::text || ' '
					  || coalesce(column_to_column_name(logicalrelid, partkey), '-') || ' '
					  || repmodel::text, ', ' ORDER BY logicalrelid::text)
	  FROM pg_dist_partition}),
	'gold.corporate_actions h symbol s, gold.dim_date n - t, gold.dim_stock n - t, '
	  . 'gold.dim_trading_day n - t, gold.fact_weekly_prices h symbol s, '
	  . 'silver.symbols h symbol s, silver.weekly_adjusted_prices h symbol s, '
	  . 'stockelt._gold_dirty h symbol s, stockelt._gold_new h symbol s',
	'stockelt_distribute(), called twice: silver, the facts and the scratch tables by symbol, the dimensions reference tables');
is($coordinator->safe_psql('postgres', q{
	SELECT count(*) || ' ' || count(DISTINCT colocationid) FROM pg_dist_partition WHERE partmethod = 'h'}),
	'6 1', 'silver\'s tables, the facts and the scratch tables are co-located');
is($coordinator->safe_psql('postgres', q{
	SELECT count(*) FROM pg_trigger t JOIN pg_proc f ON f.oid = t.tgfoid
	 WHERE f.pronamespace = 'stockelt'::regnamespace
	   AND t.tgrelid IN ('silver.weekly_adjusted_prices'::regclass, 'silver.symbols'::regclass)}),
	'0', 'stockelt\'s triggers on silver are gone');

like(errors_of($coordinator, qq{
BEGIN;
SET LOCAL citus.enable_unsafe_triggers = on;
CREATE TRIGGER left_over AFTER INSERT ON silver.weekly_adjusted_prices
	FOR EACH STATEMENT EXECUTE FUNCTION stockelt._forget_applied_objects('TIME_SERIES_WEEKLY_ADJUSTED');
SELECT * FROM stockelt_ingest('$key');
ROLLBACK;
}), qr/ERROR:  SE300: silver is distributed with stockelt's trigger "left_over" still on it/,
	'a trigger of stockelt on distributed silver fails an ingest with SE300');

# ---------------------------------------------------------------- ingest, call for call

# Bronze as the coordinator has it, into the single node's database.
my $copy = $coordinator->basedir . '/bronze';
sub copy_bronze
{
	$coordinator->safe_psql('postgres', qq{
		COPY stockelt.bronze_objects TO '$copy.objects';
		COPY stockelt.bronze_bodies TO '$copy.bodies'});
	$coordinator->safe_psql('single', qq{
		TRUNCATE stockelt.bronze_bodies, stockelt.bronze_objects;
		COPY stockelt.bronze_objects FROM '$copy.objects';
		COPY stockelt.bronze_bodies FROM '$copy.bodies'});
	return;
}
copy_bronze();

# A call on both, its answers compared; returns the cluster's.
sub on_both
{
	my ($sql, $what) = @_;
	my $cluster = $coordinator->safe_psql('postgres', $sql);
	my $single = $coordinator->safe_psql('single', $sql);
	is($cluster, $single, "$what: the answers of one node");
	return $cluster;
}

sub key_array { return 'ARRAY[' . join(', ', map { "'$_'" } @_) . ']' }

my $answers = on_both(q{SELECT string_agg(inserted || ' ' || updated || ' ' || unchanged, ', ')
	FROM stockelt_ingest(} . key_array(@round1, $listing) . ')', 'a batch of every symbol and a listing');
is($answers, join(', ', ('60 0 0') x (@symbols - 1), '61 0 0', '1 0 0'), 'the batch inserted every week');
$answers = join ', ', map {
	on_both("SELECT inserted || ' ' || updated || ' ' || unchanged FROM stockelt_ingest('$_')",
		"a newer fetch of one symbol")
} @round2;
like($answers, qr/^0 1 59, 1 1 58, 0 60 0, 1 60 0, 0 1 60$/,
	"the newer fetches re-keyed, added, updated and rebased rows ($answers)");
on_both(q{SELECT string_agg(inserted || ' ' || updated || ' ' || unchanged, ', ')
	FROM stockelt_ingest(ARRAY(SELECT key FROM stockelt.bronze_objects ORDER BY fetched_at), true)},
	'every object forced again in the order of its fetch, the older before the newer');
$answers = on_both(q{SELECT sum(inserted) || ' ' || sum(updated) || ' ' || sum(unchanged)
	FROM stockelt_ingest(ARRAY(SELECT DISTINCT ON (symbol) key FROM stockelt.bronze_objects
							   ORDER BY symbol, fetched_at DESC), true)},
	'the newest object of every symbol forced again');
like($answers, qr/^0 0 [1-9]\d*$/, 'a forced re-ingest compares with the shards\' rows and changes nothing');

is(silver_rows($coordinator, 'postgres'), silver_rows($coordinator, 'single'),
	'silver, lineage included, is that of one node');
my $listings = q{SELECT string_agg(r::text, E'\n' ORDER BY r.symbol) FROM (SELECT symbol, name,
	sector, exchange, bronze_key, fetched_at, source FROM silver.symbols) r};
is($coordinator->safe_psql('postgres', $listings), $coordinator->safe_psql('single', $listings),
	'so are the listings');
my $logs = q{SELECT (SELECT string_agg(key || ' ' || rows_in_object || ' ' || inserted || ' ' || updated, E'\n' ORDER BY key)
					  FROM stockelt.silver_objects)
			 || E'\n' || (SELECT string_agg(symbol || ' ' || from_week, ' ' ORDER BY symbol) FROM stockelt.gold_pending)};
is($coordinator->safe_psql('postgres', $logs), $coordinator->safe_psql('single', $logs),
	'the applied objects and gold\'s change log are those of one node, on the coordinator');
is(join(' ', map { $_->safe_psql('postgres', q{SELECT (SELECT count(*) FROM stockelt.gold_pending)
		+ (SELECT count(*) FROM stockelt.silver_objects)}) } @workers),
	'0 0', 'no worker recorded a change');

# ---------------------------------------------------------------- the worker's jobs

$standin->ctl('symbol', 'symbol=PEP&end=2024-04-24');
$coordinator->safe_psql('postgres', q{SELECT stockelt_enqueue(ARRAY['PEP', 'WMT'])});
ok(defined wait_for($coordinator, q{SELECT count(*) = 2 AND bool_and(state = 'done')
		FROM stockelt.jobs WHERE symbol IN ('PEP', 'WMT')}, 60),
	'the background worker\'s jobs are done')
  or diag($coordinator->safe_psql('postgres', 'SELECT symbol, state, last_error FROM stockelt.jobs'));
copy_bronze();
$coordinator->safe_psql('single', q{SELECT stockelt_ingest(ARRAY(SELECT o.key FROM stockelt.bronze_objects o
	WHERE o.symbol IN ('PEP', 'WMT') AND o.fetched_at = (SELECT max(fetched_at) FROM stockelt.bronze_objects
	WHERE symbol = o.symbol) ORDER BY o.fetched_at))});
is(silver_rows($coordinator, 'postgres'), silver_rows($coordinator, 'single'),
	'silver after the jobs is that of one node ingesting their objects');
is($coordinator->safe_psql('postgres', $logs), $coordinator->safe_psql('single', $logs),
	'and so are the logs');

# ---------------------------------------------------------------- gold

# Every gold table (floats through jsonb: exact), the three answer views,
# gold.dividend_growers() in its own order, and stockelt_check().
sub gold_rows
{
	my ($node, $db) = @_;
	return $node->safe_psql($db, q{
		SELECT 'facts ' || count(*) || ' ' || md5(string_agg(to_jsonb(f)::text, E'\n' ORDER BY f.symbol, f.date_key)) FROM gold.fact_weekly_prices f
		UNION ALL SELECT 'actions ' || count(*) || ' ' || md5(string_agg(to_jsonb(a)::text, E'\n' ORDER BY a.symbol, a.date_key, a.action)) FROM gold.corporate_actions a
		UNION ALL SELECT 'dim_stock ' || count(*) || ' ' || md5(string_agg(to_jsonb(s)::text, E'\n' ORDER BY s.symbol)) FROM gold.dim_stock s
		UNION ALL SELECT 'dim_date ' || count(*) || ' ' || md5(string_agg(d::text, E'\n' ORDER BY d.date_key)) FROM gold.dim_date d
		UNION ALL SELECT 'dim_trading_day ' || count(*) || ' ' || md5(string_agg(d::text, E'\n' ORDER BY d.calendar, d.date_key)) FROM gold.dim_trading_day d
		UNION ALL SELECT 'weekly_performance ' || count(*) || ' ' || md5(string_agg(v::text, E'\n' ORDER BY v.symbol, v.week_ending)) FROM gold.weekly_performance v
		UNION ALL SELECT 'volume_volatility_52w ' || count(*) || ' ' || md5(string_agg(v::text, E'\n' ORDER BY v.symbol, v.week_ending)) FROM gold.volume_volatility_52w v
		UNION ALL SELECT 'dividend_growth ' || count(*) || ' ' || md5(string_agg(v::text, E'\n' ORDER BY v.symbol, v.year)) FROM gold.dividend_growth v
		UNION ALL SELECT 'dividend_growers ' || count(*) || ' ' || md5(string_agg(v::text, E'\n')) FROM gold.dividend_growers(0) v
		UNION ALL SELECT 'check ' || count(*) || ' ' || md5(string_agg(v::text, E'\n' ORDER BY v::text)) FROM stockelt_check() v});
}

# The worker refreshes gold after its jobs: on this layout too.
ok(defined wait_for($coordinator, q{SELECT (SELECT count(*) FROM stockelt.gold_pending) = 0
		AND (SELECT count(*) FROM stockelt.gold_refreshes) > 0
		AND NOT EXISTS (SELECT FROM stockelt.worker_steps WHERE step = 'refresh gold' AND state <> 'ok')}, 60),
	'the background worker\'s gold refresh runs on distributed silver and gold')
  or diag($coordinator->safe_psql('postgres', 'SELECT * FROM stockelt.worker_steps'));
$coordinator->safe_psql('single', 'SELECT stockelt_refresh_gold()');
my $gold = gold_rows($coordinator, 'postgres');
like($gold, qr/^facts [1-9]\d* /, 'gold has facts');
is($gold, gold_rows($coordinator, 'single'),
	'every gold table, the answer views and stockelt_check() are those of one node');

# A newer fetch: the incremental refresh on both, then a full rebuild of the cluster's gold.
$standin->ctl('symbol', 'symbol=KO&end=2024-04-26&restate=1.1');
my $newer = $coordinator->safe_psql('postgres', q{SELECT stockelt_fetch('KO')});
copy_bronze();
on_both(qq{SELECT inserted || ' ' || updated || ' ' || unchanged FROM stockelt_ingest('$newer')},
	'a restated fetch after the refresh');
on_both(q{SELECT count(*) FROM stockelt.gold_pending}, "gold's change log after it");
$coordinator->safe_psql($_, 'SELECT stockelt_refresh_gold()') for qw(postgres single);
$gold = gold_rows($coordinator, 'postgres');
is($gold, gold_rows($coordinator, 'single'), 'the incremental refresh gives the gold of one node');
is($coordinator->safe_psql('postgres', 'SELECT stocks || \' \' || rebuilt_history FROM stockelt_refresh_gold(true)'),
	'9 9', 'a full rebuild on the cluster recomputes every stock');
is(gold_rows($coordinator, 'postgres'), $gold, 'and gives what the incremental refresh gave');
is($coordinator->safe_psql('postgres', q{SELECT count(*) FROM stockelt.gold_pending}), '0',
	"and leaves gold's change log empty");

# The chain's INSERT into _gold_new runs on each shard whole: the statement Citus sends writes
# a _gold_new shard and reads the silver shard beside it, and no rows are repartitioned.
my $remote = errors_of($coordinator, q{
BEGIN;
SET LOCAL citus.log_remote_commands = on;
SELECT stocks FROM stockelt_refresh_gold(true);
ROLLBACK;
});
my @pairs = $remote =~ /issuing INSERT INTO stockelt\._gold_new_(\d+) \([^\n]*?silver\.weekly_adjusted_prices_(\d+)/g;
ok(@pairs > 0, 'the refresh computes gold rows on the shards, each statement writing _gold_new and reading silver ('
	  . @pairs / 2 . ' statements)');
my $pairs = join(', ', map { "($pairs[2 * $_], $pairs[2 * $_ + 1])" } 0 .. @pairs / 2 - 1) || '(0, 0)';
is($coordinator->safe_psql('postgres', qq{
	SELECT count(*) FILTER (WHERE n.shardminvalue = s.shardminvalue) || ' ' || count(*)
	  FROM (VALUES $pairs) p (new_shard, silver_shard)
	  JOIN pg_dist_shard n ON n.shardid = p.new_shard JOIN pg_dist_shard s ON s.shardid = p.silver_shard}),
	(@pairs / 2) . ' ' . (@pairs / 2), 'each into the _gold_new shard beside the silver shard it reads');
unlike($remote, qr/worker_partition_query_result|repartitioned_results/,
	'and moves none of them between shards');

# Bronze retention on the coordinator: the objects nothing needs go, as on one node.
my $prune = q{SELECT stockelt._prune_bronze('0 seconds') || ' '
	|| (SELECT md5(string_agg(key, ' ' ORDER BY key)) FROM stockelt.bronze_objects)
	|| ' ' || (SELECT count(*) FROM stockelt.silver_objects)};
my ($ret, $pruned, $err) = $coordinator->psql('postgres', $prune);
is($err, '', 'bronze retention runs on the coordinator');
is($pruned, $coordinator->safe_psql('single', $prune), 'and prunes what one node prunes');
like($pruned, qr/^[1-9]\d* /, "some objects ($pruned)");
is(silver_rows($coordinator, 'postgres'), silver_rows($coordinator, 'single'),
	'and silver is still that of one node');

# ---------------------------------------------------------------- where the rows are

my ($total) = split / /, silver_rows($coordinator, 'postgres');
is($coordinator->safe_psql('postgres', q{SELECT pg_relation_size('silver.weekly_adjusted_prices')
		+ pg_relation_size('silver.symbols') + pg_relation_size('gold.fact_weekly_prices')
		+ pg_relation_size('gold.corporate_actions')}), '0', 'no row is in the coordinator\'s local tables');
is($coordinator->safe_psql('postgres', q{
	SELECT sum(r.result::bigint) = (SELECT count(*) FROM gold.fact_weekly_prices)
	   AND bool_and(p.nodeport <> current_setting('port')::int)
	  FROM run_command_on_shards('gold.fact_weekly_prices', 'SELECT count(*) FROM %s') r
	  JOIN pg_dist_shard_placement p USING (shardid)}), 't', 'the facts are in shards on the workers');
my $by_node = $coordinator->safe_psql('postgres', q{
	SELECT string_agg(rows::text, ' ' ORDER BY nodeport) FROM (
		SELECT p.nodeport, sum(r.result::bigint) AS rows
		  FROM run_command_on_shards('silver.weekly_adjusted_prices', 'SELECT count(*) FROM %s') r
		  JOIN pg_dist_shard_placement p USING (shardid) GROUP BY 1) n});
my @by_node = split / /, $by_node;
is(scalar(@by_node), 2, "the rows are on the two workers ($by_node)");
ok(!grep({ $_ == 0 } @by_node), 'each worker holds rows');
my $sum = 0;
$sum += $_ for @by_node;
is($sum, $total, "the shards hold every row of silver ($total)");
is($coordinator->safe_psql('postgres', q{
	WITH s AS (
		SELECT r.shardid, unnest(string_to_array(r.result, ',')) AS symbol
		  FROM run_command_on_shards('silver.weekly_adjusted_prices',
									 'SELECT string_agg(DISTINCT symbol, '','') FROM %s') r)
	SELECT count(*) || ' ' || count(DISTINCT symbol) || ' '
		   || bool_and(shardid = get_shard_id_for_distribution_column('silver.weekly_adjusted_prices', symbol))
	  FROM s}), '9 9 true', 'each symbol\'s rows are in one shard, the one Citus routes it to');

my $plan = $coordinator->safe_psql('postgres',
	q{EXPLAIN (COSTS OFF) SELECT week_ending, adjusted_close FROM silver.weekly_adjusted_prices WHERE symbol = 'IBM'});
like($plan, qr/Task Count: 1\n/, 'a per-symbol query is routed to one shard');
like($plan, qr/Node: host=127\.0\.0\.1 port=(\d+)/, 'on a worker');
# So are queries of one symbol through gold's tables and the answer views.
for my $from (qw(gold.fact_weekly_prices gold.corporate_actions gold.weekly_performance gold.volume_volatility_52w
	gold.dividend_growth))
{
	like($coordinator->safe_psql('postgres', "EXPLAIN (COSTS OFF) SELECT * FROM $from WHERE symbol = 'IBM'"),
		qr/^Custom Scan \(Citus Adaptive\)\n  Task Count: 1\n/, "a query of one symbol of $from is routed to one shard");
}

# ---------------------------------------------------------------- on a worker node

my $calls = $standin->counts->{total};
like(errors_of($workers[0], q{SELECT stockelt_fetch('IBM')}),
	qr/ERROR:  SE301: stockelt does not write on a worker node of a Citus cluster/,
	'a fetch on a worker node fails with SE301');
is($standin->counts->{total}, $calls, 'before any call');
like(errors_of($workers[0], qq{SELECT * FROM stockelt_ingest('$key', true)}),
	qr/ERROR:  SE301: /, 'an ingest on a worker node fails with SE301');
like(errors_of($workers[1], q{SELECT stockelt_distribute()}),
	qr/ERROR:  SE301: /, 'and so does stockelt_distribute()');
like(errors_of($workers[1], q{SELECT stockelt_enqueue(ARRAY['IBM']); SELECT stockelt_watch('KO')}),
	qr/ERROR:  SE301: .*ERROR:  SE301: /s, 'and a job or a watchlist entry queued there');
is($workers[1]->safe_psql('postgres', q{SELECT (SELECT count(*) FROM stockelt.jobs)
		+ (SELECT count(*) FROM stockelt.watchlist)}), '0', 'which is not written');
is(silver_rows($coordinator, 'postgres'), silver_rows($coordinator, 'single'),
	'nothing of silver changed');

$coordinator->stop;
$_->stop for @workers;
$standin->stop;
done_testing();
