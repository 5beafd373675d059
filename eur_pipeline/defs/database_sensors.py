"""One sensor per database source: polls the newest id (``SELECT max(id)``, never the rows), requests
an unpartitioned collection run of that source when it moved, backs off while the database is down.

A run collects every pending batch of the source (bounded by ``max_batches``), so the sensor never
needs to know the batches; ids that move backwards (a cluster's late rows) are found by the run's
re-read window, and the next new id triggers it.
"""

from __future__ import annotations

import time

import dagster as dg

from eur_pipeline.config import SourceConfig
from eur_pipeline.sources.polling import PollCursor, poll
from eur_pipeline.sources.registry import open_source

POLL_INTERVAL_SECONDS = 30


def is_database_source(source: SourceConfig) -> bool:
    from eur_pipeline.sources.registry import source_class

    return hasattr(source_class(source.kind), "max_id")


def _newest_id(source: SourceConfig) -> int | None:
    with open_source(source) as src:
        return src.max_id()  # type: ignore[attr-defined]


def build_database_sensor(
    source: SourceConfig, job: dg.UnresolvedAssetJobDefinition, name: str, run_config: dict
) -> dg.SensorDefinition:
    """``name`` and ``run_config`` (collect this source, unpartitioned) come from ``defs/sensors.py``."""

    @dg.sensor(
        name=name,
        job=job,
        minimum_interval_seconds=POLL_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Polls database source {source.name!r} for new rows (max id only); backs off while it is down.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
        decision = poll(PollCursor.parse(context.cursor), lambda: _newest_id(source), time.time())
        if not decision.request:
            return dg.SensorResult(skip_reason=f"{source.name}: {decision.reason}", cursor=decision.cursor.dump())
        return dg.SensorResult(
            run_requests=[
                dg.RunRequest(
                    run_key=f"{source.name}:id:{decision.max_id}",
                    run_config=run_config,
                    tags={"eur/source": source.name},
                )
            ],
            cursor=decision.cursor.dump(),
        )

    return _sensor
