# The upgrade from 1.0: a cluster runs version 1.0 as released (its module built from
# commit 4cfe9b4, its install script) and gets data the way 1.0 makes it; then the module is
# replaced by this tree's, the server restarted and ALTER EXTENSION stockelt UPDATE run.
# A second cluster installs 1.1 fresh and ingests the same bronze objects.  The catalogs of
# the extension's objects must be the same in both, the data of 1.0 must survive, and the
# upgraded database must answer as the fresh one does, then and after more data.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use File::Copy qw(copy);
use File::Path qw(make_path);
use lib dirname(__FILE__);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;

my $top = abs_path(dirname(__FILE__) . '/../..');
my $v10_commit = '4cfe9b4';

# Every difference between two lists of rows, as lines of "only in NAME: row".
sub differences
{
	my ($name_a, $rows_a, $name_b, $rows_b) = @_;
	my (%in_a, %in_b);
	$in_a{$_}++ for @$rows_a;
	$in_b{$_}++ for @$rows_b;
	my @only_a = grep { !$in_b{$_} || $in_b{$_}-- <= 0 } @$rows_a;
	%in_b = ();
	$in_b{$_}++ for @$rows_b;
	my @only_b = grep { !$in_a{$_} || $in_a{$_}-- <= 0 } @$rows_b;
	return ((map { "only in $name_a: $_" } @only_a), (map { "only in $name_b: $_" } @only_b));
}

# The same query on both clusters gives the same rows; on failure, the rows that differ.
sub same_rows
{
	my ($a, $b, $what, $sql) = @_;
	my @rows_a = split /\n/, $a->safe_psql('postgres', $sql);
	my @rows_b = split /\n/, $b->safe_psql('postgres', $sql);
	my @diff = differences('upgraded', \@rows_a, 'fresh', \@rows_b);
	ok(@rows_b > 0 && !@diff, "$what: the same in the upgraded and the fresh database ("
		  . scalar(@rows_b) . ' rows)');
	diag(join "\n", @diff[0 .. ($#diff < 60 ? $#diff : 59)],
		(@diff > 60 ? ('… ' . (@diff - 60) . ' more') : ())) if @diff;
	return;
}

# ---------------------------------------------------------------- version 1.0, built

plan skip_all => "no git history with commit $v10_commit to build version 1.0 from"
  if system("git -c safe.directory='*' -C '$top' cat-file -e '$v10_commit^{commit}' 2>/dev/null") != 0;

my $src10 = PostgreSQL::Test::Utils::tempdir('v10_src');
system("git -c safe.directory='*' -C '$top' archive '$v10_commit' | tar -x -C '$src10'") == 0
  or die "could not extract commit $v10_commit";
my ($pg_config) = grep { -x } map { "$_/pg_config" } split /:/, $ENV{PATH};
system("make -C '$src10' -s PG_CONFIG='$pg_config' with_llvm=no stockelt.so >'$src10/make.log' 2>&1")
  == 0 or die "could not build version 1.0: " . slurp_file("$src10/make.log");

# An installation like the real one but for its module: the binaries copied (PostgreSQL
# finds its libraries and share directory relative to the real path of its binary), the
# libraries and the share directory (this tree's control file and scripts) linked, and
# stockelt.so 1.0's until the upgrade.
my ($bindir, $pkglibdir, $sharedir) =
  map { chomp(my $d = `'$pg_config' --$_`); abs_path($d) } qw(bindir pkglibdir sharedir);
my $prefix = $bindir;
$prefix = dirname($prefix)
  while grep { index("$_/", "$prefix/") != 0 } ($pkglibdir, $sharedir);
my $inst = PostgreSQL::Test::Utils::tempdir('v10_install');
my ($inst_bin, $inst_lib, $inst_share) =
  map { $inst . substr($_, length $prefix) } ($bindir, $pkglibdir, $sharedir);
make_path($inst_bin, $inst_lib, dirname($inst_share));
for my $file (glob "$bindir/*")
{
	copy($file, "$inst_bin/" . basename_of($file)) or die "could not copy $file: $!";
	chmod 0755, "$inst_bin/" . basename_of($file);
}
for my $file (glob "$pkglibdir/*")
{
	next if basename_of($file) eq 'stockelt.so';
	symlink($file, "$inst_lib/" . basename_of($file)) or die "could not link $file: $!";
}
symlink($sharedir, $inst_share) or die "could not link $sharedir: $!";
copy("$src10/stockelt.so", "$inst_lib/stockelt.so") or die "could not copy 1.0's module: $!";

sub basename_of { my ($path) = @_; $path =~ s{.*/}{}; return $path; }

# ---------------------------------------------------------------- the two clusters

my $standin = start_standin('--weeks', '260');
my $settings = qq{
shared_preload_libraries = 'stockelt'
stockelt.api_base_url = '$standin->{url}/query'
stockelt.database = 'postgres'
stockelt.requests_per_second = 0
stockelt.requests_per_day = 0
stockelt.max_attempts = 1
stockelt.retry_delay = '100ms'
};
my $a = PostgreSQL::Test::Cluster->new('upgraded', install_path => dirname($inst_bin));
$a->init;
# 1.0 takes the key from a setting; 1.1 from a file.
$a->append_conf('postgresql.conf', $settings . "stockelt.api_key = '$standin->{apikey}'\n");
$a->start;
my $b = new_node('fresh', $standin->{url}, q{
stockelt.database = 'postgres'
stockelt.requests_per_second = 0
stockelt.requests_per_day = 0
}, $standin->{apikey});
$b->start;

# ---------------------------------------------------------------- data, made by 1.0

$a->safe_psql('postgres', q{CREATE EXTENSION stockelt VERSION '1.0'});
is($a->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'stockelt'}),
	'1.0', 'the first cluster runs version 1.0');

