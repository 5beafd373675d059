"""The landing backup (Avotus' ProcessedFileBkp): one kept copy of every collected file."""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path

from eur_pipeline.compliance.at_rest import DIR_MODE, restrict
from eur_pipeline.errors import local_file_error
from eur_pipeline.names import landing_name
from eur_pipeline.sources.base import fsync_dir


def staging_path(landing_dir: Path, source: str, name: str) -> Path:
    """Where a download lands before its content is known (hidden, per source; a safe local name)."""
    return landing_dir / ".incoming" / source / landing_name(name)


def parse_scratch(landing_dir: Path) -> Path:
    """An empty folder for a split file's later parts (``parse_worker.parse_split``): whatever a
    killed run left there (up to half a file's records as Arrow) is removed first."""
    folder = landing_dir / ".incoming" / ".parse"
    shutil.rmtree(folder, ignore_errors=True)
    try:
        folder.mkdir(parents=True)
    except OSError as exc:
        raise local_file_error("create folder", folder, exc) from None
    return folder


def keep_backup(staged: Path, landing_dir: Path, source: str, name: str, sha256: str) -> Path:
    """Move a staged download to ``landing_dir/<source>/<name>``; a different file already under that
    name is never overwritten (the new one gets a ``.<sha12>`` suffix). The same content left there by
    a run killed before its commit is simply replaced, so a crash never leaves a second copy."""
    folder = landing_dir / source
    target = folder / landing_name(name)
    try:
        if target.exists() and not _same_content(target, sha256):
            target = target.with_name(f"{target.name}.{sha256[:12]}")
        target.parent.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
        os.replace(staged, target)
        restrict(target)  # owner-only, whatever the umask was when it was downloaded
        fsync_dir(target.parent)
    except OSError as exc:
        raise local_file_error("keep the backup copy", target, exc) from None
    return target


def _same_content(path: Path, sha256: str) -> bool:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest() == sha256
