"""Per-file dynamic partitions (keys: ``pipeline.file_keys``): what the ``rerun_file`` job offers.

The sensors add a partition for every file they request; the assets themselves are unpartitioned.
"""

from __future__ import annotations

import dagster as dg

from eur_pipeline.pipeline.file_keys import partition_key, source_of

ARCHIVE_PARTITIONS = dg.DynamicPartitionsDefinition(name="archive_file")

__all__ = ["ARCHIVE_PARTITIONS", "partition_key", "source_of"]