# CUT: an older full history, then a newer object of fewer weeks on another adjustment
# basis, so that 1.0 keeps weeks the newest object does not give (a seam for 1.1).
$standin->ctl('symbol', 'symbol=CUT&weeks=400&end=2024-03-11');
$a->safe_psql('postgres', q{
SELECT i.* FROM stockelt_fetch('IBM') k, stockelt_ingest(k) i;
SELECT i.* FROM stockelt_fetch('CUT') k, stockelt_ingest(k) i;
});
$standin->ctl('symbol', 'symbol=CUT&weeks=150&end=2024-04-12&restate=1.25');
$standin->ctl('symbol', 'symbol=IBM&weeks=260&end=2024-04-19');
$a->safe_psql('postgres', q{
SELECT i.* FROM stockelt_fetch('CUT') k, stockelt_ingest(k) i;
SELECT i.* FROM stockelt_fetch('IBM') k, stockelt_ingest(k) i;
SELECT i.* FROM stockelt_fetch_overview('IBM') k, stockelt_ingest(k) i;
SELECT count(*) FROM stockelt_search('tesco');
SELECT stockelt_watch('IBM', '7 days');
INSERT INTO stockelt.market_closures (day, reason) VALUES ('2030-01-02', 'a closure of my own');
SELECT * FROM stockelt_refresh_gold();
CREATE ROLE analyst;
GRANT USAGE ON SCHEMA silver, gold TO analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA silver, gold TO analyst;
});

# Jobs the worker ran (done, failed) and one it holds while the day's budget is spent.
$standin->ctl('symbol', 'symbol=NOPE&unknown=1');
$a->safe_psql('postgres', q{SELECT stockelt_enqueue(ARRAY['MSFT', 'NOPE'])});
ok( defined wait_for($a,
		q{SELECT count(*) = 2 FROM stockelt.jobs WHERE state IN ('done', 'failed')}, 60),
	'1.0 ran its jobs');
ok( defined wait_for($a,
		q{SELECT count(*) > 1 FROM stockelt.gold_refreshes}, 30),
	'1.0 refreshed gold after the batch');
