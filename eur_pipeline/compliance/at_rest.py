"""Files the pipeline creates are readable by their owner only (0600 files, 0700 folders).

:func:`owner_only_umask` is set at process start (the command line, and every Dagster step that opens
the warehouse); :func:`restrict` also fixes files created before this rule or by other tools.
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def owner_only_umask() -> None:
    """New files 0600, new folders 0700, for the rest of this process."""
    os.umask(0o077)


def restrict(path: Path, recursive: bool = False) -> None:
    """chmod ``path`` (and, when ``recursive``, everything under it) to owner-only; missing paths are fine."""
    with contextlib.suppress(FileNotFoundError):
        _chmod(path)
        if recursive and path.is_dir():
            for root, dirs, files in os.walk(path):
                for name in dirs + files:
                    with contextlib.suppress(FileNotFoundError):
                        _chmod(Path(root) / name)


def _chmod(path: Path) -> None:
    mode = path.lstat().st_mode
    if stat.S_ISLNK(mode):
        return
    wanted = DIR_MODE if stat.S_ISDIR(mode) else FILE_MODE
    if stat.S_IMODE(mode) & 0o077 or stat.S_IMODE(mode) & wanted != wanted:
        os.chmod(path, wanted)


def make_private_dir(path: Path) -> Path:
    """``mkdir -p`` with 0700 on the folder itself."""
    path.mkdir(parents=True, exist_ok=True, mode=DIR_MODE)
    restrict(path)
    return path
