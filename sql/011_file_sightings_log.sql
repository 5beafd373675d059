-- file_sightings becomes a log: a sighting is appended (never upserted), and the newest row of a
-- (source, name, size_bytes, remote_mtime) is the one in force. A load then only appends, which lets
-- loads of different files commit side by side on a DuckLake warehouse (no keys there, and two
-- transactions that delete from one table conflict). Readers take the newest row per key.
CREATE TABLE file_sightings_v2 (
    source        VARCHAR NOT NULL,
    name          VARCHAR NOT NULL,
    size_bytes    BIGINT NOT NULL,
    remote_mtime  DOUBLE NOT NULL,             -- seconds since the epoch, as listed
    sha256        VARCHAR NOT NULL,
    seen_at       TIMESTAMPTZ NOT NULL,
    completed_at  TIMESTAMPTZ                  -- remote delete/move done (NULL: pending, or keep)
);
INSERT INTO file_sightings_v2 SELECT * FROM file_sightings;
DROP TABLE file_sightings;
ALTER TABLE file_sightings_v2 RENAME TO file_sightings;
