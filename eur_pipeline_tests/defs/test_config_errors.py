"""A configuration broken after the definitions were loaded (e.g. a rates file edited under a running
daemon): the step fails at once with the one-line cause, Dagster does not retry it, nothing is collected."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import yaml

from eur_pipeline.definitions import PIPELINE_JOB, build_definitions
from eur_pipeline_tests.conftest import drop


def test_a_bad_rates_file_fails_the_step_once_without_retries_and_collects_nothing(
    tmp_path: Path, seed_sample: Path
) -> None:
    (tmp_path / "in").mkdir()
    drop(tmp_path / "in", "seed.xml", seed_sample)
    rates = tmp_path / "rates.yaml"
    rates.write_text("currency: USD\ndefault_plan: s\nplans: {s: {per_message_sent: 0.01}}\n")
    source = {"name": "drop", "kind": "local", "path": "./in", "min_age_seconds": 0, "on_success": "delete"}
    config = {"warehouse": "./wh.duckdb", "landing_dir": "./landing", "rates": "rates.yaml", "sources": [source]}
    (tmp_path / "eur.yaml").write_text(yaml.safe_dump(config))
    defs = build_definitions(str(tmp_path / "eur.yaml"))
    rates.write_text("currency: USD\ndefault_plan: gold\nplans: {s: {per_message_sent: 0.01}}\n")  # now broken
    with dg.DagsterInstance.ephemeral() as instance:
        result = defs.resolve_job_def(PIPELINE_JOB.name).execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success
    kinds = [e.event_type_value for e in result.all_events]
    assert "STEP_UP_FOR_RETRY" not in kinds and kinds.count("STEP_FAILURE") == 1
    (failure,) = [e for e in result.all_events if e.event_type_value == "STEP_FAILURE"]
    message = failure.step_failure_data.error.message
    assert "configuration error" in message and "rates.yaml" in message and "unknown plan 'gold'" in message
    assert (tmp_path / "in" / "seed.xml").exists() and not (tmp_path / "landing").exists()
