"""Parse a large archive with every core: in parts in parallel, or whole in a child process.

A large plain file of a ``SplittableFormat`` is cut at record boundaries into one part per core
(``EUR_PARSE_PARTS`` overrides; ``split_cuts``, then ``parse_split``, as ``pipeline/collect.py`` does
first): this process parses and inserts the first, smallest part while one child per later part
parses it into an Arrow IPC file (under the landing folder); those are inserted next, in order, with
their record numbers shifted. Parsing is the critical path (the reference parser's own speed), so
this divides it by the number of cores. A part that fails to parse (a genuinely bad file, or a cut that was not
at a record boundary) rolls the load back and the file is parsed whole, so records, rejects and
quarantine reasons are exactly those of a whole parse.

Otherwise ``parser_for`` returns either the format's own in-process generator or ``parse_in_child``,
which runs ``python -m eur_pipeline.pipeline.parse_worker`` on the landed file and yields the Arrow
batches it streams back over a pipe (Arrow IPC). The writer stays in this process, in one
transaction per file, so nothing about the ledger changes:

* batches arrive in file order, and a ``QuarantineError`` in the child is raised here at the end of
  the stream (the child closes the stream, then reports it), so the whole file rolls back as before;
* rejects come back with the trailer (a small JSON file) and go into ``result`` as in-process;
* a parent killed at any point takes the child with it (PR_SET_PDEATHSIG, and a broken pipe on its
  next write); a child that dies makes the load fail (no commit), never load a partial file.

Process start-up costs ~0.3 s, so only files of at least ``EUR_PARSE_WORKER_MIN_MB`` (default 64)
use a child. ``EUR_PARSE_WORKERS=0`` parses everything in-process (the bench measures both).
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from eur_pipeline.errors import EurError, QuarantineError
from eur_pipeline.formats.base import MESSAGE_RECORD_SCHEMA, ParseResult, SplittableFormat
from eur_pipeline.formats.registry import get_format

WORKERS_ENV = "EUR_PARSE_WORKERS"
MIN_MB_ENV = "EUR_PARSE_WORKER_MIN_MB"
DEFAULT_MIN_MB = 64.0
PIPE_BYTES = 1 << 20
PARALLEL_BATCH_ROWS = 10_000  # smaller than in-process alone: two processes hold batches at once
# A later part's batches are read back and inserted this many at a time (one table of 40,000 rows):
# each INSERT, and the work queue's update after it, has a fixed cost that a 10,000-row batch does not
# amortise. On the bench's 578 MB archive, reading that part back and inserting it took 2.3–2.5 s
# instead of 2.8–3.1 (16 at a time: 1.9 s, but +40 MB), for ~15 MB more.
BATCHES_PER_INSERT = 4
# This process also inserts every row (and reads the children's parts back), so its own part is
# this share of an even one (0.45 of the file in two parts, 0.225 in four).
PARENT_SHARE = 0.45
PARTS_ENV = "EUR_PARSE_PARTS"
MAX_PARTS = 16

log = logging.getLogger(__name__)

Parser = Callable[[ParseResult], Iterator[pa.RecordBatch | pa.Table]]


class ParseWorkerError(EurError):
    """The parse child died or broke the stream; the file is not loaded and is retried next run."""


class SplitParseFailed(EurError):
    """A part of a split file did not parse: the load is rolled back and the file parsed whole."""


def use_worker(size_bytes: int) -> bool:
    """A child process for this file? Off with ``EUR_PARSE_WORKERS=0``; only for files worth the start-up."""
    if os.environ.get(WORKERS_ENV, "1").strip() == "0":
        return False
    return size_bytes >= float(os.environ.get(MIN_MB_ENV, DEFAULT_MIN_MB)) * 1e6


def parser_for(format_name: str, path: Path) -> Parser:
    """The ``parse`` callable ``load_archive`` wants: in a child process for large files, else in-process."""
    if use_worker(path.stat().st_size):
        log.info("%s: parsing in a child process while loading", path.name)
        return lambda result: parse_in_child(format_name, path, result)
    fmt = get_format(format_name)
    return lambda result: fmt.parse(path, result)


def split_parts() -> int:
    """How many parts a large file is cut into: ``EUR_PARSE_PARTS``, else one per core."""
    raw = os.environ.get(PARTS_ENV, "").strip()
    return max(1, min(int(raw) if raw.isdigit() else (os.cpu_count() or 1), MAX_PARTS))


def split_cuts(format_name: str, path: Path) -> list[int] | None:
    """Where to cut a large file into ``split_parts()`` parts for ``parse_split``:
    increasing record-start offsets, or None to parse it whole. This process inserts every row, so
    its own first part is the smallest (``PARENT_SHARE`` of an even share); the children share the
    rest evenly."""
    fmt = get_format(format_name)
    parts = split_parts()
    if parts < 2 or not use_worker(path.stat().st_size) or not isinstance(fmt, SplittableFormat):
        return None
    first = 2 * PARENT_SHARE / parts
    fractions = [first + k * (1 - first) / (parts - 1) for k in range(parts - 1)]
    cuts: list[int] = []
    for fraction in fractions:
        cut = fmt.split_point(path, fraction)
        if cut is None:
            break
        if not cuts or cut > cuts[-1]:
            cuts.append(cut)
    return cuts or None


def parse_split(
    format_name: str, path: Path, cuts: list[int], result: ParseResult, scratch: Path
) -> Iterator[pa.RecordBatch | pa.Table]:
    """Yield the batches of bytes ``[0, cuts[0])`` parsed here, then those of each later part, which
    children parsed meanwhile (one per part, in parallel) into files under ``scratch``, renumbered to
    follow on (``BATCHES_PER_INSERT`` to a table); raise SplitParseFailed (before the last batch) if
    any part fails."""
    fmt = get_format(format_name)
    assert isinstance(fmt, SplittableFormat) and cuts
    bounds = [*cuts, path.stat().st_size]
    with tempfile.TemporaryDirectory(prefix="split-", dir=scratch) as tmp:
        children: list[tuple[subprocess.Popen[bytes], Path, Path, Path]] = []
        try:
            for k, (start, end) in enumerate(itertools.pairwise(bounds)):
                out, trailer, errors = (Path(tmp) / f"part{k}.{ext}" for ext in ("arrows", "json", "stderr"))
                with open(errors, "wb") as err:
                    args = [format_name, str(path), str(trailer), str(start), str(end), str(out)]
                    proc = subprocess.Popen(
                        [sys.executable, "-m", __name__, *args], stdin=subprocess.DEVNULL, stderr=err
                    )
                children.append((proc, out, trailer, errors))
            head = ParseResult()
            try:
                yield from fmt.parse_range(path, 0, cuts[0], head, batch_size=PARALLEL_BATCH_ROWS)
            except QuarantineError as exc:
                raise SplitParseFailed(f"part 1 of {len(bounds)} did not parse ({exc})") from None
            offset, rejects, records = head.records_seen, list(head.rejects), head.record_count
            waiting = time.monotonic()
            for k, (proc, out, trailer, errors) in enumerate(children, start=2):
                try:
                    report = _child_report(proc, path, trailer, errors)
                except ParseWorkerError as exc:
                    raise SplitParseFailed(str(exc)) from None
                if report["quarantine"] is not None:
                    raise SplitParseFailed(f"part {k} of {len(bounds)} did not parse ({report['quarantine']})")
                with pa.OSFile(str(out)) as stream:
                    batches = iter(pa.ipc.open_stream(stream))
                    while group := list(itertools.islice(batches, BATCHES_PER_INSERT)):
                        yield pa.Table.from_batches([_renumbered(batch, offset) for batch in group])
                rejects += [{**r, "record_no": r["record_no"] + offset} for r in report["rejects"]]
                records += report["record_count"]
                offset += report["records_seen"]
            log.info(
                "%s: %d parts loaded; waited %.1f s for the others", path.name, len(bounds), time.monotonic() - waiting
            )
        finally:
            for proc, *_ in children:
                _reap(proc)
    result.rejects.extend(rejects)
    result.record_count += records
    result.records_seen += offset


def _renumbered(batch: pa.RecordBatch, offset: int) -> pa.RecordBatch:
    columns = batch.columns
    return pa.RecordBatch.from_arrays([pc.add(columns[0], offset), *columns[1:]], schema=MESSAGE_RECORD_SCHEMA)


def parse_in_child(format_name: str, path: Path, result: ParseResult) -> Iterator[pa.RecordBatch]:
    """Yield the batches a child parses from ``path``; raise its QuarantineError after the last one."""
    with tempfile.TemporaryDirectory(prefix="eur-parse-") as tmp:
        trailer = Path(tmp) / "trailer.json"
        errors = Path(tmp) / "stderr.txt"
        with open(errors, "wb") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", __name__, format_name, str(path), str(trailer)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        try:
            assert proc.stdout is not None
            _widen_pipe(proc.stdout.fileno())
            try:
                reader = pa.ipc.open_stream(proc.stdout)
                yield from reader
            except (pa.ArrowInvalid, OSError) as exc:
                proc.wait()
                raise ParseWorkerError(_died(path, proc.returncode, errors, exc)) from None
            report = _child_report(proc, path, trailer, errors)
        finally:
            _reap(proc)
            if proc.stdout is not None:
                proc.stdout.close()
        result.rejects.extend(report["rejects"])
        result.record_count += report["record_count"]
        if report.get("quarantine") is not None:
            raise QuarantineError(report["quarantine"])


def _widen_pipe(fd: int) -> None:
    """A larger pipe (Linux, up to fs.pipe-max-size) lets the child write ahead while this process inserts."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), PIPE_BYTES)
    except (OSError, ImportError):
        pass


