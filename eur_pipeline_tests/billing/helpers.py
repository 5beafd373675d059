"""Small hand-built warehouses for billing tests: rows are inserted directly (no parser needed)."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import duckdb

from eur_pipeline.config import EurConfig
from eur_pipeline.demo.sample_billing import SAMPLE_RATES

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
            recs.append([file_id, self._record_no, direction, sent_at, thread, sender, recipient, body, body])
        self.con.executemany(
            "INSERT INTO message_records (file_id, record_no, direction, sent_at, thread_id, sender, "
            "recipient, body, body_sha256) VALUES (?, ?, ?, ?::TIMESTAMPTZ, ?, ?, ?, ?, sha256(?))",
            recs,
        )
        message_id = hashlib.md5(f"{thread}|{sender}|{sent_at}|{body}".encode()).hexdigest()
        rec = sorted(set(recipients) - {sender})
        self.con.execute(
            "INSERT INTO messages VALUES (?, ?, ?::TIMESTAMPTZ, ?, ?, ?, ?, ?, sha256(?))",
            [message_id, thread, sent_at, sender, rec, len(rec), body, len(recs), body],
        )
        self.con.execute(
            "INSERT INTO pending_threads SELECT ?, 'conversations' EXCEPT SELECT thread_id, stage FROM pending_threads",
            [thread],
        )

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
            INSERT INTO pending_threads
            SELECT thread_id, 'billing' FROM _t EXCEPT SELECT thread_id, stage FROM pending_threads;
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


def bulk_messages(wh: Warehouse, messages: list[tuple[str, str, list[str], str, str]]) -> None:
    """Insert many (thread, sender, recipients, sent_at, source) messages at once, through Arrow."""
    import pyarrow as pa

    records: dict[str, list[Any]] = {
        k: [] for k in ("file_id", "record_no", "direction", "sent_at", "thread_id", "sender", "recipient", "body")
    }
    msgs: dict[str, list[Any]] = {
        k: []
        for k in (
            "message_id",
            "thread_id",
            "sent_at",
            "sender",
            "recipients",
            "recipient_count",
            "body",
            "record_count",
        )
    }
    for thread, sender, recipients, sent_at, source in messages:
        file_id = wh._file_id(source)
        copies = [("IN", recipients[0])] + [("OUT", r) for r in recipients]
        for direction, recipient in copies:
            wh._record_no += 1
            for key, value in zip(
                records, (file_id, wh._record_no, direction, sent_at, thread, sender, recipient, "hi"), strict=True
            ):
                records[key].append(value)
        rec = sorted(set(recipients) - {sender})
        message_id = hashlib.md5(f"{thread}|{sender}|{sent_at}".encode()).hexdigest()
        for key, value in zip(
            msgs, (message_id, thread, sent_at, sender, rec, len(rec), "hi", len(copies)), strict=True
        ):
            msgs[key].append(value)
    wh.con.register("_recs", pa.table(records))
    wh.con.register("_msgs", pa.table(msgs))
    wh.con.execute("INSERT INTO message_records BY NAME SELECT * REPLACE (sent_at::TIMESTAMPTZ AS sent_at) FROM _recs")
    wh.con.execute("INSERT INTO messages BY NAME SELECT * REPLACE (sent_at::TIMESTAMPTZ AS sent_at) FROM _msgs")
    wh.con.execute(
        "INSERT INTO pending_threads SELECT DISTINCT thread_id, 'conversations' FROM _msgs "
        "EXCEPT SELECT thread_id, stage FROM pending_threads"
    )
    wh.con.unregister("_recs")
    wh.con.unregister("_msgs")
    wh.settle()


SITES = ("Corporation 1/Paris", "Corporation 1/Lyon", "Corporation 2/London")
DEPARTMENTS = ("Sales", "Engineering", "Finance", "Support", "Marketing")

DEMO_RATES = SAMPLE_RATES  # the demo's own rate plans (two plans, site and department assignment)


def populate_demo(wh: Warehouse, seed: int = 7, users: int = 30) -> str:
    """Two months of office-hours chats (1:1 and 3-party) among ``users`` people; returns the directory CSV.

    A few users are left out of the directory so the report shows the source-site fallback.
    """
    import random
    from datetime import datetime, timedelta

    rng = random.Random(seed)
    first = [
        "Ada",
        "Ben",
        "Cleo",
        "Dev",
        "Eli",
        "Fay",
        "Gus",
        "Hana",
        "Ivo",
        "Jo",
        "Kai",
        "Lea",
        "Max",
        "Nia",
        "Oto",
        "Pia",
        "Quin",
        "Rui",
        "Sol",
        "Tea",
        "Uma",
        "Vic",
        "Wen",
        "Xia",
        "Yan",
        "Zoe",
    ]
    people = [(f"{20000 + i}@{DOMAIN}", f"{first[i % len(first)]} {chr(65 + i // len(first))}.") for i in range(users)]
    lines = ["handle,name,department,cost_center,site"]
    for i, (who, name) in enumerate(people[: users - 3]):
        dept = DEPARTMENTS[i % len(DEPARTMENTS)]
        handle = who if i % 4 else who.split("@")[0]  # every 4th listed by extension
        lines.append(f"{handle},{name},{dept},CC-{100 + DEPARTMENTS.index(dept) * 10},{SITES[i % len(SITES)]}")
    weights = [1 / (i + 1) ** 0.8 for i in range(users)]  # a few talkers talk a lot
    rows: list[tuple[str, str, list[str], str, str]] = []
    start = datetime(2024, 2, 1)
    for n in range(420):
        day = start + timedelta(days=rng.randrange(0, 60))
        if day.weekday() >= 5 and rng.random() < 0.8:
            day += timedelta(days=2)
        hour = min(max(int(rng.gauss(13, 2.6)), 7), 20)
        at = day.replace(hour=hour, minute=rng.randrange(60), second=rng.randrange(60))
        size = 3 if rng.random() < 0.2 else 2
        party: list[str] = []
        while len(party) < size:
            who = rng.choices(people, weights)[0][0]
            if who not in party:
                party.append(who)
        for k in range(rng.randint(1, 12)):
            sender = party[0] if k == 0 else rng.choice(party)
            sent = at + timedelta(seconds=40 * k + rng.randrange(30))
            source = "branch" if party[0].endswith(("7@" + DOMAIN, "9@" + DOMAIN)) else "lab"
            rows.append((f"D{n}", sender, [p for p in party if p != sender], sent.isoformat() + "+00:00", source))
    bulk_messages(wh, rows)
    return "\n".join(lines) + "\n"
