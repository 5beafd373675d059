-- ejabberd mod_mam's table as ejabberd's own PostgreSQL schema creates it
-- (processone/ejabberd, sql/pg.sql: table archive and its indexes, origin_id included).
CREATE TABLE archive (
    username text NOT NULL,
    timestamp BIGINT NOT NULL,
    peer text NOT NULL,
    bare_peer text NOT NULL,
    xml text NOT NULL,
    txt text,
    id BIGSERIAL,
    kind text,
    nick text,
    origin_id text,
    created_at TIMESTAMP NOT NULL DEFAULT now()
);

CREATE INDEX i_username_timestamp ON archive USING btree (username, timestamp);
CREATE INDEX i_username_peer ON archive USING btree (username, peer);
CREATE INDEX i_username_bare_peer ON archive USING btree (username, bare_peer);
CREATE INDEX i_timestamp ON archive USING btree (timestamp);
CREATE INDEX i_archive_username_origin_id ON archive USING btree (username, origin_id);
