"""Where the plain ``.sql`` files live: ``sql/`` at the repository top, shipped inside the package
(``eur_pipeline/sql`` links to it in a checkout; the wheel carries the files themselves)."""

from __future__ import annotations

from functools import cache
from pathlib import Path

from eur_pipeline.errors import EurError

SQL_DIR = Path(__file__).resolve().parents[1] / "sql"


class MissingSqlError(EurError):
    """The package's SQL files are not where the code expects them: a broken install, not a data problem."""


def sql_dir() -> Path:
    """The SQL folder, or a one-line error naming where it was looked for and how to repair the install."""
    if not (SQL_DIR / "001_init.sql").is_file():
        raise MissingSqlError(
            f"the SQL files of eur-pipeline are missing from {SQL_DIR} (broken install): "
            "reinstall the package (pip install --force-reinstall eur-pipeline, or pip install . in a checkout)"
        )
    return SQL_DIR


@cache
def read_sql(name: str) -> str:
    """The text of ``sql/<name>`` (cached: the files do not change while the process runs)."""
    path = sql_dir() / name
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MissingSqlError(f"{path}: SQL file missing from the installed package: reinstall eur-pipeline") from None
