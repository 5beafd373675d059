-- What a database source has loaded, as ranges of consecutive upstream ids (first_id..last_id, all
-- present) per batch instead of one row per id: a batch of 100,000 consecutive ids is one row, not
-- 100,000 rows written through the WAL and a checkpoint at every commit (measured: the ids were
-- half the cost of committing a batch). Late ids (the re-read window) and gaps make more ranges.
-- `source_rows` (one row per id) stays, as a view (views_sources.sql).
CREATE TABLE IF NOT EXISTS source_row_ranges (
    source   VARCHAR NOT NULL,   -- the source's name (archive_files.source)
    first_id BIGINT NOT NULL,    -- the upstream table's own ids (ofMessageArchive.messageID, archive.id)
    last_id  BIGINT NOT NULL,    -- >= first_id; every id in between was loaded by this batch
    file_id  VARCHAR NOT NULL    -- the batch (archive_files.file_id) that loaded them
);

INSERT INTO source_row_ranges
SELECT source, min(row_id), max(row_id), file_id
FROM (SELECT source, row_id, file_id,
             row_id - row_number() OVER (PARTITION BY source, file_id ORDER BY row_id) AS island
      FROM source_rows)
GROUP BY source, file_id, island;

DROP TABLE source_rows;
