-- Bronze in S3 (a real Ceph RADOS Gateway), signed with SigV4 by libcurl.
SELECT use_s3();
-- The shell commands below reach the same bucket with s3cmd.
SELECT current_setting('stockelt.s3_bucket') AS s3_bucket \gset
\setenv S3_BUCKET :s3_bucket
\! "$PG_ABS_SRCDIR/standinctl" reset

-- A fetch stores the body in S3 and catalogs it with the bucket and ETag.
SELECT stockelt_fetch('IBM') AS key \gset
SELECT :'key' ~ '^alphavantage/time_series_weekly_adjusted/symbol=IBM/fetched=' AS key_layout;
SELECT store, s3_bucket = current_setting('stockelt.s3_bucket') AS bucket_recorded,
	   s3_etag ~ '^"?[0-9a-f]{32}"?$' AS etag_recorded
  FROM stockelt.bronze_objects WHERE key = :'key';
SELECT count(*) AS body_rows_for_s3_object FROM stockelt.bronze_bodies WHERE key = :'key';

-- The bytes read back equal the bytes the stand-in sent.
\set standin_sha `"$PG_ABS_SRCDIR/standinctl" query 'function=TIME_SERIES_WEEKLY_ADJUSTED&symbol=IBM&outputsize=full&datatype=json' | sha256sum | cut -c1-64`
SELECT encode(sha256(stockelt_bronze_read(:'key')), 'hex') = :'standin_sha' AS read_back_equals_standin,
	   sha256 = :'standin_sha' AS catalog_sha_equals_standin
  FROM stockelt.bronze_objects WHERE key = :'key';

-- An object ingests into silver straight from S3.
SELECT stockelt_fetch('S3SYM') AS s3key \gset
SELECT * FROM stockelt_ingest_s3(:'s3key');
SELECT count(*) AS silver_rows_from_s3_object FROM silver.weekly_adjusted_prices WHERE bronze_key = :'s3key';
SELECT * FROM stockelt_ingest_s3(:'s3key', force => true);
SELECT * FROM stockelt_ingest(:'s3key', force => true);

-- A standard client reads what stockelt wrote.
\setenv KEY :key
\set s3cmd_sha `"$PG_ABS_SRCDIR/s3server.sh" s3cmd "$STOCKELT_TEST_WORK/s3" get "s3://$S3_BUCKET/$KEY" - 2>/dev/null | sha256sum | cut -c1-64`
SELECT :'s3cmd_sha' = :'standin_sha' AS s3cmd_reads_stockelt_object;

