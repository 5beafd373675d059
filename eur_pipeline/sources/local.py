"""A local (or mounted) folder as a source: the drop-folder case and the simplest plugin."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import ClassVar

from pydantic import BaseModel, ConfigDict

from eur_pipeline.config.model import SourceConfig
from eur_pipeline.errors import PermanentSourceError, SourceError
from eur_pipeline.names import shown
from eur_pipeline.sources.base import FetchedFile, RemoteFile, fsync_dir, is_candidate_name, stream_to_file


class LocalOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: Path
    recursive: bool = False


class LocalSource:
    """Lists ``path`` (optionally recursively); completes by deleting or moving within the folder."""

    kind: ClassVar[str] = "local"
    Options: ClassVar[type[BaseModel]] = LocalOptions

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self.options = LocalOptions.model_validate(config.options)
        self.root = self.options.path

    def __enter__(self) -> LocalSource:
        if not self.root.is_dir():
            raise PermanentSourceError(f"{self.config.name}: folder {self.root} does not exist")
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def list_files(self) -> list[RemoteFile]:
        found: list[RemoteFile] = []
        move_dir = self._move_dir()
        walker = os.walk(self.root) if self.options.recursive else [(str(self.root), [], None)]
        for folder, dirnames, _ in walker:
            dirnames[:] = [d for d in dirnames if not d.startswith(".") and Path(folder, d) != move_dir]
            with os.scandir(folder) as entries:
                for entry in entries:
                    if not entry.is_file(follow_symlinks=False):
                        continue
                    name = os.path.relpath(entry.path, self.root) if self.options.recursive else entry.name
                    if not is_candidate_name(name, self.config.pattern):
                        continue
                    st = entry.stat(follow_symlinks=False)
                    found.append(RemoteFile(name=name, size=st.st_size, mtime=st.st_mtime))
        return sorted(found, key=lambda f: f.name)  # names are unique: no field-by-field dataclass compare

    def fetch(self, remote: RemoteFile, dest: Path) -> FetchedFile:
        try:
            with open(self.root / remote.name, "rb") as reader:
                return stream_to_file(reader, remote, dest, self.config.name)
        except FileNotFoundError:
            raise SourceError(f"{self.config.name}: {shown(remote.name)} disappeared before it was collected") from None

    def complete(self, remote: RemoteFile) -> None:
        path = self.root / remote.name
        if self.config.on_success == "delete":
            path.unlink(missing_ok=True)
            fsync_dir(path.parent)
        elif self.config.on_success == "move":
            target = self._move_dir() / remote.name
            target.parent.mkdir(parents=True, exist_ok=True)
            if path.exists():
                shutil.move(path, target)

    def _move_dir(self) -> Path:
        move_to = Path(self.config.move_to or "collected")
        return move_to if move_to.is_absolute() else self.root / move_to
