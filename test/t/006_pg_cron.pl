# pg_cron as the trigger of the pipeline: a scheduled stockelt_enqueue wakes
# the worker, whose job fetches, stores and ingests the symbol.  Debian 12's
# pg_cron (1.4) schedules by the minute only, so this waits for the next
# minute to start.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;

my $standin = start_standin('--weeks', '52');
my $node = new_node('pg_cron', $standin->{url}, qq{
shared_preload_libraries = 'stockelt,pg_cron'
cron.database_name = 'postgres'
stockelt.database = 'postgres'
stockelt.requests_per_day = 0
}, $standin->{apikey});
$node->append_conf('postgresql.conf', "cron.host = '@{[ $node->host ]}'\n");
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION stockelt; CREATE EXTENSION pg_cron;');

my $job = $node->safe_psql('postgres',
	q{SELECT cron.schedule('stockelt-enqueue', '* * * * *', $$SELECT stockelt_enqueue(ARRAY['CRON1'])$$)});
like($job, qr/^\d+$/, 'the enqueue is scheduled every minute');

ok(defined wait_for($node, q{SELECT EXISTS (SELECT FROM stockelt.jobs WHERE symbol = 'CRON1')}, 75),
	'pg_cron enqueued the job');
ok(defined wait_for($node, q{SELECT state = 'done' FROM stockelt.jobs WHERE symbol = 'CRON1'}, 20),
	'the worker did it');
is( $node->safe_psql('postgres', q{
		SELECT count(*) FROM silver.weekly_adjusted_prices WHERE symbol = 'CRON1'}),
	'52', 'the symbol\'s weeks are in silver');
is($standin->count('CRON1'), 1, 'one call for it');
ok(defined wait_for($node, qq{
		SELECT status = 'succeeded' FROM cron.job_run_details WHERE jobid = $job
		 ORDER BY runid LIMIT 1}, 10),
	'pg_cron recorded the run as succeeded');

$node->safe_psql('postgres', q{SELECT cron.unschedule('stockelt-enqueue')});
$node->stop;
$standin->stop;
done_testing();
