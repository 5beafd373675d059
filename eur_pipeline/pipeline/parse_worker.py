"""Parse a large archive in a child process while this one loads it: the second core does the XML.

``load_archive`` takes a ``parse`` callable; ``parser_for`` returns either the format's own
in-process generator or ``parse_in_child``, which runs ``python -m eur_pipeline.pipeline.parse_worker``
on the landed file and yields the Arrow batches it streams back over a pipe (Arrow IPC). The writer
stays in this process, in one transaction per file, so nothing about the ledger changes:

* batches arrive in file order, and a ``QuarantineError`` in the child is raised here at the end of
  the stream (the child closes the stream, then reports it), so the whole file rolls back as before;
* rejects come back with the trailer (a small JSON file) and go into ``result`` as in-process;
* a parent killed at any point takes the child with it (PR_SET_PDEATHSIG, and a broken pipe on its
  next write); a child that dies makes the load fail (no commit), never load a partial file.

Process start-up costs ~0.3 s and the overlap saves the load time (~3 ms/MB), so only files of at least
``EUR_PARSE_WORKER_MIN_MB`` (default 64) go to a child. ``EUR_PARSE_WORKERS=0`` turns it off (the bench
measures both).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa

from eur_pipeline.errors import EurError, QuarantineError
from eur_pipeline.formats.base import MESSAGE_RECORD_SCHEMA, ParseResult
from eur_pipeline.formats.registry import get_format

WORKERS_ENV = "EUR_PARSE_WORKERS"
MIN_MB_ENV = "EUR_PARSE_WORKER_MIN_MB"
DEFAULT_MIN_MB = 64.0
PIPE_BYTES = 1 << 20
CHILD_BATCH_ROWS = 20_000  # smaller than in-process: two processes hold batches at once

log = logging.getLogger(__name__)

Parser = Callable[[ParseResult], Iterator[pa.RecordBatch]]


class ParseWorkerError(EurError):
    """The parse child died or broke the stream; the file is not loaded and is retried next run."""


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
            code = proc.wait()
            if code != 0 or not trailer.exists():
                raise ParseWorkerError(_died(path, code, errors, None))
            report = json.loads(trailer.read_text(encoding="utf-8"))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
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
    format_name, path, trailer = argv
    parent = os.getppid()
    _die_with_parent()
    if os.getppid() != parent:  # the parent died before prctl took effect
        return 1
    result = ParseResult()
    quarantine: str | None = None
    with open(sys.stdout.fileno(), "wb", closefd=False) as out:
        writer = pa.ipc.new_stream(out, MESSAGE_RECORD_SCHEMA)
        try:
            for batch in get_format(format_name).parse(Path(path), result, batch_size=CHILD_BATCH_ROWS):
                writer.write_batch(batch)
                out.flush()  # the whole batch now, not when the next one is written: the reader inserts it meanwhile
        except QuarantineError as exc:
            quarantine = str(exc)
        report = {"rejects": result.rejects, "record_count": result.record_count, "quarantine": quarantine}
        part = Path(trailer).with_suffix(".part")
        part.write_text(json.dumps(report), encoding="utf-8")
        part.replace(trailer)
        writer.close()
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv[1:]))
    except BrokenPipeError:  # the loading process went away: nothing to report to
        os._exit(1)
