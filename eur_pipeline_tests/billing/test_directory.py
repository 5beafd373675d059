"""Directory CSV: the extension rule (Python and SQL agree) and errors that name the line."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eur_pipeline.billing.directory import extension_of, load_directory
from eur_pipeline.errors import ConfigError
from eur_pipeline.warehouse.migrations import migrate

HEADER = "handle,name,department,cost_center,site\n"


@pytest.mark.parametrize(
    ("jid", "length", "expected"),
    [
        ("56208@presence.bvwdev.com", 5, "56208"),
        ("1556208@presence.bvwdev.com", 5, "56208"),
        ("1556208@presence.bvwdev.com", 7, "1556208"),
        ("208@presence.bvwdev.com", 5, "208"),  # shorter: as it is
        ("0012345678@x", 10, "0012345678"),  # leading zeros are digits too
        ("alice@x", 5, None),
        ("5620a@x", 5, None),
        ("56208@x/resource-1", 5, "56208"),
        ("", 5, None),
        (None, 5, None),
    ],
)
def test_extension_of(jid: str | None, length: int, expected: str | None) -> None:
    assert extension_of(jid, length) == expected


@settings(max_examples=200, deadline=None)
@given(
    local=st.text(alphabet="0123456789ab.-", min_size=0, max_size=14),
    length=st.integers(min_value=5, max_value=10),
)
def test_sql_macro_agrees_with_python(local: str, length: int) -> None:
    con = duckdb.connect()
    migrate(con)  # the tables, then the views file's macros
    jid = f"{local}@presence.example.com"
    assert con.execute("SELECT eur_extension(?, ?)", [jid, length]).fetchall() == [(extension_of(jid, length),)]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "directory.csv"
    path.write_bytes(text.encode("utf-8"))
    return path


def test_loads_jids_and_extensions(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "\ufeffHandle, Name ,department,cost_center,site,notes\n"
        " Alice@IM.Example.com ,Alice,Sales,CC-1,Corp/Paris,x\n"
        "\n"
        '10002,"Brown, Bob",,,,\n',
    )
    directory = load_directory(path, 5)
    assert [e.handle for e in directory.entries] == ["alice@im.example.com", "10002"]
    bob = directory.lookup("9910002@im.example.com")
    assert bob is not None and bob.name == "Brown, Bob" and bob.line == 4
    assert (bob.department, bob.cost_center, bob.site) == (None, None, None)  # empty → falls back
    assert directory.lookup("alice@im.example.com") is not None
    assert directory.lookup("10003@im.example.com") is None


def test_jid_handle_wins_over_extension(tmp_path: Path) -> None:
    path = write(tmp_path, HEADER + "10002,Desk phone,,,\n10002@a.example,Exact,,,\n")
    directory = load_directory(path, 5)
    assert directory.lookup("10002@a.example").name == "Exact"  # type: ignore[union-attr]
    assert directory.lookup("10002@b.example").name == "Desk phone"  # type: ignore[union-attr]


def test_no_directory_configured() -> None:
    assert load_directory(None, 5).entries == ()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", r"line 1: the directory is empty"),
        ("handle,name,department,site\n", r"line 1: header lacks column\(s\) cost_center"),
        (HEADER + "a@x,A,,,\nb@x,B,,\n", r"line 3: expected 5 fields, found 4"),
        (HEADER + "a@x,A,,,\n,B,,,\n", r"line 3: handle is empty"),
        (HEADER + "a@x,A,,,\nbob smith,B,,,\n", r"line 3: handle 'bob smith' is neither a bare JID"),
        (HEADER + "a@x/desk,A,,,\n", r"line 2: handle 'a@x/desk' has a /resource"),
        (HEADER + "a@b@c,A,,,\n", r"line 2: handle 'a@b@c' is not a bare JID"),
        (HEADER + "1234567,A,,,\n", r"line 2: extension '1234567' has 7 digits but extension_length is 5"),
        (HEADER + "a@x,A,,,\n\nb@x,B,,,\nA@X,C,,,\n", r"line 5: handle 'a@x' already listed on line 2"),
        (HEADER + 'a@x,"unterminated,,,\n', r"line 2: unexpected end of data"),
    ],
)
def test_errors_name_file_line_and_reason(tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as info:
        load_directory(path, 5)
    assert str(info.value).startswith(str(path))


def test_missing_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="directory file not found"):
        load_directory(tmp_path / "nope.csv", 5)
    (tmp_path / "latin1.csv").write_bytes(HEADER.encode() + "b@x,Bj\xf6rk,,,\n".encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_directory(tmp_path / "latin1.csv", 5)
