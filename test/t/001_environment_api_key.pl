# The API key can come from the server's environment instead of a setting,
# and is then as invisible as the setting would be.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;

my $standin = $ENV{STANDIN} or die "STANDIN is not set";
my $apikey = $ENV{APIKEY} or die "APIKEY is not set";

my $node = new_node('environment_key', $standin, q{
log_statement = 'all'
});
{
	local $ENV{ALPHAVANTAGE_API_KEY} = $apikey;
	$node->start;
}
$node->safe_psql('postgres', 'CREATE EXTENSION stockelt');

is($node->safe_psql('postgres', 'SHOW stockelt.api_key'), '',
	'the setting is empty');
like($node->safe_psql('postgres', q{SELECT stockelt_fetch('IBM')}),
	qr{^alphavantage/time_series_weekly_adjusted/symbol=IBM/fetched=},
	'the fetch uses the key from the environment');

my ($ret, $out, $err) = $node->psql('postgres',
	q{SET stockelt.api_key = 'wrong'; SELECT stockelt_fetch('IBM')});
like($err, qr/API key is missing or invalid/, 'a setting overrides the environment');

$node->stop;
my $log = slurp_file($node->logfile);
unlike($log, qr/\Q$apikey\E/, 'the key from the environment is not in the server log');

done_testing();