my $used = $a->safe_psql('postgres', 'SELECT used FROM stockelt_usage()');
reload_settings($a, 'stockelt.requests_per_day' => $used);
$a->safe_psql('postgres', q{SELECT stockelt_enqueue(ARRAY['AAPL'])});
sleep 1;
my $jobs_sql = q{SELECT symbol, state, attempts, last_sqlstate FROM stockelt.jobs ORDER BY id};
my $jobs_before = $a->safe_psql('postgres', $jobs_sql);
like($jobs_before, qr/^MSFT\|done\|.*\nNOPE\|failed\|.*\nAAPL\|queued\|0\|$/,
	'1.0 has jobs done, failed and queued');

# The fresh cluster gets the same bronze objects, and ingests them in the same order.
sub copy_bronze
{
	my $known = $b->safe_psql('postgres',
		q{SELECT coalesce(string_agg(quote_literal(key), ','), '''''') FROM stockelt.bronze_objects});
	my $objects = $a->safe_psql('postgres', qq{
SELECT coalesce(json_agg(json_build_object('o', to_jsonb(o), 'body', encode(b.body, 'base64'))
						 ORDER BY o.fetched_at), '[]')
  FROM stockelt.bronze_objects o LEFT JOIN stockelt.bronze_bodies b USING (key)
 WHERE o.key NOT IN ($known)});
	return $b->safe_psql('postgres', qq{
WITH new AS (SELECT e FROM jsonb_array_elements(\$json\$$objects\$json\$) e),
	 catalog AS (
		INSERT INTO stockelt.bronze_objects
		SELECT (jsonb_populate_record(NULL::stockelt.bronze_objects, e -> 'o')).* FROM new
		RETURNING key, fetched_at)
INSERT INTO stockelt.bronze_bodies
SELECT e -> 'o' ->> 'key', decode(e ->> 'body', 'base64') FROM new WHERE e ->> 'body' IS NOT NULL;
SELECT count(*) FROM stockelt_ingest(ARRAY(
	SELECT key FROM stockelt.bronze_objects
	 WHERE key NOT IN ($known) ORDER BY fetched_at));});
}
# 1.0's C functions resolve in this tree's module (CREATE FUNCTION ... LANGUAGE C looks each
# symbol up), so its script installs and updates with the new module alone.
is($b->safe_psql('postgres', q{
CREATE EXTENSION stockelt VERSION '1.0';
ALTER EXTENSION stockelt UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'stockelt';
DROP EXTENSION stockelt;}), '1.1', "1.0's script installs with this tree's module, and updates");
$b->safe_psql('postgres', q{
CREATE EXTENSION stockelt;
CREATE ROLE analyst;
GRANT USAGE ON SCHEMA silver, gold TO analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA silver, gold TO analyst;
});
copy_bronze();

# A body that is not in the database (as an object in S3 is not): the upgrade dates the
# rows of MSFT's only object by the newest week they have, which is its Last Refreshed.
$a->safe_psql('postgres', q{
DELETE FROM stockelt.bronze_bodies
 WHERE key = (SELECT key FROM stockelt.bronze_objects WHERE symbol = 'MSFT' AND api_function = 'TIME_SERIES_WEEKLY_ADJUSTED')});

my $counts_sql = q{SELECT (SELECT count(*) FROM stockelt.bronze_objects),
	(SELECT count(*) FROM stockelt.bronze_bodies), (SELECT count(*) FROM silver.weekly_adjusted_prices),
	(SELECT count(*) FROM silver.symbols), (SELECT count(*) FROM stockelt.silver_objects),
	(SELECT count(*) FROM stockelt.watchlist), (SELECT count(*) FROM stockelt.market_closures WHERE NOT builtin),
	(SELECT count(*) FROM gold.dim_stock)};
my $counts_before = $a->safe_psql('postgres', $counts_sql);
my $refreshes_before = $a->safe_psql('postgres', 'SELECT count(*) FROM stockelt.gold_refreshes');
my $silver_sql = q{SELECT symbol, week_ending, open, high, low, close, adjusted_close, volume,
	dividend_amount, bronze_key, fetched_at FROM silver.weekly_adjusted_prices ORDER BY 1, 2};
my $silver_before = $a->safe_psql('postgres', $silver_sql);

# ---------------------------------------------------------------- the upgrade

