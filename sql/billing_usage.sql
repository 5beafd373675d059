-- Activity per period × user for the billing rows being recomputed (refresh_billing adds org data
-- and cost): the sums of the threads' stored contributions (billing_thread_periods) to those rows.
-- Parameters:
--   $first, $last  DATE: the earliest and latest period of the pairs (lets DuckDB skip the rest)
-- The registered relation _billing_pairs names the (period, user_jid) rows to compute.
-- A user's fallback site comes from the source their records came from in that period: the
-- source with the most of their records, ties to the first source name (deterministic).
-- A user has a row when they sent, received or started something in the period (not for records alone).
WITH per_source AS (
    SELECT period, user_jid, source,
           sum(messages_sent)         AS messages_sent,
           sum(messages_received)     AS messages_received,
           sum(participated)          AS conversations,
           sum(conversations_started) AS conversations_started,
           sum(records)               AS records
    FROM billing_thread_periods
    SEMI JOIN _billing_pairs USING (period, user_jid)
    WHERE period BETWEEN $first AND $last
    GROUP BY period, user_jid, source
)
SELECT period,
       user_jid,
       first(source ORDER BY records DESC, source) FILTER (WHERE source IS NOT NULL) AS source,
       sum(messages_sent)::BIGINT         AS messages_sent,
       sum(messages_received)::BIGINT     AS messages_received,
       sum(conversations)::BIGINT         AS conversations,
       sum(conversations_started)::BIGINT AS conversations_started
FROM per_source
GROUP BY period, user_jid
HAVING sum(conversations) > 0 OR sum(conversations_started) > 0
ORDER BY period, user_jid;
