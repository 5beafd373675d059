"""The README's SQL for analysts, verbatim: every ```sql block runs on a fresh demo warehouse through
`eur-pipeline sql`, as a newcomer would paste it, and the questions it answers get an answer."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from eur_pipeline_tests.test_cli import cli

pytestmark = pytest.mark.slow

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"```sql\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.DOTALL)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("readme")
    out = cli("demo", "--dir", str(root / "demo"), "--conversations", "400", "--days", "10", cwd=root, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    yield root / "demo" / "eur.yaml"


def test_the_readme_has_the_analyst_questions() -> None:
    text = "\n".join(BLOCKS)
    assert len(BLOCKS) >= 5
    for needle in ("FROM users", "message_recipients", "messages_local", "eur_this_month()"):
        assert needle in text, needle


@pytest.mark.parametrize("query", BLOCKS, ids=[b.strip().splitlines()[0][:40] for b in BLOCKS])
def test_each_readme_query_runs_on_the_demo(demo: Path, query: str) -> None:
    out = cli("sql", "--config", str(demo), "--format", "json", query, cwd=demo.parent)
    assert out.returncode == 0, out.stderr
    rows = json.loads(out.stdout)
    if "messages_total = 0" not in query:  # the README says that one finds nobody in the demo
        assert rows, query