$a->stop;
unlink "$inst_lib/stockelt.so" or die "could not remove 1.0's module: $!";
symlink("$pkglibdir/stockelt.so", "$inst_lib/stockelt.so") or die "could not link the module: $!";
$a->adjust_conf('postgresql.conf', 'stockelt.api_key', undef);
write_secret_file($a, 'stockelt_api_key', $standin->{apikey});
$a->append_conf('postgresql.conf', "stockelt.api_key_file = 'stockelt_api_key'\n");
my $log_offset = -s $a->logfile;
$a->start;
# Until the update the tables are 1.0's: the worker waits, says why, and runs no job.
ok( defined wait_for($a, q{SELECT count(*) > 0 FROM pg_stat_activity
	WHERE backend_type = 'stockelt worker' AND wait_event = 'Extension'}, 30),
	'the worker of the 1.1 library waits while the database has 1.0');
sleep 2;
my $waiting_log = substr(slurp_file($a->logfile), $log_offset);
like($waiting_log,
	qr/stockelt worker waits for ALTER EXTENSION stockelt UPDATE in database "postgres"\n.*DETAIL:  The database has version 1\.0 of the extension; the library loaded is version 1\.1\./s,
	'the server log says the worker waits for ALTER EXTENSION stockelt UPDATE, and why');
unlike($waiting_log, qr/ERROR|terminated by signal|exited with exit code/,
	'the worker neither errors nor restarts before the update');
is($a->safe_psql('postgres', $jobs_sql), $jobs_before,
	'no job changed while the worker waited for the update');
$a->safe_psql('postgres', 'ALTER EXTENSION stockelt UPDATE');
is($a->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'stockelt'}),
	'1.1', 'ALTER EXTENSION stockelt UPDATE brings 1.0 to 1.1');
is($b->safe_psql('postgres', q{SELECT extversion FROM pg_extension WHERE extname = 'stockelt'}),
	'1.1', 'a fresh CREATE EXTENSION installs 1.1');

# Grants on all tables of a schema cover the tables that existed: the README says to run
# them again after an update, for gold.dim_trading_day.
is($a->safe_psql('postgres', q{SELECT has_table_privilege('analyst', 'gold.dim_trading_day', 'SELECT')}),
	'f', 'a new table of 1.1 is not covered by grants made before the update');
ok( $a->safe_psql('postgres', q{
SELECT bool_and(has_table_privilege('analyst', c, 'SELECT'))
  FROM unnest(ARRAY['silver.weekly_adjusted_prices', 'silver.symbols', 'gold.dim_stock', 'gold.dim_date',
					'gold.fact_weekly_prices', 'gold.corporate_actions', 'gold.dividend_growth',
					'gold.weekly_performance']::regclass[]) c}) eq 't',
	'privileges granted on 1.0 tables and views survive the update');
$a->safe_psql('postgres', q{GRANT SELECT ON ALL TABLES IN SCHEMA silver, gold TO analyst});

# ---------------------------------------------------------------- the catalogs

