"""A plain install runs every command from any folder: build the wheel, install it into a fresh venv
(no editable link to this checkout), then `demo`, `generate`, `run` and `sql` from an empty folder."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _run(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("EUR_CONFIG", "PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


_LOCAL = {".venv", ".git", "build", "demo", "data", "dagster_home", "test-artifacts", ".pytest_cache", ".hypothesis"}


def _local_state(folder: str, names: list[str]) -> set[str]:
    """What a checkout holds besides the project (only at its top: ``eur_pipeline/demo`` is code)."""
    if Path(folder) != REPO:
        return {n for n in names if n.endswith(".egg-info") or n == "__pycache__"}
    return {n for n in names if n in _LOCAL or n.endswith(".egg-info") or n.startswith(".tmp_dagster_home")}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` folder of a fresh venv holding only the built wheel and its dependencies."""
    root = tmp_path_factory.mktemp("wheel")
    # build from a copy: setuptools writes build/ and *.egg-info into the tree it builds
    source = shutil.copytree(REPO, root / "src", symlinks=True, ignore=_local_state)
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(root / "dist"), str(source)], root)
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = (root / "dist").glob("eur_pipeline-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "eur_pipeline/sql/001_init.sql" in names and "eur_pipeline/sql/views_reporting.sql" in names
    venv.create(root / "venv", with_pip=True)
    bin_dir = root / "venv" / "bin"
    pip = _run([str(bin_dir / "python"), "-m", "pip", "install", "-q", str(wheel)], root, timeout=900)
    assert pip.returncode == 0, pip.stderr[-3000:]
    return bin_dir


def test_the_installed_wheel_runs_every_command_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    exe = str(installed / "eur-pipeline")
    where = _run([str(installed / "python"), "-c", "import eur_pipeline; print(eur_pipeline.__file__)"], tmp_path)
    assert "site-packages" in where.stdout and str(REPO) not in where.stdout  # not this checkout

    demo = _run([exe, "demo", "--dir", "demo", "--conversations", "300", "--days", "5"], tmp_path)
    assert demo.returncode == 0, demo.stderr[-3000:]
    assert "files parsed" in demo.stdout and "done in" in demo.stdout
    assert list((tmp_path / "demo" / "reports").glob("report-*.html"))

    generated = _run([exe, "generate", "incoming", "--conversations", "50", "--days", "2"], tmp_path)
    assert generated.returncode == 0 and "archive file(s)" in generated.stdout, generated.stderr
    config = {
        "warehouse": "./wh.duckdb",
        "landing_dir": "./landing",
        "sources": [{"name": "drop", "kind": "local", "path": "./incoming", "min_age_seconds": 0}],
    }
    (tmp_path / "eur.yaml").write_text(yaml.safe_dump(config))
    run = _run([exe, "run"], tmp_path)
    assert run.returncode == 0, run.stderr[-3000:]
    query = _run([exe, "sql", "--format", "csv", "SELECT count(*) AS n FROM conversations"], tmp_path)
    assert query.returncode == 0 and query.stdout.splitlines() == ["n", "50"], query.stderr
