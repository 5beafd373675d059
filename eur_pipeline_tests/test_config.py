"""eur.yaml: lookup order, ${VAR} interpolation, and one-line errors naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from eur_pipeline.config.loader import find_config_path, load_config
from eur_pipeline.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "eur.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_and_relative_paths(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, "sources: [{name: a, kind: local, path: ./in}]\n"))
    assert config.warehouse == tmp_path / "data" / "warehouse.duckdb"
    assert config.sources[0].options["path"] == str(tmp_path / "in")
    assert config.extension_length == 5 and config.timezone == "UTC"
    assert config.resolved_reports_dir == tmp_path / "data" / "reports"


def test_env_interpolation(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EUR_TEST_DIR", "/srv/eur")
    config = load_config(write(tmp_path, "warehouse: ${EUR_TEST_DIR}/wh.duckdb\ntimezone: ${EUR_TZ:-Europe/Paris}\n"))
    assert config.warehouse == Path("/srv/eur/wh.duckdb") and config.timezone == "Europe/Paris"


def test_missing_env_var_names_the_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("EUR_NOPE", raising=False)
    path = write(tmp_path, "sources: [{name: a, kind: local, path: ./in, site: '${EUR_NOPE}'}]\n")
    with pytest.raises(ConfigError, match=r"sources\[0\]\.site: environment variable EUR_NOPE is not set"):
        load_config(path)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("extension_length: 4\n", "extension_length"),
        ("timezone: Mars/Olympus\n", "unknown timezone"),
        ("sources: [{name: a, kind: local, path: ., on_success: shred}]\n", "sources[0].on_success"),
        ("sources: [{name: a, kind: local, path: ., on_success: move}]\n", "move_to"),
        ("sources: [{name: a, kind: ftp}]\n", "unknown source kind 'ftp'"),
        ("sources: [{name: a, kind: local}]\n", "path"),
        ("sources: [{name: a, kind: local, path: ., format: cisco}]\n", "unknown record format 'cisco'"),
        ("sources: [{name: a, kind: local, path: .}, {name: a, kind: local, path: .}]\n", "duplicate source name"),
        ("warehose: x.duckdb\n", "warehose: unknown key (did you mean 'warehouse'?)"),
        (
            "sources: [{name: a, kind: local, path: ., patern: '*.xml'}]\n",
            "sources[0].patern: unknown key (did you mean 'pattern'?)",
        ),
        (
            "sources: [{name: a, kind: sftp, host: h, usrname: u, remote_path: r}]\n",
            "sources[0].usrname: unknown key (did you mean 'username'?)",
        ),
        ("sources: [{name: a, kind: local}]\n", "sources[0].path: field required"),
        ("sources: [unclosed\n", "not valid YAML"),
    ],
)
def test_invalid_config_fails_with_key_and_reason(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as exc:
        load_config(write(tmp_path, text))
    assert expected in str(exc.value) and str(tmp_path / "eur.yaml") in str(exc.value)
    assert "\n" not in str(exc.value)


def test_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("EUR_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="not found"):
        find_config_path()
    local = write(tmp_path, "{}\n")
    assert find_config_path() == Path("eur.yaml")
    other = tmp_path / "other.yaml"
    other.write_text("{}\n")
    monkeypatch.setenv("EUR_CONFIG", str(other))
    assert find_config_path() == other
    assert find_config_path(local) == local
