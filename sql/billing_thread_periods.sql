-- Each queued thread's contribution to the billing rows (period × user, local calendar months) it
-- touches: the rows of billing_thread_periods (see views_reporting.sql). Reads only those threads'
-- messages, records and conversations, so its cost follows the new file, not the warehouse.
-- Parameters:
--   $tz    IANA timezone of the billing periods
--   $full  true: every thread; false: only the threads in the registered relation _billing_pending
--   $lo, $hi  TIMESTAMPTZ bounds of those threads' messages (see compute._pending_scope)
--   $first, $last  DATE: only contributions to these periods (a full rebuild runs a month at a time)
--   $passes, $part  only the threads whose key hashes to $part modulo $passes (a full rebuild cuts a
--          large month into passes, so that its memory follows a pass: compute._rebuild_passes)
-- Thread keys are billing's: a message's thread_id ('message:' || message_id without one); a record's
-- thread_key() (its threadId, else its pair of parties), as the messages transform folds them.
WITH msg AS (
    SELECT coalesce(thread_id, 'message:' || message_id)                  AS thread_id,
           date_trunc('month', timezone($tz, sent_at))::DATE              AS period,
           sender,
           recipients
    FROM messages
    WHERE sent_at BETWEEN $lo AND $hi
      AND ($full OR thread_id IN (SELECT thread_id FROM _billing_pending)
           OR (thread_id IS NULL AND 'message:' || message_id IN (SELECT thread_id FROM _billing_pending)))
),
-- One event per message sent, per delivery, per thread start and per record party; summed per
-- (thread, period, user, source). Message events have no source: their counts land on the row with
-- source NULL, and records on one row per source, so every sum over these rows is exact.
events AS (
    SELECT thread_id, period, sender AS user_jid, NULL::VARCHAR AS source, 1 AS sent, 0 AS received,
           0 AS started, 0 AS records
    FROM msg
    UNION ALL
    SELECT thread_id, period, unnest(recipients), NULL, 0, 1, 0, 0 FROM msg
    UNION ALL
    SELECT thread_id, date_trunc('month', timezone($tz, started_at))::DATE, initiator, NULL, 0, 0, 1, 0
    FROM conversations
    WHERE started_at BETWEEN $lo AND $hi AND ($full OR thread_id IN (SELECT thread_id FROM _billing_pending))
      -- a thread retention purged keeps its stored contributions, its start included (compute.py)
      AND thread_id NOT IN (SELECT thread_id FROM purged_threads)
    UNION ALL
    -- Records are counted per (thread, period, sender, recipient, source) first, then given to both
    -- parties: a fifth as many events, and each record's month computed once, not once per party.
    SELECT thread_id, period, unnest([sender, recipient]), source, 0, 0, 0, records
    FROM (
        -- records.thread_id is trimmed, non-empty or NULL (the parser strips it): a plain IN finds the
        -- threaded ones, and only records without a threadId need the thread_key() of their parties.
        SELECT thread_key(r.thread_id, r.sender, r.recipient) AS thread_id,
               date_trunc('month', timezone($tz, r.sent_at))::DATE AS period,
               r.sender, r.recipient, f.source, count(*) AS records
        FROM message_records r JOIN archive_files f USING (file_id)
        WHERE r.sent_at BETWEEN $lo AND $hi
          AND ($full OR r.thread_id IN (SELECT thread_id FROM _billing_pending)
               OR (r.thread_id IS NULL AND thread_key(NULL, r.sender, r.recipient) IN (SELECT thread_id FROM _billing_pending)))
        GROUP BY ALL
    )
)
-- A directory alias (registered relation _user_aliases: alias → handle) counts as its handle's user.
SELECT thread_id, period, coalesce(a.handle, e.user_jid) AS user_jid, source,
       sum(sent)::INTEGER                        AS messages_sent,
       sum(received)::INTEGER                    AS messages_received,
       (sum(sent) + sum(received) > 0)::INTEGER  AS participated,
       sum(started)::INTEGER                     AS conversations_started,
       sum(records)::INTEGER                     AS records
FROM events e LEFT JOIN _user_aliases a ON a.alias = e.user_jid
-- UBIGINT like hash() itself: with the INTEGER parameters DuckDB took the modulo in HUGEINT, which
-- cost 5 of the query's 9.4 s on the 578 MB bench archive (4.9M events).
WHERE e.period BETWEEN $first AND $last AND hash(e.thread_id) % $passes::UBIGINT = $part::UBIGINT
GROUP BY thread_id, period, coalesce(a.handle, e.user_jid), source
ORDER BY period, 3;
