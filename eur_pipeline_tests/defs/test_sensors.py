"""Sensor tests: the pure tick planner (readiness, bounded cursor) and the sensor itself on a real folder."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from eur_pipeline.config import EurConfig
from eur_pipeline.definitions import PIPELINE_JOB
from eur_pipeline.defs import sensors
from eur_pipeline.defs.partitions import ARCHIVE_PARTITIONS, REQUESTED, partition_key, stamp_key
from eur_pipeline.defs.sensors import (
    SensorCursor,
    SensorListingError,
    build_source_sensor,
    failure_decision,
    plan_tick,
    run_key,
)
from eur_pipeline.errors import TransientSourceError
from eur_pipeline.sources.base import RemoteFile
from eur_pipeline.sources.local import LocalSource

# sensors and definitions do not depend on the kind of warehouse
pytestmark = pytest.mark.file_warehouse

NOW = 1_800_000_000.0


def f(name: str, size: int = 100, age: float = 600.0) -> RemoteFile:
    return RemoteFile(name, size, NOW - age)


class Memory:
    """The instance's side of the sensor: the stamp keys it holds, updated as the daemon would."""

    def __init__(self) -> None:
        self.keys: set[str] = set()
        self.cursor = SensorCursor()

    def tick(self, listing: list[RemoteFile], min_age: float = 0, now: float = NOW) -> sensors.TickPlan:
        plan = plan_tick("s", listing, self.cursor, set(self.keys), min_age, now)
        self.keys |= set(plan.record)
        self.keys -= set(plan.forget)
        self.cursor = SensorCursor.parse(plan.cursor.dump())  # through JSON, as stored
        return plan


def test_a_file_is_ready_only_when_unchanged_across_two_ticks() -> None:
    mem = Memory()
    first = mem.tick([f("a.xml")])
    assert first.ready == [] and first.settling == 1
    growing = mem.tick([f("a.xml", size=200)])
    assert growing.ready == []
    stable = mem.tick([f("a.xml", size=200)])
    assert [r.name for r in stable.ready] == ["a.xml"]
    again = mem.tick([f("a.xml", size=200)])
    assert again.ready == [] and again.settling == 0
    assert mem.keys == {stamp_key("s", "a.xml", 200, NOW - 600)}  # recorded by the tick after the request


def test_min_age_and_empty_files_are_respected() -> None:
    mem = Memory()
    young, empty = f("young.xml", age=5), f("empty.xml", size=0)
    mem.tick([young, empty], 60)
    assert mem.tick([young, empty], 60).ready == []
    assert [r.name for r in mem.tick([young, empty], 60, NOW + 60).ready] == ["young.xml"]


def test_a_reupload_under_the_same_name_is_requested_again() -> None:
    mem = Memory()
    for _ in range(3):
        mem.tick([f("a.xml")])
    changed = f("a.xml", size=150, age=10)
    mem.tick([changed])
    assert [r.size for r in mem.tick([changed]).ready] == [150]
    mem.tick([changed])
    assert mem.keys == {stamp_key("s", "a.xml", 150, NOW - 10)}  # the old stamp is forgotten


def test_a_late_upload_with_a_preserved_old_mtime_is_never_missed() -> None:
    """3,000 files a day for two days, then a file arriving with a mtime days old: still requested."""
    mem = Memory()
    day = [f(f"d{i:05d}.xml", age=172_800 - i * 28.8) for i in range(6_000)]
    requested: list[str] = []
    for _ in range(12):
        requested += [r.name for r in mem.tick(day).ready]
    assert sorted(requested) == sorted(x.name for x in day)
    late = f("late.xml", age=5 * 86_400)
    burst = [f(f"burst{i:04d}.xml", age=30) for i in range(1_500)]  # one whole-second mtime
    listing = [*day, late, *burst]
    more: list[str] = []
    for _ in range(5):
        more += [r.name for r in mem.tick(listing).ready]
    assert more[0] == "late.xml" and sorted(more) == sorted(["late.xml", *(b.name for b in burst)])
    assert mem.tick(listing).ready == []


