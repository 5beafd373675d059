"""The database sensor's decision, without Dagster: poll the newest id cheaply, request a run when
it moved past what was last requested, back off exponentially while the database is down.

The cursor is tiny and bounded: the last id requested, and the failure streak with the time
before which the database is not asked again.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from eur_pipeline.errors import SourceError

BASE_BACKOFF_SECONDS = 30.0
MAX_BACKOFF_SECONDS = 30 * 60.0


@dataclass(frozen=True)
class PollCursor:
    requested_id: int | None = None
    failures: int = 0
    retry_at: float = 0.0

    @classmethod
    def parse(cls, raw: str | None) -> PollCursor:
        if not raw:
            return cls()
        data = json.loads(raw)
        return cls(data.get("requested_id"), int(data.get("failures", 0)), float(data.get("retry_at", 0.0)))

    def dump(self) -> str:
        return json.dumps(
            {"requested_id": self.requested_id, "failures": self.failures, "retry_at": self.retry_at},
            separators=(",", ":"),
        )


@dataclass(frozen=True)
class PollDecision:
    request: bool
    cursor: PollCursor
    reason: str
    max_id: int | None = None


def backoff_seconds(failures: int) -> float:
    return min(BASE_BACKOFF_SECONDS * 2 ** max(failures - 1, 0), MAX_BACKOFF_SECONDS)


def poll(cursor: PollCursor, probe: Callable[[], int | None], now: float) -> PollDecision:
    """One tick: ``probe`` returns the source's newest id (or raises SourceError)."""
    if now < cursor.retry_at:
        return PollDecision(
            False, cursor, f"database down ({cursor.failures} failed polls); next try in {cursor.retry_at - now:.0f}s"
        )
    try:
        newest = probe()
    except SourceError as exc:
        if not exc.retryable:
            raise
        failures = cursor.failures + 1
        wait = backoff_seconds(failures)
        return PollDecision(
            False,
            PollCursor(cursor.requested_id, failures, now + wait),
            f"poll failed ({failures} in a row), backing off {wait:.0f}s: {exc}",
        )
    healthy = PollCursor(cursor.requested_id, 0, 0.0)
    if newest is None or (cursor.requested_id is not None and newest <= cursor.requested_id):
        return PollDecision(False, healthy, f"no new rows (newest id {newest})", newest)
    return PollDecision(True, PollCursor(newest, 0, 0.0), f"new rows up to id {newest}", newest)
