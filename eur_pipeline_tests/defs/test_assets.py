"""Assets and checks through ``materialize``: a sensor-style batch of named files, one file re-run through
the ``rerun_file`` job (including one already collected and deleted), failures that name the file, and
the checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import dagster as dg
import pytest

from eur_pipeline.config import EurConfig
from eur_pipeline.config.loader import load_config
from eur_pipeline.defs.assets import ALL_ASSETS
from eur_pipeline.defs.checks import build_checks
from eur_pipeline.defs.jobs import rerun_file
from eur_pipeline.defs.partitions import ARCHIVE_PARTITIONS, partition_key
from eur_pipeline.defs.resources import EurResource
from eur_pipeline.demo.generate import GenerateSpec, generate
from eur_pipeline.warehouse.connection import connect
from eur_pipeline_tests.conftest import archive_text, chat, drop


@pytest.fixture
def config(make_config: Callable[..., EurConfig]) -> EurConfig:
    return make_config(source={"on_success": "delete", "freshness_hours": 1}, rejected_share_threshold=0.1)


def _materialize(
    tmp_path: Path, instance: dg.DagsterInstance, *, keys: list[str] | None = None, selection: str = "*"
) -> dg.ExecuteInProcessResult:
    assets = [*ALL_ASSETS, *build_checks(load_config(tmp_path / "eur.yaml"))]
    return dg.materialize(
        assets,
        selection=selection,
        instance=instance,
        resources={"eur": EurResource(config_path=str(tmp_path / "eur.yaml"))},
        run_config={"ops": {"ingest": {"config": {"keys": keys}}}} if keys else None,
        raise_on_error=False,
    )


def _rerun(tmp_path: Path, instance: dg.DagsterInstance, key: str) -> dg.ExecuteInProcessResult:
    job = dg.Definitions(
        jobs=[rerun_file], resources={"eur": EurResource(config_path=str(tmp_path / "eur.yaml"))}
    ).resolve_job_def("rerun_file")
    return job.execute_in_process(instance=instance, partition_key=key, raise_on_error=False)


def _checks(result: dg.ExecuteInProcessResult) -> dict[str, dg.AssetCheckEvaluation]:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def _count(tmp_path: Path, sql: str) -> int:
    con = connect(load_config(tmp_path / "eur.yaml").warehouse, read_only=True)
    try:
        return int(con.execute(sql).fetchall()[0][0])
    finally:
        con.close()


def test_batch_run_loads_its_files_and_refreshes_billing(config: EurConfig, tmp_path: Path) -> None:
    files = generate(tmp_path / "incoming", GenerateSpec(conversations=40, users=10, days=2))
    keys = [partition_key("drop", p.name) for p in files]
    with dg.DagsterInstance.ephemeral() as instance:
        result = _materialize(tmp_path, instance, keys=keys)
        assert result.success
        mats = result.get_asset_materialization_events()
        (archive,) = [e for e in mats if e.asset_key == dg.AssetKey("archive_files")]
        assert archive.materialization.metadata["files_parsed"].value == len(files)  # one run, the whole batch
        assert dg.AssetKey("billing") in {e.asset_key for e in mats}
        checks = _checks(result)
        assert {
            "conversations_schema",
            "billing_reconciles",
            "ledger_matches_loaded_rows",
            "messages_match_conversations",
            "freshness_drop",
        } <= set(checks)
        assert all(c.passed for c in checks.values()), {k: c.passed for k, c in checks.items()}
        meta = next(e for e in mats if e.asset_key == dg.AssetKey("billing")).materialization.metadata
        assert meta["dagster/row_count"].value > 0 and "dagster/column_schema" in meta
        report = next(e for e in mats if e.asset_key == dg.AssetKey("reports")).materialization.metadata
        assert report["periods"].value >= 1 and report["latest_report"].value.startswith("file://")
    assert not list((tmp_path / "incoming").glob("*.xml"))  # on_success: delete, after the commit
    assert _count(tmp_path, "SELECT count(*) FROM archive_files") == len(files)
    assert _count(tmp_path, "SELECT count(*) FROM billing") > 0
    assert (tmp_path / "reports" / "index.html").is_file()


def test_rerun_of_one_collected_file_reports_the_ledger_and_loads_nothing_twice(
    config: EurConfig, tmp_path: Path, seed_sample: Path
) -> None:
    drop(tmp_path / "incoming", "seed.xml", seed_sample)
    key = partition_key("drop", "seed.xml")
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(ARCHIVE_PARTITIONS.name, [key])
        assert _materialize(tmp_path, instance, keys=[key]).success
        assert not (tmp_path / "incoming" / "seed.xml").exists()
        again = _rerun(tmp_path, instance, key)
        assert again.success
        assert dg.AssetKey("archive_files") in {e.asset_key for e in again.get_asset_materialization_events()}
        logs = [e.user_message for e in instance.all_logs(again.run_id) if "already collected" in e.user_message]
        assert logs and "backup" in logs[0]
    assert _count(tmp_path, "SELECT count(*) FROM message_records") == 4
    assert _count(tmp_path, "SELECT sum(messages_sent) FROM billing") == 2


def test_a_failed_file_fails_the_run_naming_the_file(config: EurConfig, tmp_path: Path) -> None:
    key = partition_key("drop", "never-there.xml")
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions(ARCHIVE_PARTITIONS.name, [key])
        result = _rerun(tmp_path, instance, key)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type_value == "STEP_FAILURE")
    assert "drop:never-there.xml" in failure.step_failure_data.error.message  # type: ignore[union-attr]


def test_quarantine_and_rejected_share_checks(config: EurConfig, tmp_path: Path) -> None:
    incoming = tmp_path / "incoming"
    drop(incoming, "broken.xml", "<messages><message>")
    good = chat("t1", "2026-10-01T10:00:00Z", "1001@x.com", ["1002@x.com"], "hi")
    bad = [("IN", "yesterday", "t1", "1001@x.com", "1002@x.com", "x")] * 3
    drop(incoming, "half.xml", archive_text(good + bad))
    with dg.DagsterInstance.ephemeral() as instance:
        result = _materialize(tmp_path, instance)  # unpartitioned: every ready file
    assert result.success
    checks = _checks(result)
    assert not checks["no_quarantined_files"].passed
    assert checks["no_quarantined_files"].severity == dg.AssetCheckSeverity.WARN
    assert "broken.xml" in checks["no_quarantined_files"].metadata["files"].value
    assert not checks["rejected_share"].passed
    assert "half.xml" in checks["rejected_share"].metadata["files"].value
    assert checks["billing_reconciles"].passed


def test_freshness_fails_when_a_source_has_sent_nothing(config: EurConfig, tmp_path: Path) -> None:
    with dg.DagsterInstance.ephemeral() as instance:
        result = _materialize(tmp_path, instance)
    check = _checks(result)["freshness_drop"]
    assert not check.passed and check.severity == dg.AssetCheckSeverity.ERROR
    assert check.metadata["last_archive_at"].value == "never"