# One row per fact about the extension's objects.  Columns are compared with their attnum:
# silver's writer fills tuples by position.  Privileges are compared as the grants they
# make, a NULL ACL as the owner's default, and pg_init_privs (what pg_dump takes as the
# extension's own) the same way, the default where there is no entry.
my $catalog_sql = q{
WITH ext AS (
	SELECT oid, extconfig, extcondition FROM pg_catalog.pg_extension WHERE extname = 'stockelt'
), members AS (
	SELECT d.classid, d.objid, pg_catalog.pg_describe_object(d.classid, d.objid, 0) AS what
	  FROM pg_catalog.pg_depend d, ext
	 WHERE d.refclassid = 'pg_catalog.pg_extension'::regclass AND d.refobjid = ext.oid
	   AND d.deptype = 'e'
), rels AS (
	SELECT c.oid, c.relkind, pg_catalog.format('%I.%I', n.nspname, c.relname) AS name
	  FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
	 WHERE c.oid IN (SELECT objid FROM members WHERE classid = 'pg_catalog.pg_class'::regclass)
), procs AS (
	SELECT p.oid, p.prokind, p.oid::pg_catalog.regprocedure::text AS name
	  FROM pg_catalog.pg_proc p
	 WHERE p.oid IN (SELECT objid FROM members WHERE classid = 'pg_catalog.pg_proc'::regclass)
), owned AS (
	-- each member with its ACL and the ACL its owner has by default
	SELECT 'pg_catalog.pg_class'::regclass AS classid, c.oid AS objid, r.name, c.relacl AS acl,
		   pg_catalog.acldefault(CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner) AS dflt
	  FROM rels r JOIN pg_catalog.pg_class c ON c.oid = r.oid
	UNION ALL
	SELECT 'pg_catalog.pg_proc'::regclass, f.oid, p.name, f.proacl,
		   pg_catalog.acldefault('f'::"char", f.proowner)
	  FROM procs p JOIN pg_catalog.pg_proc f ON f.oid = p.oid
	UNION ALL
	SELECT 'pg_catalog.pg_namespace'::regclass, n.oid, 'schema ' || n.nspname, n.nspacl,
		   pg_catalog.acldefault('n'::"char", n.nspowner)
	  FROM pg_catalog.pg_namespace n
	 WHERE n.oid IN (SELECT objid FROM members WHERE classid = 'pg_catalog.pg_namespace'::regclass)
), acls AS (
	SELECT 'acl' AS kind, o.name AS object, a.*
	  FROM owned o, LATERAL pg_catalog.aclexplode(coalesce(o.acl, o.dflt)) a
	UNION ALL
	SELECT 'acl', r.name || '.' || t.attname, a.*
	  FROM rels r JOIN pg_catalog.pg_attribute t ON t.attrelid = r.oid AND t.attacl IS NOT NULL,
		   LATERAL pg_catalog.aclexplode(t.attacl) a
	UNION ALL
	SELECT 'init_privs', o.name, a.*
	  FROM owned o
	  LEFT JOIN pg_catalog.pg_init_privs i
		ON i.classoid = o.classid AND i.objoid = o.objid AND i.objsubid = 0 AND i.privtype = 'e',
		   LATERAL pg_catalog.aclexplode(coalesce(i.initprivs, o.dflt)) a
	UNION ALL
	SELECT 'init_privs', pg_catalog.pg_describe_object(i.classoid, i.objoid, i.objsubid), a.*
	  FROM pg_catalog.pg_init_privs i, LATERAL pg_catalog.aclexplode(i.initprivs) a
	 WHERE i.objsubid <> 0 AND (i.classoid, i.objoid) IN (SELECT classid, objid FROM members)
)
SELECT kind || ' | ' || object || ' | ' || detail FROM (
	SELECT 'member' AS kind, what AS object, '' AS detail, 0 AS n FROM members
	UNION ALL
	SELECT 'relation', r.name,
		   pg_catalog.format('kind %s persistence %s options %s rowsecurity %s owner %s',
							 c.relkind, c.relpersistence, c.reloptions, c.relrowsecurity,
							 pg_catalog.pg_get_userbyid(c.relowner)), 0
	  FROM rels r JOIN pg_catalog.pg_class c ON c.oid = r.oid
	UNION ALL
	SELECT 'column', r.name || '.' || a.attname,
		   pg_catalog.format('attnum %s type %s not null %s default %s identity %s generated %s storage %s compression %s collation %s',
							 a.attnum, pg_catalog.format_type(a.atttypid, a.atttypmod), a.attnotnull,
							 pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), a.attidentity,
							 a.attgenerated, a.attstorage, a.attcompression,
							 a.attcollation::pg_catalog.regcollation), a.attnum
	  FROM rels r
	  JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND NOT a.attisdropped
	  LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
	UNION ALL
	SELECT 'dropped column', r.name, 'attnum ' || a.attnum, a.attnum
	  FROM rels r
	  JOIN pg_catalog.pg_attribute a ON a.attrelid = r.oid AND a.attnum > 0 AND a.attisdropped
	UNION ALL
	SELECT 'constraint', r.name || ' ' || co.conname, pg_catalog.pg_get_constraintdef(co.oid), 0
	  FROM rels r JOIN pg_catalog.pg_constraint co ON co.conrelid = r.oid
	UNION ALL
	SELECT 'index', r.name, pg_catalog.pg_get_indexdef(i.indexrelid), 0
	  FROM rels r JOIN pg_catalog.pg_index i ON i.indrelid = r.oid
	UNION ALL
	SELECT 'trigger', r.name || ' ' || t.tgname, pg_catalog.pg_get_triggerdef(t.oid), 0
	  FROM rels r JOIN pg_catalog.pg_trigger t ON t.tgrelid = r.oid AND NOT t.tgisinternal
	UNION ALL
	SELECT 'policy', r.name || ' ' || p.polname,
		   pg_catalog.format('%s %s %s %s', p.polcmd, p.polroles,
							 pg_catalog.pg_get_expr(p.polqual, p.polrelid),
							 pg_catalog.pg_get_expr(p.polwithcheck, p.polrelid)), 0
	  FROM rels r JOIN pg_catalog.pg_policy p ON p.polrelid = r.oid
	UNION ALL
	SELECT 'rule', r.name || ' ' || ru.rulename, pg_catalog.pg_get_ruledef(ru.oid), 0
	  FROM rels r JOIN pg_catalog.pg_rewrite ru ON ru.ev_class = r.oid AND ru.rulename <> '_RETURN'
	UNION ALL
	-- views and functions line by line: a difference shows as the lines that differ
	SELECT 'view', r.name, pg_catalog.format('line %s: %s', l.n, l.line), l.n::int
	  FROM rels r,
		   LATERAL pg_catalog.regexp_split_to_table(pg_catalog.pg_get_viewdef(r.oid), E'\n')
			   WITH ORDINALITY l (line, n)
	 WHERE r.relkind IN ('v', 'm')
	UNION ALL
	SELECT 'function', p.name, pg_catalog.format('line %s: %s', l.n, l.line), l.n::int
	  FROM procs p,
		   LATERAL pg_catalog.regexp_split_to_table(pg_catalog.pg_get_functiondef(p.oid), E'\n')
			   WITH ORDINALITY l (line, n)
	 WHERE p.prokind <> 'a'
	UNION ALL
	SELECT 'function', p.name,
		   pg_catalog.format('kind %s security definer %s config %s strict %s volatile %s parallel %s leakproof %s cost %s rows %s owner %s',
							 f.prokind, f.prosecdef, f.proconfig, f.proisstrict, f.provolatile,
							 f.proparallel, f.proleakproof, f.procost, f.prorows,
							 pg_catalog.pg_get_userbyid(f.proowner)), 0
	  FROM procs p JOIN pg_catalog.pg_proc f ON f.oid = p.oid
	UNION ALL
	SELECT 'aggregate', p.name,
		   pg_catalog.format('sfunc %s stype %s initcond %s finalfunc %s combinefunc %s',
							 ag.aggtransfn, ag.aggtranstype::pg_catalog.regtype, ag.agginitval,
							 ag.aggfinalfn, ag.aggcombinefn), 0
	  FROM procs p JOIN pg_catalog.pg_aggregate ag ON ag.aggfnoid = p.oid
	UNION ALL
	SELECT 'sequence', r.name,
		   pg_catalog.format('type %s start %s increment %s min %s max %s cache %s cycle %s owned by %s',
							 s.seqtypid::pg_catalog.regtype, s.seqstart, s.seqincrement, s.seqmin,
							 s.seqmax, s.seqcache, s.seqcycle,
							 (SELECT pg_catalog.pg_describe_object(d.refclassid, d.refobjid, d.refobjsubid)
								FROM pg_catalog.pg_depend d
							   WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = r.oid
								 AND d.deptype IN ('a', 'i')
								 AND d.refclassid = 'pg_catalog.pg_class'::regclass)), 0
	  FROM rels r JOIN pg_catalog.pg_sequence s ON s.seqrelid = r.oid
	UNION ALL
	SELECT 'comment', pg_catalog.pg_describe_object(de.classoid, de.objoid, de.objsubid),
		   de.description, 0
	  FROM pg_catalog.pg_description de
	 WHERE (de.classoid, de.objoid) IN (SELECT classid, objid FROM members)
	UNION ALL
	SELECT 'extconfig', c.oid::pg_catalog.regclass::text,
		   coalesce(nullif(ext.extcondition[i.n], ''), '(every row)'), 0
	  FROM ext, LATERAL pg_catalog.unnest(ext.extconfig) WITH ORDINALITY i (relid, n)
	  JOIN pg_catalog.pg_class c ON c.oid = i.relid
	UNION ALL
	SELECT kind, object,
		   pg_catalog.format('%s to %s%s by %s', privilege_type,
							 CASE WHEN grantee = 0 THEN 'PUBLIC' ELSE pg_catalog.pg_get_userbyid(grantee) END,
							 CASE WHEN is_grantable THEN ' with grant option' ELSE '' END,
							 pg_catalog.pg_get_userbyid(grantor)), 0
	  FROM acls
) facts
ORDER BY kind, object, n, detail};

