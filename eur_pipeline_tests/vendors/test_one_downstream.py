"""Several chat systems, one chargeback: Avaya files, an ejabberd database and a Mattermost export
in one warehouse; the directory says which JIDs are one person."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from eur_pipeline.errors import ConfigError
from eur_pipeline_tests.conftest import CORPUS, drop
from eur_pipeline_tests.reliability.conftest import core_run
from eur_pipeline_tests.vendors import ejabberd_rows as ej
from eur_pipeline_tests.vendors.conftest import load
from eur_pipeline_tests.vendors.helpers import billing, rows
from eur_pipeline_tests.vendors.test_mattermost import SAMPLES, export_zip, folder_source

pytestmark = pytest.mark.postgres

DIRECTORY = (
    "handle,name,department,cost_center,site,aliases\n"
    f"alice@example.com,Alice Martin,Engineering,CC-100,Corporation 1/Paris,alice@{ej.HOST}\n"
    "56208,Avaya User,Sales,CC-200,,\n"
)


def sources(tmp_path: Path, ejabberd_db) -> list[dict]:
    avaya = tmp_path / "avaya"
    avaya.mkdir()
    drop(avaya, "seed.xml", (CORPUS / "seed_sample.xml").read_bytes())
    exports = tmp_path / "exports"
    exports.mkdir()
    drop(exports, "batch-1.zip", export_zip((SAMPLES / "actiance_day1.xml").read_bytes()))
    return [
        {
            "name": "presence-lab",
            "kind": "local",
            "path": str(avaya),
            "min_age_seconds": 0,
            "site": "Corporation 1/Avaya IM",
        },
        {
            "name": "ejabberd-us",
            "kind": "ejabberd",
            "dsn": ejabberd_db.dsn,
            "host": ej.HOST,
            "site": "Corporation 3/ejabberd",
        },
        folder_source(exports),
    ]


def test_one_user_across_systems_when_the_directory_says_so(tmp_path, ejabberd_db, vendor_config) -> None:
    ej.first_run_rows(ejabberd_db)
    config = load(vendor_config(sources(tmp_path, ejabberd_db), directory=DIRECTORY))
    core_run(config)
    wh = config.warehouse
    assert rows(wh, "SELECT format, count(*) FROM archive_files GROUP BY ALL ORDER BY 1") == [
        ("avaya_presence_xml", 1),
        ("ejabberd", 1),
        ("mattermost_actiance_xml", 1),
    ]
    billed = billing(wh)
    # Mattermost alice (2 sent, 3 received, 2 conversations, 1 started) + ejabberd alice (1, 2, 3, 1)
    assert billed["alice@example.com"] == (3, 5, 5, 2, "0.1300")
    assert f"alice@{ej.HOST}" not in billed
    assert rows(wh, "SELECT name, department, site FROM billing WHERE user_jid = 'alice@example.com'") == [
        ("Alice Martin", "Engineering", "Corporation 1/Paris")
    ]
    # the Avaya users are billed as before, beside the others
    assert {j for j in billed if j.endswith("bvwdev.com")} == {"56207@presence.bvwdev.com", "56208@presence.bvwdev.com"}
    # the totals still reconcile with the messages of every system
    assert rows(wh, "SELECT sum(messages_sent) FROM billing") == rows(wh, "SELECT count(*) FROM messages")


def test_without_the_alias_they_are_two_users(tmp_path, ejabberd_db, vendor_config) -> None:
    ej.first_run_rows(ejabberd_db)
    config = load(vendor_config(sources(tmp_path, ejabberd_db)))
    core_run(config)
    billed = billing(config.warehouse)
    assert billed["alice@example.com"][:4] == (2, 3, 2, 1)
    assert billed[f"alice@{ej.HOST}"][:4] == (1, 2, 3, 1)


def test_an_alias_listed_twice_is_a_config_error(vendor_config) -> None:
    bad = DIRECTORY + f"bob@example.com,Bob,,,,alice@{ej.HOST}\n"
    path = vendor_config([], directory=bad)
    from eur_pipeline.billing.directory import load_directory

    with pytest.raises(ConfigError, match=re.escape("line 4: alias 'alice@chat.example.com' already listed on line 2")):
        load_directory(load(path).directory, 5)
