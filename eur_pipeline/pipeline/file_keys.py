"""The key of one file of one source, as Dagster's per-file partitions use it.

A key is ``<source>:<name>`` with the name reduced to a conservative character set; when that
changes or shortens the name, a hash of the real name is appended so two files never share a key.
Keys are not reversible on purpose: ingestion resolves a key by recomputing it for the names it
lists (or finds in the ledger), so any file name is supported.
"""

from __future__ import annotations

import functools
import hashlib
import re

_UNSAFE = re.compile(r"[^A-Za-z0-9._@+=/-]")
MAX_NAME_CHARS = 160


@functools.lru_cache(maxsize=1 << 18)  # a sensor recomputes the key of every listed name each tick
def partition_key(source: str, name: str) -> str:
    """The partition key of one file of one source (source names are already key-safe)."""
    safe = _UNSAFE.sub("_", name).replace("...", "_._")
    if safe != name or len(safe) > MAX_NAME_CHARS:
        digest = hashlib.sha256(name.encode("utf-8", "surrogateescape")).hexdigest()[:10]
        safe = f"{safe[:MAX_NAME_CHARS]}~{digest}"
    return f"{source}:{safe}"


def source_of(key: str) -> str:
    return key.split(":", 1)[0]


def stamp_key(source: str, name: str, size: int, mtime: float) -> str:
    """One version of a file as a sensor requested it: its partition key, size and mtime."""
    return f"{partition_key(source, name)}|{size}|{mtime!r}"
