-- Schema version 1: the contract tables (docs/design.md) plus the pipeline's bookkeeping.
-- All instants are TIMESTAMPTZ (UTC instants; connections set TimeZone='UTC').

CREATE TABLE archive_files (
    file_id        VARCHAR PRIMARY KEY,        -- first 16 hex digits of sha256: stable across re-runs
    source         VARCHAR NOT NULL,
    name           VARCHAR NOT NULL,           -- name at the source when first collected
    size_bytes     BIGINT NOT NULL,
    sha256         VARCHAR NOT NULL UNIQUE,    -- content identity: the same bytes load once
    status         VARCHAR NOT NULL CHECK (status IN ('parsed', 'quarantined')),
    error          VARCHAR,                    -- why quarantined, one sentence
    record_count   BIGINT NOT NULL DEFAULT 0,
    rejected_count BIGINT NOT NULL DEFAULT 0,
    format         VARCHAR NOT NULL,
    landing_path   VARCHAR,                    -- the backup copy under landing_dir
    collected_at   TIMESTAMPTZ NOT NULL,
    parsed_at      TIMESTAMPTZ
);

-- Every (name, size, mtime) seen at a source and the content it had: lets a re-run skip a file it
-- already holds without downloading it again, and retry a remote completion that failed.
CREATE TABLE file_sightings (
    source        VARCHAR NOT NULL,
    name          VARCHAR NOT NULL,
    size_bytes    BIGINT NOT NULL,
    remote_mtime  DOUBLE NOT NULL,             -- seconds since the epoch, as listed
    sha256        VARCHAR NOT NULL,
    seen_at       TIMESTAMPTZ NOT NULL,
    completed_at  TIMESTAMPTZ,                 -- remote delete/move done (NULL: pending, or keep)
    PRIMARY KEY (source, name, size_bytes, remote_mtime)
);

CREATE TABLE message_records (
    file_id            VARCHAR NOT NULL,
    record_no          BIGINT NOT NULL,        -- 1-based position of the <message> element in its file
    direction          VARCHAR,                -- 'IN' / 'OUT' as archived (upper-cased)
    sent_at            TIMESTAMPTZ NOT NULL,
    thread_id          VARCHAR,
    sender             VARCHAR NOT NULL,       -- bare JID, trimmed, lower-case
    sender_resource    VARCHAR,
    recipient          VARCHAR NOT NULL,
    recipient_resource VARCHAR,
    body               VARCHAR,                -- exactly as archived
    extra              JSON                    -- unknown elements / attributes, kept
);

CREATE TABLE rejected_records (
    file_id   VARCHAR NOT NULL,
    record_no BIGINT NOT NULL,
    reason    VARCHAR NOT NULL,
    raw       VARCHAR                          -- the element as text (truncated), for diagnosis
);

CREATE TABLE messages (
    message_id      VARCHAR PRIMARY KEY,       -- md5 of (thread, sender, instant, body)
    thread_id       VARCHAR,
    sent_at         TIMESTAMPTZ NOT NULL,
    sender          VARCHAR NOT NULL,
    recipients      VARCHAR[] NOT NULL,        -- sorted, distinct, sender excluded
    recipient_count INTEGER NOT NULL,
    body            VARCHAR,
    record_count    INTEGER NOT NULL           -- archive records folded into this message
);

CREATE TABLE conversations (
    thread_id         VARCHAR PRIMARY KEY,
    started_at        TIMESTAMPTZ NOT NULL,
    ended_at          TIMESTAMPTZ NOT NULL,
    duration_seconds  DOUBLE NOT NULL,
    message_count     INTEGER NOT NULL,
    participant_count INTEGER NOT NULL,
    participants      VARCHAR[] NOT NULL,
    initiator         VARCHAR NOT NULL,
    is_multiparty     BOOLEAN NOT NULL
);

CREATE TABLE billing (
    period                DATE NOT NULL,       -- first day of the month, in the configured timezone
    user_jid              VARCHAR NOT NULL,
    extension             VARCHAR,
    name                  VARCHAR,
    site                  VARCHAR,
    department            VARCHAR,
    cost_center           VARCHAR,
    rate_plan             VARCHAR,
    messages_sent         BIGINT NOT NULL,
    messages_received     BIGINT NOT NULL,
    conversations         BIGINT NOT NULL,
    conversations_started BIGINT NOT NULL,
    usage_cost            DECIMAL(18, 4) NOT NULL,
    fee                   DECIMAL(18, 4) NOT NULL,
    markup                DECIMAL(18, 4) NOT NULL,
    tax                   DECIMAL(18, 4) NOT NULL,
    total_cost            DECIMAL(18, 4) NOT NULL,
    currency              VARCHAR NOT NULL,
    PRIMARY KEY (period, user_jid)
);

-- Work queue for incremental transforms: threads touched by a load, per stage still to refresh.
-- ingest inserts ('messages'); refresh_messages moves them to 'conversations', then to 'billing'.
CREATE TABLE pending_threads (
    thread_id VARCHAR NOT NULL,
    stage     VARCHAR NOT NULL CHECK (stage IN ('messages', 'conversations', 'billing')),
    PRIMARY KEY (stage, thread_id)
);

-- The conversation key of a record: its threadId, or (archives without one) the pair of parties.
CREATE MACRO thread_key(thread_id, sender, recipient) AS
    coalesce(nullif(trim(thread_id), ''), 'no-thread:' || least(sender, recipient) || ' ' || greatest(sender, recipient));
