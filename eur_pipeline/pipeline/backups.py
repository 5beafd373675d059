"""The landing backups' manifest: what a rebuild needs to know about each backup besides its bytes.

A backup file holds the content, but not the name it was listed under (landing names are made
safe), its source, its remote mtime or when it was collected. Each kept backup therefore appends one
JSON line to ``landing_dir/.manifest.jsonl`` (flushed and fsynced, like the backup itself), before
the file is loaded. A run killed before its commit re-collects the file and appends a second line
for the same content: the last line per content wins, which is the one the ledger committed.
Backups from before the manifest (no line) are read from their path: source = folder, name = file
name, collected_at = file mtime.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from eur_pipeline.errors import local_file_error
from eur_pipeline.warehouse.ledger import FileIdentity

MANIFEST = ".manifest.jsonl"


def note_backup(landing_dir: Path, ident: FileIdentity, kind: str = "backup") -> None:
    """Append one backup's identity to the manifest (durably). ``kind="sighting"``: the same content
    listed under another name (no second backup is kept; the ledger's sighting is rebuilt from it)."""
    line = json.dumps(
        {
            "kind": kind,
            "source": ident.source,
            "name": ident.name,
            "size_bytes": ident.size_bytes,
            "sha256": ident.sha256,
            "remote_mtime": ident.remote_mtime,
            "format": ident.format,
            "landing_path": ident.landing_path,
            "collected_at": ident.collected_at.isoformat(),
        },
        ensure_ascii=True,
    )
    path = landing_dir / MANIFEST
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            os.write(fd, (line + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise local_file_error("append to the landing manifest", path, exc) from None


@dataclass(frozen=True)
class Backup:
    """One landing backup to load again, and the identity its ledger row had."""

    ident: FileIdentity
    path: Path


def list_backups(landing_dir: Path, formats: dict[str, str]) -> tuple[list[Backup], list[FileIdentity]]:
    """Every backup under ``landing_dir`` (oldest collection first), from the manifest, plus files
    without a manifest line (``formats``: source → format for those); and the sightings of contents
    already backed up under another name."""
    latest: dict[str, FileIdentity] = {}
    sightings: list[FileIdentity] = []
    manifest = landing_dir / MANIFEST
    if manifest.exists():
        with open(manifest, encoding="ascii") as handle:
            for line in handle:
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by a crash mid-append: its file is re-collected and noted again
                row["collected_at"] = datetime.fromisoformat(row["collected_at"])
                kind = row.pop("kind", "backup")
                ident = FileIdentity(**row)
                if kind == "sighting":
                    sightings.append(ident)
                else:
                    latest[ident.sha256] = ident
    backups = [Backup(i, _existing(landing_dir, i)) for i in latest.values()]
    backups = [b for b in backups if b.path.is_file()]
    known = {b.path.resolve() for b in backups}
    for source, fmt in formats.items():
        folder = landing_dir / source
        if not folder.is_dir():
            continue
        for path in sorted(folder.iterdir()):
            if path.name.startswith(".") or not path.is_file() or path.resolve() in known:
                continue
            st = path.stat()
            ident = FileIdentity(
                source=source,
                name=path.name,
                size_bytes=st.st_size,
                sha256="",  # computed when loaded
                remote_mtime=st.st_mtime,
                format=fmt,
                landing_path=str(path),
                collected_at=datetime.fromtimestamp(st.st_mtime, UTC),
            )
            backups.append(Backup(ident, path))
    return sorted(backups, key=lambda b: (b.ident.collected_at, b.ident.source, b.ident.name)), sightings


def _existing(landing_dir: Path, ident: FileIdentity) -> Path:
    """The backup's path as recorded, or under this ``landing_dir`` when the folder was moved."""
    recorded = Path(ident.landing_path)
    if recorded.is_file():
        return recorded
    return landing_dir / ident.source / recorded.name
