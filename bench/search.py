"""``make bench``, compliance part: full-text search latency on >= 1M messages, and indexing cost.

A warehouse of ``SEARCH_MESSAGES`` (1M at ``BENCH_SCALE`` 1; never fewer than 1M unless
``BENCH_SCALE`` < 1) synthetic messages is written straight into ``messages`` (bodies of 4-16 words
drawn log-uniformly from a 20,000-word vocabulary: a few words are common, most are rare, as in
chat). Measured in this run:

* indexing: building the index from scratch (per million messages), and an incremental sync of
  10,000 new messages into it;
* search: the median latency of a mixed query set (rare and common words, several words, phrases,
  a user filter, a date range) — everything ``eur-pipeline search`` does but the audit row — and, as
  the baseline, the same queries as a DuckDB regular-expression scan of the bodies (what search would
  cost without an index). Every query's rows are checked equal between the two.

Run alone with ``python -m bench.search``.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from datetime import date
from pathlib import Path

import duckdb

from eur_pipeline.compliance.search import SearchFilter, matching_rows
from eur_pipeline.compliance.search_index import queue_threads, sync
from eur_pipeline.warehouse.migrations import open_warehouse

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "search"
SCALE = float(os.environ.get("BENCH_SCALE", "1"))
SEARCH_MESSAGES = max(20_000, int(1_000_000 * min(SCALE, 1.0)) if SCALE < 1 else int(1_000_000 * SCALE))
NEW_MESSAGES = 10_000
VOCABULARY = 20_000
USERS = 2_000
REPEATS = 5
CHUNK = 100_000
TARGET_MS = 200.0


def word(rank: int) -> str:
    """The vocabulary's word of a rank: pronounceable, distinct, stable across runs."""
    syllables = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "ve", "do", "ga", "zu", "fe", "hi", "ju", "bo"]
    out, n = [], rank + 16
    while n:
        n, digit = divmod(n, 16)
        out.append(syllables[digit])
    return "".join(out)


def build_messages(con: duckdb.DuckDBPyConnection, count: int, first: int = 0) -> None:
    """``count`` messages numbered from ``first``: bodies of words of rank floor(20000^u), u uniform;
    their threads queued for the search index."""
    con.execute("CREATE OR REPLACE TEMP TABLE vocab AS SELECT i AS r, w FROM (SELECT unnest(?) AS w, "
                "generate_subscripts(?, 1) - 1 AS i)", [[word(i) for i in range(VOCABULARY)]] * 2)  # fmt: skip
    con.execute(
        f"""INSERT INTO messages BY NAME
            WITH m AS (
                SELECT i, 4 + (hash(i) % 13)::INT AS n FROM range({first}, {first + count}) t(i)
            ), w AS (
                SELECT i, k, floor(pow({VOCABULARY}, (hash(i * 131 + k) % 1000000) / 1000000.0))::INT - 1 AS r
                FROM m, LATERAL (SELECT unnest(range(n)) AS k)
            )
            SELECT md5(i::VARCHAR) AS message_id,
                   'thread-' || (i // 8)::VARCHAR AS thread_id,
                   TIMESTAMPTZ '2025-01-01 00:00:00+00' + to_seconds(i * 31) AS sent_at,
                   'user' || (hash(i // 8) % {USERS})::VARCHAR || '@im.example.com' AS sender,
                   ['user' || ((hash(i // 8) + 1) % {USERS})::VARCHAR || '@im.example.com'] AS recipients,
                   1 AS recipient_count,
                   string_agg(v.w, ' ' ORDER BY k) AS body,
                   2 AS record_count,
                   NULL AS body_sha256
            FROM w JOIN vocab v USING (r)
            GROUP BY i"""
    )
    # queued for the search index, as the messages transform queues the threads it writes
    queue_threads(con, f"SELECT 'thread-' || (i // 8)::VARCHAR AS thread_id FROM range({first}, {first + count}) t(i)")


def queries(con: duckdb.DuckDBPyConnection) -> list[SearchFilter]:
    """The query mix: words by their frequency rank, a phrase that occurs, filters."""
    phrase = con.execute("SELECT body FROM messages WHERE length(body) > 30 LIMIT 1 OFFSET 777").fetchone()[0]
    two = " ".join(phrase.split()[1:3])
    user = con.execute("SELECT sender FROM messages LIMIT 1 OFFSET 4242").fetchone()[0]
    return [
        *(SearchFilter(word(r)) for r in (5000, 9000, 12000, 15000, 19000)),  # rare words
        *(SearchFilter(word(r)) for r in (300, 800)),  # common words (thousands of hits)
        SearchFilter(f"{word(40)} {word(2000)}"),  # two words, both must match
        SearchFilter(f"{word(100)} {word(150)} {word(3000)}"),
        SearchFilter(f'"{two}"'),  # a phrase that occurs
        SearchFilter(f'"{word(1)} {word(2)}"'),
        SearchFilter(word(60), user=user),  # a user's messages
        SearchFilter(word(70), start=date(2025, 3, 1), end=date(2025, 3, 31)),  # a month
        SearchFilter(word(500), user=user, start=date(2025, 1, 1), end=date(2025, 12, 31)),
    ]