my @catalog_a = split /\n/, $a->safe_psql('postgres', $catalog_sql);
my @catalog_b = split /\n/, $b->safe_psql('postgres', $catalog_sql);
# The one difference the update leaves: the four columns 1.1 moved from gold.dim_date to
# gold.dim_trading_day stay in pg_attribute as dropped columns.  SQL never sees them, and
# no C code reads gold (silver's tables, which C fills by position, have none); dropping
# and creating the table instead would lose the privileges users granted on it.
my %expected_only_a = map { ("dropped column | gold.dim_date | attnum $_" => 1) } 10 .. 13;
my @catalog_diff = grep { !/^only in upgraded: (.*)$/ || !$expected_only_a{$1} }
  differences('upgraded', \@catalog_a, 'fresh', \@catalog_b);
ok(@catalog_b > 1000 && !@catalog_diff,
	'the upgraded database has exactly the objects of a fresh 1.1 install ('
	  . scalar(@catalog_b) . ' catalog facts compared)');
diag("the catalogs differ (rows only in one of them):\n" . join("\n", @catalog_diff))
  if @catalog_diff;
is(scalar(grep { $expected_only_a{$_} } @catalog_a), 4,
	'gold.dim_date keeps its four old columns only as dropped ones');

# ---------------------------------------------------------------- the data of 1.0, kept

