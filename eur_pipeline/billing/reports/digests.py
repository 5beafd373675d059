"""Which periods need rendering again: a digest per period of everything its files show.

A period's digest covers its billing rows and those of the 12 periods before it (deltas, trend), its
neighbours (navigation), the timezone and the renderer itself (every file of this package: code,
templates, CSS, JS). Digests of what was written are kept in ``.report-digests.json`` beside the reports.
"""

from __future__ import annotations

import hashlib
import json
from datetime import date
from pathlib import Path

import duckdb

from eur_pipeline.billing.reports.data import add_months
from eur_pipeline.billing.reports.paths import slug

DIGESTS = ".report-digests.json"
_PACKAGE = Path(__file__).resolve().parent


def _renderer_digest() -> str:
    h = hashlib.sha256()
    for path in sorted(p for p in _PACKAGE.rglob("*") if p.is_file() and p.suffix in {".py", ".j2", ".css", ".js"}):
        h.update(path.relative_to(_PACKAGE).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


_CODE = _renderer_digest()


def period_digests(con: duckdb.DuckDBPyConnection, timezone: str, periods: list[date]) -> dict[str, str]:
    """Per period (slug), the digest of what its files show."""
    billed = {
        p: f"{n}:{h}"
        for p, n, h in con.execute(
            "SELECT period, count(*), bit_xor(hash(b)) FROM billing b GROUP BY period"
        ).fetchall()
    }
    out = {}
    for i, period in enumerate(periods):
        window = [add_months(period, -k) for k in range(13)]
        payload = [
            _CODE,
            timezone,
            [billed.get(p) for p in window],
            slug(periods[i - 1]) if i > 0 else None,
            slug(periods[i + 1]) if i + 1 < len(periods) else None,
        ]
        out[slug(period)] = hashlib.sha256(json.dumps(payload, default=str).encode()).hexdigest()
    return out


def read_digests(path: Path) -> dict[str, str]:
    """The digests of what was last written (empty when missing or unreadable: everything is rendered)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
