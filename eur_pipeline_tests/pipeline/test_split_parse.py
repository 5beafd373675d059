"""A large file parsed in parts (this process + a child per later part) loads exactly what a whole
parse loads, for any part count: the same records with the same numbers, the same rejects, the
same quarantine reason — and a cut that is not at a record boundary is detected and the file
parsed whole."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from eur_pipeline.formats.base import ParseResult
from eur_pipeline.formats.registry import get_format
from eur_pipeline.pipeline import collect, parse_worker
from eur_pipeline.pipeline.parse_worker import PARTS_ENV, SplitParseFailed, parse_split, split_cuts
from eur_pipeline.warehouse.ledger import FileIdentity
from eur_pipeline.warehouse.loader import load_archive
from eur_pipeline.warehouse.migrations import open_warehouse
from eur_pipeline_tests.conftest import archive_text, chat

CORPUS = Path(__file__).parent.parent / "corpus"
FILES = sorted([CORPUS / "seed_sample.xml", *(CORPUS / "hostile").iterdir()])
FORMAT = "avaya_presence_xml"


@pytest.fixture(autouse=True)
def split_small_files(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every file is 'large' here, so the split path runs on small test files."""
    monkeypatch.setenv(parse_worker.MIN_MB_ENV, "0")
    monkeypatch.delenv(parse_worker.WORKERS_ENV, raising=False)
    monkeypatch.setenv(PARTS_ENV, "2")


def loaded(tmp_path: Path, path: Path, split: bool) -> tuple:
    """What the warehouse holds after loading ``path`` (split as the collector does, or whole in-process)."""
    con = open_warehouse(tmp_path / f"{path.name}-{split}.duckdb")
    ident = FileIdentity("s", path.name, path.stat().st_size, "ab" * 32, 0.0, FORMAT, str(path), datetime.now(UTC))
    if split:
        collect.load_landed(con, ident, path, tmp_path / "landing")
    else:
        load_archive(con, ident, lambda result: get_format(FORMAT).parse(path, result))
    state = (
        con.execute("SELECT * EXCLUDE (file_id) FROM message_records ORDER BY record_no").fetchall(),
        con.execute("SELECT record_no, reason, raw FROM rejected_records ORDER BY record_no").fetchall(),
        con.execute("SELECT status, error, record_count, rejected_count FROM archive_files").fetchall(),
    )
    con.close()
    return state


