-- One row per thread queued at stage 'conversations', recomputed from its messages
-- (a thread continued in a later file replaces its row).
-- _touched (created by pipeline/transforms.py): one bounded chunk of the threads queued at 'conversations'.

DELETE FROM conversations WHERE thread_id IN (SELECT thread_id FROM _touched);

-- The messages transform rewrote these threads' messages together, at the end of the table: bounding
-- the scan by their first and last row lets DuckDB skip the rest of it (a constant filter on rowid
-- prunes row groups, and a lake's Parquet files; a thread-id filter alone reads every one).
SET VARIABLE eur_rows = (SELECT {'first': min(rowid), 'last': max(rowid)} FROM messages
                         WHERE thread_id IN (SELECT thread_id FROM _touched));

INSERT INTO conversations
SELECT
    thread_id,
    min(sent_at) AS started_at,
    max(sent_at) AS ended_at,
    (epoch_us(max(sent_at)) - epoch_us(min(sent_at))) / 1e6 AS duration_seconds,
    count(*) AS message_count,
    len(list_distinct(flatten(list(list_prepend(sender, recipients))))) AS participant_count,
    list_sort(list_distinct(flatten(list(list_prepend(sender, recipients))))) AS participants,
    (list(sender ORDER BY sent_at, sender))[1] AS initiator,
    len(list_distinct(flatten(list(list_prepend(sender, recipients))))) > 2 AS is_multiparty
FROM messages
WHERE rowid BETWEEN getvariable('eur_rows').first AND getvariable('eur_rows').last
  AND thread_id IN (SELECT thread_id FROM _touched)
GROUP BY thread_id;

INSERT INTO pending_threads
SELECT thread_id, 'billing' FROM _touched
EXCEPT SELECT thread_id, stage FROM pending_threads WHERE stage = 'billing';
DELETE FROM pending_threads WHERE stage = 'conversations' AND thread_id IN (SELECT thread_id FROM _touched);
DROP TABLE _touched;
