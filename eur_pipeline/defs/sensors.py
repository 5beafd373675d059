"""One ingestion sensor per source: lists, waits until a file is stable across two ticks, requests a run.

The sensor only lists; it never downloads or deletes. Its cursor is bounded: the sizes/mtimes of
files still waiting to become stable, a watermark (newest mtime requested) and the names requested
at that watermark.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field

import dagster as dg

from eur_pipeline.config import EurConfig, SourceConfig
from eur_pipeline.errors import SourceError
from eur_pipeline.sources.base import RemoteFile, is_candidate_name
from eur_pipeline.sources.registry import open_source

MAX_FILES_PER_RUN = 200
MAX_WAITING = 20_000


@dataclass
class SensorCursor:
    waiting: dict[str, tuple[int, float]] = field(default_factory=dict)
    watermark: float = 0.0
    at_watermark: list[str] = field(default_factory=list)

    @classmethod
    def parse(cls, raw: str | None) -> SensorCursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(
            waiting={k: (int(v[0]), float(v[1])) for k, v in data.get("waiting", {}).items()},
            watermark=float(data.get("watermark", 0.0)),
            at_watermark=list(data.get("at_watermark", [])),
        )

    def dump(self) -> str:
        return json.dumps(
            {
                "waiting": {k: list(v) for k, v in self.waiting.items()},
                "watermark": self.watermark,
                "at_watermark": self.at_watermark,
            },
            separators=(",", ":"),
        )


def plan_tick(
    listing: list[RemoteFile], cursor: SensorCursor, min_age_seconds: float, now: float
) -> tuple[list[list[RemoteFile]], SensorCursor]:
    """Pure decision of one tick: batches of stable files to request, and the next cursor."""
    fresh = [
        f
        for f in listing
        if f.size > 0
        and (f.mtime > cursor.watermark or (f.mtime == cursor.watermark and f.name not in cursor.at_watermark))
    ]
    ready = [f for f in fresh if cursor.waiting.get(f.name) == (f.size, f.mtime) and now - f.mtime >= min_age_seconds]
    ready.sort(key=lambda f: (f.mtime, f.name))
    ready_names = {f.name for f in ready}
    waiting = {f.name: (f.size, f.mtime) for f in fresh if f.name not in ready_names}
    if len(waiting) > MAX_WAITING:  # bound the cursor; the rest is picked up on later ticks
        waiting = dict(sorted(waiting.items(), key=lambda kv: kv[1][1])[:MAX_WAITING])
    watermark, at_watermark = cursor.watermark, list(cursor.at_watermark)
    if ready:
        newest = ready[-1].mtime
        if newest > watermark:
            watermark, at_watermark = newest, []
        at_watermark += [f.name for f in ready if f.mtime == watermark]
    batches = [ready[i : i + MAX_FILES_PER_RUN] for i in range(0, len(ready), MAX_FILES_PER_RUN)]
    return batches, SensorCursor(waiting, watermark, at_watermark)


def run_key(source: str, batch: list[RemoteFile]) -> str:
    """Unique per (name, size, mtime) set, so a re-uploaded file under the same name runs again."""
    import hashlib

    digest = hashlib.sha256("\n".join(f"{f.name}\t{f.size}\t{f.mtime}" for f in batch).encode()).hexdigest()
    return f"{source}:{batch[0].name}:{len(batch)}:{digest[:16]}"


def build_source_sensor(source: SourceConfig, job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    @dg.sensor(
        name=f"ingest_{source.name.replace('-', '_').replace('.', '_')}",
        job=job,
        minimum_interval_seconds=30,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=f"Lists source {source.name!r}; requests a run for files stable across two ticks.",
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        cursor = SensorCursor.parse(context.cursor)
        try:
            with open_source(source) as src:
                listing = [f for f in src.list_files() if is_candidate_name(f.name, source.pattern)]
        except SourceError as exc:
            if not exc.retryable:
                raise  # authentication / host key: fail the tick loudly
            return dg.SkipReason(f"{source.name}: listing failed, will retry: {exc}")
        batches, nxt = plan_tick(listing, cursor, source.min_age_seconds, time.time())
        requests = [
            dg.RunRequest(
                run_key=run_key(source.name, batch),
                run_config={
                    "ops": {"ingest": {"config": {"sources": [source.name], "files": [f.name for f in batch]}}}
                },
                tags={"eur/source": source.name, "eur/files": str(len(batch))},
            )
            for batch in batches
        ]
        if not requests:
            return dg.SensorResult(skip_reason=f"{len(nxt.waiting)} file(s) waiting to be stable", cursor=nxt.dump())
        return dg.SensorResult(run_requests=requests, cursor=nxt.dump())

    return _sensor


def build_sensors(config: EurConfig | None, job: dg.UnresolvedAssetJobDefinition) -> list[dg.SensorDefinition]:
    return [build_source_sensor(source, job) for source in (config.sources if config else [])]
