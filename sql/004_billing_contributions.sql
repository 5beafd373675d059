-- billing_thread_periods becomes the table of per-thread contributions to billing rows: what each
-- thread adds to each (period, user) row's counts, so refresh_billing recomputes a touched row by
-- summing its threads' stored contributions instead of re-reading the whole month's messages.
-- The old rows have no counts: the table starts empty and billing's stored fingerprint is dropped,
-- so the next refresh_billing rebuilds every period once (and refills this table).
DROP TABLE IF EXISTS billing_thread_periods;
-- One row per (thread, period, user, source): the message counts on the row with source NULL, the
-- record counts on one row per source, so every sum is exact. No PRIMARY KEY (see 003):
-- refresh_billing deletes a thread's rows before inserting them.
CREATE TABLE billing_thread_periods (
    thread_id             VARCHAR NOT NULL,
    period                DATE NOT NULL,
    user_jid              VARCHAR NOT NULL,
    source                VARCHAR,            -- source of the records counted in `records`
    messages_sent         INTEGER NOT NULL,   -- logical messages the user sent in this thread
    messages_received     INTEGER NOT NULL,   -- one per message the user is a recipient of
    participated          INTEGER NOT NULL,   -- 1: the user sent or received a message of it
    conversations_started INTEGER NOT NULL,   -- 1: the user started it (in the month of its start)
    records               INTEGER NOT NULL    -- archive records with the user as sender or recipient
);
DELETE FROM eur_settings WHERE key = 'billing.fingerprint';
