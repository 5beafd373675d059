-- The billing rows (period × user, local calendar months) each thread has activity in: each message's
-- sender and recipients in its month, and the initiator in the month the thread started.
-- refresh_billing recomputes these pairs (and those recorded when the thread was last billed).
-- Parameters:
--   $tz    IANA timezone of the billing periods
--   $full  true: every thread; false: only the threads in the registered relation _billing_pending
WITH msg AS (
    SELECT coalesce(thread_id, 'message:' || message_id)                  AS thread_id,
           date_trunc('month', timezone($tz, sent_at))::DATE              AS period,
           sender,
           recipients
    FROM messages
    WHERE $full OR thread_id IN (SELECT thread_id FROM _billing_pending)
       OR (thread_id IS NULL AND 'message:' || message_id IN (SELECT thread_id FROM _billing_pending))
)
SELECT DISTINCT thread_id, period, user_jid
FROM (
    SELECT thread_id, period, sender AS user_jid FROM msg
    UNION ALL
    SELECT thread_id, period, unnest(recipients) AS user_jid FROM msg
    UNION ALL
    SELECT thread_id,
           date_trunc('month', timezone($tz, started_at))::DATE           AS period,
           initiator                                                      AS user_jid
    FROM conversations
    WHERE $full OR thread_id IN (SELECT thread_id FROM _billing_pending)
)
ORDER BY thread_id, period, user_jid;
