"""A database source killed mid-batch (SIGKILL of a real ``eur-pipeline run``), then run again:
every row exactly once, the same tables as a run that was never interrupted."""

from __future__ import annotations

import pytest

from eur_pipeline_tests.reliability.conftest import run_cli
from eur_pipeline_tests.vendors import openfire_rows as of
from eur_pipeline_tests.vendors.conftest import load
from eur_pipeline_tests.vendors.helpers import billing, conversations, rows

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_kill_mid_batch_then_rerun_loads_every_row_exactly_once(openfire_db, vendor_config) -> None:
    of.first_run_rows(openfire_db)
    source = {"name": "openfire-eu", "kind": "openfire", "dsn": openfire_db.dsn, "batch_rows": 2}
    path = vendor_config([source])
    killed = run_cli(path, fault="mid_load@2")  # the second batch's transaction is open
    assert killed.returncode == -9
    config = load(path)
    assert rows(config.warehouse, "SELECT name FROM archive_files") == [("ofMessageArchive messageID 1..2",)]
    assert rows(config.warehouse, "SELECT count(*), max(row_id) FROM source_rows") == [(2, 2)]
    done = run_cli(path)
    assert done.returncode == 0, done.stderr[-2000:]
    wh = config.warehouse
    assert rows(wh, "SELECT name FROM archive_files ORDER BY name") == [
        ("ofMessageArchive messageID 1..2",),
        ("ofMessageArchive messageID 3..4",),
        ("ofMessageArchive messageID 5..6",),
        ("ofMessageArchive messageID 7..7",),
    ]
    assert rows(wh, "SELECT count(*), count(DISTINCT row_id) FROM source_rows") == [(7, 7)]
    assert rows(wh, "SELECT count(*) FROM message_records") == [(7,)]
    assert conversations(wh)["openfire:2"][0] == 4
    assert billing(wh)[of.ALICE] == (4, 2, 2, 2, "0.1400")
