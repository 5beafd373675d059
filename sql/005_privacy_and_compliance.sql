-- Privacy and compliance (see docs/design.md, "Privacy and compliance").
--
-- body_sha256: the hex sha256 of the body as archived, taken when the record is loaded. Messages fold
-- on it (not on the body), so `privacy.bodies: hash | drop` fold, and bill, exactly as `keep` does.
-- message_id becomes md5(thread, sender, instant, body_sha256): every thread is queued for a refold.
ALTER TABLE message_records ADD COLUMN IF NOT EXISTS body_sha256 VARCHAR;
UPDATE message_records SET body_sha256 = sha256(body) WHERE body IS NOT NULL;
ALTER TABLE messages ADD COLUMN IF NOT EXISTS body_sha256 VARCHAR;
UPDATE messages SET body_sha256 = sha256(body) WHERE body IS NOT NULL;
-- (EXCEPT, not ON CONFLICT: the same file serves a DuckLake warehouse, which has no keys)
INSERT INTO pending_threads SELECT DISTINCT thread_id, 'messages' FROM messages WHERE thread_id IS NOT NULL
EXCEPT SELECT thread_id, stage FROM pending_threads;

-- Who did what: search, export, hold changes, purge, privacy mode changes, reprocess, rebuild, mail.
CREATE TABLE IF NOT EXISTS audit_log (
    "at"   TIMESTAMPTZ NOT NULL,          -- "at" is a keyword in DuckDB: quote it in SQL
    actor  VARCHAR NOT NULL,                   -- OS user, or --actor
    action VARCHAR NOT NULL,
    detail JSON                                -- the action's parameters and counts
);

CREATE SEQUENCE IF NOT EXISTS legal_hold_ids START 1;
CREATE TABLE IF NOT EXISTS legal_holds (
    hold_id     INTEGER PRIMARY KEY DEFAULT nextval('legal_hold_ids'),
    user_jid    VARCHAR NOT NULL,              -- bare JID: the messages it sent or received
    from_date   DATE,                          -- UTC calendar days, both inclusive; NULL = unbounded
    to_date     DATE,
    reason      VARCHAR NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    created_by  VARCHAR NOT NULL,
    released_at TIMESTAMPTZ,                   -- NULL while in force
    released_by VARCHAR
);

-- Threads whose records and messages retention removed: their conversation and billing
-- contributions stay as they were (billing never recomputes them from the messages that are gone).
CREATE TABLE IF NOT EXISTS purged_threads (
    thread_id VARCHAR NOT NULL,
    purged_at TIMESTAMPTZ NOT NULL
);

-- Rows retention removed per file, so the ledger's counts still reconcile with what is loaded.
CREATE TABLE IF NOT EXISTS purged_file_rows (
    file_id VARCHAR NOT NULL,
    records BIGINT NOT NULL,
    rejects BIGINT NOT NULL
);

-- The messages the full-text index holds (kept in step with it by compliance/search_index.py).
CREATE TABLE IF NOT EXISTS search_indexed (
    message_id VARCHAR NOT NULL
);