is($a->safe_psql('postgres', $counts_sql), $counts_before,
	'bronze, silver, silver_objects, the watchlist, user closures and gold stocks kept every row');
is($a->safe_psql('postgres', $silver_sql), $silver_before, 'silver rows kept their values and lineage');
is($a->safe_psql('postgres', $jobs_sql), $jobs_before, 'the jobs kept their states');
is($a->safe_psql('postgres', q{SELECT calendar, reason FROM stockelt.market_closures WHERE NOT builtin}),
	'NYSE|a closure of my own', "a user's closure is New York's, as every closure of 1.0 was");
is($a->safe_psql('postgres', 'SELECT count(*) FROM stockelt.gold_refreshes'), $refreshes_before + 1,
	'the update rebuilt gold once, and the refresh history is kept');
like($a->safe_psql('postgres', q{
SELECT count(*) FILTER (WHERE basis_factor <> 1 AND symbol = 'CUT'),
	   count(*) FILTER (WHERE basis_factor IS DISTINCT FROM 1 AND symbol <> 'CUT'),
	   count(*) FILTER (WHERE last_refreshed IS NULL)
  FROM silver.weekly_adjusted_prices}), qr/^[1-9]\d*\|0\|0$/,
	"CUT's weeks before the seam got a basis factor, every other row 1; every row a date");

# New columns filled as 1.1 fills them: silver equals that of the fresh database that
# ingested the same objects.
my $silver11_sql = q{SELECT symbol, week_ending, open, high, low, close, adjusted_close, volume,
	dividend_amount, basis_factor, bronze_key, fetched_at, last_refreshed
  FROM silver.weekly_adjusted_prices ORDER BY 1, 2};
my $symbols_sql = q{SELECT symbol, name, asset_type, exchange, region, country, currency, timezone,
	market_open, market_close, sector, industry, bronze_key, fetched_at, source FROM silver.symbols ORDER BY 1};
