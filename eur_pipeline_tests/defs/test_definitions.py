"""The definitions load (as `dagster dev` / the daemon load them) with sensors, schedules and checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from eur_pipeline.config import EurConfig
from eur_pipeline.definitions import PIPELINE_JOB, build_definitions

# sensors and definitions do not depend on the kind of warehouse
pytestmark = pytest.mark.file_warehouse


def test_definitions_load_with_a_sensor_schedule_and_freshness_check_per_source(
    make_config: Callable[..., EurConfig], tmp_path: Path
) -> None:
    make_config(source={"schedule": "15 * * * *", "freshness_hours": 6})
    defs = build_definitions(str(tmp_path / "eur.yaml"))
    dg.Definitions.validate_loadable(defs)
    repo = defs.get_repository_def()
    sensor = repo.get_sensor_def("ingest_drop")
    assert sensor.default_status == dg.DefaultSensorStatus.RUNNING
    assert repo.get_sensor_def("eur_automation").default_status == dg.DefaultSensorStatus.RUNNING
    schedule = repo.get_schedule_def("collect_drop")
    assert schedule.cron_schedule == "15 * * * *" and schedule.default_status == dg.DefaultScheduleStatus.RUNNING
    checks = {key.name for key in defs.resolve_asset_graph().asset_check_keys}
    assert {"freshness_drop", "billing_reconciles", "rejected_share", "conversations_schema"} <= checks
    job = defs.resolve_job_def(PIPELINE_JOB.name)
    assert job.partitions_def is None  # "Materialize all" launches at once, with no partition to pick
    assert defs.resolve_job_def("rerun_file").partitions_def is not None  # one file, re-run by its partition
    graph = defs.resolve_asset_graph()
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        assert node.description and node.group_name == "eur_pipeline" and node.kinds, key
        assert key.path[0] in {"archive_files", "message_records"} or node.automation_condition is not None


def test_definitions_load_without_a_config(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EUR_CONFIG", raising=False)
    defs = build_definitions()
    dg.Definitions.validate_loadable(defs)
    assert [s.name for s in defs.sensors or []] == ["eur_automation"]


AUDIT_OPENS = """
import sys
opened = []
sys.addaudithook(lambda event, args: opened.append(str(args[0])) if event == "open" and args else None)
import eur_pipeline.definitions as d  # importing builds nothing
before = list(opened)
defs = d.build_definitions(sys.argv[1])
job = defs.resolve_job_def(d.PIPELINE_JOB.name)
sensors = sorted(s.name for s in defs.sensors)
print("SENSORS", sensors)
print("OPENED", [p for p in opened if p.endswith(".yaml")])
"""


def test_definitions_read_only_the_config_they_are_given(tmp_path: Path) -> None:
    """`--config` is the only config a run reads: a ./eur.yaml in the working folder is never opened
    (nor validated, so a broken one cannot warn or fail), and importing the module builds nothing."""
    import subprocess
    import sys

    cwd = tmp_path / "cwd"
    cwd.mkdir()
    (cwd / "eur.yaml").write_text("this: [is not: a valid config\n")
    other = tmp_path / "elsewhere"
    (other / "incoming").mkdir(parents=True)
    chosen = other / "chosen.yaml"
    chosen.write_text("sources:\n  - {name: elsewhere, kind: local, path: ./incoming}\n")
    out = subprocess.run(
        [sys.executable, "-c", AUDIT_OPENS, str(chosen)], cwd=cwd, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "SENSORS ['eur_automation', 'ingest_elsewhere']" in out.stdout
    opened = next(line for line in out.stdout.splitlines() if line.startswith("OPENED"))
    assert "chosen.yaml" in opened and str(cwd / "eur.yaml") not in opened and "'eur.yaml'" not in opened
    assert "no source sensors" not in out.stderr


def test_every_description_the_ui_shows_is_plain_text(make_config: Callable[..., EurConfig], tmp_path: Path) -> None:
    """Checks, assets, jobs, sensors and resources: no reST markup, no hard line breaks."""
    make_config(source={"schedule": "15 * * * *", "freshness_hours": 6})
    defs = build_definitions(str(tmp_path / "eur.yaml"))
    graph = defs.resolve_asset_graph()
    repo = defs.get_repository_def()
    texts = {str(k): graph.get(k).description for k in graph.get_all_asset_keys()}
    texts |= {f"check {k.name}": graph.get_check_spec(k).description for k in graph.asset_check_keys}
    texts |= {f"job {j.name}": j.description for j in repo.get_all_jobs() if not j.name.startswith("__")}
    texts |= {f"sensor {s.name}": s.description for s in repo.sensor_defs}
    texts |= {f"resource {k}": type(r).__doc__ for k, r in (defs.resources or {}).items()}
    for what, text in texts.items():
        assert text, f"{what} has no description"
        assert "``" not in text and ":func:" not in text and "\n" not in text.strip(), (what, text)
