-- audit_log: who reprocessed or rebuilt what (also search, export, holds, purge: the compliance module).
-- IF NOT EXISTS: the compliance migration creates the same table.
CREATE TABLE IF NOT EXISTS audit_log (
    "at"   TIMESTAMPTZ NOT NULL,          -- "at" is a keyword in DuckDB: quote it in SQL
    actor  VARCHAR NOT NULL,                   -- OS user, or --actor
    action VARCHAR NOT NULL,
    detail JSON                                -- the action's parameters and counts
);
