"""``--from`` / ``--to`` dates of the compliance commands: UTC calendar days, both inclusive."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from eur_pipeline.errors import ConfigError


def parse_day(text: str | None, option: str) -> date | None:
    """``YYYY-MM-DD`` (None stays None); anything else is a usage error naming the option."""
    if text is None or text == "":
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ConfigError(f"{option} {text!r}: expected a date as YYYY-MM-DD") from None


def check_range(start: date | None, end: date | None) -> None:
    if start and end and end < start:
        raise ConfigError(f"--to {end} is before --from {start}")


def day_start(day: date | None) -> datetime | None:
    """The first instant (UTC) of ``day``."""
    return None if day is None else datetime.combine(day, time(), tzinfo=UTC)


def day_after(day: date | None) -> datetime | None:
    """The first instant (UTC) after ``day`` (an exclusive upper bound)."""
    return None if day is None else datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)
