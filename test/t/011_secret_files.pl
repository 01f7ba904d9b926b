# Secrets never reach the server log.  The API key and the S3 secret come from
# files only the server can read (or from the environment), never from a
# setting: PostgreSQL logs "parameter ... changed to ..." with the value when
# a reload changes a setting, whatever its flags.  This sets and changes both
# secrets every supported way (a file named in postgresql.conf or by ALTER
# SYSTEM, a file rewritten in place), reloads, restarts, tries the removed
# settings, and then finds neither secret anywhere in the log, while the key
# still works.
use strict;
use warnings;
use File::Basename qw(dirname);
use lib dirname(__FILE__);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use StockeltTest;
use Test::More;

my $standin = start_standin('--weeks', '52');
my $apikey = $standin->{apikey};
my $s3_secret = 'S3SECRET' . join('', map { ('a' .. 'z', 0 .. 9)[rand 36] } 1 .. 24);
my $old_style_key = 'OLDKEY' . int(rand(1e9));

my $node = new_node('secret_files', $standin->{url}, q{
log_statement = 'all'
log_min_messages = 'debug2'
stockelt.requests_per_second = 0
stockelt.requests_per_day = 0
}, $apikey);
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION stockelt;
CREATE FUNCTION public.fetch_outcome(symbol text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	PERFORM stockelt_fetch(symbol);
	RETURN 'fetched';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END $$;
});
my $data = $node->data_dir;

sub fetch_outcome
{
	my ($symbol, @settings) = @_;
	return $node->safe_psql('postgres',
		join('', map { "SET $_; " } @settings) . "SELECT public.fetch_outcome('$symbol')");
}

sub reload
{
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	# The postmaster has read the file once a new session sees it.
	sleep 1;
	return;
}

is(fetch_outcome('SF1'), 'fetched', 'the key from stockelt.api_key_file works');

# Files anyone else can read, or that hold no key, are refused before any call.
my $calls = $standin->counts->{total};
chmod 0640, "$data/stockelt_api_key";
like(fetch_outcome('SF2'),
	qr/^F0000: API key file "stockelt_api_key" has group or world access$/,
	'a key file readable by the group is refused');
chmod 0604, "$data/stockelt_api_key";
like(fetch_outcome('SF2'), qr/^F0000: .* has group or world access$/,
	'a key file readable by others is refused');
chmod 0600, "$data/stockelt_api_key";
like(fetch_outcome('SF2', "stockelt.api_key_file = 'no_such_file'"),
	qr/^58P01: could not open API key file "no_such_file": No such file or directory$/,
	'a missing key file is an error');
write_secret_file($node, 'empty_key', "\n");
like(fetch_outcome('SF2', "stockelt.api_key_file = 'empty_key'"),
	qr/^F0000: API key file "empty_key" is empty$/, 'an empty key file is refused');
write_secret_file($node, 'two_lines', "$apikey\nsecond line");
like(fetch_outcome('SF2', "stockelt.api_key_file = 'two_lines'"),
	qr/^F0000: API key file "two_lines" holds more than one line/,
	'a key file of two lines is refused');
is($standin->counts->{total}, $calls, 'no call was made with a refused key file');

# Another file through ALTER SYSTEM and a reload: its key is the one used, and
# rewriting the file takes effect at the next call.
write_secret_file($node, 'second_key', 'not-the-key');
$node->safe_psql('postgres', "ALTER SYSTEM SET stockelt.api_key_file = 'second_key'");
reload();
like(fetch_outcome('SF3'), qr/^SE010: /, 'the key file set by ALTER SYSTEM is used after a reload');
write_secret_file($node, 'second_key', $apikey);
is(fetch_outcome('SF3'), 'fetched', 'a rewritten key file is read at the next call');

# A third file named in postgresql.conf, and the settings stockelt no longer has.
$node->safe_psql('postgres', 'ALTER SYSTEM RESET stockelt.api_key_file');
write_secret_file($node, 'third_key', $apikey);
write_secret_file($node, 's3_secret', $s3_secret);
$node->append_conf('postgresql.conf', qq{
stockelt.api_key_file = 'third_key'
stockelt.s3_secret_access_key_file = 's3_secret'
stockelt.api_key = '$old_style_key'
stockelt.s3_secret_access_key = '$old_style_key'
});
reload();
is(fetch_outcome('SF4'), 'fetched', 'the key file named in postgresql.conf is used after a reload');
is($node->safe_psql('postgres', 'SHOW stockelt.api_key_file'), 'third_key',
	'the setting shows the path, never the key');

# The S3 secret file is read when bronze goes to S3: the request is made (the
# stand-in is no S3 server), so the credentials were found.
my @s3 = ("stockelt.s3_endpoint = '$standin->{url}'", "stockelt.s3_bucket = 'lake'",
	"stockelt.s3_access_key_id = 'AKIDTEST'");
like(fetch_outcome('SF5', @s3), qr/^SE20\d: S3 HEAD of bucket "lake" failed/, 'the S3 secret comes from its file');
chmod 0644, "$data/s3_secret";
like(fetch_outcome('SF5', @s3),
	qr/^F0000: S3 secret file "s3_secret" has group or world access$/,
	'an S3 secret file readable by others is refused');
chmod 0600, "$data/s3_secret";

$node->restart;
is(fetch_outcome('SF6'), 'fetched', 'the key file works after a restart');
like(fetch_outcome('SF6', @s3), qr/^SE20\d: S3 HEAD of bucket "lake" failed/, 'the S3 secret file works after a restart');

# Change both files' contents and reload once more, then look at the log.
write_secret_file($node, 'third_key', $apikey);
write_secret_file($node, 's3_secret', $s3_secret . 'X');
reload();
is(fetch_outcome('SF7'), 'fetched', 'the key still works at the end');
$node->stop;

my $log = slurp_file($node->logfile);
like($log, qr/invalid configuration parameter name "stockelt\.api_key"/,
	'the removed setting stockelt.api_key is reported');
unlike($log, qr/\Q$apikey\E/, 'the API key is not in the server log');
unlike($log, qr/\Q$s3_secret\E/, 'the S3 secret is not in the server log');
unlike($log, qr/\Q$old_style_key\E/,
	'a secret left in a removed setting is not in the server log');

done_testing();
