"""Shared fixtures: the seed sample, hand-written archives and a ready-to-run config."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest
import yaml

from eur_pipeline.config import EurConfig
from eur_pipeline.config.loader import load_config
from eur_pipeline.demo.avaya_writer import ARCHIVE_HEAD, ARCHIVE_TAIL, render_record
from eur_pipeline.warehouse.migrations import open_warehouse
from eur_pipeline_tests.backends import lake_config, warehouse_spec

CORPUS = Path(__file__).resolve().parent / "corpus"


@pytest.fixture
def seed_sample() -> Path:
    """The 4-record sample from Avaya's interoperability notes (docs/design.md), kept in the repo corpus."""
    return CORPUS / "seed_sample.xml"


Record = tuple[str, str, str, str, str, str]  # direction, timestamp, thread, sender, recipient, body


def archive_text(records: list[Record]) -> str:
    return ARCHIVE_HEAD + "".join(render_record(*r) for r in records) + ARCHIVE_TAIL


def chat(thread: str, ts: str, sender: str, recipients: list[str], body: str) -> list[Record]:
    """One logical message as the archiver writes it: an IN copy and one OUT copy per recipient."""
    rows: list[Record] = [("IN", ts, thread, sender, recipients[0], body)]
    rows += [("OUT", ts, thread, sender, r, body) for r in recipients]
    return rows


@pytest.fixture(params=["file", pytest.param("lake", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest) -> str:
    """Which warehouse a test runs on: every test using ``make_config`` / ``warehouse`` runs on both
    (``-m "not postgres"`` keeps to the DuckDB file)."""
    if request.param == "lake" and request.node.get_closest_marker("file_warehouse"):
        pytest.skip("about the DuckDB file itself")
    return str(request.param)


@pytest.fixture
def warehouse_value(backend: str, tmp_path: Path) -> Iterator[object]:
    """The eur.yaml ``warehouse:`` value for this test's backend (a lake gets a database of its own)."""
    with warehouse_spec(backend, tmp_path) as value:
        yield value


@pytest.fixture
def warehouse_target(warehouse_value: object, tmp_path: Path) -> object:
    """What ``connect`` / ``open_warehouse`` take for this test's backend."""
    if isinstance(warehouse_value, dict):
        return lake_config(warehouse_value["ducklake"].split("dbname=")[1].split()[0], tmp_path / "lake")
    return Path(str(warehouse_value))


@pytest.fixture
def make_config(tmp_path: Path, warehouse_value: object) -> Callable[..., EurConfig]:
    """Write an eur.yaml with one local drop folder (``tmp_path/incoming``) and load it."""

    def _make(**overrides: object) -> EurConfig:
        incoming = tmp_path / "incoming"
        incoming.mkdir(exist_ok=True)
        source = {
            "name": "drop",
            "kind": "local",
            "path": "./incoming",
            "site": "Corporation 1/Avaya IM",
            "min_age_seconds": 0,
            "on_success": "keep",
        }
        source.update(overrides.pop("source", {}))  # type: ignore[arg-type]
        raw = {"warehouse": warehouse_value, "landing_dir": "./landing", "sources": [source], **overrides}
        path = tmp_path / "eur.yaml"
        path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        return load_config(path)

    return _make


@pytest.fixture
def warehouse(warehouse_target: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    con = open_warehouse(warehouse_target)
    yield con
    con.close()


def drop(folder: Path, name: str, content: str | bytes | Path) -> Path:
    """Put a file into a drop folder (atomically, as an uploader would finish it)."""
    target = folder / name
    tmp = folder / f".{name}.tmp"
    if isinstance(content, Path):
        shutil.copyfile(content, tmp)
    elif isinstance(content, str):
        tmp.write_text(content, encoding="utf-8")
    else:
        tmp.write_bytes(content)
    os.replace(tmp, target)
    return target
