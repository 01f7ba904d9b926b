# The API key can come from the server's environment instead of a key file,
# and is then as invisible as the file's would be.
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

is($node->safe_psql('postgres', 'SHOW stockelt.api_key_file'), '',
	'no key file is set');
like($node->safe_psql('postgres', q{SELECT stockelt_fetch('IBM')}),
	qr{^alphavantage/time_series_weekly_adjusted/symbol=IBM/fetched=},
	'the fetch uses the key from the environment');

my $wrong = write_secret_file($node, 'wrong_key', 'wrong');
my ($ret, $out, $err) = $node->psql('postgres',
	qq{SET stockelt.api_key_file = '$wrong'; SELECT stockelt_fetch('IBM')});
like($err, qr/API key is missing or invalid/, 'a key file overrides the environment');

$node->stop;
my $log = slurp_file($node->logfile);
unlike($log, qr/\Q$apikey\E/, 'the key from the environment is not in the server log');

done_testing();
