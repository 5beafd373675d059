"""What the command line shows: the progress bar on a terminal, one line per source otherwise."""

from __future__ import annotations

import io

from eur_pipeline.output import CollectProgress
from eur_pipeline.pipeline import progress
from eur_pipeline.pipeline.collect import FileResult, SourceReport


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _collect(watcher: CollectProgress) -> None:
    with progress.watching(watcher):
        progress.source_started("drop", 3)
        report = SourceReport("drop")
        for i in range(3):
            result = FileResult("drop", f"f{i}.xml", "parsed", records=10)
            report.files.append(result)
            progress.file_done(result)
        progress.source_done(report)


def test_a_terminal_gets_a_progress_bar_then_the_summary() -> None:
    out = Terminal()
    _collect(CollectProgress(out))
    text = out.getvalue()
    assert "3/3" in text and "file" in text  # tqdm's bar, drawn as the files went by
    assert text.rstrip().endswith("drop: 3 parsed; 30 records")


def test_a_pipe_gets_one_line_per_source() -> None:
    out = io.StringIO()
    _collect(CollectProgress(out))
    assert out.getvalue() == "drop: 3 parsed; 30 records\n"
