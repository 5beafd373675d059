"""Sensor tests: the pure tick planner (readiness, bounded cursor) and the sensor itself on a real folder."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from eur_pipeline.config import EurConfig
from eur_pipeline.definitions import PIPELINE_JOB
from eur_pipeline.defs import sensors
from eur_pipeline.defs.partitions import ARCHIVE_PARTITIONS, partition_key
from eur_pipeline.defs.sensors import SensorCursor, build_source_sensor, plan_tick, run_key
from eur_pipeline.errors import PermanentSourceError, TransientSourceError
from eur_pipeline.sources.base import RemoteFile
from eur_pipeline.sources.local import LocalSource

# sensors and definitions do not depend on the kind of warehouse
pytestmark = pytest.mark.file_warehouse

NOW = 1_800_000_000.0


def f(name: str, size: int = 100, age: float = 600.0) -> RemoteFile:
    return RemoteFile(name, size, NOW - age)


def test_a_file_is_ready_only_when_unchanged_across_two_ticks() -> None:
    first = plan_tick([f("a.xml")], SensorCursor(), 0, NOW)
    assert first.ready == [] and first.settling == 1
    growing = plan_tick([f("a.xml", size=200)], first.cursor, 0, NOW)
    assert growing.ready == []
    stable = plan_tick([f("a.xml", size=200)], growing.cursor, 0, NOW)
    assert [r.name for r in stable.ready] == ["a.xml"]
    again = plan_tick([f("a.xml", size=200)], stable.cursor, 0, NOW)
    assert again.ready == [] and again.settling == 0


def test_min_age_and_empty_files_are_respected() -> None:
    young, empty = f("young.xml", age=5), f("empty.xml", size=0)
    first = plan_tick([young, empty], SensorCursor(), 60, NOW)
    second = plan_tick([young, empty], first.cursor, 60, NOW)
    assert second.ready == []
    later = plan_tick([young, empty], second.cursor, 60, NOW + 60)
    assert [r.name for r in later.ready] == ["young.xml"]


def test_a_reupload_under_the_same_name_is_requested_again() -> None:
    cursor = SensorCursor()
    for _ in range(2):
        plan = plan_tick([f("a.xml")], cursor, 0, NOW)
        cursor = plan.cursor
    assert cursor.requested
    changed = f("a.xml", size=150, age=10)
    cursor = plan_tick([changed], cursor, 0, NOW).cursor
    assert [r.size for r in plan_tick([changed], cursor, 0, NOW).ready] == [150]


def test_the_cursor_stays_bounded_and_never_skips_a_waiting_file() -> None:
    listing = [f(f"f{i:05d}.xml", age=100_000 - i) for i in range(5_000)]
    cursor, requested = SensorCursor(), []
    for _ in range(20):
        plan = plan_tick(listing, cursor, 0, NOW)
        requested += plan.ready
        cursor = plan.cursor
        assert len(cursor.waiting) <= sensors.MAX_WAITING
        assert len(cursor.requested) <= sensors.MAX_REQUESTED + sensors.MAX_FILES_PER_TICK
        assert len(plan.ready) <= sensors.MAX_FILES_PER_TICK
        assert len(cursor.dump()) < 200_000
    assert sorted(r.name for r in requested) == sorted(r.name for r in listing)  # each exactly once
    assert cursor.floor > 0  # older names were forgotten behind the floor
    assert plan_tick(listing, cursor, 0, NOW).ready == []


def test_run_key_includes_name_size_and_mtime() -> None:
    a = run_key("s", [f("a.xml")])
    assert a == run_key("s", [f("a.xml")])
    assert a != run_key("s", [f("a.xml", size=101)])
    assert a != run_key("s", [f("a.xml", age=601)])
    assert a != run_key("s", [f("b.xml")])


def test_partition_keys_are_sanitised_and_distinct() -> None:
    assert partition_key("drop", "IMArchive_20261001_0600.xml") == "drop:IMArchive_20261001_0600.xml"
    odd = [partition_key("drop", n) for n in ("a b.xml", "a_b.xml", "x...y.xml", "tab\t.xml", "é.xml", "x" * 300)]
    assert len(set(odd)) == len(odd)
    for key in odd:
        assert "..." not in key and "\t" not in key and len(key) < 200
        assert key.startswith("drop:")


# --- the sensor on a real folder ---------------------------------------------------------------


def _write(folder: Path, names: list[str], age: float = 120.0) -> None:
    stamp = time.time() - age
    for name in names:
        path = folder / name
        path.write_text("<messages/>", encoding="utf-8")
        os.utime(path, (stamp, stamp))


def _tick(sensor: dg.SensorDefinition, instance: dg.DagsterInstance, cursor: str | None):
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    return sensor(context)


@pytest.fixture
def local_config(make_config: Callable[..., EurConfig]) -> EurConfig:
    return make_config(source={"min_age_seconds": 0})


def test_sensor_requests_batched_runs_and_adds_partitions(local_config: EurConfig, tmp_path: Path) -> None:
    sensor = build_source_sensor(local_config.sources[0], PIPELINE_JOB)
    names = [f"IMArchive_{i:04d}.xml" for i in range(450)]
    _write(tmp_path / "incoming", names)
    with dg.DagsterInstance.ephemeral() as instance:
        first = _tick(sensor, instance, None)
        assert isinstance(first, dg.SensorResult) and not first.run_requests
        second = _tick(sensor, instance, first.cursor)
        assert len(second.run_requests) == 3  # 450 files in batches of 200, not 450 runs
        (add,) = second.dynamic_partitions_requests
        assert add.partitions_def_name == ARCHIVE_PARTITIONS.name
        assert add.partition_keys == [partition_key("drop", n) for n in names]
        first_run = second.run_requests[0]
        assert first_run.tags["dagster/asset_partition_range_start"] == "drop:IMArchive_0000.xml"
        assert first_run.tags["dagster/asset_partition_range_end"] == "drop:IMArchive_0199.xml"
        assert first_run.run_config["ops"]["ingest"]["config"]["files"] == names[:200]
        assert len({r.run_key for r in second.run_requests}) == 3
        instance.add_dynamic_partitions(ARCHIVE_PARTITIONS.name, list(add.partition_keys))
        third = _tick(sensor, instance, second.cursor)
        assert not third.run_requests
        # the same name re-uploaded: an existing partition, so a run of its own
        _write(tmp_path / "incoming", ["IMArchive_0000.xml"], age=30)
        (tmp_path / "incoming" / "IMArchive_0000.xml").write_text("<messages></messages>")
        fourth = _tick(sensor, instance, third.cursor)
        fifth = _tick(sensor, instance, fourth.cursor)
        (rerun,) = fifth.run_requests
        assert rerun.partition_key == "drop:IMArchive_0000.xml"
        assert not fifth.dynamic_partitions_requests
        assert len(json.loads(fifth.cursor)["requested"]) <= sensors.MAX_REQUESTED


def test_transient_listing_error_skips_and_permanent_error_fails(
    local_config: EurConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sensor = build_source_sensor(local_config.sources[0], PIPELINE_JOB)

    def refused(self: LocalSource) -> list[RemoteFile]:
        raise TransientSourceError("drop: connection refused")

    with dg.DagsterInstance.ephemeral() as instance:
        monkeypatch.setattr(LocalSource, "list_files", refused)
        result = _tick(sensor, instance, "")
        assert isinstance(result, dg.SkipReason) and "connection refused" in (result.skip_message or "")
        monkeypatch.undo()
        (tmp_path / "incoming").rmdir()  # the folder is gone: a configuration problem, not a blip
        with pytest.raises(PermanentSourceError, match="does not exist"):
            _tick(sensor, instance, "")


def test_tick_on_10000_files_stays_far_inside_the_timeout(local_config: EurConfig, tmp_path: Path) -> None:
    """Measures a tick on a 10,000-file folder: first sight, the tick that requests, a steady tick."""
    sensor = build_source_sensor(local_config.sources[0], PIPELINE_JOB)
    _write(tmp_path / "incoming", [f"IMArchive_{i:05d}.xml" for i in range(10_000)])
    timings = []
    with dg.DagsterInstance.ephemeral() as instance:
        cursor = None
        for _ in range(3):
            start = time.perf_counter()
            result = _tick(sensor, instance, cursor)
            timings.append(time.perf_counter() - start)
            if result.dynamic_partitions_requests:
                for add in result.dynamic_partitions_requests:
                    instance.add_dynamic_partitions(ARCHIVE_PARTITIONS.name, list(add.partition_keys))
            cursor = result.cursor
    print(f"sensor tick on 10,000 files: {', '.join(f'{t:.2f} s' for t in timings)}")
    assert max(timings) < 10, timings
