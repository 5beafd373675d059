-- The directory (eur.yaml `directory`) as billing last used it, so analysts can join on it and the
-- `users` view can list people who have not chatted yet. Rewritten whenever it changes (billing's
-- input fingerprint). `handle` is a bare JID or an extension; `user_jid` is the handle when it is a JID.
CREATE TABLE IF NOT EXISTS directory (
    handle      VARCHAR NOT NULL,
    user_jid    VARCHAR,
    extension   VARCHAR,
    name        VARCHAR,
    department  VARCHAR,
    cost_center VARCHAR,
    site        VARCHAR
);
-- an existing warehouse fills the table on its next billing refresh (one full recompute)
DELETE FROM eur_settings WHERE key = 'billing.fingerprint';
