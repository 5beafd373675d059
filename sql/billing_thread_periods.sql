-- The billing periods (local calendar months) each thread has activity in: its messages' months
-- and the month it started. refresh_billing recomputes the periods of the threads it consumes.
-- Parameters:
--   $tz    IANA timezone of the billing periods
--   $full  true: every thread; false: only the threads in the registered relation _billing_pending
SELECT DISTINCT thread_id, period
FROM (
    SELECT coalesce(thread_id, 'message:' || message_id)                  AS thread_id,
           date_trunc('month', timezone($tz, sent_at))::DATE              AS period
    FROM messages
    UNION ALL
    SELECT thread_id,
           date_trunc('month', timezone($tz, started_at))::DATE           AS period
    FROM conversations
)
WHERE $full OR thread_id IN (SELECT thread_id FROM _billing_pending)
ORDER BY thread_id, period;
