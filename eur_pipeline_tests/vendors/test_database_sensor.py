"""The database sensor: a run when new rows arrive, none when nothing moved, backoff while down."""

from __future__ import annotations

import dagster as dg
import pytest

from eur_pipeline.definitions import PIPELINE_JOB
from eur_pipeline.defs.database_sensors import build_database_sensor
from eur_pipeline.defs.sensors import ingest_run_config
from eur_pipeline.errors import TransientSourceError
from eur_pipeline.sources.polling import PollCursor, backoff_seconds, poll
from eur_pipeline_tests.vendors import openfire_rows as of
from eur_pipeline_tests.vendors.conftest import load


@pytest.mark.postgres
def test_sensor_requests_a_run_only_when_rows_arrive(openfire_db, vendor_config) -> None:
    config = load(vendor_config([{"name": "openfire-eu", "kind": "openfire", "dsn": openfire_db.dsn}]))
    sensor = build_database_sensor(
        config.sources[0], PIPELINE_JOB, "ingest_openfire_eu", ingest_run_config("openfire-eu", [])
    )
    with dg.DagsterInstance.ephemeral() as instance:
        empty = sensor.evaluate_tick(dg.build_sensor_context(instance=instance))
        assert not empty.run_requests
        of.first_run_rows(openfire_db)
        tick = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=empty.cursor))
        assert [r.run_key for r in tick.run_requests] == ["openfire-eu:id:7"]
        assert tick.run_requests[0].run_config["ops"]["ingest"]["config"]["sources"] == ["openfire-eu"]
        same = sensor.evaluate_tick(dg.build_sensor_context(instance=instance, cursor=tick.cursor))
        assert not same.run_requests


def test_a_database_that_is_down_is_polled_with_exponential_backoff() -> None:
    def down() -> int:
        raise TransientSourceError("openfire-eu: database unavailable: connection refused")

    first = poll(PollCursor(requested_id=5), down, now=1000.0)
    assert not first.request and first.cursor.failures == 1 and first.cursor.retry_at == 1000.0 + backoff_seconds(1)
    waiting = poll(first.cursor, lambda: pytest.fail("polled during backoff"), now=1001.0)
    assert not waiting.request and "next try" in waiting.reason
    second = poll(first.cursor, down, now=first.cursor.retry_at)
    assert second.cursor.failures == 2 and backoff_seconds(2) == 2 * backoff_seconds(1)
    back = poll(second.cursor, lambda: 9, now=second.cursor.retry_at)
    assert back.request and back.cursor == PollCursor(requested_id=9)


def test_database_source_options_are_validated_at_start(vendor_config) -> None:
    from eur_pipeline.errors import ConfigError

    wrong = vendor_config([{"name": "of", "kind": "openfire", "dsn": "mysql://u@h/openfire"}])
    with pytest.raises(ConfigError, match=r"eur.yaml: sources\[0\].dsn: only PostgreSQL is supported"):
        load(wrong)
    no_host = vendor_config([{"name": "ej", "kind": "ejabberd", "dsn": "postgresql://u@h/ejabberd"}])
    with pytest.raises(ConfigError, match=r"eur.yaml: sources\[0\].host"):
        load(no_host)
