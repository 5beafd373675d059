-- Activity per period × user for the rows being recomputed (refresh_billing adds org data and cost).
-- Parameters:
--   $tz       IANA timezone of the billing periods (calendar months, local time)
--   $periods  DATE[] of first-of-month periods to compute
--   $lo, $hi  TIMESTAMPTZ bounds covering those periods (lets DuckDB skip the rest cheaply)
--   $all      true: every user of those periods; false: only the (period, user_jid) pairs of the
--             registered relation _billing_pairs
--   $users    VARCHAR[]: the users of those pairs, when only their messages are to be read; NULL
--             when they are most of the periods' users (the filter would cost more than it saves)
-- Incremental rows stay exact: a user's counts need only the messages (and records) that user sent
-- or received, so the rest of the month is filtered out before any aggregation.
-- A user's fallback site comes from the source their records came from in that period: the
-- source with the most of their records, ties to the first source name (deterministic).
WITH msg AS (
    SELECT *
    FROM (
        SELECT coalesce(thread_id, 'message:' || message_id)              AS thread_key,
               sender,
               recipients,
               date_trunc('month', timezone($tz, sent_at))::DATE          AS period
        FROM messages
        WHERE sent_at >= $lo AND sent_at < $hi
          AND ($users IS NULL OR list_contains($users, sender) OR list_has_any(recipients, $users))
    )
    WHERE list_contains($periods, period)
),
sent AS (
    SELECT period, sender AS user_jid, count(*) AS messages_sent
    FROM msg GROUP BY period, sender
),
received AS (
    SELECT period, user_jid, count(*) AS messages_received
    FROM (SELECT period, unnest(recipients) AS user_jid FROM msg)
    GROUP BY period, user_jid
),
participated AS (
    SELECT period, user_jid, count(DISTINCT thread_key) AS conversations
    FROM (
        SELECT period, sender AS user_jid, thread_key FROM msg
        UNION ALL
        SELECT period, unnest(recipients) AS user_jid, thread_key FROM msg
    )
    GROUP BY period, user_jid
),
started AS (
    SELECT period, initiator AS user_jid, count(*) AS conversations_started
    FROM (
        SELECT initiator, date_trunc('month', timezone($tz, started_at))::DATE AS period
        FROM conversations
        WHERE started_at >= $lo AND started_at < $hi AND ($users IS NULL OR list_contains($users, initiator))
    )
    WHERE list_contains($periods, period)
    GROUP BY period, initiator
),
record_sources AS (
    SELECT period, user_jid, source, count(*) AS records
    FROM (
        SELECT date_trunc('month', timezone($tz, r.sent_at))::DATE AS period, f.source, r.sender AS user_jid
        FROM message_records r JOIN archive_files f USING (file_id)
        WHERE r.sent_at >= $lo AND r.sent_at < $hi AND ($users IS NULL OR list_contains($users, r.sender))
        UNION ALL
        SELECT date_trunc('month', timezone($tz, r.sent_at))::DATE AS period, f.source, r.recipient AS user_jid
        FROM message_records r JOIN archive_files f USING (file_id)
        WHERE r.sent_at >= $lo AND r.sent_at < $hi AND ($users IS NULL OR list_contains($users, r.recipient))
    )
    WHERE list_contains($periods, period)
    GROUP BY period, user_jid, source
),
home_source AS (
    SELECT period, user_jid, source
    FROM record_sources
    QUALIFY row_number() OVER (PARTITION BY period, user_jid ORDER BY records DESC, source) = 1
),
users AS (
    SELECT period, user_jid
    FROM (
        SELECT period, user_jid FROM sent
        UNION SELECT period, user_jid FROM received
        UNION SELECT period, user_jid FROM participated
        UNION SELECT period, user_jid FROM started
    )
    WHERE $all OR (period, user_jid) IN (SELECT (period, user_jid) FROM _billing_pairs)
)
SELECT u.period,
       u.user_jid,
       h.source,
       coalesce(s.messages_sent, 0)          AS messages_sent,
       coalesce(r.messages_received, 0)      AS messages_received,
       coalesce(p.conversations, 0)          AS conversations,
       coalesce(c.conversations_started, 0)  AS conversations_started
FROM users u
LEFT JOIN sent s          USING (period, user_jid)
LEFT JOIN received r      USING (period, user_jid)
LEFT JOIN participated p  USING (period, user_jid)
LEFT JOIN started c       USING (period, user_jid)
LEFT JOIN home_source h   USING (period, user_jid)
ORDER BY u.period, u.user_jid;
