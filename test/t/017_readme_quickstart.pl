# The README as a newcomer meets it: its quick start, pasted into psql as written, on a
# server set up as its Installation section says (stockelt preloaded, the key in a file, the
# limits of a free key), succeeds and every query in it returns rows; the jobs it queues are
# done by the worker; the three business questions' queries run on what it loaded; and the
# Settings table names exactly the settings the server has.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;

my $readme = slurp_file(dirname(__FILE__) . '/../../README.md');

# The fenced blocks of one language under a heading, up to the next heading of its level.
sub readme_blocks
{
	my ($heading, $language) = @_;
	my ($hashes) = $heading =~ /^(#+) /;
	my (@blocks, $section, $block);

	for my $line (split /\n/, $readme)
	{
		if (defined $block)
		{
			if ($line eq '```') { push @blocks, $block; undef $block; }
			else { $block .= "$line\n"; }
			next;
		}
		if ($line =~ /^(#+) / && length($1) <= length($hashes))
		{
			$section = $line eq $heading;
			next;
		}
		$block = '' if $section && $line eq "```$language";
	}
	die "README.md has no $language block under '$heading'" unless @blocks;
	return @blocks;
}

# Runs a script through psql as a user would (aligned output, stop at the first error).
sub run_psql
{
	my ($node, $script) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run(
		[ 'psql', '-X', '-v', 'ON_ERROR_STOP=1', '-d', $node->connstr('postgres') ],
		'<', \$script, '>', \$out, '2>', \$err);
	return ($? >> 8, $out, $err);
}

# Statements of a script that print rows: every SELECT except those whose result \gset keeps.
sub result_statements
{
	my ($script) = @_;
	(my $code = $script) =~ s/--[^\n]*//g;
	my @statements = grep { /\S/ } split /;|\\gset/, $code;
	my $gset = () = $code =~ /\\gset/g;
	return (grep { /^\s*SELECT\b/i } @statements) - $gset;
}

my $standin = start_standin();
# The free key's limits and the default database: nothing here but what the README sets.
my $node = new_node('readme_quickstart', $standin->{url}, '', $standin->{apikey});
$node->start;

my ($quickstart) = readme_blocks('## Quick start', 'sql');
like($quickstart, qr/^CREATE EXTENSION stockelt;/m, 'the quick start creates the extension');

my ($ret, $out, $err) = run_psql($node, $quickstart);
is($ret, 0, 'the quick start runs in psql as written') or diag($err);
note("the quick start printed:\n$out");
is($err, '', 'it prints no error, warning or notice');
my @counts = $out =~ /^\((\d+) rows?\)$/mg;
my $expected = result_statements($quickstart);
ok($expected >= 5, "the quick start has $expected queries that print rows");
is(scalar @counts, $expected, 'every one of them printed a result');
is(scalar(grep { $_ == 0 } @counts), 0, 'none of them came back empty') or diag($out);

# Everything it stored came from keys the calls returned.
my ($bronze_keys, $silver_keys) = query_row($node, q{
SELECT (SELECT count(*) FROM stockelt.bronze_objects),
       (SELECT count(DISTINCT bronze_key) FROM silver.weekly_adjusted_prices
         WHERE bronze_key IN (SELECT key FROM stockelt.bronze_objects))});
ok($bronze_keys >= 2 && $silver_keys >= 1, "silver rows came from the bronze objects fetched ($bronze_keys objects)");

# The jobs the quick start queued are done by the worker, within the free key's spacing.
my @queued = $node->safe_psql('postgres', 'SELECT symbol FROM stockelt.jobs ORDER BY id') =~ /(\S+)/g;
ok(@queued >= 1, 'the quick start queued jobs: ' . join(' ', @queued));
ok( defined wait_for(
		$node, q{SELECT count(*) > 0 AND bool_and(state = 'done') FROM stockelt.jobs}, 120),
	'the worker did every job the quick start queued');
ok( defined wait_for(
		$node, q{SELECT (SELECT count(DISTINCT symbol) FROM stockelt.jobs)
		                = (SELECT count(*) FROM gold.dim_stock s JOIN stockelt.jobs j USING (symbol))},
		60),
	'gold holds every queued symbol once the worker refreshed it');

# The business questions' queries run on what the quick start loaded.
my @questions = readme_blocks('## The three business questions', 'sql');
is(scalar @questions, 3, 'one query block for each business question');
for my $i (0 .. $#questions)
{
	($ret, $out, $err) = run_psql($node, $questions[$i]);
	is($ret, 0, 'business question ' . ($i + 1) . "'s query runs as written") or diag($err);
	is($err, '', 'and prints no error');
	like($out, qr/^\(\d+ rows?\)$/m, 'and prints a result');
}
($ret, $out) = run_psql($node, $questions[0]);
unlike($out, qr/^\(0 rows\)$/m, 'question 1 has an answer for the symbols the quick start fetched');

# The Settings table against the server's own list.
my ($settings_table) = $readme =~ /^## Configuration\n(.*?)^## /ms;
my @documented = sort($settings_table =~ /^\| `(stockelt\.[a-z0-9_]+)` \|/mg);
my @actual = sort split /\n/,
  $node->safe_psql('postgres', q{SELECT name FROM pg_settings WHERE name LIKE 'stockelt.%' ORDER BY name});
is_deeply(\@documented, \@actual, 'the README documents every setting the server has, and no other');

$node->stop;
$standin->stop;
done_testing();
