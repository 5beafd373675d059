"""One ingestion sensor per source (and an optional cron schedule): list, wait until stable, request.

The sensor only lists; it never downloads, opens the warehouse or deletes (a run does that, under
the warehouse pool). A file is requested once its size and mtime are unchanged since the previous
tick and it is older than ``min_age_seconds``. Each requested file becomes a dynamic partition,
added in the same ``SensorResult``; ready files are batched, one run per ``BATCH_SIZE`` partitions
(a contiguous range of the keys just added), so a catch-up of 1,000 files is 5 runs, not 1,000.

The cursor stays bounded: a ``floor`` (every file with an older or equal mtime was handled), the
files requested above the floor (at most ``MAX_REQUESTED``, only within ``LOOKBACK_SECONDS`` of the
newest), and the files seen last tick that are still settling (at most ``MAX_WAITING``). The price of
a bounded cursor: a file that appears with an mtime at or below the floor (e.g. moved in with a
preserved, day-old mtime) is not seen by the sensor; the per-source schedule or ``eur-pipeline run``
(which collect every ready file) pick it up.

Sensors (and schedules) default to RUNNING: once deployed, uploads are ingested with no UI action.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

import dagster as dg

from eur_pipeline.config import EurConfig, SourceConfig
from eur_pipeline.defs.partitions import ARCHIVE_PARTITIONS, partition_key, range_tags
from eur_pipeline.errors import SourceError
from eur_pipeline.sources.base import RemoteFile
from eur_pipeline.sources.registry import open_source

BATCH_SIZE = 200
MAX_FILES_PER_TICK = 1_000
MAX_WAITING = 1_000
MAX_REQUESTED = 1_000
LOOKBACK_SECONDS = 24 * 3600.0
SENSOR_INTERVAL_SECONDS = 15

Stamp = tuple[int, float]  # size, mtime


@dataclass
class SensorCursor:
    floor: float = 0.0
    requested: dict[str, Stamp] = field(default_factory=dict)
    waiting: dict[str, Stamp] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str | None) -> SensorCursor:
        if not raw:
            return cls()
        data = json.loads(raw)

        def stamps(key: str) -> dict[str, Stamp]:
            return {k: (int(v[0]), float(v[1])) for k, v in data.get(key, {}).items()}

        return cls(float(data.get("floor", 0.0)), stamps("requested"), stamps("waiting"))

    def dump(self) -> str:
        return json.dumps(
            {
                "floor": self.floor,
                "requested": {k: list(v) for k, v in self.requested.items()},
                "waiting": {k: list(v) for k, v in self.waiting.items()},
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class TickPlan:
    ready: list[RemoteFile]  # to request now, oldest first
    cursor: SensorCursor
    settling: int  # files seen but not yet stable / old enough / within this tick's cap


def plan_tick(
    listing: list[RemoteFile],
    cursor: SensorCursor,
    min_age_seconds: float,
    now: float,
    max_files: int = MAX_FILES_PER_TICK,
) -> TickPlan:
    """Pure decision of one tick: which files to request, and the next (bounded) cursor."""
    fresh = [
        f
        for f in listing
        if f.size > 0 and f.mtime > cursor.floor and cursor.requested.get(f.name) != (f.size, f.mtime)
    ]
    stable = sorted(
        (f for f in fresh if cursor.waiting.get(f.name) == (f.size, f.mtime) and now - f.mtime >= min_age_seconds),
        key=lambda f: (f.mtime, f.name),
    )
    ready = stable[:max_files]
    taken = {f.name for f in ready}
    left = sorted((f for f in fresh if f.name not in taken), key=lambda f: (f.mtime, f.name))
    waiting = {f.name: (f.size, f.mtime) for f in left[:MAX_WAITING]}
    requested = {**cursor.requested, **{f.name: (f.size, f.mtime) for f in ready}}
    protect = left[0].mtime if left else float("inf")  # never raise the floor past a file not yet requested
    floor, requested = _prune(cursor.floor, requested, protect)
    return TickPlan(ready, SensorCursor(floor, requested, waiting), len(left))


def _prune(floor: float, requested: dict[str, Stamp], protect: float) -> tuple[float, dict[str, Stamp]]:
    """Forget requested files older than the lookback or beyond the cap, raising the floor over them."""
    if not requested:
        return floor, requested
    by_age = sorted(requested.items(), key=lambda kv: kv[1][1], reverse=True)
    cut = by_age[0][1][1] - LOOKBACK_SECONDS
    if len(by_age) > MAX_REQUESTED:
        cut = max(cut, by_age[MAX_REQUESTED][1][1])
    dropped = [mtime for _, (_, mtime) in by_age if mtime <= cut and mtime < protect]
    if not dropped:
        return floor, requested
    new_floor = max(floor, max(dropped))
    return new_floor, {k: v for k, v in requested.items() if v[1] > new_floor}


def run_key(source: str, batch: list[RemoteFile]) -> str:
    """Unique per set of (name, size, mtime), so a file re-uploaded under the same name runs again."""
    digest = hashlib.sha256("\n".join(f"{f.name}\t{f.size}\t{f.mtime!r}" for f in batch).encode()).hexdigest()
    return f"{source}:{batch[0].name}:{len(batch)}:{digest[:16]}"


def ingest_run_config(source: str, names: list[str]) -> dict:
    return {"ops": {"ingest": {"config": {"sources": [source], "files": names}}}}


def build_requests(source: str, ready: list[RemoteFile], existing: set[str]) -> tuple[list[dg.RunRequest], list[str]]:
    """Run requests for the ready files, and the partition keys to add (in the order the ranges assume).

    New keys are added together, so each batch of them is a contiguous range: one run per batch.
    A key that already exists (a file re-uploaded under the same name) gets a run of its own.
    """
    keyed = [(partition_key(source, f.name), f) for f in ready]
    fresh = [(k, f) for k, f in keyed if k not in existing]
    again = [(k, f) for k, f in keyed if k in existing]
    requests = []
    for i in range(0, len(fresh), BATCH_SIZE):
        batch = fresh[i : i + BATCH_SIZE]
        files = [f for _, f in batch]
        requests.append(
            dg.RunRequest(
                run_key=run_key(source, files),
                run_config=ingest_run_config(source, [f.name for f in files]),
                tags={**range_tags(batch[0][0], batch[-1][0]), "eur/source": source, "eur/files": str(len(batch))},
            )
        )
    for key, f in again:
        requests.append(
            dg.RunRequest(
                run_key=run_key(source, [f]),
                run_config=ingest_run_config(source, [f.name]),
                partition_key=key,
                tags={"eur/source": source, "eur/files": "1"},
            )
        )
    return requests, [k for k, _ in fresh]


def _sensor_name(source: str) -> str:
    return "ingest_" + source.replace("-", "_").replace(".", "_")


def build_source_sensor(source: SourceConfig, job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    @dg.sensor(
        name=_sensor_name(source.name),
        job=job,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Lists source {source.name!r} (never downloads); requests batched per-file partition runs "
            "for files whose size and mtime are stable across two ticks."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        cursor = SensorCursor.parse(context.cursor)
        try:
            with open_source(source) as src:
                listing = src.list_files()  # the source applies the pattern
        except SourceError as exc:
            if not exc.retryable:
                raise  # authentication / host key / missing folder: fail the tick loudly, no retry helps
            return dg.SkipReason(f"{source.name}: listing failed, retrying next tick: {exc}")
        plan = plan_tick(listing, cursor, source.min_age_seconds, time.time())
        if not plan.ready:
            return dg.SensorResult(
                skip_reason=f"{source.name}: {len(listing)} listed, {plan.settling} settling, none ready",
                cursor=plan.cursor.dump(),
            )
        existing = set(context.instance.get_dynamic_partitions(ARCHIVE_PARTITIONS.name))
        requests, new_keys = build_requests(source.name, plan.ready, existing)
        context.log.info(f"{source.name}: {len(plan.ready)} file(s) ready → {len(requests)} run(s)")
        return dg.SensorResult(
            run_requests=requests,
            dynamic_partitions_requests=[ARCHIVE_PARTITIONS.build_add_request(new_keys)] if new_keys else [],
            cursor=plan.cursor.dump(),
        )

    return _sensor


def build_schedule(source: SourceConfig, job: dg.UnresolvedAssetJobDefinition, timezone: str) -> dg.ScheduleDefinition:
    """Avotus-style scheduled collection: every ready file of this source, unpartitioned, on a cron."""
    assert source.schedule
    return dg.ScheduleDefinition(
        name=f"collect_{_sensor_name(source.name).removeprefix('ingest_')}",
        cron_schedule=source.schedule,
        execution_timezone=timezone,
        job=job,
        run_config=ingest_run_config(source.name, []),
        tags={"eur/source": source.name},
        default_status=dg.DefaultScheduleStatus.RUNNING,
        description=f"Collects every ready file of {source.name!r} on {source.schedule!r} ({timezone}).",
    )


def build_sensors(config: EurConfig | None, job: dg.UnresolvedAssetJobDefinition) -> list[dg.SensorDefinition]:
    return [build_source_sensor(source, job) for source in (config.sources if config else [])]


def build_schedules(config: EurConfig | None, job: dg.UnresolvedAssetJobDefinition) -> list[dg.ScheduleDefinition]:
    if config is None:
        return []
    return [build_schedule(s, job, config.timezone) for s in config.sources if s.schedule]
