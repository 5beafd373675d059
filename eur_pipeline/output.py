"""What the command line shows people: query results (table, CSV, JSON) and collection progress.

- Instants (timestamps with a time zone) are shown in the configured ``timezone`` unless ``utc``.
- Table: numbers right-aligned, everything else left-aligned.
- JSON: integers and floats are numbers; an exact DECIMAL (costs) is a number when a double
  reproduces it exactly as written (every cost up to 15 significant digits), else a string, so
  no digit is ever changed; dates and instants are ISO 8601 strings, lists are arrays.
- Progress: on a terminal a bar per source (tqdm); otherwise one summary line per source.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import IO, Any
from zoneinfo import ZoneInfo

from eur_pipeline.names import shown
from eur_pipeline.pipeline.collect import FileResult, SourceReport, source_summary


def localize(value: Any, tz: ZoneInfo | None) -> Any:
    """An instant in ``tz`` (None: as stored); anything else unchanged, lists element by element."""
    if isinstance(value, datetime) and value.tzinfo is not None and tz is not None:
        return value.astimezone(tz)
    if isinstance(value, list):
        return [localize(v, tz) for v in value]
    return value


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, list):
        return "[" + ", ".join(text_of(v) for v in value) + "]"
    return str(value)


def json_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        as_float = float(value)
        return as_float if value.is_finite() and Decimal(repr(as_float)) == value else str(value)
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, list | tuple):
        return [json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(k): json_value(v) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.hex()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def write_rows(
    headers: Sequence[str],
    rows: Sequence[Sequence[Any]],
    fmt: str,
    tz: ZoneInfo | None = None,
    out: IO[str] | None = None,
) -> None:
    out = out or sys.stdout
    rows = [[localize(v, tz) for v in r] for r in rows]
    if fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(headers)
        writer.writerows([[text_of(v) for v in r] for r in rows])
    elif fmt == "json":
        records = [{h: json_value(v) for h, v in zip(headers, r, strict=True)} for r in rows]
        json.dump(records, out, ensure_ascii=False)
        out.write("\n")
    else:
        cells = [[shown(text_of(v)) for v in r] for r in rows]  # one line per row, controls escaped
        widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(headers)]
        numeric = [bool(rows) and all(r[i] is None or _is_number(r[i]) for r in rows) for i in range(len(headers))]

        def line(values: Sequence[str]) -> str:
            parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric, strict=True)]
            return "  ".join(parts).rstrip()

        print(line(list(headers)), file=out)
        print("  ".join("-" * w for w in widths), file=out)
        for c in cells:
            print(line(c), file=out)
        print(f"({len(rows)} row{'s' if len(rows) != 1 else ''})", file=out)


class CollectProgress:
    """Watches a collection (``pipeline.progress``): a tqdm bar per source on a terminal, else one
    summary line per source when it is done."""

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self._bar: Any = None

    def source_started(self, source: str, files: int) -> None:
        if self.tty and files:
            from tqdm import tqdm

            self._bar = tqdm(total=files, desc=source, unit="file", file=self.stream, leave=True, dynamic_ncols=True)

    def file_done(self, result: FileResult) -> None:
        if self._bar is not None:
            self._bar.update(1)
            self._bar.set_postfix_str(result.outcome, refresh=False)

    def source_done(self, report: SourceReport) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if not report.error:  # a failed source is already one ERROR line of the run's log
            print(source_summary(report), file=self.stream, flush=True)
