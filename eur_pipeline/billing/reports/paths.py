"""The report files' names: one place, so the pages' links and the files written always agree."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

INDEX = "index.html"


def slug(period: date) -> str:
    """``YYYY-MM``: the period as it appears in file names, links and navigation."""
    return period.strftime("%Y-%m")


def page_name(period: date) -> str:
    return f"report-{slug(period)}.html"


@dataclass(frozen=True)
class PeriodReport:
    """The files written for one billing period."""

    period: date
    html: Path
    cost_centers_csv: Path
    users_csv: Path

    @classmethod
    def under(cls, directory: Path, period: date) -> PeriodReport:
        """The files of ``period`` in the reports folder ``directory``."""
        return cls(
            period=period,
            html=directory / page_name(period),
            cost_centers_csv=directory / f"chargeback-cost-centers-{slug(period)}.csv",
            users_csv=directory / f"chargeback-users-{slug(period)}.csv",
        )

    @property
    def files(self) -> tuple[Path, Path, Path]:
        return (self.html, self.cost_centers_csv, self.users_csv)

    @property
    def pdf(self) -> Path:
        """The printed page (written when ``report_pdf`` is on)."""
        return self.html.with_suffix(".pdf")


SCOPES_DIR = "scopes"


def scope_dir(directory: Path, scope_slug: str) -> Path:
    """Where one scope's reports live under the reports folder: ``scopes/department-engineering/``."""
    return directory / SCOPES_DIR / scope_slug


@dataclass(frozen=True)
class ReportSet:
    """Everything :func:`write_reports` wrote: link these from the asset metadata."""

    directory: Path
    index: Path
    periods: tuple[PeriodReport, ...]
    rendered: tuple[date, ...] = ()  # the periods queried and rendered (the others were up to date)
    scoped: tuple[PeriodReport, ...] = ()  # per department / cost center / site, of the rendered periods
    pdfs: tuple[Path, ...] = ()  # printed this time (report_pdf)

    @property
    def latest(self) -> PeriodReport | None:
        return self.periods[-1] if self.periods else None

    @property
    def paths(self) -> list[Path]:
        out = [self.index]
        for p in self.periods:
            out += p.files
        return out
