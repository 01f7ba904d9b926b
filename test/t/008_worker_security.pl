# The worker runs as the bootstrap superuser in a database another role may
# own.  That owner's settings (ALTER DATABASE … SET) and objects must not run
# as superuser or stop the worker: a search_path to a schema of its own with
# now(), clock_timestamp(), make_interval() and
# stockelt_refresh_gold() that would make it superuser, an overload planted
# beside the real refresh function, then settings that would make every write
# fail, turn a failed job into an exit, or switch the worker's role.  Then the
# extension in a schema of its own, with a stockelt_refresh_gold() planted in
# public: the worker calls the real one.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;
use Time::HiRes qw(time usleep);

my $standin = start_standin('--weeks', '52');
my $node = worker_node('worker_security', $standin, q{
stockelt.database = 'shop'
});

# Sessions of the test itself undo what the owner set for the database.
my $undo = q{SET ROLE NONE; SET search_path = pg_catalog, public; }
  . q{SET default_transaction_read_only = off; SET exit_on_error = off; };

sub in_db
{
	my ($db, $sql) = @_;
	return $node->safe_psql($db, $undo . $sql);
}

# Polls a query in a database until it returns 't'; undef after 30 s.
sub db_wait
{
	my ($db, $sql) = @_;
	my $start = time;
	my ($ret, $out, $err);

	while (time - $start < 30)
	{
		($ret, $out, $err) = $node->psql($db, $undo . $sql);
		return time - $start if $ret == 0 && $out eq 't';
		usleep(100_000);
	}
	diag("timed out waiting in $db for: $sql\nlast output: " . ($out // '') . ' ' . ($err // ''));
	return undef;
}

# What the owner's traps must never do: called as a superuser, they make it one.
sub traps
{
	my ($owner) = @_;
	return qq{
CREATE TABLE trap.calls (fn text, by_role text);
CREATE FUNCTION trap.escalate(fn text) RETURNS void LANGUAGE plpgsql AS \$\$
BEGIN
	INSERT INTO trap.calls VALUES (fn, current_user);
	BEGIN
		ALTER ROLE $owner SUPERUSER;
	EXCEPTION WHEN insufficient_privilege THEN
		NULL;
	END;
END \$\$;
GRANT INSERT ON trap.calls TO PUBLIC;
};
}

sub worker_in
{
	my ($db) = @_;
	return wait_for($node, qq{
		SELECT count(*) = 1 FROM pg_stat_activity
		 WHERE backend_type = 'stockelt worker' AND datname = '$db'}, 30);
}

sub not_superuser
{
	my ($role) = @_;
	return $node->safe_psql('postgres', "SELECT NOT rolsuper FROM pg_roles WHERE rolname = '$role'");
}

# ---------------------------------------------------------------- the owner's search_path

$node->safe_psql('postgres', q{
	CREATE ROLE shop_owner LOGIN;
	CREATE DATABASE shop OWNER shop_owner;
});
$node->safe_psql('shop', 'CREATE EXTENSION stockelt');
# In PostgreSQL 15 the database owner owns public: the real refresh function's schema.
$node->safe_psql('shop', qq{
	SET ROLE shop_owner;
	CREATE SCHEMA trap;
	@{[ traps('shop_owner') ]}
	CREATE FUNCTION trap.now() RETURNS timestamptz LANGUAGE plpgsql AS \$\$
		BEGIN PERFORM trap.escalate('now'); RETURN pg_catalog.now(); END \$\$;
	CREATE FUNCTION trap.clock_timestamp() RETURNS timestamptz LANGUAGE plpgsql AS \$\$
		BEGIN PERFORM trap.escalate('clock_timestamp'); RETURN pg_catalog.clock_timestamp(); END \$\$;
	CREATE FUNCTION trap.make_interval(secs double precision) RETURNS interval LANGUAGE plpgsql AS \$\$
		BEGIN PERFORM trap.escalate('make_interval'); RETURN pg_catalog.make_interval(secs => secs); END \$\$;
	CREATE FUNCTION trap.stockelt_refresh_gold() RETURNS void LANGUAGE plpgsql AS \$\$
		BEGIN PERFORM trap.escalate('trap.stockelt_refresh_gold'); END \$\$;
	-- Beside the real one: a call by name would be ambiguous.
	CREATE FUNCTION public.stockelt_refresh_gold() RETURNS void LANGUAGE plpgsql AS \$\$
		BEGIN PERFORM trap.escalate('public.stockelt_refresh_gold'); END \$\$;
	ALTER DATABASE shop SET search_path = trap, pg_catalog, public;
});
ok(defined worker_in('shop'), 'the worker serves the database of a non-superuser owner');
my $pid = worker_pid($node);
# The worker reads the database's settings when it connects: a new one gets them.
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok(defined wait_for($node, qq{
		SELECT count(*) = 1 FROM pg_stat_activity
		 WHERE backend_type = 'stockelt worker' AND datname = 'shop' AND pid <> $pid}, 30),
	'a new worker connected with the owner\'s search_path');
in_db('shop', q{SELECT count(*) FROM stockelt_enqueue(ARRAY['SP1', 'SP2', 'SP3'])});
ok(defined db_wait('shop', q{
		SELECT count(*) = 3 FROM stockelt.jobs WHERE symbol LIKE 'SP_' AND state = 'done'}),
	'search_path: the jobs are done')
  or diag($node->safe_psql('shop', $undo . 'SELECT symbol, state, last_error FROM stockelt.jobs'));
ok(defined db_wait('shop', q{
		SELECT count(*) = 3 FROM gold.dim_stock WHERE symbol LIKE 'SP_'}),
	'search_path: gold was refreshed by the real function, past the planted overload');
# A watchlist pass (every 10 s) and a pruning pass run their SQL too.
in_db('shop', q{SELECT stockelt_watch('SPW')});
ok(defined db_wait('shop', q{
		SELECT EXISTS (SELECT FROM stockelt.jobs WHERE symbol = 'SPW' AND state = 'done')}),
	'search_path: the watchlist pass ran');
is(in_db('shop', 'SELECT count(*) FROM trap.calls'), '0', 'search_path: no trap was called');
is(not_superuser('shop_owner'), 't', 'search_path: the owner did not become superuser');

# ---------------------------------------------------------------- settings that break the worker

$standin->ctl('symbol', 'symbol=SPBAD&unknown=1');
in_db('shop', q{
	SET ROLE shop_owner;
	ALTER DATABASE shop SET default_transaction_read_only = on;
	ALTER DATABASE shop SET exit_on_error = on;
	ALTER DATABASE shop SET role = 'shop_owner';
	ALTER DATABASE shop SET transform_null_equals = on;
});
$pid = worker_pid($node);
$node->safe_psql('postgres', "SELECT pg_terminate_backend($pid)");
ok(defined wait_for($node, qq{
		SELECT count(*) = 1 FROM pg_stat_activity
		 WHERE backend_type = 'stockelt worker' AND datname = 'shop' AND pid <> $pid}, 30),
	'a new worker connected with the owner\'s other settings');
$pid = worker_pid($node);
in_db('shop', q{SELECT count(*) FROM stockelt_enqueue(ARRAY['SPBAD'])});
ok(defined db_wait('shop', q{
		SELECT state = 'failed' FROM stockelt.jobs WHERE symbol = 'SPBAD'}),
	'settings: a job for an unknown symbol failed');
in_db('shop', q{SELECT count(*) FROM stockelt_enqueue(ARRAY['SP4', 'SP5'])});
ok(defined db_wait('shop', q{
		SELECT count(*) = 2 FROM stockelt.jobs WHERE symbol IN ('SP4', 'SP5') AND state = 'done'}),
	'settings: then jobs are done (writes work, as the superuser)');
is(worker_pid($node), $pid, 'settings: the same worker, the failed job did not make it exit');
ok(defined db_wait('shop', q{
		SELECT count(*) = 2 FROM gold.dim_stock WHERE symbol IN ('SP4', 'SP5')}),
	'settings: gold was refreshed');
is(in_db('shop', 'SELECT count(*) FROM trap.calls'), '0', 'settings: no trap was called');
is(not_superuser('shop_owner'), 't', 'settings: the owner is not superuser');

# ---------------------------------------------------------------- the extension in its own schema

$node->safe_psql('postgres', q{
	CREATE ROLE lake_owner LOGIN;
	CREATE DATABASE lake OWNER lake_owner;
});
$node->safe_psql('lake', q{
	CREATE SCHEMA pipeline;
	CREATE EXTENSION stockelt SCHEMA pipeline;
});
$node->safe_psql('lake', qq{
	SET ROLE lake_owner;
	CREATE SCHEMA trap;
	@{[ traps('lake_owner') ]}
	CREATE FUNCTION public.stockelt_refresh_gold() RETURNS void LANGUAGE plpgsql AS \$\$
		BEGIN PERFORM trap.escalate('public.stockelt_refresh_gold'); END \$\$;
});
$node->append_conf('postgresql.conf', "stockelt.database = 'lake'\n");
$node->restart;
ok(defined worker_in('lake'), 'the worker serves a database with the extension in schema pipeline');
$node->safe_psql('lake', q{SELECT count(*) FROM pipeline.stockelt_enqueue(ARRAY['LK1', 'LK2'])});
ok(defined db_wait('lake', q{
		SELECT count(*) = 2 FROM stockelt.jobs WHERE symbol LIKE 'LK_' AND state = 'done'}),
	'other schema: the jobs are done');
ok(defined db_wait('lake', q{
		SELECT count(*) = 2 FROM gold.dim_stock WHERE symbol LIKE 'LK_'}),
	'other schema: gold was refreshed by pipeline.stockelt_refresh_gold');
is($node->safe_psql('lake', 'SELECT count(*) FROM trap.calls'), '0',
	'other schema: the function planted in public was not called');
is(not_superuser('lake_owner'), 't', 'other schema: its owner did not become superuser');
ok(!$node->log_contains('could not refresh gold'), 'no gold refresh failed');

my $log = slurp_file($node->logfile);
unlike($log, qr/terminated by signal|server process .* was terminated/, 'no process crashed');

$node->stop;
$standin->stop;
done_testing();
