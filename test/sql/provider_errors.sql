-- Every answer that is not data raises its own SQLSTATE and stores nothing.
CREATE TEMP TABLE before AS SELECT count(*) AS n FROM stockelt.bronze_objects;

\! "$PG_ABS_SRCDIR/standinctl" next 'message=burst'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
\! "$PG_ABS_SRCDIR/standinctl" next 'message=per_minute'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
\! "$PG_ABS_SRCDIR/standinctl" next 'message=daily_quota'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
-- A quota answer pauses every caller until the next day, without calling the API again;
-- stockelt_resume() lifts the pause.
\! "$PG_ABS_SRCDIR/standinctl" reset
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$) AS while_paused;
\! "$PG_ABS_SRCDIR/standinctl" count
SELECT paused_until IS NOT NULL AS paused, stockelt_resume() AS resumed FROM stockelt_usage();
SELECT paused_until IS NULL AS not_paused FROM stockelt_usage();
\! "$PG_ABS_SRCDIR/standinctl" next 'message=premium'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
\! "$PG_ABS_SRCDIR/standinctl" next 'message=demo'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
\! "$PG_ABS_SRCDIR/standinctl" next 'message=invalid_call'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
\! "$PG_ABS_SRCDIR/standinctl" next 'message=invalid_apikey'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
\! "$PG_ABS_SRCDIR/standinctl" next 'message=empty'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
\! "$PG_ABS_SRCDIR/standinctl" next 'message=premium_sample'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
\! "$PG_ABS_SRCDIR/standinctl" next 'message=html503'
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);

-- The provider's own words reach errdetail.
\! "$PG_ABS_SRCDIR/standinctl" next 'message=daily_quota'
SELECT error_detail($$SELECT stockelt_fetch('IBM')$$) ~ '^Alpha Vantage answered: .*25 requests per day' AS quota_detail;
SELECT stockelt_resume() AS resumed;
\! "$PG_ABS_SRCDIR/standinctl" next 'message=burst'
SELECT error_detail($$SELECT stockelt_fetch('IBM')$$) ~ '^Alpha Vantage answered: .*spreading out' AS burst_detail;

-- A series for another symbol is not data for this one.
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=MSFT&as_symbol=AAPL'
SELECT expect_error($$SELECT stockelt_fetch('MSFT')$$);
SELECT error_detail($$SELECT stockelt_fetch('MSFT')$$);
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=MSFT&clear=1'

-- Another function's data (daily, monthly or non-adjusted weekly prices) is named, not "no data".
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=WRONGF&function=monthly_adjusted'
SELECT expect_error($$SELECT stockelt_fetch('WRONGF')$$);
SELECT error_detail($$SELECT stockelt_fetch('WRONGF')$$);
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=WRONGF&function=weekly'
SELECT error_detail($$SELECT stockelt_fetch('WRONGF')$$);
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=WRONGF&function=daily'
SELECT error_detail($$SELECT stockelt_fetch('WRONGF')$$);
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=WRONGF&clear=1'
SELECT count(*) AS wrong_function_stored FROM stockelt.bronze_objects WHERE symbol = 'WRONGF';

-- An unknown symbol: the API's invalid-call answer.
\! "$PG_ABS_SRCDIR/standinctl" symbol 'symbol=NOSUCH&unknown=1'
SELECT expect_error($$SELECT stockelt_fetch('NOSUCH')$$);

-- A wrong API key.
\! umask 077 && printf 'not-the-key\n' > "$STOCKELT_TEST_WORK/wrong_api_key"
\set wrong_key_file `echo "$STOCKELT_TEST_WORK/wrong_api_key"`
SET stockelt.api_key_file = :'wrong_key_file';
SELECT expect_error($$SELECT stockelt_fetch('IBM')$$);
RESET stockelt.api_key_file;

