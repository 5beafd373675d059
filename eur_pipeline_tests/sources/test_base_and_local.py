"""Readiness rule, candidate names and the local folder source."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from eur_pipeline.config import SourceConfig
from eur_pipeline.errors import SourceError
from eur_pipeline.sources.base import RemoteFile, is_candidate_name, ready_files, stream_to_file
from eur_pipeline.sources.local import LocalSource


@pytest.mark.parametrize(
    ("name", "ok"),
    [
        ("a.xml", True),
        ("a.xml.gz", True),
        ("a.zip", True),
        ("sub/a.xml", True),
        (".a.xml", False),
        ("a.xml.part", False),
        ("a.xml.tmp", False),
        ("~a.xml", False),
        ("a.txt", False),
        ("A.XML", False),
    ],
)
def test_candidate_names(name: str, ok: bool) -> None:
    assert is_candidate_name(name, "*.xml") is ok


def test_ready_files_rules() -> None:
    now = 1_000_000.0
    listing = [
        RemoteFile("old.xml", 10, now - 120),
        RemoteFile("young.xml", 10, now - 5),
        RemoteFile("empty.xml", 0, now - 500),
        RemoteFile("growing.xml", 20, now - 100),
    ]
    assert [f.name for f in ready_files(listing, 60, now)] == ["old.xml", "growing.xml"]
    previous = {"old.xml": (10, now - 120), "growing.xml": (15, now - 130)}
    assert [f.name for f in ready_files(listing, 60, now, previous)] == ["old.xml"]
    assert [f.name for f in ready_files(listing, 0, now)] == ["old.xml", "growing.xml", "young.xml"]


def local(tmp_path: Path, **extra: object) -> LocalSource:
    cfg = SourceConfig.model_validate({"name": "l", "kind": "local", "path": str(tmp_path), **extra})
    return LocalSource(cfg)


def test_local_lists_fetches_and_verifies(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_bytes(b"<messages/>")
    (tmp_path / ".hidden.xml").write_bytes(b"x")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.xml").write_bytes(b"<messages/>")
    with local(tmp_path) as src:
        [remote] = src.list_files()
        fetched = src.fetch(remote, tmp_path.parent / f"{tmp_path.name}-out" / "a.xml")
    assert fetched.size == 11 and len(fetched.sha256) == 64
    assert fetched.path.read_bytes() == b"<messages/>"
    assert [p.name for p in fetched.path.parent.iterdir()] == ["a.xml"]  # no temporary left behind
    with local(tmp_path, recursive=True) as src:
        assert [f.name for f in src.list_files()] == ["a.xml", "sub/b.xml"]


def test_size_change_during_download_leaves_no_file(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_bytes(b"<messages/>")
    remote = RemoteFile("a.xml", 5, 0.0)
    with open(tmp_path / "a.xml", "rb") as reader, pytest.raises(SourceError, match="changed during download"):
        stream_to_file(reader, remote, tmp_path / "out" / "a.xml", "l")
    assert not list((tmp_path / "out").iterdir())


def test_missing_folder_is_a_permanent_error(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist") as exc, local(tmp_path / "nope"):
        pass
    assert exc.value.retryable is False


def test_move_completion_creates_target_and_keeps_name(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_bytes(b"x")
    with local(tmp_path, on_success="move", move_to="done") as src:
        [remote] = src.list_files()
        src.complete(remote)
        assert src.list_files() == []
    assert (tmp_path / "done" / "a.xml").read_bytes() == b"x"
    os.remove(tmp_path / "done" / "a.xml")
