"""Where the plain ``.sql`` files live (``sql/`` at the repository root)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

SQL_DIR = Path(__file__).resolve().parents[2] / "sql"


@cache
def read_sql(name: str) -> str:
    """The text of ``sql/<name>`` (cached: the files do not change while the process runs)."""
    return (SQL_DIR / name).read_text(encoding="utf-8")
