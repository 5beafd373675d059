"""Jobs an operator launches from the UI besides "Materialize all".

``rerun_file`` collects one file again, chosen as a partition (one per file the sensors have seen:
``<source>:<name>``). It is an op job, not a partitioned asset: a partitioned asset in the graph
would turn "Materialize all" into a partition picker. Its op records the same ``archive_files`` /
``message_records`` materializations as the ingest asset, so the eager downstream assets refresh
after it, and its Partitions page shows each file's last run (green collected, red failed).
"""

from collections.abc import Iterator

import dagster as dg

from eur_pipeline.defs.assets import POOL, RETRY, collect_metadata
from eur_pipeline.defs.partitions import ARCHIVE_PARTITIONS
from eur_pipeline.defs.resources import EurResource


@dg.op(out={}, pool=POOL, retry_policy=RETRY, description="Collects the file of this run's partition, exactly once.")
def collect_one_file(context: dg.OpExecutionContext, eur: EurResource) -> Iterator[dg.AssetMaterialization]:
    for key, metadata in collect_metadata(context, eur, [context.partition_key], [], []).items():
        yield dg.AssetMaterialization(
            asset_key=key, metadata=metadata, description=f"re-run of {context.partition_key}"
        )


@dg.job(
    partitions_def=ARCHIVE_PARTITIONS,
    description="Re-run one file: pick its partition (<source>:<file name>) and launch. A file still at the "
    "source is collected; one already collected is reported with its ledger row (content is never loaded twice).",
    tags={"eur/kind": "rerun"},
)
def rerun_file() -> None:
    collect_one_file()


JOBS = [rerun_file]
