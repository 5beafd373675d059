-- budget_lines: the `budgets:` of rates.yaml, as last loaded by refresh_billing (the budget_status view
-- compares each line with what its scope spent per period).
CREATE TABLE IF NOT EXISTS budget_lines (
    scope    VARCHAR NOT NULL,                 -- 'department' | 'cost_center'
    name     VARCHAR NOT NULL,                 -- as billed
    budget   DECIMAL(18, 4) NOT NULL,          -- per period, in `currency`
    currency VARCHAR NOT NULL,
    PRIMARY KEY (scope, name)
);
-- mail_sent: every mail the SMTP server accepted, one row per (kind, period, key); a row is written only
-- after the server took the message, so "recorded" always means "sent". A re-run skips what is here.
CREATE TABLE IF NOT EXISTS mail_sent (
    kind        VARCHAR NOT NULL,              -- 'report' | 'budget_alert'
    period      DATE NOT NULL,
    mail_key    VARCHAR NOT NULL,              -- the recipient entry (scope, name, addresses); alerts add the budget line
    scope       VARCHAR NOT NULL,
    name        VARCHAR,
    recipients  VARCHAR NOT NULL,              -- comma-separated addresses
    subject     VARCHAR NOT NULL,
    message_id  VARCHAR NOT NULL,
    size_bytes  BIGINT NOT NULL,
    sent_at     TIMESTAMPTZ NOT NULL
);
