-- The search index follows the threads the transforms touch instead of comparing every message id
-- with the index on every run (two anti-joins over all messages: 2.5 s per run at 5M messages).
-- transform_messages.sql queues each thread it rewrites here; compliance/search_index.py indexes
-- the new messages of those threads, notices the ones gone from them, and clears the queue.
-- Whatever else rewrites messages (retention, a privacy mode change) queues its threads too or empties
-- search_indexed (the next sync then rebuilds).
CREATE TABLE IF NOT EXISTS search_pending_threads (
    thread_id VARCHAR NOT NULL
);

-- search_indexed gains the thread of each message, so the check for messages gone is per queued
-- thread. Emptied: the next sync finds the index and this table disagree and rebuilds the index once.
DROP TABLE search_indexed;
CREATE TABLE search_indexed (
    message_id VARCHAR NOT NULL,
    thread_id  VARCHAR NOT NULL
);
