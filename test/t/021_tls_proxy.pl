# TLS trust and the proxy: an https stand-in whose certificate a throwaway
# authority signed is refused until stockelt.ca_file names that authority
# (SE107), unreadable authorities are SE108; with stockelt.https_proxy set, the
# synchronous fetch and the worker both go through a CONNECT proxy (its log shows
# them), stockelt.no_proxy bypasses it, a stopped or refusing proxy is SE109; the
# setting wins over the server's https_proxy, which applies when it is empty; and
# the settings are for superusers alone.
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

delete $ENV{$_} for qw(https_proxy HTTPS_PROXY http_proxy all_proxy ALL_PROXY no_proxy NO_PROXY);

# A throwaway authority, and a certificate it signed for 127.0.0.1.
my $dir = PostgreSQL::Test::Utils::tempdir('tls');
sub openssl
{
	my @args = @_;
	IPC::Run::run([ 'openssl', @args ], '<', \undef, '>', "$dir/openssl.out", '2>&1')
	  or die "openssl @args failed: " . slurp_file("$dir/openssl.out");
	return;
}
openssl('req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2',
	'-subj', '/CN=stockelt test authority', '-keyout', "$dir/ca.key", '-out', "$dir/ca.pem");
openssl('req', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=127.0.0.1',
	'-keyout', "$dir/server.key", '-out', "$dir/server.csr");
append_to_file("$dir/san.cnf", "subjectAltName = IP:127.0.0.1\n");
openssl('x509', '-req', '-days', '2', '-in', "$dir/server.csr", '-CA', "$dir/ca.pem",
	'-CAkey', "$dir/ca.key", '-CAcreateserial', '-extfile', "$dir/san.cnf",
	'-out', "$dir/server.pem");
append_to_file("$dir/garbage.pem", "not a certificate\n");

my $standin = start_standin('--weeks', '52', '--tls-cert', "$dir/server.pem",
	'--tls-key', "$dir/server.key");
