# The worker needs an API key it can read before it spends a call, as the
# synchronous path does: with none configured, or with a key file it must
# refuse, its jobs wait without any call and say why, the worker keeps
# running (no exit and restart every second), and a reload that fixes the key
# sends them at once.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;
use Time::HiRes qw(usleep);

delete $ENV{ALPHAVANTAGE_API_KEY};
my $standin = start_standin('--weeks', '52');
my $node = new_node('nokey', $standin->{url}, q{
stockelt.database = 'postgres'
stockelt.requests_per_day = 0
stockelt.requests_per_second = 0
log_min_messages = 'info'
});
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION stockelt');
my $pid = worker_pid($node);
ok(defined $pid, 'the worker runs without a key');

my $log_start = -s $node->logfile;
$node->safe_psql('postgres', q{SELECT stockelt_enqueue(ARRAY['NK1', 'NK2'])});
ok( defined wait_for(
		$node, q{SELECT count(*) = 2 FROM stockelt.jobs
				  WHERE last_error LIKE 'waiting for an API key: no Alpha Vantage API key is configured%'
					AND last_sqlstate = '55000'}, 10),
	'with no key the jobs say they wait for one');
sleep 2;
is($standin->counts->{total}, 0, 'no call was made without a key');
is( $node->safe_psql('postgres',
		q{SELECT string_agg(state || '/' || attempts, ',' ORDER BY symbol) FROM stockelt.jobs}),
	'queued/0,queued/0',
	'the jobs stay queued with no attempt counted');
is(worker_pid($node), $pid, 'the worker did not exit');
my $log = slurp_file($node->logfile, $log_start);
is(scalar(() = $log =~ /holds its jobs, waiting for an API key/g),
	1, 'the wait is logged once');

# A key file that others may read is refused as a secret file, not sent.
my $path = write_secret_file($node, 'loose_key', $standin->{apikey});
chmod 0644, $path or die "chmod: $!";
reload_settings($node, 'stockelt.api_key_file' => $path);
ok( defined wait_for(
		$node, q{SELECT bool_and(last_error LIKE 'waiting for an API key: %permissions%')
					AND bool_and(last_sqlstate = 'F0000') FROM stockelt.jobs}, 10),
	'a key file with loose permissions holds the jobs with its reason');
sleep 1;
is($standin->counts->{total}, 0, 'no call was made with a refused key file');
is(worker_pid($node), $pid, 'the worker did not exit on a refused key file');

# Mended: the reload sends the jobs at once.
chmod 0600, $path or die "chmod: $!";
$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
ok( defined wait_for(
		$node, q{SELECT count(*) = 2 FROM stockelt.jobs WHERE state = 'done'}, 10),
	'after the key is mended the jobs are done');
is($standin->counts->{total}, 2, 'one call for each job');
like(slurp_file($node->logfile, $log_start), qr/has an API key again and sends its jobs/,
	'the log says the jobs go again');
unlike(slurp_file($node->logfile), qr/\Q$standin->{apikey}\E/, 'the key is not in the log');

$node->stop;
$standin->stop;
done_testing();
