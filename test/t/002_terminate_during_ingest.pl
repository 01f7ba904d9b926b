# A backend terminated while a batch ingest has parser threads running exits
# cleanly: the threads are joined before the exit frees what they read, and
# the server does not go through crash recovery.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;
use Time::HiRes qw(usleep);

my $standin = $ENV{STANDIN} or die "STANDIN is not set";
my $apikey = $ENV{APIKEY} or die "APIKEY is not set";

my $node = new_node('terminate_ingest', $standin, q{
stockelt.requests_per_second = 0
stockelt.requests_per_day = 0
}, $apikey);
$node->start;
$node->safe_psql('postgres', 'CREATE EXTENSION stockelt');
$node->safe_psql('postgres',
	q{SELECT count(stockelt_fetch('TERM' || i)) FROM generate_series(1, 20) i});

# Every object many times over, forced: long enough to be terminated half-way.
my $batch = q{SELECT count(*) FROM stockelt_ingest(ARRAY(
	SELECT key FROM stockelt.bronze_objects, generate_series(1, 50)), force => true)};

for my $round (1 .. 8)
{
	my ($out, $err) = ('', '');
	my $h = IPC::Run::start(
		[ 'psql', '-X', '-q', '-d', $node->connstr('postgres'), '-c', $batch ],
		'>', \$out, '2>', \$err);
	usleep(100_000 + 60_000 * $round);
	$node->safe_psql('postgres',
		q{SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		   WHERE query LIKE '%stockelt_ingest(ARRAY%' AND pid <> pg_backend_pid()});
	$h->finish;
}

is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server still answers');
my $log = slurp_file($node->logfile);
like($log, qr/terminating connection due to administrator command/, 'backends were terminated');
unlike($log, qr/terminated by signal/, 'no backend crashed');
unlike($log, qr/all server processes terminated; reinitializing/, 'no crash recovery');

$node->stop;
done_testing();
