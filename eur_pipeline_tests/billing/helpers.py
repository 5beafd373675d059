"""Small hand-built warehouses for billing tests: rows are inserted directly (no parser needed)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import duckdb

from eur_pipeline.config import EurConfig

DOMAIN = "im.example.com"


def jid(local: str) -> str:
    return f"{local}@{DOMAIN}"


class Warehouse:
    """Insert archive files, records, messages; derive conversations; queue threads for billing."""

    def __init__(self, con: duckdb.DuckDBPyConnection) -> None:
        self.con = con
        self._files: dict[str, str] = {}
        self._record_no = 0

    def _file_id(self, source: str) -> str:
        if source not in self._files:
            digest = hashlib.sha256(f"{source}-{len(self._files)}".encode()).hexdigest()
            self.con.execute(
                "INSERT INTO archive_files (file_id, source, name, size_bytes, sha256, status, format, "
                "collected_at, parsed_at) VALUES (?, ?, ?, 1, ?, 'parsed', 'avaya_presence_xml', now(), now())",
                [digest[:16], source, f"{source}.xml", digest],
            )
            self._files[source] = digest[:16]
        return self._files[source]

    def message(
        self, thread: str, sender: str, recipients: list[str], sent_at: str, source: str = "lab", body: str = "hi"
    ) -> None:
        """One logical message: an IN record plus one OUT record per recipient, and its messages row."""
        file_id = self._file_id(source)
        recs: list[list[Any]] = []
        for direction, recipient in [("IN", recipients[0])] + [("OUT", r) for r in recipients]:
            self._record_no += 1
            recs.append([file_id, self._record_no, direction, sent_at, thread, sender, recipient, body])
        self.con.executemany(
            "INSERT INTO message_records (file_id, record_no, direction, sent_at, thread_id, sender, "
            "recipient, body) VALUES (?, ?, ?, ?::TIMESTAMPTZ, ?, ?, ?, ?)",
            recs,
        )
        message_id = hashlib.md5(f"{thread}|{sender}|{sent_at}|{body}".encode()).hexdigest()
        rec = sorted(set(recipients) - {sender})
        self.con.execute(
            "INSERT INTO messages VALUES (?, ?, ?::TIMESTAMPTZ, ?, ?, ?, ?, ?)",
            [message_id, thread, sent_at, sender, rec, len(rec), body, len(recs)],
        )
        self.con.execute("INSERT INTO pending_threads VALUES (?, 'conversations') ON CONFLICT DO NOTHING", [thread])

    def settle(self) -> None:
        """Rebuild the queued threads' conversations and queue them for billing (as the transforms do)."""
        self.con.execute(
            """
            CREATE OR REPLACE TEMP TABLE _t AS SELECT thread_id FROM pending_threads WHERE stage = 'conversations';
            DELETE FROM conversations WHERE thread_id IN (SELECT thread_id FROM _t);
            INSERT INTO conversations
            SELECT thread_id, min(sent_at), max(sent_at),
                   (epoch_us(max(sent_at)) - epoch_us(min(sent_at))) / 1e6, count(*),
                   len(list_distinct(flatten(list(list_prepend(sender, recipients))))),
                   list_sort(list_distinct(flatten(list(list_prepend(sender, recipients))))),
                   (list(sender ORDER BY sent_at, sender))[1],
                   len(list_distinct(flatten(list(list_prepend(sender, recipients))))) > 2
            FROM messages WHERE thread_id IN (SELECT thread_id FROM _t) GROUP BY thread_id;
            INSERT INTO pending_threads SELECT thread_id, 'billing' FROM _t ON CONFLICT DO NOTHING;
            DELETE FROM pending_threads WHERE stage = 'conversations';
            DROP TABLE _t;
            """
        )

    def billing(self) -> dict[tuple[str, str], dict[str, Any]]:
        """billing rows keyed by (YYYY-MM, local part of the JID)."""
        cur = self.con.execute("SELECT * FROM billing ORDER BY period, user_jid")
        names = [d[0] for d in cur.description]
        out = {}
        for values in cur.fetchall():
            row = dict(zip(names, values, strict=True))
            out[(row["period"].strftime("%Y-%m"), row["user_jid"].split("@")[0])] = row
        return out


def make_config(tmp_path: Path, *, directory: str | None = None, rates: str | None = None, **kw: Any) -> EurConfig:
    """An EurConfig whose directory/rates files hold the given text (None: not configured)."""
    paths: dict[str, Any] = {}
    if directory is not None:
        (tmp_path / "directory.csv").write_text(directory, encoding="utf-8")
        paths["directory"] = tmp_path / "directory.csv"
    if rates is not None:
        (tmp_path / "rates.yaml").write_text(rates, encoding="utf-8")
        paths["rates"] = tmp_path / "rates.yaml"
    raw: dict[str, Any] = {
        "warehouse": tmp_path / "warehouse.duckdb",
        "landing_dir": tmp_path / "landing",
        "sources": [
            {"name": "lab", "kind": "local", "path": str(tmp_path / "in"), "site": "Corporation 1/Avaya IM"},
            {"name": "branch", "kind": "local", "path": str(tmp_path / "in2"), "site": "Corporation 2/Branch"},
        ],
        **paths,
        **kw,
    }
    return EurConfig.model_validate(raw)
