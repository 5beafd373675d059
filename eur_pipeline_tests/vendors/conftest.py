"""Upstream schemas in the local PostgreSQL: one uniquely named database per test session and
vendor, created from the DDL in ``upstream_ddl/`` (written from the upstream projects' own schema
files) and dropped afterwards; each test starts from empty tables."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from eur_pipeline.config import EurConfig, load_config
from eur_pipeline_tests.postgres import fresh_database, psycopg2_connect

DDL = Path(__file__).resolve().parent / "upstream_ddl"
PASSWORD_ENV = "EUR_TEST_DB_PASSWORD"
PASSWORD = "s3cr3t-never-logged"


class UpstreamDb:
    """A database holding one vendor's upstream tables; ``execute`` writes as the vendor would."""

    def __init__(self, name: str, ddl: Path) -> None:
        self.name = name
        self.ddl = ddl
        self.con = psycopg2_connect(name)
        with self.con.cursor() as cur:
            cur.execute(ddl.read_text(encoding="utf-8"))

    @property
    def dsn(self) -> str:
        """The dsn a user writes in eur.yaml: the password comes from the environment."""
        return f"postgresql://postgres:${{{PASSWORD_ENV}}}@127.0.0.1:5432/{self.name}"

    def execute(self, sql: str, params: Any = None) -> None:
        with self.con.cursor() as cur:
            cur.execute(sql, params)

    def executemany(self, sql: str, rows: list[tuple[Any, ...]]) -> None:
        with self.con.cursor() as cur:
            cur.executemany(sql, rows)

    def truncate(self) -> None:
        with self.con.cursor() as cur:
            cur.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'",
            )
            tables = [r[0] for r in cur.fetchall()]
            if tables:
                cur.execute("TRUNCATE " + ", ".join(tables) + " RESTART IDENTITY")


def _session_db(vendor: str, ddl: str) -> Iterator[UpstreamDb]:
    with fresh_database(f"eur_test_{vendor}") as name:
        db = UpstreamDb(name, DDL / ddl)
        try:
            yield db
        finally:
            db.con.close()


@pytest.fixture(scope="session")
def _openfire_session() -> Iterator[UpstreamDb]:
    yield from _session_db("openfire", "openfire_monitoring_postgresql.sql")


@pytest.fixture(scope="session")
def _ejabberd_session() -> Iterator[UpstreamDb]:
    yield from _session_db("ejabberd", "ejabberd_archive_pg.sql")


@pytest.fixture
def openfire_db(_openfire_session: UpstreamDb, monkeypatch: pytest.MonkeyPatch) -> UpstreamDb:
    _openfire_session.truncate()
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return _openfire_session


@pytest.fixture
def ejabberd_db(_ejabberd_session: UpstreamDb, monkeypatch: pytest.MonkeyPatch) -> UpstreamDb:
    _ejabberd_session.truncate()
    monkeypatch.setenv(PASSWORD_ENV, PASSWORD)
    return _ejabberd_session


RATES = {
    "currency": "USD",
    "default_plan": "standard",
    "plans": {
        "standard": {"per_message_sent": 0.01, "per_conversation_started": 0.05, "monthly_fee_per_active_user": 0}
    },
}


@pytest.fixture
def vendor_config(tmp_path: Path, warehouse_value: object) -> Callable[..., Path]:
    """Write eur.yaml (and rates.yaml, optional directory.csv) for the given sources; returns its path.
    On both warehouses: ``./wh.duckdb``, or a lake of the test's own."""

    def write(sources: list[dict[str, Any]], directory: str | None = None, **top: Any) -> Path:
        (tmp_path / "rates.yaml").write_text(yaml.safe_dump(RATES), encoding="utf-8")
        raw: dict[str, Any] = {
            "warehouse": warehouse_value if isinstance(warehouse_value, dict) else "./wh.duckdb",
            "landing_dir": "./landing",
            "rates": "./rates.yaml",
            "sources": sources,
            **top,
        }
        if directory is not None:
            (tmp_path / "directory.csv").write_text(directory, encoding="utf-8")
            raw["directory"] = "./directory.csv"
        path = tmp_path / "eur.yaml"
        path.write_text(yaml.safe_dump(raw), encoding="utf-8")
        return path

    return write


def load(path: Path) -> EurConfig:
    return load_config(path)
