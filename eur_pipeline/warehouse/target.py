"""Where the warehouse lives: a DuckDB file (the embedded default) or a DuckLake (catalog in PostgreSQL,
data as Parquet). Pure model: no DuckDB here, so the configuration loads without the engine."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

_SECRET_IN_CONNINFO = re.compile(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", re.IGNORECASE)


def redact_conninfo(text: str) -> str:
    """``text`` with every ``password=...`` of a libpq connection string masked (for errors and logs)."""
    return _SECRET_IN_CONNINFO.sub(r"\1**********", text)


class LakeConfig(BaseModel):
    """``warehouse: {ducklake: "postgres:dbname=... host=...", data_path: ./data/lake/}``.

    The password comes from ``${VAR}`` in the string or libpq's own ``PGPASSWORD``; it is never shown."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ducklake: str = Field(min_length=10)
    data_path: str
    metadata_schema: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # Inserts of at most this many rows go to the catalog instead of a Parquet file of their own
    # (ledger rows, work-queue rows, small rejects); the maintenance job flushes them to Parquet.
    inline_rows: int = Field(default=200, ge=0, le=100_000)

    @field_validator("ducklake")
    @classmethod
    def _postgres_catalog(cls, value: str) -> str:
        if not value.startswith("postgres:"):
            raise ValueError("ducklake must be a PostgreSQL catalog: 'postgres:dbname=... host=...'")
        if "'" in value:
            raise ValueError("ducklake: use libpq key=value pairs without quotes")
        return value

    @property
    def conninfo(self) -> str:
        """The libpq connection string of the catalog database."""
        return self.ducklake.removeprefix("postgres:")

    @property
    def is_local(self) -> bool:
        return "://" not in self.data_path

    def __str__(self) -> str:
        return f"ducklake:{redact_conninfo(self.ducklake)} (data {self.data_path})"

    def __repr_args__(self) -> Any:
        for key, value in super().__repr_args__():
            yield key, (redact_conninfo(value) if key == "ducklake" else value)


WarehouseTarget = Path | LakeConfig


def is_lake(target: WarehouseTarget) -> bool:
    return isinstance(target, LakeConfig)
