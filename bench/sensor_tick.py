"""Sensor tick on a folder of 10,000 and 100,000 listed files (target: < 5 s at 100,000).

Baseline, measured in the same run: the bare listing (``LocalSource.list_files`` with the pattern
filter), which every tick has to pay. Each tick is measured as the daemon runs it: the sensor's own
evaluation, then applying its partition requests to an on-disk SQLite instance the way the daemon
does (one existence check per key, then the add or delete).

The daemon's part is Dagster's own handling of the ``archive_file`` partitions a requesting tick
adds (one existence query per key); the sensor's part is what the tick timeout bounds.

Ticks measured per size:

* ``first sight``: N files never seen (they start settling);
* ``requesting``: the tick that requests the stable ones (1,000 per tick, 5 runs of 200);
* ``steady``: every file already requested (its stamp in the instance), nothing new;
* ``one late file``: steady, plus one new file whose mtime is five days old (no floor to fall under).

``python -m bench.sensor_tick`` (also the last part of ``make bench``); ``BENCH_SENSOR_SIZES=10000``
to run one size only.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import dagster as dg
import yaml

from eur_pipeline.config.loader import load_config
from eur_pipeline.definitions import PIPELINE_JOB
from eur_pipeline.defs.partitions import REQUESTED, stamp_key
from eur_pipeline.defs.sensors import build_source_sensor
from eur_pipeline.sources.base import is_candidate_name
from eur_pipeline.sources.local import LocalSource

ROOT = Path(__file__).resolve().parent
OUT = ROOT / "out" / "sensor"
SIZES = [int(n) for n in os.environ.get("BENCH_SENSOR_SIZES", "10000,100000").split(",")]
TARGET_SECONDS = 5.0


def _folder(n: int) -> Path:
    """N small archive names, all an hour old (cached between runs)."""
    folder = OUT / f"files_{n}"
    done = folder / ".complete"
    if done.exists():
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    stamp = time.time() - 3600
    for i in range(n):
        path = folder / f"IMArchive_{i:06d}.xml"
        path.write_bytes(b"<messages/>")
        os.utime(path, (stamp, stamp))
    done.touch()
    return folder


def _apply(instance: dg.DagsterInstance, result: dg.SensorResult) -> None:
    """What the daemon does with a tick's partition requests (one existence check per key)."""
    for request in result.dynamic_partitions_requests or []:
        name = request.partitions_def_name
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            new = [k for k in request.partition_keys if not instance.has_dynamic_partition(name, k)]
            instance.add_dynamic_partitions(name, new)
        else:
            for key in request.partition_keys:
                if instance.has_dynamic_partition(name, key):
                    instance.delete_dynamic_partition(name, key)


def _timed(
    sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None
) -> tuple[float, float, float, str]:
    """(sensor wall s, sensor CPU s, + daemon wall s, next cursor)."""
    start, cpu = time.perf_counter(), time.process_time()
    result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
    evaluated, used = time.perf_counter() - start, time.process_time() - cpu
    _apply(instance, result)
    return evaluated, used, time.perf_counter() - start, result.cursor or ""


def bench_size(n: int, work: Path) -> list[tuple[str, float, float]]:
    folder = _folder(n)
    (work / "eur.yaml").write_text(
        yaml.safe_dump(
            {
                "warehouse": str(work / "wh.duckdb"),
                "landing_dir": str(work / "landing"),
                "sources": [{"name": "bench", "kind": "local", "path": str(folder), "min_age_seconds": 0}],
            }
        )
    )
    source = load_config(work / "eur.yaml").sources[0]
    start, cpu = time.perf_counter(), time.process_time()
    with LocalSource(source) as src:
        listing = [f for f in src.list_files() if is_candidate_name(f.name, source.pattern)]
    bare = (time.perf_counter() - start, time.process_time() - cpu)
    assert len(listing) == n
    sensor = build_source_sensor(source, PIPELINE_JOB)
    rows = [("bare listing (baseline)", bare[0], bare[1], bare[0])]
    (work / "dagster_home").mkdir()
    with dg.DagsterInstance.local_temp(str(work / "dagster_home")) as instance:
        wall, used, total, cursor = _timed(sensor, instance, None)
        rows.append(("first sight", wall, used, total))
        wall, used, total, cursor = _timed(sensor, instance, cursor)
        rows.append(("requesting (1,000 ready)", wall, used, total))
        # every file requested before: seed the stamps as ticks would have recorded them
        keys = [stamp_key(source.name, f.name, f.size, f.mtime) for f in listing]
        for at in range(0, len(keys), 5_000):  # bulk, as the sensor records them
            instance.add_dynamic_partitions(REQUESTED.name, keys[at : at + 5_000])
        *_, cursor = _timed(sensor, instance, cursor)  # records the in-flight ones
        wall, used, total, cursor = _timed(sensor, instance, cursor)
        rows.append(("steady (all requested)", wall, used, total))
        late = folder / "IMArchive_late.xml"
        late.write_bytes(b"<messages/>")
        old = time.time() - 5 * 86400
        os.utime(late, (old, old))
        try:
            *_, cursor = _timed(sensor, instance, cursor)
            start, cpu = time.perf_counter(), time.process_time()
            result = sensor(dg.build_sensor_context(instance=instance, cursor=cursor))
            wall, used = time.perf_counter() - start, time.process_time() - cpu
            assert [r.run_config["ops"]["ingest"]["config"]["files"] for r in result.run_requests] == [
                ["IMArchive_late.xml"]
            ], "the late file must be requested"
            _apply(instance, result)
            rows.append(("one late file (5 days old mtime)", wall, used, time.perf_counter() - start))
        finally:
            late.unlink()
    return rows


def main() -> None:
    print("\n== sensor tick (local folder, on-disk SQLite instance) ==")
    print(f"load average at start: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (wall times stretch with it)")
    print(f"{'files':>8}  {'tick':<34} {'wall s':>7} {'CPU s':>6} {'CPU vs listing':>15} {'+daemon wall s':>15}")
    worst = 0.0
    for n in SIZES:
        with tempfile.TemporaryDirectory(prefix="eur-bench-sensor-") as tmp:
            rows = bench_size(n, Path(tmp))
        bare_cpu = rows[0][2]
        for what, wall, used, total in rows:
            print(f"{n:>8,}  {what:<34} {wall:>7.2f} {used:>6.2f} {used / bare_cpu:>14.1f}x {total:>15.2f}")
            if n == max(SIZES) and what != rows[0][0]:
                worst = max(worst, wall)
    verdict = "OK" if worst < TARGET_SECONDS else "OVER TARGET (see the load average: compare CPU s)"
    print(
        f"slowest sensor tick at {max(SIZES):,} files: {worst:.2f} s wall (target < {TARGET_SECONDS:.0f} s): {verdict}"
    )


if __name__ == "__main__":
    main()
