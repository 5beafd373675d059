-- billing_thread_periods loses its PRIMARY KEY (DuckDB holds a key's ART index in memory and maintains
-- it on every DELETE/INSERT: memory and time in proportion to the whole warehouse, as for messages and
-- conversations in 002) and gains user_jid: it now records the (period, user) billing rows each thread
-- contributed to when last billed, so refresh_billing recomputes only those pairs, not whole months.
-- The old rows have no users: the table starts empty and billing's stored fingerprint is dropped,
-- so the next refresh_billing rebuilds every period once (and refills this table).
DROP TABLE IF EXISTS billing_thread_periods;
CREATE TABLE billing_thread_periods (
    thread_id VARCHAR NOT NULL,
    period    DATE NOT NULL,
    user_jid  VARCHAR NOT NULL
);
-- key/value state the views and checks need but cannot read from eur.yaml: 'timezone' (the one billing
-- last ran with), 'billing.fingerprint' (directory + rates + timezone + extension_length + sites; a
-- change rebuilds every period), 'integrity.<check>.checked_to' (check watermarks), 'views.sha256'.
CREATE TABLE IF NOT EXISTS eur_settings (
    key   VARCHAR PRIMARY KEY,
    value VARCHAR NOT NULL
);
DELETE FROM eur_settings WHERE key = 'billing.fingerprint';
