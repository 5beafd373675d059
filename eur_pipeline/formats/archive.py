"""Open an archive file as a byte stream, decompressing ``.gz`` / ``.zip`` transparently.

Decompression is bounded (a bomb is quarantined, not allowed to fill the disk or memory).
"""

from __future__ import annotations

import gzip
import io
import zipfile
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from eur_pipeline.errors import QuarantineError

MIN_DECOMPRESSED_LIMIT = 1 << 30  # always allow 1 GiB ...
MAX_RATIO = 200  # ... or 200x the compressed size, whichever is larger


class _BoundedReader(io.RawIOBase):
    """Counts decompressed bytes and turns decompression errors into quarantine reasons."""

    def __init__(self, inner: BinaryIO, limit: int, what: str) -> None:
        self._inner, self._limit, self._what, self._read = inner, limit, what, 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        try:
            data = self._inner.read(len(buffer))
        except (OSError, EOFError, zlib.error, zipfile.BadZipFile) as exc:
            raise QuarantineError(f"cannot decompress {self._what}: {exc}") from None
        self._read += len(data)
        if self._read > self._limit:
            raise QuarantineError(
                f"{self._what} decompresses to more than {self._limit:,} bytes (decompression bomb limit)"
            )
        buffer[: len(data)] = data
        return len(data)


def decompressed_limit(compressed_size: int) -> int:
    return max(MIN_DECOMPRESSED_LIMIT, compressed_size * MAX_RATIO)


@contextmanager
def open_archive(path: Path) -> Iterator[BinaryIO]:
    """Yield a readable byte stream of the archive's XML (the members of a zip, one after another)."""
    size = path.stat().st_size
    limit = decompressed_limit(size)
    with open(path, "rb") as raw:
        magic = raw.read(4)
        raw.seek(0)
        if magic[:2] == b"\x1f\x8b":
            with gzip.GzipFile(fileobj=raw) as gz:
                yield io.BufferedReader(_BoundedReader(gz, limit, "gzip data"), 1 << 16)  # type: ignore[arg-type]
        elif magic == b"PK\x03\x04" or path.suffix.lower() == ".zip":
            yield from _open_zip(raw, limit)
        else:
            yield raw


def _open_zip(raw: BinaryIO, limit: int) -> Iterator[BinaryIO]:
    try:
        archive = zipfile.ZipFile(raw)
    except zipfile.BadZipFile as exc:
        raise QuarantineError(f"not a readable zip archive: {exc}") from None
    with archive:
        members = sorted(i.filename for i in archive.infolist() if not i.is_dir())
        if len(members) != 1:
            raise QuarantineError(f"zip archive holds {len(members)} files; exactly one XML file is expected")
        with archive.open(members[0]) as member:
            yield io.BufferedReader(_BoundedReader(member, limit, f"zip member {members[0]}"), 1 << 16)  # type: ignore[arg-type]
