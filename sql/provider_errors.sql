-- Every answer that is not data raises its own SQLSTATE and stores nothing.
CREATE TEMP TABLE before AS SELECT count(*) AS n FROM stockelt.bronze_objects;

\! $STANDINCTL next 'message=burst'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
\! $STANDINCTL next 'message=per_minute'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
\! $STANDINCTL next 'message=daily_quota'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
-- A quota answer pauses every caller until the next day, without calling the API again;
-- stockelt_resume() lifts the pause.
\! $STANDINCTL reset
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$) AS while_paused;
\! $STANDINCTL count
SELECT paused_until IS NOT NULL AS paused, stockelt_resume() AS resumed FROM stockelt_usage();
SELECT paused_until IS NULL AS not_paused FROM stockelt_usage();
\! $STANDINCTL next 'message=premium'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
\! $STANDINCTL next 'message=demo'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
\! $STANDINCTL next 'message=invalid_call'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
\! $STANDINCTL next 'message=invalid_apikey'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
\! $STANDINCTL next 'message=empty'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
\! $STANDINCTL next 'message=premium_sample'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
\! $STANDINCTL next 'message=html503'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);

-- The provider's own words reach errdetail.
\! $STANDINCTL next 'message=daily_quota'
SELECT error_detail($$SELECT stockelt_fetch('IBM')$$) ~ '^Alpha Vantage answered: .*25 requests per day' AS quota_detail;
SELECT stockelt_resume() AS resumed;
\! $STANDINCTL next 'message=burst'
SELECT error_detail($$SELECT stockelt_fetch('IBM')$$) ~ '^Alpha Vantage answered: .*spreading out' AS burst_detail;

-- A series for another symbol is not data for this one.
\! $STANDINCTL symbol 'symbol=MSFT&as_symbol=AAPL'
SELECT expect_error($$SELECT stockelt_fetch('MSFT')$$);
SELECT error_detail($$SELECT stockelt_fetch('MSFT')$$);
\! $STANDINCTL symbol 'symbol=MSFT&clear=1'

-- An unknown symbol: the API's invalid-call answer.
\! $STANDINCTL symbol 'symbol=NOSUCH&unknown=1'
SELECT expect_error($$SELECT stockelt_fetch('NOSUCH')$$);

-- A wrong API key.
\! umask 077 && printf 'not-the-key\n' > "$WORK/wrong_api_key"
\set wrong_key_file `echo "$WORK/wrong_api_key"`
SET stockelt.api_key_file = :'wrong_key_file';
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
RESET stockelt.api_key_file;

SELECT (SELECT count(*) FROM stockelt.bronze_objects) - n AS objects_added FROM before;
SELECT count(*) AS bodies_without_catalog FROM stockelt.bronze_bodies b
 WHERE NOT EXISTS (SELECT 1 FROM stockelt.bronze_objects o WHERE o.key = b.key);
