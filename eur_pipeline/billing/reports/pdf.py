"""PDFs of the report pages (finance files PDFs), printed by headless Chromium with the pages' print CSS.

Chromium is found as ``$EUR_CHROMIUM``, else ``chromium`` / ``chromium-browser`` / ``google-chrome`` on
PATH. It runs with networking off for the page (the pages fetch nothing anyway) and a throwaway profile.
Pages are printed two at a time; a page that fails to print names itself in the error.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from eur_pipeline.errors import EurError

_CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# A headless Chromium that stays offline and quiet (no updates, sync or first-run pages); the browser
# tests launch it with the same flags.
OFFLINE_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
)
_FLAGS = ("--headless", *OFFLINE_FLAGS, "--no-pdf-header-footer", "--run-all-compositor-stages-before-draw")


class PdfError(EurError):
    """A page could not be printed (no Chromium, or Chromium failed on it)."""


def find_chromium() -> str | None:
    """The Chromium binary to print with, or None."""
    explicit = os.environ.get("EUR_CHROMIUM")
    if explicit:
        return explicit if Path(explicit).is_file() else None
    return next((found for name in _CANDIDATES if (found := shutil.which(name))), None)


def print_pdf(html: Path, pdf: Path, chromium: str, timeout: float = 120) -> Path:
    """Print one page to ``pdf`` (atomically: a temp name, then rename)."""
    tmp = pdf.with_name(f".{pdf.name}.tmp")
    with tempfile.TemporaryDirectory(prefix="eur-pdf-") as profile:
        cmd = [chromium, *_FLAGS, f"--user-data-dir={profile}", f"--print-to-pdf={tmp}", html.resolve().as_uri()]
        try:
            done = subprocess.run(cmd, capture_output=True, timeout=timeout, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PdfError(f"{html}: cannot print to PDF with {chromium}: {exc}") from None
    if done.returncode != 0 or not tmp.is_file() or tmp.stat().st_size == 0:
        tmp.unlink(missing_ok=True)
        raise PdfError(f"{html}: {chromium} printed no PDF (exit {done.returncode})")
    os.replace(tmp, pdf)
    return pdf


def print_pdfs(pages: Sequence[tuple[Path, Path]], chromium: str | None = None, workers: int = 2) -> list[Path]:
    """Print every (html, pdf) pair; raises PdfError when Chromium is missing or a page fails."""
    if not pages:
        return []
    chromium = chromium or find_chromium()
    if chromium is None:
        raise PdfError("report_pdf is on but no Chromium was found (install chromium or set EUR_CHROMIUM)")
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(lambda pair: print_pdf(pair[0], pair[1], chromium), pages))
