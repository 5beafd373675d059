"""Per-file dynamic partitions of ``archive_files`` / ``message_records`` (keys: ``pipeline.file_keys``)."""

from __future__ import annotations

import dagster as dg

from eur_pipeline.pipeline.file_keys import partition_key, source_of

ARCHIVE_PARTITIONS = dg.DynamicPartitionsDefinition(name="archive_file")


def range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags selecting a contiguous range of partitions: one run (single_run backfill policy)."""
    return {"dagster/asset_partition_range_start": first, "dagster/asset_partition_range_end": last}


__all__ = ["ARCHIVE_PARTITIONS", "partition_key", "range_tags", "source_of"]
