-- Today's API calls counted by the shared limiter.
SELECT day, used, daily_limit, remaining, throttled, paused_until, spacing_ms,
       used::float8 / nullif(daily_limit, 0) AS used_share
  FROM stockelt_usage()