-- stockelt reads what a standard client wrote under its layout, below a prefix with spaces,
-- +, = and (, for a symbol with = : ^ and _.
\! python3 -c 'import sys; sys.stdout.write("{\"written by\": \"s3cmd\"}\n")' > "$STOCKELT_TEST_WORK/odd.json"
\! "$PG_ABS_SRCDIR/s3server.sh" s3cmd "$STOCKELT_TEST_WORK/s3" put "$STOCKELT_TEST_WORK/odd.json" "s3://$S3_BUCKET/lake dir/a+b=c(1)/alphavantage/overview/symbol=^O=D:D_/fetched=20240412T210000.000000Z.json" >/dev/null 2>&1
SET stockelt.s3_prefix = 'lake dir/a+b=c(1)';
SELECT convert_from(stockelt_bronze_read('lake dir/a+b=c(1)/alphavantage/overview/symbol=^O=D:D_/fetched=20240412T210000.000000Z.json'), 'UTF8') AS written_by_s3cmd;
SELECT key, size_bytes, store FROM stockelt_bronze_list('lake dir/a+b=c(1)/alphavantage/overview/');
RESET stockelt.s3_prefix;

-- stockelt writes under such a key too, and the standard client finds it.
SET stockelt.s3_prefix = 'lake dir/a+b=c(1)';
SELECT stockelt_fetch('MSFT') AS odd_key \gset
SELECT :'odd_key' LIKE 'lake dir/a+b=c(1)/alphavantage/time_series_weekly_adjusted/symbol=MSFT/%' AS prefixed;
\setenv KEY :odd_key
\set s3cmd_sha `"$PG_ABS_SRCDIR/s3server.sh" s3cmd "$STOCKELT_TEST_WORK/s3" get "s3://$S3_BUCKET/$KEY" - 2>/dev/null | sha256sum | cut -c1-64`
SELECT sha256 = :'s3cmd_sha' AS s3cmd_reads_odd_key FROM stockelt.bronze_objects WHERE key = :'odd_key';
SELECT encode(sha256(stockelt_bronze_read(:'odd_key')), 'hex') = :'s3cmd_sha' AS stockelt_reads_odd_key;
RESET stockelt.s3_prefix;

-- Listing follows continuation tokens past 1,000 keys.
\! mkdir -p "$STOCKELT_TEST_WORK/many" && for i in $(seq 1 1005); do echo "{}" > "$STOCKELT_TEST_WORK/many/fetched=20240101T000000.$(printf %06d $i)Z.json"; done
\! "$PG_ABS_SRCDIR/s3server.sh" s3cmd "$STOCKELT_TEST_WORK/s3" put --recursive "$STOCKELT_TEST_WORK/many/" "s3://$S3_BUCKET/alphavantage/overview/symbol=MANY/" >/dev/null 2>&1
SELECT count(*) AS listed, count(DISTINCT key) AS distinct_keys, sum(size_bytes) AS bytes
  FROM stockelt_bronze_list('alphavantage/overview/symbol=MANY/');
SELECT count(*) AS listed_under_narrower_prefix FROM stockelt_bronze_list('alphavantage/overview/symbol=MANY/fetched=20240101T000000.0001');

-- Credentials from the server's environment when the settings are empty.
SET stockelt.s3_access_key_id = '';
SET stockelt.s3_secret_access_key_file = '';
SELECT stockelt_fetch('AAPL') LIKE 'alphavantage/%' AS fetched_with_environment_credentials;
SELECT use_s3();

-- An object a standard client wrote under the key layout ingests too: the key says what it holds.
\! python3 "$PG_ABS_SRCDIR/genpayload.py" LAKE --weeks 30 > "$STOCKELT_TEST_WORK/lake.json"
\! "$PG_ABS_SRCDIR/s3server.sh" s3cmd "$STOCKELT_TEST_WORK/s3" put "$STOCKELT_TEST_WORK/lake.json" "s3://$S3_BUCKET/alphavantage/time_series_weekly_adjusted/symbol=LAKE/fetched=20240415T210000.000000Z.json" >/dev/null 2>&1
SELECT * FROM stockelt_ingest_s3('alphavantage/time_series_weekly_adjusted/symbol=LAKE/fetched=20240415T210000.000000Z.json');
SELECT count(*) AS rows, min(fetched_at) AS fetched_at_from_key FROM silver.weekly_adjusted_prices WHERE symbol = 'LAKE';

-- Reading a key of the layout that is not there.
SELECT expect_error($$SELECT stockelt_bronze_read('alphavantage/overview/symbol=NOTHERE/fetched=20240412T210000.000000Z.json')$$);

-- S3 reach: a role with exactly the README's grants reaches only stockelt's own key layout
-- under the configured prefix.  Another application's objects in the same bucket (outside
-- the layout, or outside the prefix) and an object in another bucket are refused, and the
-- S3 server receives no request for them.
\! python3 -c 'import sys; sys.stdout.write("{\"secret\": \"of another application\"}\n")' > "$STOCKELT_TEST_WORK/secret.json"
\! "$PG_ABS_SRCDIR/s3server.sh" s3cmd "$STOCKELT_TEST_WORK/s3" put "$STOCKELT_TEST_WORK/secret.json" "s3://$S3_BUCKET/otherapp/secret.json" >/dev/null 2>&1
\! "$PG_ABS_SRCDIR/s3server.sh" s3cmd "$STOCKELT_TEST_WORK/s3" put "$STOCKELT_TEST_WORK/secret.json" "s3://$S3_BUCKET/alphavantage/notes/secret.json" >/dev/null 2>&1
\! "$PG_ABS_SRCDIR/s3server.sh" s3cmd "$STOCKELT_TEST_WORK/s3" put "$STOCKELT_TEST_WORK/lake.json" "s3://$S3_BUCKET/alphavantage/time_series_weekly_adjusted/symbol=LAKE/fetched=20240412T210000.000000Z.json" >/dev/null 2>&1
\! "$PG_ABS_SRCDIR/s3server.sh" s3cmd "$STOCKELT_TEST_WORK/s3" mb "s3://other-bucket" >/dev/null 2>&1 && "$PG_ABS_SRCDIR/s3server.sh" s3cmd "$STOCKELT_TEST_WORK/s3" put "$STOCKELT_TEST_WORK/secret.json" "s3://other-bucket/secret.json" >/dev/null 2>&1
\set other_bucket_secret `"$PG_ABS_SRCDIR/s3server.sh" s3cmd "$STOCKELT_TEST_WORK/s3" get "s3://other-bucket/secret.json" - 2>/dev/null`
SELECT :'other_bucket_secret' LIKE '%of another application%' AS other_bucket_object_exists;
CREATE ROLE s3_etl;
-- The README's recipe, as written, for this role.
\! "$PG_ABS_SRCDIR/readme_grants.sh" s3_etl > "$STOCKELT_TEST_WORK/grants_s3_etl.sql"
\set grants_file `echo "$STOCKELT_TEST_WORK/grants_s3_etl.sql"`
\i :grants_file
CREATE TEMP TABLE hostile (name text, key text);
GRANT SELECT ON hostile TO s3_etl;
SET stockelt.s3_prefix = 'lake';
INSERT INTO hostile VALUES
	('another application, same bucket', 'otherapp/secret.json'),
	('outside the layout, under the prefix', 'lake/otherapp/secret.json'),
	('layout outside the prefix', 'alphavantage/time_series_weekly_adjusted/symbol=LAKE/fetched=20240412T210000.000000Z.json'),
	('outside the layout, under alphavantage/', 'lake/alphavantage/notes/secret.json'),
	('../ to another bucket', '../other-bucket/secret.json'),
	('../ inside a layout key', 'lake/alphavantage/time_series_weekly_adjusted/symbol=LAKE/../../../../otherapp/secret.json'),
	('../ after a layout key', 'lake/alphavantage/time_series_weekly_adjusted/symbol=LAKE/fetched=20240412T210000.000000Z.json/../../../../../otherapp/secret.json'),
	('../ as the prefix', '../alphavantage/time_series_weekly_adjusted/symbol=LAKE/fetched=20240412T210000.000000Z.json'),
	('./ in the prefix', 'lake/./alphavantage/time_series_weekly_adjusted/symbol=LAKE/fetched=20240412T210000.000000Z.json'),
	('percent-encoded ../', '%2E%2E/other-bucket/secret.json'),
	('percent-encoded ../ as the prefix', '%2e%2e%2falphavantage/time_series_weekly_adjusted/symbol=LAKE/fetched=20240412T210000.000000Z.json'),
	('percent-encoded slash in the layout', 'lake/alphavantage%2Ftime_series_weekly_adjusted/symbol=LAKE/fetched=20240412T210000.000000Z.json'),
	('percent-encoded keywords not as stockelt writes them', 'lake/alphavantage/symbol_search/keywords=%2E%2E/fetched=20240412T210000.000000Z.json'),
	('backslash ..\', '..\other-bucket\secret.json'),
	('backslash in the prefix', 'lake\..\alphavantage/time_series_weekly_adjusted/symbol=LAKE/fetched=20240412T210000.000000Z.json'),
	('absolute key', '/otherapp/secret.json'),
	('absolute layout key', '/lake/alphavantage/time_series_weekly_adjusted/symbol=LAKE/fetched=20240412T210000.000000Z.json'),
	('absolute URL', 'http://127.0.0.1:1/other-bucket/secret.json'),
	('doubled slash', 'lake//alphavantage/time_series_weekly_adjusted/symbol=LAKE/fetched=20240412T210000.000000Z.json'),
	('query string', 'lake/alphavantage/time_series_weekly_adjusted/symbol=LAKE/fetched=20240412T210000.000000Z.json?list-type=2'),
	('query string alone', '?list-type=2&prefix='),
	('query in the prefix', 'lake?list-type=2/alphavantage/time_series_weekly_adjusted/symbol=LAKE/fetched=20240412T210000.000000Z.json'),
	('fragment', 'otherapp/secret.json#/lake/alphavantage/time_series_weekly_adjusted/symbol=LAKE/fetched=20240412T210000.000000Z.json'),
	('fragment after a layout key', 'lake/alphavantage/time_series_weekly_adjusted/symbol=LAKE/fetched=20240412T210000.000000Z.json#x'),
	('control character', E'lake/alphavantage/time_series_weekly_adjusted/symbol=LAKE/fetched=20240412T210000.000000Z.json\n'),
	('very long key', 'lake/' || repeat('a/', 600) || 'alphavantage/time_series_weekly_adjusted/symbol=LAKE/fetched=20240412T210000.000000Z.json'),
	('very long symbol', 'lake/alphavantage/time_series_weekly_adjusted/symbol=' || repeat('L', 5000) || '/fetched=20240412T210000.000000Z.json'),
	('lower-case symbol', 'lake/alphavantage/time_series_weekly_adjusted/symbol=lake/fetched=20240412T210000.000000Z.json'),
	('another function', 'lake/alphavantage/time_series_daily/symbol=LAKE/fetched=20240412T210000.000000Z.json'),
	('wrong partition', 'lake/alphavantage/overview/keywords=LAKE/fetched=20240412T210000.000000Z.json'),
	('impossible fetch time', 'lake/alphavantage/time_series_weekly_adjusted/symbol=LAKE/fetched=20240230T210000.000000Z.json');
SELECT ok AS sentinel_a FROM (SELECT count(*) >= 0 AS ok FROM stockelt_bronze_list('lake/alphavantage/overview/symbol=SENTINELA/')) s;
SET ROLE s3_etl;
SELECT name,
	   left(expect_error(format('SELECT stockelt_bronze_read(%L)', key)), 5) AS bronze_read,
	   left(expect_error(format('SELECT * FROM stockelt_ingest_s3(%L)', key)), 5) AS ingest_s3,
	   left(expect_error(format('SELECT * FROM stockelt_ingest(%L)', key)), 5) AS ingest,
	   left(expect_error(format('SELECT * FROM stockelt_ingest(ARRAY[%L])', key)), 5) AS ingest_array,
	   left(expect_error(format('SELECT * FROM stockelt_replay(%L)', key)), 5) AS replay,
	   left(expect_error(format('SELECT * FROM stockelt_bronze_list(%L)', key)), 5) AS list
  FROM hostile ORDER BY name;
-- One of them in full: what a caller reads.
SELECT expect_error($$SELECT stockelt_bronze_read('../other-bucket/secret.json')$$);
SELECT error_detail($$SELECT stockelt_bronze_read('../other-bucket/secret.json')$$);
SELECT error_detail($$SELECT * FROM stockelt_ingest_s3('alphavantage/time_series_weekly_adjusted/symbol=LAKE/fetched=20240412T210000.000000Z.json')$$);
-- A batch with one such key among good ones is refused before anything is read.
SELECT left(expect_error(format('SELECT * FROM stockelt_ingest(ARRAY[%L, %L])', :'s3key', '../other-bucket/secret.json')), 5) AS batch_with_hostile_key;
SELECT left(expect_error($$SELECT stockelt_bronze_read('')$$), 5) AS empty_key;
RESET ROLE;
SELECT ok AS sentinel_b FROM (SELECT count(*) >= 0 AS ok FROM stockelt_bronze_list('lake/alphavantage/overview/symbol=SENTINELB/')) s;
-- The gateway logs every request it receives: none came between the two sentinel listings.
\set requests_between `f="$STOCKELT_TEST_WORK/s3/log/client.rgw.log"; for i in $(seq 50); do grep -q 'beast:.*SENTINELB' "$f" && break; sleep 0.2; done; awk '/beast:/ && /SENTINELA/ {n = 0; on = 1; next} /beast:/ && /SENTINELB/ {print n; exit} on && /beast:/ {n++}' "$f"`
SELECT :'requests_between' AS s3_requests_for_hostile_keys;
-- The count sees requests: one read of an object of stockelt's makes one.
SELECT count(*) >= 0 AS sentinel_c FROM stockelt_bronze_list('lake/alphavantage/overview/symbol=SENTINELC/');
SELECT length(stockelt_bronze_read(:'s3key')) > 0 AS read_own_object;
SELECT count(*) >= 0 AS sentinel_d FROM stockelt_bronze_list('lake/alphavantage/overview/symbol=SENTINELD/');
\set requests_between `f="$STOCKELT_TEST_WORK/s3/log/client.rgw.log"; for i in $(seq 50); do grep -q 'beast:.*SENTINELD' "$f" && break; sleep 0.2; done; awk '/beast:/ && /SENTINELC/ {n = 0; on = 1; next} /beast:/ && /SENTINELD/ {print n; exit} on && /beast:/ {n++}' "$f"`
SELECT :'requests_between' AS s3_requests_for_own_object;

-- The listing shows only stockelt's layout under the prefix, and an object another client
-- wrote there is still ingestible by the role.
\! python3 "$PG_ABS_SRCDIR/genpayload.py" LAKEB --weeks 30 > "$STOCKELT_TEST_WORK/lakeb.json"
\! "$PG_ABS_SRCDIR/s3server.sh" s3cmd "$STOCKELT_TEST_WORK/s3" put "$STOCKELT_TEST_WORK/lakeb.json" "s3://$S3_BUCKET/lake/alphavantage/time_series_weekly_adjusted/symbol=LAKEB/fetched=20240419T210000.000000Z.json" >/dev/null 2>&1
\! "$PG_ABS_SRCDIR/s3server.sh" s3cmd "$STOCKELT_TEST_WORK/s3" put "$STOCKELT_TEST_WORK/secret.json" "s3://$S3_BUCKET/lake/alphavantage/time_series_weekly_adjusted/secret.json" >/dev/null 2>&1
\! "$PG_ABS_SRCDIR/s3server.sh" s3cmd "$STOCKELT_TEST_WORK/s3" put "$STOCKELT_TEST_WORK/secret.json" "s3://$S3_BUCKET/lake/alphavantage/time_series_weekly_adjusted/symbol=LAKEB/secret.json" >/dev/null 2>&1
SET ROLE s3_etl;
SELECT key, size_bytes, store FROM stockelt_bronze_list();
SELECT * FROM stockelt_ingest_s3('lake/alphavantage/time_series_weekly_adjusted/symbol=LAKEB/fetched=20240419T210000.000000Z.json');
SELECT * FROM stockelt_ingest(ARRAY['lake/alphavantage/time_series_weekly_adjusted/symbol=LAKEB/fetched=20240419T210000.000000Z.json'], force => true);
SELECT * FROM stockelt_replay('lake/alphavantage/time_series_weekly_adjusted/');
RESET ROLE;
SELECT count(*) AS rows, max(fetched_at) AS fetched_at_from_key FROM silver.weekly_adjusted_prices
 WHERE symbol = 'LAKEB' AND bronze_key LIKE 'lake/%';
RESET stockelt.s3_prefix;
-- A prefix that could climb out of stockelt's keys is refused before any call.
SET stockelt.s3_prefix = '../other-bucket';
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
SELECT expect_error($$SELECT * FROM stockelt_bronze_list()$$);
RESET stockelt.s3_prefix;
DROP OWNED BY s3_etl;
DROP ROLE s3_etl;

-- An S3 server that echoes the secret in its error (whole, cut, lower-cased) gets a bounded
-- excerpt into the message, with no eight characters of the secret left in it.
\! python3 "$PG_ABS_SRCDIR/s3_impostor.py" "$STOCKELT_TEST_WORK/secrets/s3_secret" "$STOCKELT_TEST_WORK/impostor.port" 30 >/dev/null 2>&1 & echo $! > "$STOCKELT_TEST_WORK/impostor.pid"
\! for i in $(seq 100); do [ -s "$STOCKELT_TEST_WORK/impostor.port" ] && break; sleep 0.05; done
\set impostor_port `cat "$STOCKELT_TEST_WORK/impostor.port"`
SELECT set_config('stockelt.s3_endpoint', 'http://127.0.0.1:' || :'impostor_port', false) IS NOT NULL AS pointed_at_impostor;
CREATE FUNCTION pg_temp.s3_secret_piece_in(t text) RETURNS boolean LANGUAGE sql AS $$
	SELECT EXISTS (SELECT FROM (SELECT btrim(pg_read_file(current_setting('stockelt.s3_secret_access_key_file')), E'\n') AS k) secret,
						 generate_series(1, length(k) - 7) i
					WHERE strpos(lower(t), lower(substr(k, i, 8))) > 0)
$$;
CREATE TEMP TABLE s3_echoed AS
SELECT expect_error($$SELECT * FROM stockelt_bronze_list()$$) AS message,
	   error_detail($$SELECT * FROM stockelt_bronze_list()$$) AS detail;
SELECT message, length(detail) <= 250 AS detail_bounded, detail LIKE '%[redacted]%' AS redacted,
	   pg_temp.s3_secret_piece_in(message || detail) AS secret_piece_shown
  FROM s3_echoed;
\! kill "$(cat "$STOCKELT_TEST_WORK/impostor.pid")"
SELECT use_s3();

-- Failures leave no catalog row and spend no API call.
CREATE TEMP TABLE before AS SELECT count(*) AS n FROM stockelt.bronze_objects;
\! "$PG_ABS_SRCDIR/standinctl" reset
\! umask 077 && printf 'wrong-secret\n' > "$STOCKELT_TEST_WORK/wrong_s3_secret"
\set wrong_secret_file `echo "$STOCKELT_TEST_WORK/wrong_s3_secret"`
SET stockelt.s3_secret_access_key_file = :'wrong_secret_file';
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
RESET stockelt.s3_secret_access_key_file;
SELECT use_s3();
SET stockelt.s3_bucket = 'no-such-bucket';
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
SELECT use_s3();
\! "$PG_ABS_SRCDIR/s3server.sh" stop-gateway "$STOCKELT_TEST_WORK/s3" >/dev/null 2>&1
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
\set calls `"$PG_ABS_SRCDIR/standinctl" count`
SELECT :calls AS api_calls_spent;
SELECT (SELECT count(*) FROM stockelt.bronze_objects) - n AS objects_added FROM before;