def scan(con: duckdb.DuckDBPyConnection, flt: SearchFilter) -> list[tuple]:
    """The baseline: every message's body scanned by regular expression (words on word boundaries)."""
    import re

    from eur_pipeline.compliance.dates import day_after, day_start
    from eur_pipeline.compliance.search import query_parts

    patterns = [r"(?i)(^|[^\pL\pN])" + r"[^\pL\pN]+".join(map(re.escape, p)) + r"($|[^\pL\pN])"
                for p in query_parts(flt.query)]  # fmt: skip
    where = " AND ".join(f"regexp_matches(body, $p{i})" for i in range(len(patterns)))
    params: dict[str, object] = {f"p{i}": p for i, p in enumerate(patterns)}
    params.update({"user": flt.user, "lo": day_start(flt.start), "hi": day_after(flt.end)})
    return con.execute(
        f"""SELECT message_id, thread_id, sent_at, sender, recipients, body FROM messages
            WHERE {where} AND ($user IS NULL OR sender = $user OR list_contains(recipients, $user))
              AND ($lo IS NULL OR sent_at >= $lo) AND ($hi IS NULL OR sent_at < $hi)
            ORDER BY sent_at, message_id""",
        params,
    ).fetchall()


def timed(fn, *args):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    value = fn(*args)
    return time.perf_counter() - start, value


def main() -> None:
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    con = open_warehouse(OUT / "warehouse.duckdb")
    index = OUT / "search-index"
    try:
        start = time.perf_counter()
        for first in range(0, SEARCH_MESSAGES, CHUNK):  # in chunks: the writer's DuckDB memory cap holds
            build_messages(con, min(CHUNK, SEARCH_MESSAGES - first), first)
        gen = time.perf_counter() - start
        per_million = 1e6 / SEARCH_MESSAGES
        build, report = timed(sync, con, index)
        assert report.documents == SEARCH_MESSAGES, report
        size_mb = sum(p.stat().st_size for p in index.rglob("*") if p.is_file()) / 1e6
        build_messages(con, NEW_MESSAGES, first=SEARCH_MESSAGES)
        incr, report = timed(sync, con, index)
        assert report.added == NEW_MESSAGES and not report.rebuilt, report

        mix = queries(con)
        latencies, baseline, hits = [], [], []
        for flt in mix:
            for _ in range(REPEATS):
                seconds, rows = timed(matching_rows, index, flt)
                latencies.append(seconds)
            seconds, expected = timed(scan, con, flt)
            baseline.append(seconds)
            if rows != expected:
                raise SystemExit(f"bench.search: {flt} found {len(rows)} rows, the scan {len(expected)}")
            hits.append(len(rows))
    finally:
        con.close()
    median_ms = statistics.median(latencies) * 1000
    worst_ms = max(latencies) * 1000
    scan_ms = statistics.median(baseline) * 1000
    total = SEARCH_MESSAGES + NEW_MESSAGES
    print()
    print(f"Search (tantivy full-text index) on {total:,} messages ({gen:.0f} s to generate):")
    print(f"  indexing from scratch: {build:.1f} s = {build * per_million:.1f} s per million messages; "
          f"index {size_mb:,.0f} MB ({size_mb * per_million:,.0f} MB per million)")  # fmt: skip
    print(f"  incremental sync of {NEW_MESSAGES:,} new messages: {incr:.2f} s "
          f"({incr / NEW_MESSAGES * 1e6:.1f} s per million)")  # fmt: skip
    print(f"  {len(mix)} queries x {REPEATS}: median {median_ms:.1f} ms, worst {worst_ms:.1f} ms "
          f"(hits per query {min(hits):,}..{max(hits):,}); regex scan baseline median {scan_ms:.0f} ms "
          f"-> {median_ms / scan_ms:.3f}x the scan")  # fmt: skip
    ok = median_ms <= TARGET_MS and total >= 1_000_000
    print(f"  [{'PASS' if ok else 'FAIL'}] median search latency <= {TARGET_MS:.0f} ms on >= 1M messages: "
          f"{median_ms:.1f} ms on {total:,}")  # fmt: skip


if __name__ == "__main__":
    main()
