# Helpers for stockelt's TAP tests of the background worker and the limiter:
# a stand-in API server of the test file's own (so that its limits and
# scripted answers meet no other test), a cluster pointed at it, timed waits.
package StockeltTest;

use strict;
use warnings;
use Exporter 'import';
use File::Basename qw(dirname);
use HTTP::Tiny;
use IPC::Run;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Scalar::Util qw(weaken);
use Test::More;
use Time::HiRes qw(time usleep);

our @EXPORT = qw(start_standin new_node worker_node readme_grants readme_section_blocks wait_for
  reload_settings worker_pid process_gone sqlstate_of query_row write_secret_file debian_hba
  start_server);

my $standin_py = dirname(__FILE__) . '/../standin.py';

# Every stand-in started, weakly held: those still running when the test ends are stopped
# then (a handle left to global destruction may outlive the test's process group).
my @standins;

END
{
	local $?;    # stopping one sets $?, which would become the test's exit status
	for my $standin (grep { defined } @standins)
	{
		$standin->stop;
	}
}

# start_server(dir, what, command…): a server of the tests that writes the port it listens on
# into dir/port; its handle and port once it does.
sub start_server
{
	my ($dir, $what, @command) = @_;
	my $handle = IPC::Run::start(\@command, '<', \undef, '>', "$dir/stdout", '2>', "$dir/stderr");
	for (1 .. 200)
	{
		last if -s "$dir/port";
		usleep(50_000);
	}
	die "$what did not start" unless -s "$dir/port";
	my $port = slurp_file("$dir/port");
	chomp $port;
	return ($handle, $port);
}

# start_standin(options…): the stand-in on a free port of 127.0.0.1.
sub start_standin
{
	my (@options) = @_;
	my $dir = PostgreSQL::Test::Utils::tempdir('standin');
	my $apikey = $ENV{APIKEY} // ('STKTEST' . int(rand(1e9)));
	my ($handle, $port) = start_server(
		$dir, 'the stand-in server',
		'/usr/bin/python3', $standin_py, '--port', '0', '--port-file', "$dir/port",
		'--apikey', $apikey, '--log', "$dir/standin.log", @options);
	my $standin = bless {
		url => "http://127.0.0.1:$port",
		apikey => $apikey,
		handle => $handle,
		log => "$dir/standin.log",
		http => HTTP::Tiny->new(timeout => 10),
	}, 'StockeltTest::StandIn';
	push @standins, $standin;
	weaken($standins[-1]);
	return $standin;
}

# write_secret_file(node, file name, secret): a file in the node's data directory that
# only the server's user can read, as stockelt requires of a secret; returns its path.
sub write_secret_file
{
	my ($node, $name, $secret) = @_;
	my $path = $node->data_dir . "/$name";

	open my $fh, '>', $path or die "could not write $path: $!";
	print $fh "$secret\n";
	close $fh;
	chmod 0600, $path or die "could not chmod $path: $!";
	return $path;
}

