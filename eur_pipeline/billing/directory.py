"""The directory CSV (``handle,name,department,cost_center,site``): who a JID is, and where they belong.

An optional ``aliases`` column lists the same person's other bare JIDs (space- or ``;``-separated),
e.g. their Mattermost login and their ejabberd JID: billing counts them as the handle's one user.

Handles are bare JIDs (``56208@presence.example.com``) or extensions (``56208``). A JID matches a
row by its bare JID first, then by its extension (the rule of :func:`extension_of`, the same one
the SQL macro ``eur_extension`` applies). A malformed row stops the run with its line number:
a chargeback silently computed against half a directory is worse than no chargeback.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import duckdb
import pyarrow as pa

from eur_pipeline.errors import ConfigError

COLUMNS = ("handle", "name", "department", "cost_center", "site")
_DIGITS = re.compile(r"[0-9]+")
# A bare JID: local@domain, no resource, no whitespace, nothing the warehouse would never store.
_BARE_JID = re.compile(r"[^@/\s]+@[^@/\s]+")


def extension_of(jid: str | None, length: int) -> str | None:
    """The rightmost ``length`` digits of a numeric local part (shorter ones as they are), else None.

    Same rule as the SQL macro ``eur_extension(jid, length)`` in ``sql/views_reporting.sql``.
    """
    if not jid:
        return None
    local = jid.split("@", 1)[0].split("/", 1)[0]
    if not _DIGITS.fullmatch(local):
        return None
    return local[-length:]


@dataclass(frozen=True)
class DirectoryEntry:
    """One directory row; empty optional cells are None so they fall back (site → source's site)."""

    handle: str
    name: str | None
    department: str | None
    cost_center: str | None
    site: str | None
    line: int
    aliases: tuple[str, ...] = ()

    @property
    def is_extension(self) -> bool:
        return "@" not in self.handle


@dataclass(frozen=True)
class Directory:
    """The validated directory, indexed by bare JID and by extension."""

    entries: tuple[DirectoryEntry, ...]
    extension_length: int

    @cached_property
    def _by_handle(self) -> dict[str, DirectoryEntry]:
        return {e.handle: e for e in self.entries}

    def lookup(self, jid: str) -> DirectoryEntry | None:
        """The row for a bare JID: exact handle first, then its extension."""
        entry = self._by_handle.get(jid)
        if entry is None:
            ext = extension_of(jid, self.extension_length)
            # handles with "@" never equal a digits-only extension, so one dict serves both
            entry = self._by_handle.get(ext) if ext is not None else None
        return entry

    def to_arrow(self) -> pa.Table:
        """The rows as an Arrow table (for a DuckDB join; no row-by-row inserts)."""
        return pa.table(
            {
                "handle": pa.array([e.handle for e in self.entries], pa.string()),
                "name": pa.array([e.name for e in self.entries], pa.string()),
                "department": pa.array([e.department for e in self.entries], pa.string()),
                "cost_center": pa.array([e.cost_center for e in self.entries], pa.string()),
                "site": pa.array([e.site for e in self.entries], pa.string()),
            }
        )

    def store(self, con: duckdb.DuckDBPyConnection) -> None:
        """Replace the warehouse's ``directory`` table with these rows (inside the caller's transaction)."""
        rows = self.to_arrow()
        rows = rows.append_column(
            "user_jid", pa.array([None if e.is_extension else e.handle for e in self.entries], pa.string())
        ).append_column(
            "extension",
            pa.array(
                [e.handle if e.is_extension else extension_of(e.handle, self.extension_length) for e in self.entries],
                pa.string(),
            ),
        )
        con.execute("DELETE FROM directory")
        con.register("_directory_rows", rows)
        try:
            con.execute("INSERT INTO directory BY NAME SELECT * FROM _directory_rows")
        finally:
            con.unregister("_directory_rows")

    def fingerprint_rows(self) -> list[tuple[str | None, ...]]:
        """What billing depends on (not line numbers): a reordered file does not force a rebuild."""
        return sorted(
            (e.handle, e.name, e.department, e.cost_center, e.site, *((" ".join(e.aliases),) if e.aliases else ()))
            for e in self.entries
        )

    def alias_table(self) -> pa.Table:
        """(alias, handle) for every alias: the JIDs billing folds into their handle's user."""
        pairs = [(a, e.handle) for e in self.entries for a in e.aliases]
        return pa.table(
            {
                "alias": pa.array([a for a, _ in pairs], pa.string()),
                "handle": pa.array([h for _, h in pairs], pa.string()),
            }
        )


def empty_directory(extension_length: int) -> Directory:
    return Directory(entries=(), extension_length=extension_length)


def _cell(value: str | None) -> str | None:
    value = (value or "").strip()
    return value or None


def _parse_handle(raw: str, extension_length: int) -> str:
    """Normalise a handle the way the warehouse stores JIDs (trimmed, lower-case); raise ValueError why not."""
    handle = raw.strip().lower()
    if not handle:
        raise ValueError("handle is empty")
    if "@" in handle:
        if "/" in handle:
            raise ValueError(f"handle {raw.strip()!r} has a /resource; use the bare JID")
        if not _BARE_JID.fullmatch(handle):
            raise ValueError(f"handle {raw.strip()!r} is not a bare JID (local@domain)")
        return handle
    if not _DIGITS.fullmatch(handle):
        raise ValueError(f"handle {raw.strip()!r} is neither a bare JID (local@domain) nor an extension (digits)")
    if len(handle) > extension_length:
        raise ValueError(
            f"extension {handle!r} has {len(handle)} digits but extension_length is {extension_length}; "
            "it could never match"
        )
    return handle


def _parse_aliases(raw: str, handle: str, extension_length: int) -> tuple[str, ...]:
    """The person's other bare JIDs; only a JID handle can have them (billing rows are per JID)."""
    aliases = tuple(a for a in (_parse_handle(p, extension_length) for p in re.split(r"[;\s]+", raw.strip()) if p))
    if aliases and "@" not in handle:
        raise ValueError(f"aliases need a bare JID handle, not the extension {handle!r}")
    bad = [a for a in aliases if "@" not in a]
    if bad:
        raise ValueError(f"alias {bad[0]!r} is not a bare JID (local@domain)")
    return aliases


def load_directory(path: Path | None, extension_length: int) -> Directory:
    """Read and validate the directory CSV; any problem → ConfigError naming file, line and reason.

    The header must name the five columns (any order; extra columns are ignored). Blank lines are
    skipped. A handle listed twice is an error: which row wins would otherwise be arbitrary.
    """
    if path is None:
        return empty_directory(extension_length)
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise ConfigError(f"{path}: directory file not found (key: directory)") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: directory is not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    except OSError as exc:
        raise ConfigError(f"{path}: directory cannot be read: {exc.strerror}") from None

    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise ConfigError(f"{path}: line 1: {exc}") from None
    if header is None:
        raise ConfigError(f"{path}: line 1: the directory is empty; expected the header {','.join(COLUMNS)}")
    names = [h.strip().lower() for h in header]
    missing = [c for c in COLUMNS if c not in names]
    if missing:
        raise ConfigError(f"{path}: line 1: header lacks column(s) {', '.join(missing)}; expected {','.join(COLUMNS)}")
    index = {c: names.index(c) for c in COLUMNS}
    alias_index = names.index("aliases") if "aliases" in names else None

    entries: list[DirectoryEntry] = []
    seen: dict[str, int] = {}
    while True:
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as exc:
            raise ConfigError(f"{path}: line {reader.line_num}: {exc}") from None
        line = reader.line_num
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            raise ConfigError(f"{path}: line {line}: expected {len(header)} fields, found {len(row)}")
        try:
            handle = _parse_handle(row[index["handle"]], extension_length)
        except ValueError as exc:
            raise ConfigError(f"{path}: line {line}: {exc}") from None
        if handle in seen:
            raise ConfigError(f"{path}: line {line}: handle {handle!r} already listed on line {seen[handle]}")
        seen[handle] = line
        try:
            aliases = _parse_aliases(row[alias_index] if alias_index is not None else "", handle, extension_length)
        except ValueError as exc:
            raise ConfigError(f"{path}: line {line}: {exc}") from None
        for alias in aliases:
            if alias in seen:
                raise ConfigError(f"{path}: line {line}: alias {alias!r} already listed on line {seen[alias]}")
            seen[alias] = line
        entries.append(
            DirectoryEntry(
                handle=handle,
                name=_cell(row[index["name"]]),
                department=_cell(row[index["department"]]),
                cost_center=_cell(row[index["cost_center"]]),
                site=_cell(row[index["site"]]),
                line=line,
                aliases=aliases,
            )
        )
    return Directory(entries=tuple(entries), extension_length=extension_length)


__all__ = ["COLUMNS", "Directory", "DirectoryEntry", "empty_directory", "extension_of", "load_directory"]
