-- Rows a database source has loaded: one row per upstream row id, written in the same transaction
-- as the batch's ledger row (archive_files), so the watermark (the highest id) and the ids held
-- within the re-read window are exactly what is committed. No PRIMARY KEY: DuckDB would keep its
-- index in memory for every row ever loaded; a batch never holds an id that is already here.
CREATE TABLE IF NOT EXISTS source_rows (
    source  VARCHAR NOT NULL,   -- the source's name (archive_files.source)
    row_id  BIGINT NOT NULL,    -- the upstream table's own id (ofMessageArchive.messageID, archive.id)
    file_id VARCHAR NOT NULL    -- the batch (archive_files.file_id) that loaded it
);