-- A page that echoes part of the key: every piece of it of eight characters or more, in any
-- case, is redacted from the error and its detail (and so from the server log).
CREATE FUNCTION pg_temp.key_piece_in(t text) RETURNS boolean LANGUAGE sql AS $$
	SELECT EXISTS (SELECT FROM (SELECT btrim(pg_read_file(current_setting('stockelt.api_key_file')), E'\n') AS k) key,
						 generate_series(1, length(k) - 7) i
					WHERE strpos(lower(t), lower(substr(k, i, 8))) > 0)
$$;
CREATE TEMP TABLE echoed (form text, message text, detail text);
\! "$PG_ABS_SRCDIR/standinctl" next 'echo_key=cut&count=2'
INSERT INTO echoed VALUES ('cut', expect_error($$SELECT stockelt_fetch('IBM')$$), error_detail($$SELECT stockelt_fetch('IBM')$$));
\! "$PG_ABS_SRCDIR/standinctl" next 'echo_key=middle&echo_in=html&count=2'
INSERT INTO echoed VALUES ('middle in html', expect_error($$SELECT stockelt_fetch('IBM')$$), error_detail($$SELECT stockelt_fetch('IBM')$$));
\! "$PG_ABS_SRCDIR/standinctl" next 'echo_key=lower&echo_in=note&count=2'
INSERT INTO echoed VALUES ('lower', expect_error($$SELECT stockelt_fetch('IBM')$$), error_detail($$SELECT stockelt_fetch('IBM')$$));
\! "$PG_ABS_SRCDIR/standinctl" next 'echo_key=whole&count=2'
INSERT INTO echoed VALUES ('whole', expect_error($$SELECT stockelt_fetch('IBM')$$), error_detail($$SELECT stockelt_fetch('IBM')$$));
SELECT form, message, detail FROM echoed ORDER BY form;
SELECT form, pg_temp.key_piece_in(message || detail) AS key_piece_shown FROM echoed ORDER BY form;

-- An upstream text adds at most a bounded, printable excerpt: a 5,000-character message with
-- control characters comes down to 400 characters; a key the cut leaves nine characters of is
-- redacted, one it leaves seven of is not worth hiding.
TRUNCATE echoed;
\! "$PG_ABS_SRCDIR/standinctl" next 'echo_key=whole&pad=5000'
INSERT INTO echoed VALUES ('pad 5000', NULL, error_detail($$SELECT stockelt_fetch('IBM')$$));
\! "$PG_ABS_SRCDIR/standinctl" next 'echo_key=whole&pad=370'
INSERT INTO echoed VALUES ('pad 370', NULL, error_detail($$SELECT stockelt_fetch('IBM')$$));
\! "$PG_ABS_SRCDIR/standinctl" next 'echo_key=whole&pad=372'
INSERT INTO echoed VALUES ('pad 372', NULL, error_detail($$SELECT stockelt_fetch('IBM')$$));
SELECT form, length(detail) AS detail_length, detail ~ '[[:cntrl:]]' AS control_characters,
	   right(detail, 13) = '[redacted]...' AS ends_redacted, pg_temp.key_piece_in(detail) AS key_piece_shown
  FROM echoed ORDER BY form;

-- Nowhere in the server log either.
\set key_pieces_in_log `python3 -c 'import sys; k = sys.argv[1].lower(); t = open(sys.argv[2], errors="replace").read().lower(); print(sum(k[i:i + 8] in t for i in range(len(k) - 7)))' "$(cat "$STOCKELT_TEST_WORK/secrets/api_key")" "$STOCKELT_TEST_WORK/server.log"`
SELECT :key_pieces_in_log AS key_pieces_in_server_log;

SELECT (SELECT count(*) FROM stockelt.bronze_objects) - n AS objects_added FROM before;
SELECT count(*) AS bodies_without_catalog FROM stockelt.bronze_bodies b
 WHERE NOT EXISTS (SELECT 1 FROM stockelt.bronze_objects o WHERE o.key = b.key);