(my $https = $standin->{url}) =~ s{^http://}{https://};
my ($standin_port) = $https =~ /:(\d+)$/;
my $node = worker_node('tls_proxy', { url => $https, apikey => $standin->{apikey} },
	"stockelt.retry_delay = '1h'\n");

# A statement's SQLSTATE and its error text (message, detail, hint).
sub failure
{
	my ($sql) = @_;
	my ($ret, $out, $err) = $node->psql('postgres', "\\set VERBOSITY verbose\n$sql");
	my ($state) = $err =~ /ERROR:\s+(\w{5}):/;
	return ($state // 'none', $err);
}

sub requests_for
{
	my ($symbol) = @_;
	my $log = slurp_file($standin->{log});
	return scalar(() = $log =~ /symbol=\Q$symbol\E&/g);
}

# --- trust
my ($state, $err) = failure(q{SELECT stockelt_fetch('TLSA')});
is($state, 'SE107', 'an authority the server does not know: SE107');
like($err, qr/the server's certificate is not trusted.*DETAIL:.*certificate.*HINT:.*stockelt\.ca_file/s,
	'the error says why, shows libcurl\'s text and names the setting');
is(requests_for('TLSA'), 0, 'no request reached the server');

reload_settings($node, 'stockelt.ca_file' => "$dir/missing.pem");
($state, $err) = failure(q{SELECT stockelt_fetch('TLSA')});
is($state, 'SE108', 'a missing authorities file: SE108');
like($err, qr/the certificate authorities could not be read/, 'the error names the file\'s fault');
reload_settings($node, 'stockelt.ca_file' => "$dir/garbage.pem");
($state) = failure(q{SELECT stockelt_fetch('TLSA')});
is($state, 'SE108', 'a file of no certificates: SE108');

reload_settings($node, 'stockelt.ca_file' => "$dir/ca.pem");
like($node->safe_psql('postgres', q{SELECT stockelt_fetch('TLSA')}),
	qr{^alphavantage/time_series_weekly_adjusted/symbol=TLSA/},
	'with stockelt.ca_file naming the authority the fetch works');
is(requests_for('TLSA'), 1, 'one request reached the server');

# The same authority as a directory of hashed names, in place of the file.
mkdir "$dir/certs" or die "mkdir: $!";
append_to_file("$dir/certs/authority.pem", slurp_file("$dir/ca.pem"));
openssl('rehash', "$dir/certs");
reload_settings($node, 'stockelt.ca_file' => '', 'stockelt.ca_path' => "$dir/certs");
like($node->safe_psql('postgres', q{SELECT stockelt_fetch('TLSA')}),
	qr{symbol=TLSA/}, 'stockelt.ca_path naming a directory of the authority works too');
reload_settings($node, 'stockelt.ca_path' => "$dir/empty");
($state) = failure(q{SELECT stockelt_fetch('TLSA')});
is($state, 'SE107', 'a directory without the authority trusts nothing of it');
reload_settings($node, 'stockelt.ca_path' => '', 'stockelt.ca_file' => "$dir/ca.pem");

# --- the proxy
sub start_proxy
{
	my $pdir = PostgreSQL::Test::Utils::tempdir('proxy');
	my ($h, $port) = start_server(
		$pdir, 'the proxy',
		'/usr/bin/python3', dirname(__FILE__) . '/../connect_proxy.py',
		'--port-file', "$pdir/port", '--log', "$pdir/proxy.log");
	return { handle => $h, port => $port, log => "$pdir/proxy.log" };
}

sub tunnels
{
	my ($proxy) = @_;
	return 0 unless -e $proxy->{log};
	my $log = slurp_file($proxy->{log});
	return scalar(() = $log =~ /^CONNECT 127\.0\.0\.1:$standin_port 200$/mg);
}

my $proxy = start_proxy();
reload_settings($node, 'stockelt.https_proxy' => "http://127.0.0.1:$proxy->{port}");
like($node->safe_psql('postgres', q{SELECT stockelt_fetch('TLSB')}),
	qr{symbol=TLSB/}, 'a fetch through the proxy works');
is(tunnels($proxy), 1, 'the proxy\'s log shows the tunnel to the stand-in');

$node->safe_psql('postgres', q{SELECT stockelt_enqueue(ARRAY['TLSC'])});
ok(defined wait_for($node, q{SELECT state = 'done' FROM stockelt.jobs WHERE symbol = 'TLSC'}, 30),
	'the worker\'s job through the proxy is done');
is(tunnels($proxy), 2, 'the worker\'s call went through the proxy too');

reload_settings($node, 'stockelt.no_proxy' => '127.0.0.1');
like($node->safe_psql('postgres', q{SELECT stockelt_fetch('TLSD')}),
	qr{symbol=TLSD/}, 'a host in stockelt.no_proxy is reached directly');
is(tunnels($proxy), 2, 'the proxy saw nothing of it');
reload_settings($node, 'stockelt.no_proxy' => '');

# A proxy that answers CONNECT with 403 (this one tunnels to 127.0.0.1 only).
$node->safe_psql('postgres',
	"ALTER SYSTEM SET stockelt.api_base_url = 'https://localhost:$standin_port/query'");
$node->reload;
usleep(300_000);
($state, $err) = failure(q{SELECT stockelt_fetch('TLSE')});
is($state, 'SE109', 'a proxy refusing the tunnel: SE109');
like($err, qr/the proxy refused or failed the connection.*DETAIL:.*403.*HINT:.*stockelt\.https_proxy/s,
	'the error names the proxy, its answer and the setting');
$node->safe_psql('postgres', "ALTER SYSTEM SET stockelt.api_base_url = '$https/query'");
$node->reload;
usleep(300_000);

$proxy->{handle}->signal('TERM');
$proxy->{handle}->finish;
($state, $err) = failure(q{SELECT stockelt_fetch('TLSF')});
is($state, 'SE109', 'a stopped proxy: SE109');
like($err, qr/the proxy refused or failed the connection/, 'the error says the proxy failed');
is(requests_for('TLSF'), 0, 'nothing reached the server');
$node->safe_psql('postgres', q{SELECT stockelt_enqueue(ARRAY['TLSG'])});
ok( defined wait_for(
		$node, q{SELECT state = 'retry' AND last_sqlstate = 'SE109'
				   FROM stockelt.jobs WHERE symbol = 'TLSG'}, 30),
	'the worker\'s job waits to retry with SE109 (a proxy may come back)');

# --- the server's environment: the setting wins; an empty setting leaves it to libcurl.
$proxy = start_proxy();
$node->safe_psql('postgres',
	"ALTER SYSTEM SET stockelt.https_proxy = 'http://127.0.0.1:$proxy->{port}'");
$node->stop;
{
	local $ENV{https_proxy} = 'http://127.0.0.1:9';
	$node->start;
}
like($node->safe_psql('postgres', q{SELECT stockelt_fetch('TLSH')}),
	qr{symbol=TLSH/}, 'stockelt.https_proxy wins over https_proxy in the environment');
is(tunnels($proxy), 1, 'through the setting\'s proxy');
reload_settings($node, 'stockelt.https_proxy' => '');
($state, $err) = failure(q{SELECT stockelt_fetch('TLSI')});
is($state, 'SE102', 'with the setting empty the environment\'s (dead) proxy is used');
like($err, qr/port 9\b/, 'libcurl\'s text names the proxy it tried');
is(requests_for('TLSI'), 0, 'nothing reached the server');

# --- superusers alone
$node->safe_psql('postgres', 'CREATE ROLE etl LOGIN');
for my $setting (qw(ca_file ca_path https_proxy no_proxy))
{
	my ($ret, $out, $e) = $node->psql('postgres', "SHOW stockelt.$setting",
		extra_params => [ '-U', 'etl' ]);
	like($e, qr/must be superuser|permission denied/, "an ordinary role cannot read stockelt.$setting");
	($ret, $out, $e) = $node->psql('postgres', "SET stockelt.$setting = '/tmp/x'",
		extra_params => [ '-U', 'etl' ]);
	like($e, qr/permission denied to set parameter/, "nor set it");
}

$proxy->{handle}->signal('TERM');
$proxy->{handle}->finish;
$standin->stop;
$node->stop;
done_testing();