def big_chat(tmp_path: Path, records: int, body: str = "hello") -> Path:
    rows = []
    for i in range(records // 2):
        rows += chat(f"t{i % 97}", f"2024-01-0{1 + i % 9}T10:{i % 60:02d}:00Z", f"u{i % 13}@x.com", ["b@x.com"], body)
    path = tmp_path / "big.xml"
    path.write_text(archive_text(rows))
    return path


@pytest.mark.parametrize("path", FILES, ids=[p.name for p in FILES])
def test_corpus_loads_the_same_split_or_whole(tmp_path: Path, path: Path) -> None:
    assert loaded(tmp_path, path, split=True) == loaded(tmp_path, path, split=False)


def test_rejects_on_both_sides_of_the_cut_keep_their_numbers(tmp_path: Path) -> None:
    path = big_chat(tmp_path, 4000)
    text = path.read_text()
    path.write_text(text.replace("<timestamp>2024-01-05", "<timestamp>bad"))  # ~1 in 9, all through the file
    (cut,) = split_cuts(FORMAT, path) or [None]
    assert cut is not None and 0.4 < cut / path.stat().st_size < 0.6
    split = loaded(tmp_path, path, split=True)
    assert split == loaded(tmp_path, path, split=False)
    numbers = [r[0] for r in split[0]] + [r[0] for r in split[1]]
    assert sorted(numbers) == list(range(1, 4001))
    assert max(r[0] for r in split[1]) > 3000 and split[2][0][3] == len(split[1]) > 400


def test_a_later_part_is_inserted_a_few_batches_at_a_time_in_file_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child's part comes back in batches of PARALLEL_BATCH_ROWS and is inserted
    BATCHES_PER_INSERT of them at a time: the numbers still run on, and nothing is lost at a group's end."""
    monkeypatch.setattr(parse_worker, "BATCHES_PER_INSERT", 2)
    path = big_chat(tmp_path, 46_000)
    path.write_text(path.read_text().replace("<timestamp>2024-01-05", "<timestamp>bad"))
    cuts = split_cuts(FORMAT, path)
    assert cuts is not None
    sizes = [part.num_rows for part in parse_split(FORMAT, path, cuts, ParseResult(), tmp_path)]
    rows = parse_worker.PARALLEL_BATCH_ROWS
    head = sizes.index(2 * rows)  # the child's part: groups of two full batches, then what is left
    assert all(n <= rows for n in sizes[:head]) and sizes[head:-1] == [2 * rows] * (len(sizes) - head - 1)
    assert 0 < sizes[-1] <= 2 * rows
    split = loaded(tmp_path, path, split=True)
    assert split == loaded(tmp_path, path, split=False)
    assert sorted(r[0] for r in split[0] + split[1]) == list(range(1, 46_001))


def test_a_cut_inside_cdata_is_detected_and_the_file_parsed_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = big_chat(tmp_path, 2000, body='quoting <message direction="IN"> in a body')
    text = path.read_bytes()
    inside = text.index(b'<message direction="IN">', text.index(b"CDATA[quoting", len(text) // 2))
    with pytest.raises(SplitParseFailed, match="did not parse"):
        list(parse_split(FORMAT, path, [inside], ParseResult(), tmp_path))
    monkeypatch.setattr(collect, "split_cuts", lambda fmt, p: [inside])
    assert loaded(tmp_path, path, split=True) == loaded(tmp_path, path, split=False)


def test_a_bad_second_half_is_quarantined_with_the_whole_parse_reason(tmp_path: Path) -> None:
    path = big_chat(tmp_path, 2000)
    path.write_bytes(path.read_bytes()[:-300])  # truncated
    split = loaded(tmp_path, path, split=True)
    assert split == loaded(tmp_path, path, split=False)
    assert split[0] == [] and split[2][0][0] == "quarantined" and "line" in split[2][0][1]


def test_compressed_or_namespaced_files_are_not_cut(tmp_path: Path) -> None:
    assert split_cuts(FORMAT, CORPUS / "hostile" / "gzip_ok.xml.gz") is None
    path = big_chat(tmp_path, 200)
    path.write_text(path.read_text().replace("<messages>", '<messages xmlns="urn:x">'))
    assert split_cuts(FORMAT, path) is None


@pytest.mark.parametrize("parts", range(1, 9))
def test_any_part_count_loads_what_a_whole_parse_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, parts: int
) -> None:
    """1 to 8 parts (one per core by default): the cuts grow, the first part (this process, which also
    inserts) is the smallest, and records and rejects keep their whole-file numbers across every cut."""
    monkeypatch.setenv(PARTS_ENV, str(parts))
    path = big_chat(tmp_path, 4000)
    path.write_text(path.read_text().replace("<timestamp>2024-01-05", "<timestamp>bad"))
    cuts = split_cuts(FORMAT, path)
    size = path.stat().st_size
    if parts == 1:
        assert cuts is None  # one part: parsed whole
    else:
        assert cuts is not None and len(cuts) == parts - 1 and cuts == sorted(set(cuts))
        shares = [b - a for a, b in zip([0, *cuts], [*cuts, size], strict=True)]
        assert shares[0] == min(shares) and max(shares) < 2 * size / parts
    split = loaded(tmp_path, path, split=True)
    assert split == loaded(tmp_path, path, split=False)
    assert sorted(r[0] for r in split[0] + split[1]) == list(range(1, 4001))


def test_a_bad_middle_part_of_many_is_quarantined_with_the_whole_parse_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(PARTS_ENV, "5")
    path = big_chat(tmp_path, 4000)
    data = path.read_bytes()
    middle = data.index(b"<message", len(data) // 2)
    path.write_bytes(data[:middle] + b"<message><oops" + data[middle:])  # not well-formed, inside part 3
    split = loaded(tmp_path, path, split=True)
    assert split == loaded(tmp_path, path, split=False)
    assert split[0] == [] and split[2][0][0] == "quarantined"
