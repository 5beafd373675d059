-- billing_thread_periods becomes the table of per-thread contributions to billing rows: what each
-- thread adds to each (period, user) row's counts, so refresh_billing recomputes a touched row by
-- summing its threads' stored contributions instead of re-reading the whole month's messages.
-- The old rows have no counts: the table starts empty and billing's stored fingerprint is dropped,
-- so the next refresh_billing rebuilds every period once (and refills this table).
DROP TABLE IF EXISTS billing_thread_periods;
CREATE TABLE billing_thread_periods (
    thread_id             VARCHAR NOT NULL,
    period                DATE NOT NULL,
    user_jid              VARCHAR NOT NULL,
    source                VARCHAR,
    messages_sent         INTEGER NOT NULL,
    messages_received     INTEGER NOT NULL,
    participated          INTEGER NOT NULL,
    conversations_started INTEGER NOT NULL,
    records               INTEGER NOT NULL
);
DELETE FROM eur_settings WHERE key = 'billing.fingerprint';
