"""Per-file dynamic partitions (keys: ``pipeline.file_keys``): what the ``rerun_file`` job offers.

The sensors add a partition for every file they request; the assets themselves are unpartitioned.
"""

from __future__ import annotations

import dagster as dg

from eur_pipeline.pipeline.file_keys import partition_key, source_of, stamp_key

ARCHIVE_PARTITIONS = dg.DynamicPartitionsDefinition(name="archive_file")
# Not an asset's partitions: the sensors' durable memory of what they requested, one key per
# (file, size, mtime) (see defs/sensors.py); kept in the instance so the cursor stays small.
REQUESTED = dg.DynamicPartitionsDefinition(name="archive_file_requested")


__all__ = ["ARCHIVE_PARTITIONS", "REQUESTED", "partition_key", "source_of", "stamp_key"]
