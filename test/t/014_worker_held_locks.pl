# A granted role's transaction left open after an ingest of a symbol, or
# after a gold refresh, holds a lock that the worker's ingest of an answer
# needs.  The worker keeps such an answer, stores it once the session ends,
# never repeats its call, and fetches other symbols meanwhile.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;
use Time::HiRes qw(time);

my $standin = start_standin('--weeks', '52');
my $node = worker_node('held', $standin, q{
stockelt.max_concurrent_requests = 2
});

# A pipeline role with exactly the README's grants.
$node->safe_psql('postgres', q{CREATE ROLE etl LOGIN});
$node->safe_psql('postgres', readme_grants('etl'));

sub enqueue
{
	$node->safe_psql('postgres',
		'SELECT stockelt_enqueue(ARRAY[' . join(', ', map { "'$_'" } @_) . '])');
	return;
}

sub states
{
	my ($like) = @_;
	return $node->safe_psql('postgres',
		qq{SELECT string_agg(symbol || ' ' || state || '/' || attempts, ', ' ORDER BY symbol)
			 FROM stockelt.jobs WHERE symbol LIKE '$like'});
}

# ---------------------------------------------------------------- the same symbol
my $session = $node->background_psql('postgres', extra_params => [ '-U', 'etl' ]);
$session->query_safe('BEGIN');
$session->query_safe(q{SELECT inserted FROM stockelt_ingest(stockelt_fetch('HELD1'))});
is($standin->count('HELD1'), 1, 'the open session fetched HELD1 once');

enqueue('HELD1', 'FREE1', 'FREE2', 'FREE3');
my $took = wait_for($node,
	q{SELECT count(*) = 3 FROM stockelt.jobs WHERE symbol LIKE 'FREE%' AND state = 'done'}, 15);
ok(defined $took, 'other symbols are fetched and ingested while HELD1 waits for the lock');
# The other symbols can be done before the worker has tried HELD1's lock: wait for the line.
ok(eval { $node->wait_for_log(qr/stockelt worker keeps the answer for "HELD1"/, 0); 1 },
	'the log says the answer is kept');
is(states('HELD%'), 'HELD1 running/1', 'HELD1 has its answer and waits, with one call');
sleep 2;
is($standin->count('HELD1'), 2, 'the call for HELD1 is not repeated while it waits');

$session->query_safe('COMMIT');
ok( defined wait_for(
		$node, q{SELECT state = 'done' FROM stockelt.jobs WHERE symbol = 'HELD1'}, 10),
	'once the session ends, the kept answer is stored');
is(states('HELD%'), 'HELD1 done/1', 'with the one call it had');
is($standin->count('HELD1'), 2, 'and no other call');
is( $node->safe_psql('postgres', q{
		SELECT count(DISTINCT bronze_key) FROM silver.weekly_adjusted_prices WHERE symbol = 'HELD1'}),
	'1', "silver's HELD1 rows come from one object");
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM stockelt.bronze_objects WHERE symbol = 'HELD1'}),
	'2', 'two objects for two calls, none stored twice');

# ---------------------------------------------------------------- a refresh left open
$session->query_safe('BEGIN');
$session->query_safe('SELECT stocks FROM stockelt_refresh_gold()');
my $t0 = time;
enqueue('GOLD1', 'GOLD2');
ok( defined wait_for(
		$node, q{SELECT count(*) = 2 FROM stockelt.jobs WHERE symbol LIKE 'GOLD%' AND state = 'running'}, 10),
	'answers wait while a refresh is left open');
sleep 2;
is($standin->count('GOLD1') + $standin->count('GOLD2'), 2, 'one call each, not repeated');
$session->query_safe('COMMIT');
ok( defined wait_for(
		$node, q{SELECT count(*) = 2 FROM stockelt.jobs WHERE symbol LIKE 'GOLD%' AND state = 'done'}, 10),
	'and are stored once it ends');
is($standin->count('GOLD1') + $standin->count('GOLD2'), 2, 'with no other call');
ok( defined wait_for(
		$node, q{SELECT count(*) = 2 FROM gold.dim_stock WHERE symbol LIKE 'GOLD%'}, 10),
	'and gold is refreshed after them');
$session->quit;

$node->stop;
$standin->stop;
done_testing();
