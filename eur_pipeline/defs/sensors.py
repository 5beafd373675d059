"""One ingestion sensor per source (and an optional cron schedule): list, wait until stable, request.

The sensor only lists; it never downloads, opens the warehouse or deletes (a run does that, under
the warehouse pool). A file is requested once its size and mtime are unchanged since the previous
tick and it is older than ``min_age_seconds``. Ready files are batched, one unpartitioned run per
``BATCH_SIZE`` files naming their keys exactly, so a catch-up of 1,000 files is 5 runs, not 1,000.
Each requested file also becomes a per-file partition (added in the same ``SensorResult``), which
the ``rerun_file`` job offers in the UI.

Never missing a file: there is no mtime floor. What was requested is remembered outside the cursor,
in the instance, as one key per requested ``(file, size, mtime)`` (the ``archive_file_requested``
dynamic partitions: ``<partition key>|<size>|<mtime>``), so a file is new until that exact stamp was
requested, however old its mtime; a re-upload under the same name with another size or mtime is
requested again. Stamps of files no longer listed are dropped, so that memory stays as large as the
listing (at most ``MAX_FORGET_PER_TICK`` dropped per tick). The stamps of one tick's requests are
written by the *next* tick, in one bulk insert (they ride in the cursor until then): the daemon
reserves a tick's runs together with its cursor, so a daemon killed at any point either re-runs the
tick or has its runs; a file is never marked requested without its run.

The cursor stays small: the files still settling (at most ``MAX_WAITING``, oldest first), the
stamps just requested (at most ``MAX_FILES_PER_TICK``) and a count of consecutive failed listings.

Errors speak: a listing error that will repeat (authentication, host key, missing folder, a secret
not set) fails the tick with its cause; a transient one skips the tick, and ``MAX_FAILED_LISTINGS``
transient failures in a row fail it too, so an outage never goes silent. Never a stack trace every
tick: while the cause stays the same, the ticks after a failed one skip with one line naming it
(and when it fails again), and one tick an hour fails again (``failure_decision``).

Sensors (and schedules) default to RUNNING: once deployed, uploads are ingested with no UI action.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field

import dagster as dg

from eur_pipeline.config import EurConfig, SourceConfig
from eur_pipeline.defs.database_sensors import build_database_sensor, is_database_source
from eur_pipeline.defs.partitions import ARCHIVE_PARTITIONS, REQUESTED, partition_key, stamp_key
from eur_pipeline.errors import ConfigError, EurError, SourceError
from eur_pipeline.names import ledger_name, shown
from eur_pipeline.sources.base import RemoteFile
from eur_pipeline.sources.registry import open_source

BATCH_SIZE = 200
MAX_FILES_PER_TICK = 1_000
MAX_WAITING = 2_000
MAX_FORGET_PER_TICK = 200  # one delete each: the rest go on the next ticks
MAX_FAILED_LISTINGS = 20  # 5 minutes of failed listings at the 15 s interval
SENSOR_INTERVAL_SECONDS = 15

Stamp = tuple[int, float]  # size, mtime


class SensorListingError(EurError, dg.DagsterError):
    """The tick fails: the source cannot be listed, and waiting will not fix it (or has not).
    A ``DagsterError``, so Dagster shows it as the tick's error itself (headline: the cause) instead
    of wrapping it in "Error occurred during the execution of evaluation_fn"."""


FAILURE_REPEAT_SECONDS = 3_600  # a cause that persists fails one tick an hour; the ticks between skip
FAILURE_KEY = "eur_pipeline/sensor_failure/"  # + sensor name: the instance's daemon cursor storage


def failure_decision(stored: str | None, cause: str, now: float) -> tuple[bool, str | None, str]:
    """Fail this tick, or skip it with one line? A listing that cannot work (or has failed too often)
    fails the tick with its cause, so the sensor turns red; the same cause on the next ticks skips
    them with one line saying so (Dagster shows a failed tick with its stack, and the daemon logs
    it), failing again after ``FAILURE_REPEAT_SECONDS`` so it never goes quiet. Returns (fail, the
    value to store, or None to keep it, the skip line)."""
    last = json.loads(stored) if stored else {}
    failed_at = float(last["failed_at"]) if last.get("cause") == cause else None
    if failed_at is None or now - failed_at >= FAILURE_REPEAT_SECONDS:
        return True, json.dumps({"cause": cause, "failed_at": now}), cause
    since = time.strftime("%H:%M UTC", time.gmtime(failed_at))
    again = time.strftime("%H:%M UTC", time.gmtime(failed_at + FAILURE_REPEAT_SECONDS))
    return False, None, f"{cause} (unchanged since {since}; the tick fails again at {again})"


@dataclass
class SensorCursor:
    waiting: dict[str, Stamp] = field(default_factory=dict)  # name -> stamp seen last tick, not yet requested
    requested: list[str] = field(default_factory=list)  # stamp keys requested last tick, to record now
    failures: int = 0  # consecutive failed listings

    @classmethod
    def parse(cls, raw: str | None) -> SensorCursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        waiting = data.get("waiting", {})
        if not isinstance(waiting, dict):
            waiting = {}
        requested = data.get("requested", [])
        if not isinstance(requested, list):  # the earlier cursor (mtime floor): its memory is in the ledger
            requested = []
        return cls(
            {k: (int(v[0]), float(v[1])) for k, v in waiting.items()},
            [str(k) for k in requested],
            int(data.get("failures", 0)),
        )

    def dump(self) -> str:
        return json.dumps(
            {
                "waiting": {k: list(v) for k, v in self.waiting.items()},
                "requested": self.requested,
                "failures": self.failures,
            },
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class TickPlan:
    ready: list[RemoteFile]  # to request now, oldest first
    cursor: SensorCursor
    settling: int  # files seen but not yet stable / old enough / within this tick's cap
    record: list[str]  # stamp keys to add to the instance now (last tick's requests)
    forget: list[str]  # stamp keys of files no longer listed, to drop


def plan_tick(
    source: str,
    listing: list[RemoteFile],
    cursor: SensorCursor,
    requested: set[str],
    min_age_seconds: float,
    now: float,
    max_files: int = MAX_FILES_PER_TICK,
) -> TickPlan:
    """Pure decision of one tick: which files to request, and the next (small) cursor.

    ``requested``: the stamp keys of this source the instance holds (every file ever requested and
    still listed). A file is new unless its exact stamp is there or in the cursor's last requests."""
    in_flight = set(cursor.requested)
    keys = {f.name: stamp_key(source, f.name, f.size, f.mtime) for f in listing}
    fresh = [f for f in listing if f.size > 0 and keys[f.name] not in requested and keys[f.name] not in in_flight]
    fresh.sort(key=lambda f: (f.mtime, f.name))
    stable = [f for f in fresh if cursor.waiting.get(f.name) == (f.size, f.mtime) and now - f.mtime >= min_age_seconds]
    ready = stable[:max_files]
    taken = {f.name for f in ready}
    left = [f for f in fresh if f.name not in taken]
    waiting = {f.name: (f.size, f.mtime) for f in left[:MAX_WAITING]}
    listed = set(keys.values())
    record = sorted(k for k in in_flight if k not in requested and k in listed)
    forget = sorted(k for k in requested if k not in listed)[:MAX_FORGET_PER_TICK]
    next_cursor = SensorCursor(waiting, [keys[f.name] for f in ready], 0)
    return TickPlan(ready, next_cursor, len(left), record, forget)


