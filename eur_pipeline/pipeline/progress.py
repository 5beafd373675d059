"""Progress of a collection, for whoever watches it in this process (the CLI's progress bar or its
one line per source). The collector reports; with no watcher nothing happens. Plain Python."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from eur_pipeline.pipeline.collect import FileResult, SourceReport


class Watcher(Protocol):
    def source_started(self, source: str, files: int) -> None: ...
    def file_done(self, result: FileResult) -> None: ...
    def source_done(self, report: SourceReport) -> None: ...


_watchers: list[Watcher] = []


@contextmanager
def watching(watcher: Watcher) -> Iterator[Watcher]:
    _watchers.append(watcher)
    try:
        yield watcher
    finally:
        _watchers.remove(watcher)


def source_started(source: str, files: int) -> None:
    for w in _watchers:
        w.source_started(source, files)


def file_done(result: FileResult) -> None:
    for w in _watchers:
        w.file_done(result)


def source_done(report: SourceReport) -> None:
    for w in _watchers:
        w.source_done(report)
