-- One row per upstream row id a database source loaded (expanded from source_row_ranges).
CREATE OR REPLACE VIEW source_rows AS
SELECT source, unnest(generate_series(first_id, last_id)) AS row_id, file_id
FROM source_row_ranges;