def run_key(source: str, batch: list[RemoteFile]) -> str:
    """Unique per set of (name, size, mtime), so a file re-uploaded under the same name runs again."""
    text = "\n".join(f"{f.name}\t{f.size}\t{f.mtime!r}" for f in batch)
    digest = hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{partition_key(source, batch[0].name)}:{len(batch)}:{digest[:16]}"


def ingest_run_config(source: str, names: list[str], keys: list[str] | None = None) -> dict:
    config: dict = {"sources": [source], "files": names}
    if keys:
        config["keys"] = keys
    return {"ops": {"ingest": {"config": config}}}


def build_requests(source: str, ready: list[RemoteFile], existing: set[str]) -> tuple[list[dg.RunRequest], list[str]]:
    """Run requests for the ready files (one unpartitioned run per ``BATCH_SIZE`` files, each naming its
    files' keys exactly), and the keys not yet among the per-file partitions (``rerun_file`` offers them)."""
    keyed = [(partition_key(source, f.name), f) for f in ready]
    requests = []
    for i in range(0, len(keyed), BATCH_SIZE):
        batch = keyed[i : i + BATCH_SIZE]
        files = [f for _, f in batch]
        requests.append(
            dg.RunRequest(
                run_key=run_key(source, files),
                run_config=ingest_run_config(source, [ledger_name(f.name) for f in files], [k for k, _ in batch]),
                tags={"eur/source": source, "eur/files": str(len(batch))},
            )
        )
    new_keys = list(dict.fromkeys(k for k, _ in keyed if k not in existing))
    return requests, new_keys


def _sensor_name(source: str) -> str:
    return "ingest_" + source.replace("-", "_").replace(".", "_")


