-- Fold IN/OUT copies into logical messages for the threads queued at stage 'messages'.
-- A logical message = the records sharing (thread, sender, instant, body); recipients = union minus sender.
-- _touched (created by pipeline/transforms.py): one bounded chunk of the threads queued at 'messages'.

DELETE FROM messages WHERE thread_id IN (SELECT thread_id FROM _touched);

INSERT INTO messages
SELECT
    md5(concat_ws(chr(31), thread, sender, epoch_us(sent_at)::VARCHAR, coalesce(body, chr(0)))) AS message_id,
    thread AS thread_id,
    sent_at,
    sender,
    coalesce(list_sort(list_distinct(list(recipient) FILTER (WHERE recipient <> sender))), []::VARCHAR[]) AS recipients,
    len(coalesce(list_distinct(list(recipient) FILTER (WHERE recipient <> sender)), [])) AS recipient_count,
    body,
    count(*) AS record_count
FROM (
    -- A stored thread_id is already its key (the loader trims it and turns '' as NULL), so the key
    -- is computed only for records without one: a large warehouse is scanned, not concatenated.
    SELECT coalesce(thread_id, thread_key(NULL, sender, recipient)) AS thread, sender, sent_at, body, recipient
    FROM message_records
    WHERE coalesce(thread_id, thread_key(NULL, sender, recipient)) IN (SELECT thread_id FROM _touched)
)
GROUP BY thread, sender, sent_at, body;

INSERT INTO pending_threads
SELECT thread_id, 'conversations' FROM _touched
EXCEPT SELECT thread_id, stage FROM pending_threads WHERE stage = 'conversations';
DELETE FROM pending_threads WHERE stage = 'messages' AND thread_id IN (SELECT thread_id FROM _touched);
DROP TABLE _touched;
