-- Compliance rules in one place each (re-created on every migrate; see compliance/*.py).

-- A logical message's id: md5 of (thread, sender, instant, body digest). The messages transform
-- folds with it, and retention finds the records of a held message with it.
CREATE OR REPLACE MACRO message_id_of(thread, sender, sent_at, body_sha256) AS
    md5(concat_ws(chr(31), thread, sender, epoch_us(sent_at)::VARCHAR, coalesce(body_sha256, chr(0))));

-- The messages a legal hold in force covers: its user sent or received them within its UTC days.
CREATE OR REPLACE VIEW held_messages AS
SELECT m.message_id, m.thread_id, h.hold_id
FROM messages m
JOIN legal_holds h
  ON h.released_at IS NULL
 AND (m.sender = h.user_jid OR list_contains(m.recipients, h.user_jid))
 AND (h.from_date IS NULL OR m.sent_at >= h.from_date::TIMESTAMPTZ)
 AND (h.to_date IS NULL OR m.sent_at < (h.to_date + 1)::TIMESTAMPTZ);

-- The records of held messages (every copy: IN, and OUT to each recipient), with their file.
CREATE OR REPLACE VIEW held_records AS
SELECT r.file_id, r.record_no
FROM message_records r
WHERE message_id_of(coalesce(r.thread_id, thread_key(NULL, r.sender, r.recipient)), r.sender, r.sent_at, r.body_sha256)
      IN (SELECT message_id FROM held_messages);
