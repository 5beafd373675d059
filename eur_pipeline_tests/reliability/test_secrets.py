"""Secrets: the SFTP password and the key passphrase never appear in logs, Dagster event logs, run
metadata, exception text (auth failures included), the warehouse file or the landing folder."""

from __future__ import annotations

import traceback
from pathlib import Path

import dagster as dg
import pytest

from eur_pipeline.config.loader import load_config
from eur_pipeline.demo.sftp_server import EmbeddedSftpServer
from eur_pipeline.errors import SourceError
from eur_pipeline.sources.sftp import SftpSource
from eur_pipeline_tests.reliability.conftest import KEY_PASSPHRASE, Sshd, run_cli, write_config, write_remote
from eur_pipeline_tests.sources.conftest import EMBEDDED_PASSWORD, EMBEDDED_USER

WRONG_PASSWORD = "Wr0ng-Pa55word-zq81"
WRONG_PASSPHRASE = "Wr0ng-passphrase-zq81"
ARCHIVE = (Path(__file__).parents[1] / "corpus" / "seed_sample.xml").read_bytes()


def leaks(secrets: list[str], *texts: str | bytes) -> list[str]:
    found = []
    for secret in secrets:
        for text in texts:
            blob = text if isinstance(text, bytes) else text.encode("utf-8", "replace")
            if secret.encode() in blob or secret.encode("utf-16-le") in blob:
                found.append(secret)
    return found


def files_under(folder: Path) -> list[bytes]:
    return [p.read_bytes() for p in folder.rglob("*") if p.is_file() and p.name != "eur.yaml"]


def password_config(base: Path, server: EmbeddedSftpServer) -> Path:
    return write_config(
        base,
        {
            "kind": "sftp",
            "host": "127.0.0.1",
            "port": server.port,
            "username": EMBEDDED_USER,
            "password": "${EUR_SFTP_PASSWORD}",
            "known_hosts": str(server.known_hosts),
            "remote_path": "backup2",
            "timeout_seconds": 5,
            "connect_retries": 1,
            "on_success": "delete",
        },
    )


def test_password_never_leaks_through_the_cli(embedded_sftp: EmbeddedSftpServer, tmp_path: Path) -> None:
    write_remote(embedded_sftp.root / "backup2", "a.xml", ARCHIVE)
    work = tmp_path / "work"
    work.mkdir()
    config = password_config(work, embedded_sftp)
    ok = run_cli(config, env={"EUR_SFTP_PASSWORD": EMBEDDED_PASSWORD})
    assert ok.returncode == 0, ok.stderr[-2000:]
    bad = run_cli(config, env={"EUR_SFTP_PASSWORD": WRONG_PASSWORD})
    assert bad.returncode != 0 and "authentication failed" in bad.stderr
    secrets = [EMBEDDED_PASSWORD, WRONG_PASSWORD]
    assert leaks(secrets, ok.stdout, ok.stderr, bad.stdout, bad.stderr) == []
    assert leaks(secrets, *files_under(work)) == []  # warehouse (+ WAL), landing backup, staging


def test_password_never_in_dagster_event_log_or_run_metadata(
    embedded_sftp: EmbeddedSftpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from eur_pipeline.definitions import PIPELINE_JOB, build_definitions

    write_remote(embedded_sftp.root / "backup2", "a.xml", ARCHIVE)
    config = password_config(tmp_path, embedded_sftp)
    dumps: list[str] = []
    for password in (EMBEDDED_PASSWORD, WRONG_PASSWORD):
        monkeypatch.setenv("EUR_SFTP_PASSWORD", password)
        job = build_definitions(str(config)).resolve_job_def(PIPELINE_JOB.name)
        with dg.DagsterInstance.ephemeral() as instance:
            result = job.execute_in_process(instance=instance, raise_on_error=False)
            run = instance.get_run_by_id(result.run_id)
            dumps += [dg.serialize_value(entry) for entry in instance.all_logs(result.run_id)]
            dumps += [dg.serialize_value(run), repr(load_config(config))]
    assert any("authentication failed" in d for d in dumps)  # the failure is reported ...
    assert leaks([EMBEDDED_PASSWORD, WRONG_PASSWORD], caplog.text, *dumps) == []  # ... without the secret
    assert leaks([EMBEDDED_PASSWORD, WRONG_PASSWORD], *files_under(tmp_path)) == []


@pytest.mark.sshd
@pytest.mark.parametrize("passphrase", [KEY_PASSPHRASE, WRONG_PASSPHRASE])
def test_key_passphrase_never_leaks(sshd: Sshd, remote_dir: Path, tmp_path: Path, passphrase: str) -> None:
    write_remote(remote_dir, "a.xml", ARCHIVE)
    config = write_config(
        tmp_path,
        {
            "kind": "sftp",
            "host": "127.0.0.1",
            "port": sshd.port,
            "username": sshd.username,
            "private_key": str(sshd.keys["ed25519_encrypted"]),
            "private_key_passphrase": "${EUR_KEY_PASSPHRASE}",
            "known_hosts": str(sshd.known_hosts),
            "remote_path": str(remote_dir),
            "timeout_seconds": 5,
            "connect_retries": 1,
        },
    )
    result = run_cli(config, env={"EUR_KEY_PASSPHRASE": passphrase})
    assert (result.returncode == 0) == (passphrase == KEY_PASSPHRASE), result.stderr[-1500:]
    assert leaks([passphrase], result.stdout, result.stderr, *files_under(tmp_path)) == []


@pytest.mark.sshd
def test_auth_failure_exceptions_carry_no_secret(
    sshd: Sshd, remote_dir: Path, embedded_sftp: EmbeddedSftpServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EUR_SFTP_PASSWORD", WRONG_PASSWORD)
    (embedded_sftp.root / "backup2").mkdir(exist_ok=True)
    (tmp_path / "p").mkdir()
    cfg_password = load_config(password_config(tmp_path / "p", embedded_sftp)).sources[0]
    monkeypatch.setenv("EUR_KEY_PASSPHRASE", WRONG_PASSPHRASE)
    (tmp_path / "k").mkdir()
    key_config = write_config(
        tmp_path / "k",
        {
            "kind": "sftp",
            "host": "127.0.0.1",
            "port": sshd.port,
            "username": sshd.username,
            "private_key": str(sshd.keys["ed25519_encrypted"]),
            "private_key_passphrase": "${EUR_KEY_PASSPHRASE}",
            "password": "${EUR_SFTP_PASSWORD}",
            "known_hosts": str(sshd.known_hosts),
            "remote_path": str(remote_dir),
            "connect_retries": 1,
        },
    )
    for source in (cfg_password, load_config(key_config).sources[0]):
        with pytest.raises(SourceError) as info:
            SftpSource(source).__enter__()
        text = "".join(traceback.format_exception(info.value)) + repr(info.value) + repr(source)
        context = info.value.__context__  # suppressed by `from None`, but still reachable
        text += repr(context) + "".join(traceback.format_exception(context)) if context else ""
        assert leaks([WRONG_PASSWORD, WRONG_PASSPHRASE], text) == [], text