def build_source_sensor(source: SourceConfig, job: dg.UnresolvedAssetJobDefinition) -> dg.SensorDefinition:
    @dg.sensor(
        name=_sensor_name(source.name),
        job=job,
        minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
        default_status=dg.DefaultSensorStatus.RUNNING,
        description=(
            f"Lists source {source.name!r} (never downloads) and requests one collect run per batch of up to "
            f"{BATCH_SIZE} files whose size and mtime are stable across two ticks."
        ),
    )
    def _sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult | dg.SkipReason:
        return evaluate_tick(context, source)

    return _sensor


def evaluate_tick(context: dg.SensorEvaluationContext, source: SourceConfig) -> dg.SensorResult:
    """One tick of a source sensor: list (errors speak), plan, and request with partitions added."""
    cursor = SensorCursor.parse(context.cursor)
    try:
        with open_source(source) as src:
            listing = src.list_files()  # the source applies the pattern
            refused = list(getattr(src, "refused", []))
    except ConfigError as exc:
        return _listing_failed(context, source, cursor, f"{source.name}: cannot list: {exc}")
    except SourceError as exc:
        if not exc.retryable:
            return _listing_failed(context, source, cursor, f"{source.name}: cannot list: {exc}")
        failures = cursor.failures + 1
        cursor.failures = failures
        if failures >= MAX_FAILED_LISTINGS:
            cause = f"{source.name}: {MAX_FAILED_LISTINGS} or more listings in a row failed; the last: {exc}"
            return _listing_failed(context, source, cursor, cause)
        return dg.SensorResult(
            skip_reason=f"{source.name}: listing failed ({failures} in a row), retrying next tick: {exc}",
            cursor=cursor.dump(),
        )
    _listing_recovered(context, source)
    prefix = partition_key(source.name, "")
    requested = {k for k in context.instance.get_dynamic_partitions(REQUESTED.name) if k.startswith(prefix)}
    plan = plan_tick(source.name, listing, cursor, requested, source.min_age_seconds, time.time())
    # written here, not through the SensorResult: one bulk insert instead of the daemon's per-key checks
    if plan.record:
        context.instance.add_dynamic_partitions(REQUESTED.name, plan.record)
    for key in plan.forget:
        context.instance.delete_dynamic_partition(REQUESTED.name, key)
    partition_requests: list[dg.AddDynamicPartitionsRequest] = []
    note = ""
    if refused:
        name, reason = refused[0]
        note = f"; {len(refused)} listed name(s) refused, e.g. {shown(name)!r}: {reason}"
    if not plan.ready:
        return dg.SensorResult(
            skip_reason=f"{source.name}: {len(listing)} listed, {plan.settling} settling, none ready{note}",
            cursor=plan.cursor.dump(),
        )
    existing = set(context.instance.get_dynamic_partitions(ARCHIVE_PARTITIONS.name))
    requests, new_keys = build_requests(source.name, plan.ready, existing)
    if new_keys:
        partition_requests.append(ARCHIVE_PARTITIONS.build_add_request(new_keys))
    context.log.info(f"{source.name}: {len(plan.ready)} file(s) ready → {len(requests)} run(s){note}")
    return dg.SensorResult(
        run_requests=requests, dynamic_partitions_requests=partition_requests, cursor=plan.cursor.dump()
    )


def _listing_failed(
    context: dg.SensorEvaluationContext, source: SourceConfig, cursor: SensorCursor, cause: str
) -> dg.SensorResult:
    """Raise (the tick fails, red, with ``cause``) or skip with one line, as ``failure_decision`` says."""
    storage, key = context.instance.daemon_cursor_storage, _failure_key(source)
    fail, store, line = failure_decision(storage.get_cursor_values({key}).get(key), cause, time.time())
    if store is not None:
        storage.set_cursor_values({key: store})
    if fail:
        raise SensorListingError(cause) from None  # the cause is the message: no chained source error
    return dg.SensorResult(skip_reason=line, cursor=cursor.dump())


def _listing_recovered(context: dg.SensorEvaluationContext, source: SourceConfig) -> None:
    """A listing worked: a cause that comes back later fails its first tick again."""
    storage, key = context.instance.daemon_cursor_storage, _failure_key(source)
    if storage.get_cursor_values({key}).get(key):
        storage.set_cursor_values({key: ""})


def _failure_key(source: SourceConfig) -> str:
    return FAILURE_KEY + _sensor_name(source.name)


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
    return [
        build_database_sensor(source, job, _sensor_name(source.name), ingest_run_config(source.name, []))
        if is_database_source(source)
        else build_source_sensor(source, job)
        for source in (config.sources if config else [])
    ]


def build_schedules(config: EurConfig | None, job: dg.UnresolvedAssetJobDefinition) -> list[dg.ScheduleDefinition]:
    if config is None:
        return []
    return [build_schedule(s, job, config.timezone) for s in config.sources if s.schedule]