same_rows($a, $b, 'silver prices', $silver11_sql);
same_rows($a, $b, 'silver listings', $symbols_sql);

# ---------------------------------------------------------------- gold and answers, as 1.1

my $gold_sql = q{
SELECT 'stock ' || (to_jsonb(g) - 'stock_key')::text FROM gold.dim_stock g
UNION ALL
SELECT 'fact ' || g.symbol || ' ' || (to_jsonb(f) - 'stock_key')::text
  FROM gold.fact_weekly_prices f JOIN gold.dim_stock g USING (stock_key)
UNION ALL
SELECT 'action ' || g.symbol || ' ' || (to_jsonb(c) - 'stock_key')::text
  FROM gold.corporate_actions c JOIN gold.dim_stock g USING (stock_key)
UNION ALL
SELECT 'date ' || to_jsonb(d)::text FROM gold.dim_date d
UNION ALL
SELECT 'session ' || to_jsonb(t)::text FROM gold.dim_trading_day t
UNION ALL
SELECT 'performance ' || to_jsonb(v)::text FROM gold.weekly_performance v
UNION ALL
SELECT 'volatility ' || to_jsonb(v)::text FROM gold.volume_volatility_52w v
UNION ALL
SELECT 'growth ' || to_jsonb(v)::text FROM gold.dividend_growth v
UNION ALL
SELECT 'growers ' || to_jsonb(v)::text FROM gold.dividend_growers(1) v
UNION ALL
SELECT 'check ' || to_jsonb(v)::text FROM stockelt_check() v
ORDER BY 1};
$b->safe_psql('postgres', 'SELECT * FROM stockelt_refresh_gold()');
same_rows($a, $b, 'gold, the business answers and the checks after the update', $gold_sql);

# ---------------------------------------------------------------- the upgraded database at work

# The queued job of 1.0 runs once the budget allows, now with 1.1's worker.  1.0 put it off
# to the next day when the budget was spent; bringing it forward is the operator's call.
reload_settings($a, 'stockelt.requests_per_day' => 0);
$a->safe_psql('postgres', q{
UPDATE stockelt.jobs SET next_attempt_at = now() WHERE state = 'queued';
SELECT stockelt_enqueue(ARRAY['AAPL']);});
ok( defined wait_for($a, q{SELECT state = 'done' FROM stockelt.jobs WHERE symbol = 'AAPL'}, 60),
	"1.0's queued job runs after the update")
  or diag($a->safe_psql('postgres', q{SELECT to_jsonb(j) FROM stockelt.jobs j; SELECT to_jsonb(u) FROM stockelt_usage() u; SELECT to_jsonb(w) FROM stockelt.worker w}));
ok( defined wait_for($a, q{SELECT NOT EXISTS (SELECT FROM stockelt.gold_pending)}, 30),
	'the worker refreshed gold after it');

# A newer IBM object, and a Toronto listing with two keys in a Christmas week (1.1's grain).
$standin->ctl('symbol', 'symbol=IBM&weeks=260&end=2024-04-26');
$standin->ctl('symbol', 'symbol=RY.TO&weeks=120&end=2019-01-11&christmas_monday=1');
$a->safe_psql('postgres', q{
SELECT i.* FROM stockelt_fetch('IBM') k, stockelt_ingest(k) i;
SELECT i.* FROM stockelt_fetch('RY.TO') k, stockelt_ingest(k) i;
SELECT * FROM stockelt_refresh_gold();
});
copy_bronze();
$b->safe_psql('postgres', 'SELECT * FROM stockelt_refresh_gold()');
same_rows($a, $b, 'silver prices after more fetches', $silver11_sql);
same_rows($a, $b, 'gold, the business answers and the checks after more fetches', $gold_sql);
ok($a->safe_psql('postgres', q{
SELECT count(*) > count(DISTINCT date_trunc('week', week_ending))
  FROM silver.weekly_adjusted_prices WHERE symbol = 'RY.TO'}) eq 't',
	'the upgraded database keeps two keys of one week');

$a->stop;
$b->stop;
$standin->stop;
done_testing();
