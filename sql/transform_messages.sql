-- Fold IN/OUT copies into logical messages for the threads queued at stage 'messages'.
-- A logical message = the records sharing (thread, sender, instant, body); recipients = union minus sender.
-- The body is compared by its digest taken at load time (body_sha256), so the fold is the same whatever
-- privacy.bodies stores of the body itself (text, its hash, or nothing).
-- _touched (created by pipeline/transforms.py): one bounded chunk of the threads queued at 'messages'.

DELETE FROM messages WHERE thread_id IN (SELECT thread_id FROM _touched);

INSERT INTO messages
SELECT
    message_id_of(thread, sender, sent_at, body_sha256) AS message_id,  -- sql/views_compliance.sql
    thread AS thread_id,
    sent_at,
    sender,
    coalesce(list_sort(list_distinct(list(recipient) FILTER (WHERE recipient <> sender))), []::VARCHAR[]) AS recipients,
    len(coalesce(list_distinct(list(recipient) FILTER (WHERE recipient <> sender)), [])) AS recipient_count,
    any_value(body) AS body,
    count(*) AS record_count,
    body_sha256
FROM (
    -- A stored thread_id is already its key (the loader trims it and turns '' as NULL), so the key
    -- is computed only for records without one: a large warehouse is scanned, not concatenated.
    SELECT coalesce(thread_id, thread_key(NULL, sender, recipient)) AS thread, sender, sent_at, body, body_sha256,
           recipient
    FROM message_records
    WHERE coalesce(thread_id, thread_key(NULL, sender, recipient)) IN (SELECT thread_id FROM _touched)
)
GROUP BY thread, sender, sent_at, body_sha256;

INSERT INTO pending_threads
SELECT thread_id, 'conversations' FROM _touched
EXCEPT SELECT thread_id, stage FROM pending_threads WHERE stage = 'conversations';
DELETE FROM pending_threads WHERE stage = 'messages' AND thread_id IN (SELECT thread_id FROM _touched);
-- the search index re-reads these threads (sql/013_search_pending_threads.sql)
INSERT INTO search_pending_threads
SELECT thread_id FROM _touched EXCEPT SELECT thread_id FROM search_pending_threads;
DROP TABLE _touched;