# new_node(name, API base URL, settings, API key): initialised with stockelt preloaded
# and pointed at the API, the key (if given) in a file of the data directory; not
# started (a later setting overrides an earlier one).
sub new_node
{
	my ($name, $url, $settings, $apikey) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	my $key_setting = '';

	$node->init;
	if (defined $apikey)
	{
		write_secret_file($node, 'stockelt_api_key', $apikey);
		$key_setting = "stockelt.api_key_file = 'stockelt_api_key'\n";
	}
	$node->append_conf('postgresql.conf', qq{
shared_preload_libraries = 'stockelt'
stockelt.api_base_url = '$url/query'
} . $key_setting . ($settings // ''));
	return $node;
}

# worker_node(name, standin, extra settings): started, extension created.
sub worker_node
{
	my ($name, $standin, $extra) = @_;
	my $node = new_node($name, $standin->{url}, qq{
stockelt.database = 'postgres'
stockelt.requests_per_day = 0
stockelt.requests_per_second = 0
} . ($extra // ''), $standin->{apikey});
	$node->start;
	$node->safe_psql('postgres', q{
CREATE EXTENSION stockelt;
-- The SQLSTATE a statement raises, or 00000.
CREATE FUNCTION public.sqlstate_of(query text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE query;
	RETURN '00000';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;
});
	return $node;
}

# debian_hba($node): the pg_hba.conf Debian's pg_createcluster writes (peer over the Unix
# socket, scram-sha-256 over TCP, no trust), and the server listening on 127.0.0.1.
sub debian_hba
{
	my ($node) = @_;
	my $os_user = getpwuid($>);
	$node->append_conf('postgresql.conf', "listen_addresses = '127.0.0.1'\n");
	open my $hba, '>', $node->data_dir . '/pg_hba.conf' or die "pg_hba.conf: $!";
	print $hba <<"EOF";
local   all             $os_user                           peer
local   all             all                                     peer
host    all             all             127.0.0.1/32            scram-sha-256
host    all             all             ::1/128                 scram-sha-256
local   replication     all                                     peer
host    replication     all             127.0.0.1/32            scram-sha-256
host    replication     all             ::1/128                 scram-sha-256
EOF
	close $hba;
	return;
}

# The README's "Granting access" recipe, as written, with its pipeline role named $role, its
# analyst role $analyst ($role too when not given) and its dashboard role $dashboard
# ($analyst when not given).
sub readme_grants
{
	my ($role, $analyst, $dashboard) = @_;
	my $script = dirname(__FILE__) . '/../readme_grants.sh';
	$analyst //= $role;
	$dashboard //= $analyst;
	my $sql = `'$script' '$role' '$analyst' '$dashboard'`;
	die "could not read the README's GRANT recipe" if $? != 0 || $sql !~ /GRANT/;
	return $sql;
}

# The fenced blocks of one language ('sql', 'sh', '' for a bare fence) under a heading of the
# README (the heading's line exactly), up to the next heading of its level or higher; dies if
# there are none, so that a test never passes on a recipe that is gone.
sub readme_section_blocks
{
	my ($heading, $language) = @_;
	my $readme = slurp_file(dirname(__FILE__) . '/../../README.md');
	my ($hashes) = $heading =~ /^(#+) /;
	my (@blocks, $section, $fence, $block);

	for my $line (split /\n/, $readme)
	{
		if (defined $fence)
		{
			if ($line eq '```')
			{
				push @blocks, $block if $section && $fence eq $language;
				undef $fence;
			}
			else { $block .= "$line\n"; }
			next;
		}
		if ($line =~ /^```(\S*)$/)
		{
			($fence, $block) = ($1, '');
			next;
		}
		if ($line =~ /^(#+) / && length($1) <= length($hashes))
		{
			$section = $line eq $heading;
		}
	}
	die "README.md has no $language block under '$heading'" unless @blocks;
	return @blocks;
}

# One row of a query, as a list of fields (NULL as '').
sub query_row
{
	my ($node, $sql) = @_;
	return split /\|/, $node->safe_psql('postgres', $sql), -1;
}

sub sqlstate_of
{
	my ($node, $statement) = @_;
	$statement =~ s/'/''/g;
	return $node->safe_psql('postgres', "SELECT public.sqlstate_of('$statement')");
}

# Polls until the query returns 't' (errors, e.g. during crash recovery,
# count as not yet); returns the seconds it took, or undef after the timeout.
sub wait_for
{
	my ($node, $sql, $timeout) = @_;
	my $start = time;
	my ($ret, $out, $err);

	while (time - $start < $timeout)
	{
		($ret, $out, $err) = $node->psql('postgres', $sql);
		return time - $start if $ret == 0 && $out eq 't';
		usleep(50_000);
	}
	diag("timed out after ${timeout}s waiting for: $sql\nlast output: "
		  . ($out // '') . ' ' . ($err // ''));
	return undef;
}

# Sets settings with ALTER SYSTEM and reloads; returns once a new session
# sees them (the postmaster has read the file and signalled every process),
# plus a moment for the worker to reach the top of its loop.
sub reload_settings
{
	my ($node, %settings) = @_;
	my $check = join ' AND ',
	  map { "current_setting('$_') = '$settings{$_}'" } sort keys %settings;

	$node->safe_psql('postgres', "ALTER SYSTEM SET $_ = '$settings{$_}'")
	  for sort keys %settings;
	$node->safe_psql('postgres', 'SELECT pg_reload_conf()');
	defined wait_for($node, "SELECT $check", 30) or die "settings not reloaded";
	usleep(300_000);
	return;
}

sub worker_pid
{
	my ($node) = @_;
	my ($ret, $out) = $node->psql('postgres',
		q{SELECT pid FROM pg_stat_activity WHERE backend_type = 'stockelt worker'});
	return $ret == 0 && $out =~ /^\d+$/ ? $out : undef;
}

# A process that exited is gone even while it waits to be reaped.
sub process_gone
{
	my ($pid) = @_;
	open my $fh, '<', "/proc/$pid/stat" or return 1;
	my $stat = <$fh>;
	close $fh;
	return defined $stat && $stat =~ /^\d+ \(.*\) [ZX] /;
}

package StockeltTest::StandIn;

use JSON::PP;

# ctl('next', 'message=burst&count=1') and the like; dies if refused.
sub ctl
{
	my ($self, $verb, $query) = @_;
	my $url = "$self->{url}/_control/$verb" . (defined $query ? "?$query" : '');
	my $r = $self->{http}->get($url);
	die "stand-in control $url failed: $r->{status} $r->{content}"
	  unless $r->{success};
	return decode_json($r->{content});
}

# {total, throttled, by_function, by_symbol, queued}
sub counts
{
	my ($self) = @_;
	return $self->ctl('counts');
}

sub count
{
	my ($self, $symbol) = @_;
	return $self->counts->{by_symbol}{$symbol} // 0;
}

sub stop
{
	my ($self) = @_;
	return unless $self->{handle};
	$self->{handle}->signal('TERM');
	$self->{handle}->finish;
	delete $self->{handle};
	return;
}

sub DESTROY
{
	my ($self) = @_;
	$self->{handle}->kill_kill(grace => 2) if $self->{handle};
	return;
}

1;
