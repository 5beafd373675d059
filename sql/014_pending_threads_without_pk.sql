-- pending_threads loses its PRIMARY KEY, as messages and conversations did in 002. Every writer of the
-- queue already inserts with EXCEPT against what is queued, and readers take DISTINCT thread ids (a
-- lake has no keys, so the same SQL holds the rule there). The key's ART index cost more than the
-- transforms' work: per 10,000-thread chunk of the 578 MB bench archive, moving the chunk to the next
-- stage took 0.55 s with the index against 0.39 s for folding its records (make bench).
CREATE TABLE pending_threads_v2 (
    thread_id VARCHAR NOT NULL,
    stage     VARCHAR NOT NULL CHECK (stage IN ('messages', 'conversations', 'billing'))
);
INSERT INTO pending_threads_v2 SELECT DISTINCT thread_id, stage FROM pending_threads;
DROP TABLE pending_threads;
ALTER TABLE pending_threads_v2 RENAME TO pending_threads;
