"""File names as a hostile or odd server lists them: what is shown, stored, and used on local disk.

A listed name is kept exactly as the server sent it (a ``str`` whose undecodable bytes are lone
surrogates, ``surrogateescape``), so the remote file can always be addressed again. From it:

* :func:`shown` — for log lines and messages: control characters and undecodable bytes escaped, so
  a name can never split a line or forge one;
* :func:`ledger_name` — for the warehouse (``archive_files.name``): valid UTF-8, undecodable bytes
  replaced by U+FFFD;
* :func:`landing_name` — for the local file system: one safe path component of bounded length,
  unique per listed name (a digest of the real name is appended whenever the name had to change);
* :func:`refusal` — why a listed entry cannot be a file inside the source's folder at all
  (``..``, absolute, a path separator): such an entry is reported, never opened, deleted or moved.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata

# bytes per landing file name: most file systems allow 255; room is left for ".<sha12>" / ".part" suffixes
MAX_LANDING_BYTES = 180
_SAFE = re.compile(r"[^A-Za-z0-9._@+=-]")


def raw_bytes(name: str) -> bytes:
    """The name's bytes exactly as listed."""
    return name.encode("utf-8", "surrogateescape")


def decode_listed(raw: bytes) -> str:
    """A listed name from the wire: lossless (undecodable bytes become lone surrogates)."""
    return raw.decode("utf-8", "surrogateescape")


def ledger_name(name: str) -> str:
    """Valid UTF-8 for the warehouse: the listed name decoded with replacement."""
    return raw_bytes(name).decode("utf-8", "replace")


def shown(name: object) -> str:
    """A name (or any text) safe to put in one log line: controls and undecodable bytes escaped."""
    text = str(name)
    if text.isprintable():
        return text
    out = []
    for ch in text:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # an undecodable byte kept by surrogateescape
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == "\\":
            out.append("\\\\")
        elif unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            out.append(ch.encode("unicode_escape").decode("ascii"))
        else:
            out.append(ch)
    return "".join(out)


def landing_name(name: str) -> str:
    """One safe, bounded local path component for a listed name (relative paths flattened with ``__``).

    Ordinary names are kept as they are; any other name is reduced to a safe character set, cut to
    ``MAX_LANDING_BYTES`` and given ``~<digest of the real name>``, so two names never share a file."""
    flat = name.replace("/", "__")
    if flat == _SAFE.sub("_", flat) and len(flat.encode()) <= MAX_LANDING_BYTES and not flat.startswith("."):
        return flat
    digest = hashlib.sha256(raw_bytes(name)).hexdigest()[:12]
    safe = _SAFE.sub("_", ledger_name(flat)).lstrip(".") or "file"
    stem, dot, ext = safe.rpartition(".")
    ext = f".{ext}" if dot and stem and len(ext) <= 8 else ""
    stem = safe[: len(safe) - len(ext)] if ext else safe
    room = MAX_LANDING_BYTES - len(ext) - len(digest) - 1
    return f"{stem[:room]}~{digest}{ext}"


def refusal(name: str) -> str | None:
    """Why a listed entry is not a plain file name inside the listed folder (None: it is)."""
    if not name:
        return "the server listed an empty name"
    if name in (".", ".."):
        return f"the server listed {name!r} as a file"
    if name.startswith("/"):
        return "the server listed an absolute path, not a name inside remote_path"
    if "/" in name:
        return "the listed name holds a path separator (outside remote_path)"
    if "\0" in name:
        return "the listed name holds a NUL byte"
    return None


__all__ = ["decode_listed", "landing_name", "ledger_name", "raw_bytes", "refusal", "shown"]