def _child_report(proc: subprocess.Popen[bytes], path: Path, trailer: Path, errors: Path) -> dict[str, Any]:
    """Wait for a parse child; its report (rejects, counts, quarantine), or ParseWorkerError if it died."""
    code = proc.wait()
    if code != 0 or not trailer.exists():
        raise ParseWorkerError(_died(path, code, errors, None))
    return json.loads(trailer.read_text(encoding="utf-8"))


def _reap(proc: subprocess.Popen[bytes]) -> None:
    """Kill a child still running (the load stopped early) so no parser outlives its load."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def _died(path: Path, code: int | None, errors: Path, exc: Exception | None) -> str:
    tail = errors.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] if errors.exists() else []
    why = tail[0] if tail else (str(exc) if exc else "no report")
    return f"parsing {path.name} in a child process failed (exit {code}): {why}"


def _die_with_parent() -> None:
    """Linux: SIGKILL this child when its parent dies (a SIGKILLed collector never leaves a parser behind)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def main(argv: list[str]) -> int:
    """``FORMAT PATH TRAILER``: the whole file to stdout; ``FORMAT PATH TRAILER START END OUT``: bytes
    ``[START, END)`` (a later part of a split file) to the file OUT. The report goes to TRAILER."""
    format_name, path, trailer, *part = argv
    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before prctl took effect
        return 1
    fmt = get_format(format_name)
    result = ParseResult()
    quarantine: str | None = None
    if part:
        assert isinstance(fmt, SplittableFormat)
        start, end, out_path = int(part[0]), int(part[1]), part[2]
        batches = fmt.parse_range(Path(path), start, end, result, batch_size=PARALLEL_BATCH_ROWS)
        out = open(out_path, "wb")  # noqa: SIM115 - closed below, after the trailer is written
    else:
        batches = fmt.parse(Path(path), result, batch_size=PARALLEL_BATCH_ROWS)
        out = open(sys.stdout.fileno(), "wb", closefd=False)  # noqa: SIM115
    with out:
        writer = pa.ipc.new_stream(out, MESSAGE_RECORD_SCHEMA)
        try:
            for batch in batches:
                writer.write_batch(batch)
                out.flush()  # the whole batch now, not when the next one is written: the reader inserts it meanwhile
        except QuarantineError as exc:
            quarantine = str(exc)
        writer.close()
        report = {
            "rejects": result.rejects,
            "record_count": result.record_count,
            "records_seen": result.records_seen,
            "quarantine": quarantine,
        }
        part_file = Path(trailer).with_suffix(".part")
        part_file.write_text(json.dumps(report), encoding="utf-8")
        part_file.replace(trailer)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:  # the loading process went away: nothing to report to
        os._exit(1)