def test_the_cursor_stays_small_and_requests_each_file_exactly_once() -> None:
    listing = [f(f"f{i:05d}.xml", age=100_000 - i) for i in range(5_000)]
    mem, requested = Memory(), []
    for _ in range(10):
        plan = mem.tick(listing)
        requested += plan.ready
        assert len(mem.cursor.waiting) <= sensors.MAX_WAITING
        assert len(mem.cursor.requested) <= sensors.MAX_FILES_PER_TICK
        assert len(plan.ready) <= sensors.MAX_FILES_PER_TICK
        assert len(mem.cursor.dump()) < 200_000
    assert sorted(r.name for r in requested) == sorted(r.name for r in listing)  # each exactly once
    assert len(mem.keys) == 5_000 and mem.tick(listing).ready == []
    # collected and deleted at the source: the memory shrinks with the listing (bounded work per tick)
    assert len(mem.tick(listing[:10]).forget) == sensors.MAX_FORGET_PER_TICK
    for _ in range(4_990 // sensors.MAX_FORGET_PER_TICK):
        mem.tick(listing[:10])
    assert len(mem.keys) == 10


def test_a_daemon_that_dies_before_its_runs_were_reserved_requests_them_again() -> None:
    """The tick's stamps ride in the cursor: if the tick never committed, nothing is remembered."""
    mem = Memory()
    mem.tick([f("a.xml")])
    before = mem.cursor
    plan = plan_tick("s", [f("a.xml")], before, set(mem.keys), 0, NOW)
    assert [r.name for r in plan.ready] == ["a.xml"]
    # killed: neither the cursor nor anything else was stored; the re-run tick requests it again
    again = plan_tick("s", [f("a.xml")], before, set(mem.keys), 0, NOW)
    assert [r.name for r in again.ready] == ["a.xml"]


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
    """Evaluate one tick and apply its partition requests to the instance, as the daemon does."""
    context = dg.build_sensor_context(instance=instance, cursor=cursor)
    result = sensor(context)
    for request in getattr(result, "dynamic_partitions_requests", None) or []:
        if isinstance(request, dg.AddDynamicPartitionsRequest):
            instance.add_dynamic_partitions(request.partitions_def_name, list(request.partition_keys))
        else:
            for key in request.partition_keys:
                instance.delete_dynamic_partition(request.partitions_def_name, key)
    return result


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
        assert first_run.partition_key is None  # unpartitioned runs that name their files exactly
        assert first_run.run_config["ops"]["ingest"]["config"]["files"] == names[:200]
        assert first_run.run_config["ops"]["ingest"]["config"]["keys"] == list(add.partition_keys)[:200]
        assert len({r.run_key for r in second.run_requests}) == 3
        assert not instance.get_dynamic_partitions(REQUESTED.name)  # recorded by the next tick
        third = _tick(sensor, instance, second.cursor)
        assert not third.run_requests
        assert len(instance.get_dynamic_partitions(REQUESTED.name)) == 450
        assert json.loads(third.cursor) == {"waiting": {}, "requested": [], "failures": 0}  # small
        # the same name re-uploaded: an existing partition, so a run of its own
        (tmp_path / "incoming" / "IMArchive_0000.xml").write_text("<messages></messages>")
        fourth = _tick(sensor, instance, third.cursor)
        fifth = _tick(sensor, instance, fourth.cursor)
        (rerun,) = fifth.run_requests
        assert rerun.run_config["ops"]["ingest"]["config"]["keys"] == ["drop:IMArchive_0000.xml"]
        assert not fifth.dynamic_partitions_requests
        sixth = _tick(sensor, instance, fifth.cursor)
        assert not sixth.run_requests and len(instance.get_dynamic_partitions(REQUESTED.name)) == 450


def test_transient_listing_errors_skip_then_fail_and_permanent_ones_fail_at_once(
    local_config: EurConfig, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    sensor = build_source_sensor(local_config.sources[0], PIPELINE_JOB)

    def refused(self: LocalSource) -> list[RemoteFile]:
        raise TransientSourceError("drop: connection refused")

    with dg.DagsterInstance.ephemeral() as instance:
        monkeypatch.setattr(LocalSource, "list_files", refused)
        cursor = None
        for n in range(1, sensors.MAX_FAILED_LISTINGS):
            result = _tick(sensor, instance, cursor)
            assert result.skip_reason and "connection refused" in result.skip_reason.skip_message
            assert f"({n} in a row)" in result.skip_reason.skip_message
            cursor = result.cursor
        with pytest.raises(
            SensorListingError, match=r"20 or more listings in a row failed; the last: drop: connection refused"
        ):
            _tick(sensor, instance, cursor)
        # the outage goes on: the next ticks say so in one line instead of failing (and logging a stack) again
        quiet = _tick(sensor, instance, cursor)
        assert re.fullmatch(
            r"drop: 20 or more listings in a row failed; the last: drop: connection refused "
            r"\(unchanged since \d\d:\d\d UTC; the tick fails again at \d\d:\d\d UTC\)",
            quiet.skip_reason.skip_message,
        )
        monkeypatch.undo()
        assert json.loads(_tick(sensor, instance, quiet.cursor).cursor)["failures"] == 0  # one good listing resets
        (tmp_path / "incoming").rmdir()  # the folder is gone: a configuration problem, not a blip
        with pytest.raises(SensorListingError, match=r"drop: cannot list: drop: folder .* does not exist"):
            _tick(sensor, instance, "")
        again = _tick(sensor, instance, "").skip_reason.skip_message
        assert again.startswith("drop: cannot list: drop: folder ") and "(unchanged since " in again
        assert "\n" not in again
        (tmp_path / "incoming").mkdir()
        _tick(sensor, instance, "")  # listed again: the next failure is reported at once
        (tmp_path / "incoming").rmdir()
        with pytest.raises(SensorListingError, match=r"folder .* does not exist"):
            _tick(sensor, instance, "")


def test_a_cause_that_persists_fails_one_tick_an_hour_and_a_new_cause_fails_at_once() -> None:
    cause = "drop: cannot list: drop: folder /x does not exist"
    fail, stored, line = failure_decision(None, cause, 1_000.0)
    assert fail and line == cause and json.loads(stored) == {"cause": cause, "failed_at": 1_000.0}
    fail, kept, line = failure_decision(stored, cause, 1_000.0 + sensors.FAILURE_REPEAT_SECONDS - 1)
    assert not fail and kept is None
    assert line == f"{cause} (unchanged since 00:16 UTC; the tick fails again at 01:16 UTC)"
    assert failure_decision(stored, cause, 1_000.0 + sensors.FAILURE_REPEAT_SECONDS)[0]
    assert failure_decision(stored, "drop: cannot list: drop: permission denied", 1_001.0)[0]
    assert failure_decision("", cause, 1_001.0)[0]  # cleared by a good listing
