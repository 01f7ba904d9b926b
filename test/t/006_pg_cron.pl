# pg_cron as the trigger of the pipeline, as the README's "pg_cron as the trigger" says it,
# on a cluster that lets clients in as Debian's default pg_hba.conf does (peer over the Unix
# socket, a password over TCP, no trust): the README's settings and its SQL, run as written;
# the job's schedule then moved to every minute (Debian 12's pg_cron 1.4 schedules by the
# minute only, so this waits for the next minute to start); pg_cron's run succeeds and the
# worker does the jobs it queued.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;

my $heading = '### pg_cron as the trigger';
my @settings = readme_section_blocks($heading, '');
my @scripts = readme_section_blocks($heading, 'sql');
is(scalar @settings, 1, 'the README gives one block of settings for pg_cron');
is(scalar @scripts, 1, 'and one SQL block');
my ($script) = @scripts;
my @symbols = $script =~ /stockelt_enqueue\(ARRAY\[([^\]]*)\]/
  ? map { /'([^']+)'/ } split /,/, $1 : ();
ok(@symbols > 0, 'the README\'s job queues symbols: ' . join(' ', @symbols));

my $standin = start_standin('--weeks', '52');
my $node = new_node('pg_cron', $standin->{url}, undef, $standin->{apikey});
# The README's settings, after those of new_node (stockelt preloaded, the stand-in's API).
$node->append_conf('postgresql.conf', $settings[0]);

# Debian's pg_hba.conf, as pg_createcluster writes it, and a server listening on TCP.
debian_hba($node);
$node->start;
is( $node->safe_psql('postgres', q{SELECT string_agg(auth_method, ' ' ORDER BY line_number)
		FROM pg_hba_file_rules WHERE 'all' = ANY (database)}),
	'peer peer scram-sha-256 scram-sha-256', 'the cluster trusts no connection');
is( $node->safe_psql('postgres', q{SELECT current_setting('shared_preload_libraries')
		|| ' ' || current_setting('cron.use_background_workers')}),
	'pg_cron,stockelt on', 'the README\'s settings are in force');
$node->safe_psql('postgres', 'CREATE EXTENSION stockelt');

# The README's SQL, through psql as a user would run it.
my ($out, $err) = ('', '');
IPC::Run::run([ 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
	'<', \$script, '>', \$out, '2>', \$err);
is($? >> 8, 0, 'the README\'s SQL runs') or diag($err);
my ($job, $schedule) = query_row($node, q{SELECT jobid, schedule FROM cron.job WHERE jobname = 'stockelt-weekly'});
is($schedule, '30 22 * * 5', 'the job is scheduled as the README says');

# The same job, its command untouched, every minute.
$node->safe_psql('postgres', q{SELECT cron.schedule(jobname, '* * * * *', command)
		FROM cron.job WHERE jobname = 'stockelt-weekly'});
my $symbols_sql = join ', ', map { "'$_'" } @symbols;
ok(defined wait_for($node, qq{SELECT count(*) = @{[ scalar @symbols ]} FROM stockelt.jobs
		WHERE symbol IN ($symbols_sql)}, 75),
	'pg_cron queued the README\'s symbols')
  or diag($node->safe_psql('postgres', 'SELECT status, return_message FROM cron.job_run_details'));
ok(defined wait_for($node, qq{SELECT bool_and(state = 'done') FROM stockelt.jobs
		WHERE symbol IN ($symbols_sql)}, 30),
	'the worker did them');
is( $node->safe_psql('postgres', qq{
		SELECT count(DISTINCT symbol) FROM silver.weekly_adjusted_prices WHERE symbol IN ($symbols_sql)}),
	scalar @symbols, 'their weeks are in silver');
is(join(' ', map { $standin->count($_) } @symbols), join(' ', map { 1 } @symbols),
	'one call for each');
ok(defined wait_for($node, qq{
		SELECT status = 'succeeded' FROM cron.job_run_details WHERE jobid = $job
		 ORDER BY runid LIMIT 1}, 10),
	'pg_cron recorded the run as succeeded')
  or diag($node->safe_psql('postgres', 'SELECT status, return_message FROM cron.job_run_details'));

$node->safe_psql('postgres', q{SELECT cron.unschedule('stockelt-weekly')});
$node->stop;
$standin->stop;
done_testing();
