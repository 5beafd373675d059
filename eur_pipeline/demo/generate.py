"""Realistic synthetic Presence Services archives: 2- and 3-party chats, IN/OUT copies, business
hours, several uploads a day, threads that continue into the next upload. Deterministic per seed."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from eur_pipeline.demo.avaya_writer import ARCHIVE_HEAD, ARCHIVE_TAIL, render_record

DOMAIN = "presence.example.com"
_WORDS = [
    "ok",
    "sure",
    "thanks",
    "meeting",
    "call",
    "later",
    "report",
    "ticket",
    "deploy",
    "lunch",
    "review",
    "budget",
    "customer",
    "invoice",
    "please",
    "can",
    "you",
    "send",
    "the",
    "file",
    "now",
    "today",
    "tomorrow",
    "yes",
    "no",
    "maybe",
    "done",
    "update",
    "status",
    "check",
    "agenda",
    "slides",
]
_SPICE = ["😀", "café", "Grüße", "東京", "R&D", "<b>", "a]]>b", "naïve", "ok!", "2 > 1"]


@dataclass(frozen=True)
class GenerateSpec:
    conversations: int = 2000
    users: int = 200
    days: int = 30
    seed: int = 1
    files_per_day: int = 4
    start: datetime = datetime(2026, 10, 1, tzinfo=UTC)
    one_file: bool = False


def _users(spec: GenerateSpec, rng: random.Random) -> list[str]:
    base = rng.randrange(20000, 60000)
    return [f"{base + i}@{DOMAIN}" for i in range(spec.users)]


def _body(rng: random.Random) -> str:
    words = rng.choices(_WORDS, k=rng.randint(1, 14))
    if rng.random() < 0.05:
        words.append(rng.choice(_SPICE))
    text = " ".join(words)
    return text.capitalize() if rng.random() < 0.5 else text


def _ts(instant: datetime) -> str:
    return instant.strftime("%Y-%m-%dT%H:%M:%S-UTC")


def _conversation(spec: GenerateSpec, rng: random.Random, users: list[str]) -> tuple[datetime, list[str]]:
    """(start, rendered records) of one chat; ~15 % invite a third party."""
    day = rng.randrange(spec.days)
    hour = min(23, max(0, int(rng.gauss(13, 3))))
    start = spec.start + timedelta(days=day, hours=hour, minutes=rng.randrange(60), seconds=rng.randrange(60))
    parties = rng.sample(users, 3 if rng.random() < 0.15 else 2)
    resources = {u: str(uuid.UUID(int=rng.getrandbits(128))) for u in parties}
    thread = str(uuid.UUID(int=rng.getrandbits(128))).upper()[:27]
    records = []
    instant = start
    for i in range(max(1, int(rng.expovariate(1 / 7)) + 1)):
        if i:
            instant += timedelta(seconds=rng.randint(2, 120))
        sender = parties[0] if i == 0 else rng.choice(parties)
        others = [p for p in parties if p != sender]
        body = _body(rng)
        jid = f"{sender}/{resources[sender]}"
        ts = _ts(instant)
        records.append(render_record("IN", ts, thread, jid, others[0], body))
        records.extend(render_record("OUT", ts, thread, jid, other, body) for other in others)
    return start, records


def generated_users(spec: GenerateSpec) -> list[str]:
    """The bare JIDs ``generate`` uses for this spec (same seed, same users)."""
    return _users(spec, random.Random(spec.seed))


def iter_conversations(spec: GenerateSpec) -> Iterator[tuple[datetime, list[str]]]:
    rng = random.Random(spec.seed)
    users = _users(spec, rng)
    for _ in range(spec.conversations):
        yield _conversation(spec, rng, users)


def _file_name(spec: GenerateSpec, start: datetime) -> str:
    slot_hours = 24 // max(1, spec.files_per_day)
    slot = start.replace(hour=(start.hour // slot_hours) * slot_hours, minute=0, second=0)
    return f"IMArchive_{slot:%Y%m%d_%H%M}.xml"


def generate(out_dir: Path, spec: GenerateSpec) -> list[Path]:
    """Write the archives; returns the files written (sorted). Memory is bounded by open file handles."""
    out_dir.mkdir(parents=True, exist_ok=True)
    handles: dict[str, object] = {}
    try:
        for start, records in iter_conversations(spec):
            name = f"IMArchive_{spec.start:%Y%m%d}_all.xml" if spec.one_file else _file_name(spec, start)
            handle = handles.get(name)
            if handle is None:
                handle = open(out_dir / (name + ".part"), "w", encoding="utf-8", newline="\n")  # noqa: SIM115
                handle.write(ARCHIVE_HEAD)
                handles[name] = handle
            handle.writelines(records)  # type: ignore[attr-defined]
    finally:
        for handle in handles.values():
            handle.write(ARCHIVE_TAIL)  # type: ignore[attr-defined]
            handle.close()  # type: ignore[attr-defined]
    paths = []
    for name in sorted(handles):
        final = out_dir / name
        (out_dir / (name + ".part")).replace(final)
        paths.append(final)
    return paths
