"""Download the next file while the current one is parsed and loaded.

A run of many uploads spends its time in two places that need different things: the network (the
download) and the CPU (parse, load). ``FetchAhead`` starts the next candidate's download in one
background thread as soon as the current file is on disk, so the two overlap. It changes nothing in
the reliability contract: the warehouse is only touched by the collecting thread, a file's remote
completion still waits for its own commit, and a download started ahead ends on disk under its
staging name exactly as one started in turn (or, when the run stops first, as a ``.part`` file
that is removed).

The source itself is called from one thread at a time: fetch and completion take the same lock,
so a source needs no thread safety of its own (an SFTP completion waits for the download in flight
to end, which is what the shared connection would have done anyway). ``EUR_FETCH_AHEAD=0`` downloads
each file in turn instead (``bench/sftp_collect.py`` measures both).
"""

from __future__ import annotations

import itertools
import logging
import os
import threading
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

from eur_pipeline.names import shown
from eur_pipeline.sources.base import FetchedFile, RemoteFile, Source

log = logging.getLogger(__name__)

ENABLED_ENV = "EUR_FETCH_AHEAD"


def enabled() -> bool:
    return os.environ.get(ENABLED_ENV, "1").strip() != "0"


class FetchAhead:
    """The collector's view of a source: ``fetch`` returns a download started ahead when there is
    one, then starts the next (``plan``: the files in collection order, ``stage``: where each
    lands, ``wanted``: whether a file needs downloading at all, asked on the collecting thread)."""

    def __init__(
        self,
        src: Source,
        plan: list[RemoteFile],
        stage: Callable[[RemoteFile], Path],
        wanted: Callable[[RemoteFile], bool],
    ) -> None:
        self._src = src
        self._next = {a.name: b for a, b in itertools.pairwise(plan)}
        self._stage = stage
        self._wanted = wanted
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None
        self._ahead: dict[str, Future[FetchedFile]] = {}

    def fetch(self, remote: RemoteFile, dest: Path) -> FetchedFile:
        """This file on disk (downloaded ahead, or now); then the next file's download begins."""
        ahead = self._ahead.pop(remote.name, None)
        try:
            fetched = (
                ahead.result() if ahead is not None and self._stage(remote) == dest else self._locked(remote, dest)
            )
        finally:
            self._start_next(remote)
        return fetched

    def complete(self, remote: RemoteFile) -> None:
        with self._lock:
            self._src.complete(remote)

    def close(self) -> None:
        """Drop downloads not yet begun; one in flight ends when the source closes its connection."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
        for future in self._ahead.values():
            future.cancel()
        self._ahead.clear()

    def _locked(self, remote: RemoteFile, dest: Path) -> FetchedFile:
        with self._lock:
            return self._src.fetch(remote, dest)

    def _start_next(self, remote: RemoteFile) -> None:
        following = self._next.get(remote.name)
        if following is None or following.name in self._ahead or not self._wanted(following):
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="fetch-ahead")
        log.debug("downloading %s ahead", shown(following.name))
        self._ahead[following.name] = self._pool.submit(self._locked, following, self._stage(following))
