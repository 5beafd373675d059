"""The source protocol: list → fetch to a local temporary file → complete after the warehouse commit.

A source never decides what is loaded; the collector (``eur_pipeline.pipeline.collect``) does, and
calls ``complete`` only once the file's data is committed.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from eur_pipeline.config.model import SourceConfig
from eur_pipeline.errors import SourceError
from eur_pipeline.faults import fault_point

COPY_CHUNK = 1 << 20


@dataclass(frozen=True, order=True)
class RemoteFile:
    """One candidate file as listed: ``name`` is relative to the source's folder."""

    name: str
    size: int
    mtime: float

    @property
    def key(self) -> tuple[str, int, float]:
        return (self.name, self.size, self.mtime)


@dataclass(frozen=True)
class FetchedFile:
    """A downloaded file: complete, size-verified, fsynced, at ``path``."""

    remote: RemoteFile
    path: Path
    size: int
    sha256: str


@runtime_checkable
class Source(Protocol):
    """What a source plugin provides. Instances are context managers (connect on enter)."""

    kind: ClassVar[str]
    Options: ClassVar[type[BaseModel]]
    config: SourceConfig

    def __enter__(self) -> Source: ...

    def __exit__(self, *exc: object) -> None: ...

    def list_files(self) -> list[RemoteFile]:
        """Every file matching the pattern (not yet filtered by readiness)."""

    def fetch(self, remote: RemoteFile, dest: Path) -> FetchedFile:
        """Download to ``dest`` atomically (temporary name, verify size, sha256, fsync, rename)."""

    def complete(self, remote: RemoteFile) -> None:
        """Apply ``on_success`` (delete / move / keep); called only after the data is committed."""


def is_candidate_name(name: str, pattern: str) -> bool:
    """Pattern match, skipping dot files and the usual temporary upload names."""
    base = name.rsplit("/", 1)[-1]
    if not base or base.startswith(".") or base.startswith("~"):
        return False
    lower = base.lower()
    if lower.endswith((".tmp", ".part", ".partial", ".filepart", ".crdownload", ".swp")):
        return False
    return any(fnmatch.fnmatchcase(base, p) for p in pattern_variants(pattern))


def pattern_variants(pattern: str) -> list[str]:
    """``*.xml`` also admits ``*.xml.gz`` and ``*.zip`` archives (read transparently by the formats)."""
    variants = [pattern]
    if not pattern.endswith((".gz", ".zip")):
        variants.append(pattern + ".gz")
        stem = pattern.rsplit(".", 1)[0] if "." in pattern.rsplit("/", 1)[-1] else pattern
        variants.append(stem + ".zip")
    return variants


def ready_files(
    listing: Iterable[RemoteFile],
    min_age_seconds: float,
    now: float | None = None,
    previous: Mapping[str, tuple[int, float]] | None = None,
) -> list[RemoteFile]:
    """Files safe to collect: non-empty, older than ``min_age_seconds`` and, when ``previous``
    (name → (size, mtime) from the last listing) is given, unchanged since then."""
    now = time.time() if now is None else now
    ready = []
    for f in listing:
        if f.size <= 0 or now - f.mtime < min_age_seconds:
            continue
        if previous is not None and previous.get(f.name) != (f.size, f.mtime):
            continue
        ready.append(f)
    return sorted(ready, key=lambda f: (f.mtime, f.name))


def stream_to_file(
    reader: BinaryIO, remote: RemoteFile, dest: Path, source_name: str, chunk: int = COPY_CHUNK
) -> FetchedFile:
    """Copy a stream to ``dest`` via a temporary name: sha256 while streaming, size check, fsync, rename."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.part")
    digest = hashlib.sha256()
    size = 0
    try:
        with open(tmp, "wb") as out:
            while True:
                block = reader.read(chunk)
                if not block:
                    break
                digest.update(block)
                out.write(block)
                size += len(block)
                fault_point("download")
            out.flush()
            os.fsync(out.fileno())
        if size != remote.size:
            raise SourceError(
                f"{source_name}: {remote.name}: size changed during download "
                f"(listed {remote.size} bytes, got {size}); will retry on the next run"
            )
        os.replace(tmp, dest)
        fsync_dir(dest.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return FetchedFile(remote=remote, path=dest, size=size, sha256=digest.hexdigest())


def fsync_dir(path: Path) -> None:
    """Make a rename durable (POSIX): fsync the directory entry."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
