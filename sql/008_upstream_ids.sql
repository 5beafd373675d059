-- Upstream message ids already loaded, for formats whose records carry one (extra.upstream_id, e.g.
-- a Mattermost post that every edit or reaction exports again): kept apart from message_records,
-- whose extra the privacy modes reduce to key names, and from retention, so an id counts once for good.
CREATE TABLE IF NOT EXISTS upstream_ids (
    format      VARCHAR NOT NULL,
    upstream_id VARCHAR NOT NULL,
    file_id     VARCHAR NOT NULL      -- the file that loaded it first
);
