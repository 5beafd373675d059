"""A hand-worked warehouse for the compliance rules: four users, three conversations in three files.

=====  =========================  ===========================================  ======================
file   thread (collected)         messages (UTC)                               records
=====  =========================  ===========================================  ======================
f1     T1 (2024-01-10)            A→B 09:00 "hello bob"; B→A 09:01 "hi alice,   4 (+1 rejected: no
                                  quick question"                              timestamp, body SECRET)
f2     T2 (2024-02-20)            A→B,C 10:00 "project apollo launch";          6
                                  C→A,B 10:05 "the Apollo launch is delayed"
f3     T3 (2024-05-25)            D→A 12:00 "brown fox jumps"                   2
=====  =========================  ===========================================  ======================
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest
import yaml

from eur_pipeline.billing.compute import refresh_billing
from eur_pipeline.compliance.search_index import sync
from eur_pipeline.compliance.store import open_private_warehouse
from eur_pipeline.config import EurConfig, load_config
from eur_pipeline.pipeline.collect import collect_source
from eur_pipeline.pipeline.transforms import refresh_conversations, refresh_messages
from eur_pipeline_tests.conftest import archive_text, chat, drop

A, B, C, D = (f"{n}@presence.example.com" for n in ("alice", "bob", "carol", "dave"))
SECRET = "SECRET-in-a-rejected-record"
FILES = {
    "f1.xml": (
        chat("T1", "2024-01-10T09:00:00Z", A, [B], "hello bob")
        + chat("T1", "2024-01-10T09:01:00Z", B, [A], "hi alice, quick question")
    ),
    "f2.xml": (
        chat("T2", "2024-02-20T10:00:00Z", A, [B, C], "project apollo launch")
        + chat("T2", "2024-02-20T10:05:00Z", C, [A, B], "the Apollo launch is delayed")
    ),
    "f3.xml": chat("T3", "2024-05-25T12:00:00Z", D, [A], "brown fox jumps"),
}
COLLECTED = {"f1.xml": "2024-01-10 10:00:00+00", "f2.xml": "2024-02-20 11:00:00+00", "f3.xml": "2024-05-25 13:00:00+00"}
REJECTED = f"""  <message direction="IN">
    <threadId>T1</threadId><sender>{A}</sender><recipient>{B}</recipient><body>{SECRET}</body>
  </message>
"""
NOW = datetime(2024, 6, 1, tzinfo=UTC)


def write_config(root: Path, **overrides: object) -> EurConfig:
    raw = {
        "warehouse": "./data/wh.duckdb",
        "landing_dir": "./data/landing",
        "sources": [{"name": "drop", "kind": "local", "path": "./incoming", "min_age_seconds": 0}],
        **overrides,
    }
    (root / "incoming").mkdir(exist_ok=True)
    (root / "eur.yaml").write_text(yaml.safe_dump(raw), encoding="utf-8")
    return load_config(root / "eur.yaml")


def load_files(root: Path, config: EurConfig) -> None:
    """Drop the three files, collect them, date their collection as the table says, run every
    transform, and build the search index: one pipeline run through the core (no Dagster)."""
    for name, records in FILES.items():
        text = archive_text(records)
        if name == "f1.xml":
            text = text.replace("</messages>", REJECTED + "</messages>")
        drop(root / "incoming", name, text)
    con = open_private_warehouse(config)
    try:
        report = collect_source(con, config, config.sources[0])
        assert [f.outcome for f in report.files] == ["parsed"] * 3
        for name, at in COLLECTED.items():
            con.execute("UPDATE archive_files SET collected_at = ?::TIMESTAMPTZ WHERE name = ?", [at, name])
        refresh_messages(con)
        refresh_conversations(con)
        refresh_billing(con, config)
        sync(con, config.resolved_search_index)
    finally:
        con.close()


@pytest.fixture
def compliance_warehouse(warehouse_value: object) -> object:
    """The ``warehouse:`` of this test's backend: the DuckDB file, or a lake of its own."""
    return warehouse_value if isinstance(warehouse_value, dict) else "./data/wh.duckdb"


@pytest.fixture
def loaded(tmp_path: Path, compliance_warehouse: object) -> Callable[..., EurConfig]:
    """Write a config (overrides as keyword arguments) and load the hand-worked files with it; on
    both warehouses (``write_config`` in the test then needs ``warehouse=compliance_warehouse``)."""

    def _make(**overrides: object) -> EurConfig:
        overrides.setdefault("warehouse", compliance_warehouse)
        config = write_config(tmp_path, **overrides)
        load_files(tmp_path, config)
        return config

    return _make


@pytest.fixture
def open_wh() -> Iterator[Callable[[EurConfig], duckdb.DuckDBPyConnection]]:
    """Open a config's warehouse as the commands do (closed at the end of the test)."""
    opened: list[duckdb.DuckDBPyConnection] = []

    def _open(config: EurConfig) -> duckdb.DuckDBPyConnection:
        con = open_private_warehouse(config)
        opened.append(con)
        return con

    yield _open
    for con in opened:
        con.close()


def stored_bytes(config: EurConfig) -> bytes:
    """Everything the warehouse holds on disk, as bytes to search for text: the DuckDB file, or a
    lake's Parquet files (decoded) and its catalog database (dumped)."""
    import subprocess

    from eur_pipeline.warehouse.target import LakeConfig

    if not isinstance(config.warehouse, LakeConfig):
        return config.warehouse.read_bytes()
    out = []
    reader = duckdb.connect()
    for path in sorted(Path(config.warehouse.data_path).rglob("*.parquet")):
        out.append(repr(reader.execute("SELECT * FROM read_parquet(?)", [str(path)]).fetchall()).encode())
    reader.close()
    dbname = config.warehouse.conninfo.split("dbname=")[1].split()[0]
    dump = subprocess.run(["pg_dump", "-h", "127.0.0.1", "-U", "postgres", dbname], capture_output=True, check=True)
    # inlined rows keep text as bytea: the dump shows it as \x<hex>
    decoded = [bytes.fromhex(h.decode()) for h in re.findall(rb"\\x((?:[0-9a-f]{2})+)", dump.stdout)]
    return b"".join(out) + dump.stdout + b"".join(decoded)


def table(con: duckdb.DuckDBPyConnection, sql: str) -> list[tuple]:
    return sorted(con.execute(sql).fetchall(), key=repr)


def invariant_tables(con: duckdb.DuckDBPyConnection) -> dict[str, list[tuple]]:
    """What retention and the privacy mode must never change."""
    return {"conversations": table(con, "SELECT * FROM conversations"), "billing": table(con, "SELECT * FROM billing")}
