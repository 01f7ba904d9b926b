-- Bronze in S3 (a real Ceph RADOS Gateway), signed with SigV4 by libcurl.
SELECT use_s3();
\! $STANDINCTL reset

-- A fetch stores the body in S3 and catalogs it with the bucket and ETag.
SELECT stockelt_fetch('IBM') AS key \gset
SELECT :'key' ~ '^alphavantage/time_series_weekly_adjusted/symbol=IBM/fetched=' AS key_layout;
SELECT store, s3_bucket = current_setting('stockelt.s3_bucket') AS bucket_recorded,
	   s3_etag ~ '^"?[0-9a-f]{32}"?$' AS etag_recorded
  FROM stockelt.bronze_objects WHERE key = :'key';
SELECT count(*) AS body_rows_for_s3_object FROM stockelt.bronze_bodies WHERE key = :'key';

-- The bytes read back equal the bytes the stand-in sent.
\set standin_sha `curl -s "$STANDIN/query?function=TIME_SERIES_WEEKLY_ADJUSTED&symbol=IBM&outputsize=full&datatype=json&apikey=$APIKEY" | sha256sum | cut -c1-64`
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
\set s3cmd_sha `$S3CMD get "s3://$S3_BUCKET/$KEY" - 2>/dev/null | sha256sum | cut -c1-64`
SELECT :'s3cmd_sha' = :'standin_sha' AS s3cmd_reads_stockelt_object;

-- stockelt reads what a standard client wrote, under a key with spaces, +, = and (.
\! $PYTHON -c 'import sys; sys.stdout.write("{\"written by\": \"s3cmd\"}\n")' > "$WORK/odd.json"
\! $S3CMD put "$WORK/odd.json" "s3://$S3_BUCKET/interop/a key+with=odd(chars).json" >/dev/null 2>&1
SELECT convert_from(stockelt_bronze_read('interop/a key+with=odd(chars).json'), 'UTF8') AS written_by_s3cmd;
SELECT key, size_bytes, store FROM stockelt_bronze_list('interop/');

-- stockelt writes under such a key too, and the standard client finds it.
SET stockelt.s3_prefix = 'lake dir/a+b=c(1)';
SELECT stockelt_fetch('MSFT') AS odd_key \gset
SELECT :'odd_key' LIKE 'lake dir/a+b=c(1)/alphavantage/time_series_weekly_adjusted/symbol=MSFT/%' AS prefixed;
\setenv KEY :odd_key
\set s3cmd_sha `$S3CMD get "s3://$S3_BUCKET/$KEY" - 2>/dev/null | sha256sum | cut -c1-64`
SELECT sha256 = :'s3cmd_sha' AS s3cmd_reads_odd_key FROM stockelt.bronze_objects WHERE key = :'odd_key';
SELECT encode(sha256(stockelt_bronze_read(:'odd_key')), 'hex') = :'s3cmd_sha' AS stockelt_reads_odd_key;
RESET stockelt.s3_prefix;

-- Listing follows continuation tokens past 1,000 keys.
\! mkdir -p "$WORK/many" && for i in $(seq 1 1005); do echo "{}" > "$WORK/many/$i.json"; done
\! $S3CMD put --recursive "$WORK/many/" "s3://$S3_BUCKET/many/" >/dev/null 2>&1
SELECT count(*) AS listed, count(DISTINCT key) AS distinct_keys, sum(size_bytes) AS bytes
  FROM stockelt_bronze_list('many/');
SELECT count(*) AS listed_under_narrower_prefix FROM stockelt_bronze_list('many/100');

-- Credentials from the server's environment when the settings are empty.
SET stockelt.s3_access_key_id = '';
SET stockelt.s3_secret_access_key_file = '';
SELECT stockelt_fetch('AAPL') LIKE 'alphavantage/%' AS fetched_with_environment_credentials;
SELECT use_s3();

-- An object a standard client wrote under the key layout ingests too: the key says what it holds.
\! $PYTHON "$(dirname "$STANDINCTL")/genpayload.py" LAKE --weeks 30 > "$WORK/lake.json"
\! $S3CMD put "$WORK/lake.json" "s3://$S3_BUCKET/alphavantage/time_series_weekly_adjusted/symbol=LAKE/fetched=20240415T210000.000000Z.json" >/dev/null 2>&1
SELECT * FROM stockelt_ingest_s3('alphavantage/time_series_weekly_adjusted/symbol=LAKE/fetched=20240415T210000.000000Z.json');
SELECT count(*) AS rows, min(fetched_at) AS fetched_at_from_key FROM silver.weekly_adjusted_prices WHERE symbol = 'LAKE';

-- Reading a key that is not there.
SELECT expect_error($$SELECT stockelt_bronze_read('nothing/here.json')$$);

-- Failures leave no catalog row and spend no API call.
CREATE TEMP TABLE before AS SELECT count(*) AS n FROM stockelt.bronze_objects;
\! $STANDINCTL reset
\! umask 077 && printf 'wrong-secret\n' > "$WORK/wrong_s3_secret"
\set wrong_secret_file `echo "$WORK/wrong_s3_secret"`
SET stockelt.s3_secret_access_key_file = :'wrong_secret_file';
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
RESET stockelt.s3_secret_access_key_file;
SELECT use_s3();
SET stockelt.s3_bucket = 'no-such-bucket';
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
SELECT use_s3();
\! $S3SERVER stop-gateway "$S3DIR" >/dev/null 2>&1
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
\set calls `$STANDINCTL count`
SELECT :calls AS api_calls_spent;
SELECT (SELECT count(*) FROM stockelt.bronze_objects) - n AS objects_added FROM before;
