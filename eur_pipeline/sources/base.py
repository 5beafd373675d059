"""The source protocol: list units → fetch each to a local file → complete after the warehouse commit.

A unit is a file at the source, or (database sources) a bounded batch of rows materialized as one
canonical file; downstream of ``fetch`` the two are the same. A source never decides what is
loaded; the collector (``eur_pipeline.pipeline.collect``) does, and calls ``complete`` only once the
unit's data is committed. Optional members: ``default_format`` (the format of the units when the
config names none) and ``resume(ledger)`` (called before listing with a read view of what the
warehouse already holds from this source, for sources that list incrementally), ``reads_ahead``
(true when fetching keeps a thread of its own busy with the next unit: the loading connection then
leaves it a core).
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import hashlib
import os
import re
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Protocol, runtime_checkable

from pydantic import BaseModel

from eur_pipeline.config.model import SourceConfig
from eur_pipeline.errors import SourceError, local_file_error
from eur_pipeline.faults import fault_point
from eur_pipeline.names import shown

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
    # Bookkeeping the unit writes in the same transaction as its ledger row (``con, file_id``), e.g.
    # a database source's row ids: what makes its watermark exactly-once.
    on_commit: Callable[[Any, str], None] | None = None
    # What the source already mapped from these exact bytes for the unit's format (a database batch
    # mapped in the read-ahead thread), or the ``QuarantineError`` that mapping raised; None: parse
    # the landed copy.
    mapped: Any = None


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
    return _matcher(pattern)(base) is not None


@functools.cache
def _matcher(pattern: str) -> Callable[[str], object]:
    """One compiled regex for a pattern and its archive variants (listings of 100,000 names)."""
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in pattern_variants(pattern))).match


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
    """Copy a stream to ``dest`` via a temporary name: sha256 while streaming, size check, fsync, rename.

    Never reads more than the listed size (plus one byte, to notice a file that grew): a file whose
    content never ends cannot fill the landing folder. A local write failure (disk full, read-only,
    permission) is a :class:`LocalFileError` naming the path, never mistaken for a network error."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise local_file_error("create folder", dest.parent, exc) from None
    tmp = dest.with_name(f".{dest.name}.part")
    digest = hashlib.sha256()
    size = 0
    what = f"{source_name}: {shown(remote.name)}"
    try:
        try:
            out = open(tmp, "wb")  # noqa: SIM115 - closed below
        except OSError as exc:
            raise local_file_error("write", tmp, exc) from None
        with out:
            while size < remote.size:
                block = reader.read(min(chunk, remote.size - size))
                if not block:
                    break
                digest.update(block)
                _local(lambda b=block: out.write(b), "write", tmp)
                size += len(block)
                fault_point("download")
            grew = size == remote.size and bool(reader.read(1))
            _local(out.flush, "write", tmp)
            _local(lambda: os.fsync(out.fileno()), "write", tmp)
        if grew:
            raise SourceError(
                f"{what}: changed during download (grew past the listed {remote.size} bytes); "
                "taken once its size and mtime are stable"
            )
        if size != remote.size:
            raise SourceError(
                f"{what}: changed during download (listed {remote.size} bytes, got {size}); "
                "taken once its size and mtime are stable"
            )
        _local(lambda: os.replace(tmp, dest), "rename into", dest)
        _local(lambda: fsync_dir(dest.parent), "sync folder", dest.parent)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise
    return FetchedFile(remote=remote, path=dest, size=size, sha256=digest.hexdigest())


def _local(action: Callable[[], object], doing: str, path: Path) -> None:
    try:
        action()
    except OSError as exc:
        raise local_file_error(doing, path, exc) from None


def fsync_dir(path: Path) -> None:
    """Make a rename durable (POSIX): fsync the directory entry."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
