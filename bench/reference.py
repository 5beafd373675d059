"""The baselines the pipeline is measured against, each run as ``python -m bench.reference KIND XML DB``
in a fresh process so its peak RSS is its own.

``stream``: the minimal streaming loader plain code gets to — lxml ``iterparse`` over ``<message>``
with element clearing, the six fields into Arrow batches, each batch inserted into DuckDB.
``pandas``: what a user writes without us — ``pandas.read_xml`` (whole document in memory) + DuckDB.
"""

from __future__ import annotations

import sys
from pathlib import Path

import duckdb
import pyarrow as pa
from lxml import etree

FIELDS = ("direction", "timestamp", "threadId", "sender", "recipient", "body")
BATCH = 50_000
_TABLE = """CREATE TABLE records (direction VARCHAR, sent_at TIMESTAMPTZ, thread_id VARCHAR, sender VARCHAR,
                                  recipient VARCHAR, body VARCHAR)"""
_INSERT = """INSERT INTO records
             SELECT direction, replace("timestamp", '-UTC', '+00:00')::TIMESTAMPTZ, threadId, sender, recipient, body
             FROM batch"""


def stream(xml: Path, db: Path) -> int:
    """iterparse + clear → six string columns per batch → one INSERT per batch; returns rows loaded."""
    con = duckdb.connect(str(db))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(_TABLE)
    con.execute("BEGIN")
    columns: dict[str, list[str | None]] = {f: [] for f in FIELDS}
    rows = 0

    def flush() -> None:
        batch = pa.table(columns)  # noqa: F841 — read by DuckDB's replacement scan
        con.execute(_INSERT)
        for values in columns.values():
            values.clear()

    for _, element in etree.iterparse(str(xml), events=("end",), tag="message", resolve_entities=False):
        columns["direction"].append(element.get("direction"))
        for child in element:
            if child.tag in columns:
                columns[child.tag].append(child.text)
        element.clear(keep_tail=False)
        while element.getprevious() is not None:
            del element.getparent()[0]
        rows += 1
        if rows % BATCH == 0:
            flush()
    if columns["direction"]:
        flush()
    con.execute("COMMIT")
    con.close()
    return rows


def pandas_read_xml(xml: Path, db: Path) -> int:
    """pandas.read_xml (lxml parser, whole tree in memory) → DataFrame → DuckDB."""
    import pandas as pd

    frame = pd.read_xml(xml, xpath="/messages/message", parser="lxml")
    con = duckdb.connect(str(db))
    con.execute("SET TimeZone = 'UTC'")
    con.execute(_TABLE)
    con.execute(
        """INSERT INTO records SELECT direction, replace("timestamp", '-UTC', '+00:00')::TIMESTAMPTZ, threadId,
                  sender, recipient, body FROM frame"""
    )
    con.close()
    return len(frame)


def main() -> None:
    kind, xml, db = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
    db.unlink(missing_ok=True)
    rows = {"stream": stream, "pandas": pandas_read_xml}[kind](xml, db)
    print(rows)


if __name__ == "__main__":
    main()
