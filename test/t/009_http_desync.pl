# What a hostile or broken API server sends reaches no other request and no
# message in full.  A second complete response after a body (the next request
# on that connection would read it as its own answer, and every later answer
# would shift by one) leaves every job of the worker's pool with its own
# symbol's data in bronze and silver.  A page that echoes a cut-off or
# lower-cased key leaves no eight characters of it in stockelt.jobs.last_error
# or the server log.
use strict;
use warnings;
use Digest::SHA qw(sha256_hex);
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use JSON::PP;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;

my $standin = start_standin('--weeks', '52');
my $apikey = $standin->{apikey};

# One connection, and calls 200 ms apart: the stray response (sent 50 ms after
# a body) is waiting on the connection when the next call is about to use it.
my $node = worker_node('http_desync', $standin, q{
stockelt.max_concurrent_requests = 1
stockelt.requests_per_second = 5
stockelt.max_attempts = 1
log_min_messages = 'debug1'
});

my @symbols = map { "DS$_" } 1 .. 5;
my (%sha, %newest_close);
for my $symbol (@symbols)
{
	my $r = $standin->{http}->get("$standin->{url}/query?function=TIME_SERIES_WEEKLY_ADJUSTED"
		  . "&symbol=$symbol&outputsize=full&datatype=json&apikey=$apikey");
	die "the stand-in did not answer $symbol" unless $r->{success};
	$sha{$symbol} = sha256_hex($r->{content});
	my $series = decode_json($r->{content})->{'Weekly Adjusted Time Series'};
	my ($newest) = sort { $b cmp $a } keys %$series;
	$newest_close{$symbol} = $series->{$newest}{'4. close'};
}
$standin->ctl('reset');

# Every answer is followed by a stray one: a series named DS3, from another seed.
$standin->ctl('next', 'extra=DS3&count=' . scalar(@symbols));
$node->safe_psql('postgres',
	"SELECT stockelt_enqueue(ARRAY['" . join("', '", @symbols) . "'])");
ok( defined wait_for($node,
		q{SELECT count(*) = 5 FROM stockelt.jobs WHERE state IN ('done', 'failed')}, 60),
	'the batch finished');

is( $node->safe_psql('postgres',
		q{SELECT string_agg(symbol || ' ' || state || coalesce(' ' || last_sqlstate, ''), ', '
						 ORDER BY symbol) FROM stockelt.jobs}),
	join(', ', map { "$_ done" } @symbols),
	'every job is done');
for my $symbol (@symbols)
{
	is( $node->safe_psql('postgres',
			"SELECT string_agg(o.sha256, ',') FROM stockelt.bronze_objects o WHERE o.symbol = '$symbol'"),
		$sha{$symbol},
		"$symbol: bronze holds its own answer, byte for byte");
	is( $node->safe_psql('postgres',
			"SELECT close FROM silver.weekly_adjusted_prices WHERE symbol = '$symbol' "
			  . "ORDER BY week_ending DESC LIMIT 1"),
		$newest_close{$symbol},
		"$symbol: silver holds its own newest close");
}
is( $node->safe_psql('postgres', q{
	SELECT count(*) FROM silver.weekly_adjusted_prices p
	  JOIN stockelt.bronze_objects o ON o.key = p.bronze_key WHERE o.symbol <> p.symbol}),
	'0', 'no silver row comes from another symbol\'s object');
is($standin->counts->{total}, scalar(@symbols), 'one request a job: none was sent twice');

# Pages that echo part of the key: none of it reaches the job's error or the log.
my @echoes = ('cut', 'middle&echo_in=html', 'lower&echo_in=note', 'whole&pad=370');
$standin->ctl('reset');
for my $i (0 .. $#echoes)
{
	$standin->ctl('next', "echo_key=$echoes[$i]");
	$node->safe_psql('postgres', "SELECT stockelt_enqueue(ARRAY['ECHO$i'])");
	wait_for($node,
		"SELECT state IN ('done', 'failed') FROM stockelt.jobs WHERE symbol = 'ECHO$i'", 30);
}

# Any eight characters of the key, in any case.
sub key_pieces_in
{
	my ($text) = @_;
	my ($k, $t) = (lc $apikey, lc $text);
	return grep { index($t, substr($k, $_, 8)) >= 0 } 0 .. length($k) - 8;
}

my $errors = $node->safe_psql('postgres',
	q{SELECT string_agg(coalesce(last_error, '(none)'), E'\n' ORDER BY symbol)
		FROM stockelt.jobs WHERE symbol LIKE 'ECHO%'});
is(scalar(split /\n/, $errors), scalar(@echoes), 'every echoing job has its error recorded');
like($errors, qr/\[redacted\]/, 'the errors say what was removed');
is(scalar(key_pieces_in($errors)), 0, 'no part of the key in stockelt.jobs.last_error');

$node->stop;
is(scalar(key_pieces_in(slurp_file($node->logfile))), 0,
	'no part of the key in the server log');

done_testing();
