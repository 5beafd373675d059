-- messages and conversations lose their PRIMARY KEYs. The transforms rebuild both per thread (delete
-- the touched threads' rows, insert them regrouped), so message_id and thread_id are unique by
-- construction; the pandera check and the integrity checks still verify it. The keys cost memory
-- and time in proportion to the whole warehouse: DuckDB holds a PRIMARY KEY's ART index in memory
-- and loads and maintains it on every DELETE/INSERT, so one small new file into a 10M-record
-- warehouse needed the whole messages index (out of memory under a 192 MB DuckDB cap; see make bench).
CREATE TABLE messages_v2 (
    message_id      VARCHAR NOT NULL,          -- md5 of (thread, sender, instant, body); unique
    thread_id       VARCHAR,
    sent_at         TIMESTAMPTZ NOT NULL,
    sender          VARCHAR NOT NULL,
    recipients      VARCHAR[] NOT NULL,        -- sorted, distinct, sender excluded
    recipient_count INTEGER NOT NULL,
    body            VARCHAR,
    record_count    INTEGER NOT NULL           -- archive records folded into this message
);
INSERT INTO messages_v2 SELECT * FROM messages;
DROP TABLE messages;
ALTER TABLE messages_v2 RENAME TO messages;

CREATE TABLE conversations_v2 (
    thread_id         VARCHAR NOT NULL,        -- unique
    started_at        TIMESTAMPTZ NOT NULL,
    ended_at          TIMESTAMPTZ NOT NULL,
    duration_seconds  DOUBLE NOT NULL,
    message_count     INTEGER NOT NULL,
    participant_count INTEGER NOT NULL,
    participants      VARCHAR[] NOT NULL,
    initiator         VARCHAR NOT NULL,
    is_multiparty     BOOLEAN NOT NULL
);
INSERT INTO conversations_v2 SELECT * FROM conversations;
DROP TABLE conversations;
ALTER TABLE conversations_v2 RENAME TO conversations;
