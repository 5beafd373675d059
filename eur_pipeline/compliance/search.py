"""Audited full-text search: words and "quoted phrases", all of which must match, optionally only a
user's messages (sent or received) and a range of UTC days. One row per matching message.

The query and the rows come from the index alone (see ``search_index``); every erasure (purge, privacy
mode change) brings the index in step in the same command, so an erased body is not found. Each
search writes its text, filters and result count to ``audit_log`` (the warehouse), never to Dagster.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import duckdb
import tantivy

from eur_pipeline.compliance import audit
from eur_pipeline.compliance.dates import check_range, day_after, day_start
from eur_pipeline.compliance.holds import bare_jid
from eur_pipeline.compliance.privacy import require_bodies
from eur_pipeline.compliance.search_index import SCHEMA, analyzer, open_index, stored_row
from eur_pipeline.errors import ConfigError, EurError

COLUMNS = ["message_id", "thread_id", "sent_at", "sender", "recipients", "body"]
_PART = re.compile(r'"([^"]*)"?|(\S+)')


@dataclass(frozen=True)
class SearchFilter:
    """What to look for: the query text, and optional user and UTC day range."""

    query: str
    user: str | None = None
    start: date | None = None
    end: date | None = None


def query_parts(text: str) -> list[list[str]]:
    """The query's words and phrases, each as its index tokens (a word with punctuation, like
    ``don't``, is the phrase of its pieces). An unclosed quote runs to the end."""
    cut = analyzer()
    parts = []
    for phrase, word in _PART.findall(text):
        tokens = cut.analyze(phrase if phrase else word)
        if tokens:
            parts.append(tokens)
    return parts


def build_query(flt: SearchFilter) -> tantivy.Query:
    parts = query_parts(flt.query)
    if not parts:
        raise ConfigError("the search query has no words (give words, or phrases in double quotes)")
    clauses = []
    for tokens in parts:
        if len(tokens) == 1:
            clauses.append((tantivy.Occur.Must, tantivy.Query.term_query(SCHEMA, "body", tokens[0])))
        else:
            clauses.append((tantivy.Occur.Must, tantivy.Query.phrase_query(SCHEMA, "body", tokens)))
    if flt.user:
        clauses.append((tantivy.Occur.Must, tantivy.Query.term_query(SCHEMA, "participants", flt.user)))
    if flt.start or flt.end:
        clauses.append(
            (
                tantivy.Occur.Must,
                tantivy.Query.range_query(
                    SCHEMA,
                    "sent_at",
                    tantivy.FieldType.Date,
                    day_start(flt.start),
                    day_after(flt.end),
                    include_upper=flt.end is None,  # an unbounded side must be "inclusive"
                ),
            )
        )
    return tantivy.Query.boolean_query(clauses)


def matching_rows(index_dir: Path, flt: SearchFilter) -> list[tuple]:
    """Every message the index finds for ``flt`` (not a top N), as result rows in time order."""
    index = open_index(index_dir, create=False)
    if index is None:
        raise EurError(f"no search index at {index_dir} yet: run the pipeline (`eur-pipeline run`) to build it")
    searcher = index.searcher()
    query = build_query(flt)
    total = searcher.search(query, limit=1, count=True).count
    if not total:
        return []
    hits = searcher.search(query, limit=total, count=False).hits
    rows = [stored_row(searcher.doc(address)) for _, address in hits]
    rows.sort(key=lambda r: (r[2], r[0]))
    return rows


def normalise(query: str, user: str | None, start: date | None, end: date | None) -> SearchFilter:
    check_range(start, end)
    return SearchFilter(query, bare_jid(user) if user else None, start, end)


def search(
    con: duckdb.DuckDBPyConnection,
    index_dir: Path,
    query: str,
    user: str | None = None,
    start: date | None = None,
    end: date | None = None,
    actor: str | None = None,
) -> list[tuple]:
    """Search, audited (the audit row is written even when nothing matches)."""
    require_bodies(con, "search")
    flt = normalise(query, user, start, end)
    started = datetime.now()
    rows = matching_rows(index_dir, flt)
    audit.record(
        con,
        "search",
        {
            "query": query,
            "user": flt.user,
            "from": start,
            "to": end,
            "results": len(rows),
            "seconds": round((datetime.now() - started).total_seconds(), 3),
        },
        actor,
    )
    return rows
