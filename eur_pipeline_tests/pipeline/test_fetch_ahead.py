"""The next file downloads while the current one loads; a failed download ahead fails only its own
file; nothing already collected is downloaded again; a completion still follows its own commit."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from eur_pipeline.config import EurConfig
from eur_pipeline.errors import TransientSourceError
from eur_pipeline.pipeline import collect
from eur_pipeline.sources.base import FetchedFile, RemoteFile
from eur_pipeline.sources.registry import open_source
from eur_pipeline_tests.conftest import archive_text, chat, drop
from eur_pipeline_tests.pipeline.test_collect import A, B, run_once

WAIT_SECONDS = 10.0


class Recorded:
    """The real local source, with what was asked of it (and when) written down."""

    def __init__(self, src: Any, events: list[str], fail: set[str], started: dict[str, threading.Event]) -> None:
        self._src, self.events, self.fail, self.started = src, events, fail, started

    def __getattr__(self, name: str) -> Any:
        return getattr(self._src, name)

    def fetch(self, remote: RemoteFile, dest: Path) -> FetchedFile:
        self.events.append(f"fetch {remote.name} on {threading.current_thread().name.split('_')[0]}")
        self.started.setdefault(remote.name, threading.Event()).set()
        if remote.name in self.fail:
            raise TransientSourceError(f"drop: {remote.name}: connection reset during download")
        return self._src.fetch(remote, dest)

    def complete(self, remote: RemoteFile) -> None:
        self.events.append(f"complete {remote.name}")
        self._src.complete(remote)


@pytest.fixture
def recorded(monkeypatch: pytest.MonkeyPatch) -> tuple[list[str], set[str], dict[str, threading.Event]]:
    events: list[str] = []
    fail: set[str] = set()
    started: dict[str, threading.Event] = {}

    @contextmanager
    def opened(cfg: Any) -> Iterator[Recorded]:
        with open_source(cfg) as src:
            yield Recorded(src, events, fail, started)

    real_load = collect.load_landed

    def load_landed(con: Any, ident: Any, *args: Any, **kwargs: Any) -> Any:
        events.append(f"load {ident.name}")
        following = {"a.xml": "b.xml", "b.xml": "c.xml"}.get(ident.name)
        if following and following not in fail:  # the next download begins while this file loads
            assert started.setdefault(following, threading.Event()).wait(WAIT_SECONDS), f"{following} not fetched ahead"
        outcome = real_load(con, ident, *args, **kwargs)
        events.append(f"committed {ident.name}")
        return outcome

    monkeypatch.setattr(collect, "open_source", opened)
    monkeypatch.setattr(collect, "load_landed", load_landed)
    return events, fail, started


def _three_files(incoming: Path) -> None:
    for n, name in enumerate(("a.xml", "b.xml", "c.xml")):
        drop(incoming, name, archive_text(chat(f"T{n}", f"2024-01-0{n + 1}T10:00:00Z", A, [B], f"message {n}")))


def test_the_next_download_overlaps_the_load_and_completion_follows_the_commit(
    make_config: Callable[..., EurConfig], recorded: tuple[list[str], set[str], dict[str, threading.Event]]
) -> None:
    events, _, _ = recorded
    config = make_config(source={"on_success": "delete"})
    incoming = Path(config.sources[0].options["path"])
    _three_files(incoming)
    [report] = run_once(config)
    assert [f.outcome for f in report.files] == ["parsed"] * 3
    assert events.index("fetch b.xml on fetch-ahead") < events.index("committed a.xml")
    assert events.index("fetch c.xml on fetch-ahead") < events.index("committed b.xml")
    for name in ("a.xml", "b.xml", "c.xml"):
        assert events.index(f"committed {name}") < events.index(f"complete {name}")
    assert not list(incoming.iterdir())


def test_a_failed_download_ahead_fails_only_its_file_and_it_is_collected_next_run(
    make_config: Callable[..., EurConfig], recorded: tuple[list[str], set[str], dict[str, threading.Event]]
) -> None:
    _, fail, _ = recorded
    config = make_config(source={"on_success": "delete"})
    incoming = Path(config.sources[0].options["path"])
    _three_files(incoming)
    fail.add("b.xml")
    [report] = run_once(config)
    assert [(f.name, f.outcome) for f in report.files] == [
        ("a.xml", "parsed"),
        ("b.xml", "failed"),
        ("c.xml", "parsed"),
    ]
    assert report.files[1].detail == "drop: b.xml: connection reset during download"
    assert sorted(p.name for p in incoming.iterdir()) == ["b.xml"]
    fail.clear()
    [again] = run_once(config)
    assert [(f.name, f.outcome) for f in again.files] == [("b.xml", "parsed")]


def test_files_already_collected_are_not_downloaded_again(
    make_config: Callable[..., EurConfig], recorded: tuple[list[str], set[str], dict[str, threading.Event]]
) -> None:
    events, _, started = recorded
    config = make_config(source={"on_success": "keep"})
    _three_files(Path(config.sources[0].options["path"]))
    run_once(config)
    events.clear()
    for event in started.values():
        event.set()  # nothing loads this time; no wait
    [again] = run_once(config)
    assert [f.outcome for f in again.files] == ["skipped"] * 3
    assert not [e for e in events if e.startswith("fetch")]
