"""Names and sizes from a hostile or odd server, against the real OpenSSH sshd (and, for entries no
POSIX server can list, a paramiko SFTP server that lists them anyway).

Each case states its outcome: collected safely (landing name made safe and unique, the ledger keeps
the listed name decoded with replacement) or refused by name with its reason, never blocking the
other files; remote completion touches only the listed file inside remote_path; a download never
reads past the listed size.
"""

from __future__ import annotations

import logging
import os
import posixpath
import shutil
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import dagster as dg
import duckdb
import paramiko
import pytest

from eur_pipeline.config import EurConfig, SourceConfig
from eur_pipeline.config.loader import parse_config
from eur_pipeline.demo import sftp_server as embedded_sftp
from eur_pipeline.pipeline.collect import collect_source
from eur_pipeline.sources.base import RemoteFile, stream_to_file
from eur_pipeline.sources.sftp import SftpSource
from eur_pipeline.warehouse.migrations import open_warehouse
from eur_pipeline_tests.conftest import CORPUS
from eur_pipeline_tests.reliability.conftest import run_cli, sftp_source, write_config

from .conftest import EMBEDDED_PASSWORD, EMBEDDED_USER, Sshd, write_remote

pytestmark = pytest.mark.sshd

SEED = (CORPUS / "seed_sample.xml").read_bytes()
LATIN1 = os.fsdecode(b"caf\xe9_archive.xml")  # not UTF-8 on the wire
NEWLINE = "evil\nINFO forged log line.xml"
LONG = "A" * 248 + ".xml"  # 252 characters: legal on the server, too long for '.<name>.part' locally


def _variant(n: int) -> bytes:
    """The seed sample with distinct content (a different thread id), so each file loads on its own."""
    return SEED.replace(b"AF86488C", f"AF86{n:04d}".encode())


def _config(tmp_path: Path, source: SourceConfig) -> EurConfig:
    raw = {"warehouse": str(tmp_path / "wh.duckdb"), "landing_dir": str(tmp_path / "landing")}
    config = parse_config(raw, tmp_path / "eur.yaml")
    return config.model_copy(update={"sources": [source]})


def _ledger(config: EurConfig) -> dict[str, tuple[str, str]]:
    con = duckdb.connect(str(config.warehouse), read_only=True)
    try:
        return {n: (s, p) for n, s, p in con.execute("SELECT name, status, landing_path FROM archive_files").fetchall()}
    finally:
        con.close()


def test_odd_names_are_collected_safely_and_never_block_the_others(
    sshd: Sshd, remote_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    names = [LATIN1, NEWLINE, LONG, "plain.xml"]
    for i, name in enumerate(names):
        write_remote(remote_dir, name, _variant(i))
    source = sshd.source_config(remote_dir, on_success="delete")
    config = _config(tmp_path, source)
    con = open_warehouse(config.warehouse)
    caplog.set_level(logging.INFO)
    try:
        report = collect_source(con, config, source)
    finally:
        con.close()
    assert report.error is None
    assert sorted(f.outcome for f in report.files) == ["parsed"] * 4, [(f.name, f.detail) for f in report.files]
    ledger = _ledger(config)
    # the ledger keeps the listed name, decoded with replacement (valid UTF-8 for every reader)
    assert set(ledger) == {"caf\ufffd_archive.xml", NEWLINE, LONG, "plain.xml"}
    landing = {Path(p).name for _, p in ledger.values()}
    assert "plain.xml" in landing
    for name in landing:  # safe, bounded, unique local names
        assert name.isprintable() and "\n" not in name and len(name.encode()) <= 200
    assert len(landing) == 4
    assert list(remote_dir.iterdir()) == []  # every one deleted at the source, by its exact bytes
    for record in caplog.records:  # a name never splits or forges a log line
        assert "\n" not in record.getMessage()


def test_a_newline_in_a_name_never_splits_a_log_line_or_a_query_row(
    sshd: Sshd, remote_dir: Path, tmp_path: Path
) -> None:
    write_remote(remote_dir, NEWLINE, _variant(3))
    config = write_config(tmp_path, sftp_source(sshd, remote_dir))
    run = run_cli(config, verbose=True)  # per-file lines are debug output
    assert run.returncode == 0, run.stderr[-2000:]
    assert not [line for line in run.lines_seen if line.startswith("INFO forged")]  # no forged line
    assert "evil\\nINFO forged log line.xml: parsed" in run.stderr  # the name, escaped, on one line
    query = subprocess.run(
        [sys.executable, "-m", "eur_pipeline.cli", "sql", "--config", str(config), "SELECT name FROM archive_files"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert query.returncode == 0, query.stderr
    assert query.stdout.splitlines()[2:] == ["evil\\nINFO forged log line.xml", "(1 row)"]


def test_a_file_that_grows_is_refused_as_changed_and_taken_once_stable(
    sshd: Sshd, remote_dir: Path, tmp_path: Path
) -> None:
    path = write_remote(remote_dir, "growing.xml", _variant(1)[:-20])
    source = sshd.source_config(remote_dir, on_success="keep")
    config = _config(tmp_path, source)
    with SftpSource(source) as src:
        (remote,) = src.list_files()
        with path.open("ab") as handle:
            handle.write(b"x" * 5_000_000)  # keeps growing after it was listed
        with pytest.raises(Exception, match=r"changed during download \(grew past the listed \d+ bytes\)"):
            src.fetch(remote, tmp_path / "landing" / "growing.xml")
    assert not (tmp_path / "landing").exists() or not any((tmp_path / "landing").rglob("*"))
    write_remote(remote_dir, "growing.xml", _variant(1))  # upload finished: stable now
    con = open_warehouse(config.warehouse)
    try:
        (result,) = collect_source(con, config, source).files
    finally:
        con.close()
    assert result.outcome == "parsed" and result.records == 4


class _Counting:
    """Counts what is read from a real stream (the stream itself is untouched)."""

    def __init__(self, stream: Any) -> None:
        self.stream, self.read_bytes = stream, 0

    def read(self, n: int) -> bytes:
        block = self.stream.read(n)
        self.read_bytes += len(block)
        return block


def test_a_download_never_reads_past_the_listed_size(tmp_path: Path) -> None:
    """A 'file' whose content never ends (here /dev/zero) listed at 10 KB: refused after 10 KB + 1 byte."""
    remote = RemoteFile("endless.xml", 10_000, 0.0)
    with open("/dev/zero", "rb", buffering=0) as zero:
        reader = _Counting(zero)
        with pytest.raises(Exception, match=r"endless.xml: changed during download \(grew past the listed 10000"):
            stream_to_file(reader, remote, tmp_path / "out" / "endless.xml", "src")  # type: ignore[arg-type]
        assert reader.read_bytes == 10_001
    assert list((tmp_path / "out").iterdir()) == []


# --- a server that lists what no POSIX folder holds ----------------------------------------------

HOSTILE_ENTRIES = ["..", "../escape.xml", "/abs.xml", "sub/inner.xml"]


class _HostileSftp(embedded_sftp._RootedSftp):
    """Lists, beside the real files, entries naming paths outside the listed folder."""

    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes] | int:
        real = super().list_folder(path)
        if isinstance(real, int) or not real:
            return real
        template = real[0]
        fake = []
        for name in HOSTILE_ENTRIES:
            attr = paramiko.SFTPAttributes.from_stat(os.stat(self._local(posixpath.join(path, real[0].filename))), name)
            attr.st_mode = template.st_mode
            fake.append(attr)
        return [*real, *fake]


class _HostileServer(embedded_sftp.EmbeddedSftpServer):
    def _start_session(self, conn: Any) -> None:
        conn.settimeout(None)
        transport = paramiko.Transport(conn)
        transport.add_server_key(self.host_key)
        transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _HostileSftp, root=self.root)
        with self._lock:
            self._transports.append(transport)
        transport.start_server(event=threading.Event(), server=embedded_sftp._Auth(self.users, self.authorized_keys))


def test_entries_outside_remote_path_are_refused_by_name_and_never_touched(tmp_path: Path) -> None:
    served = tmp_path / "served"
    (served / "backup2" / "sub").mkdir(parents=True)
    (served / "backup2" / "IMArchive_1.xml").write_bytes(_variant(1))
    for outside in (served / "escape.xml", served / "abs.xml", served / "backup2" / "sub" / "inner.xml"):
        outside.write_bytes(_variant(9))
    with _HostileServer(served, users={EMBEDDED_USER: EMBEDDED_PASSWORD}) as server:
        source = SourceConfig.model_validate(
            {
                "name": "hostile",
                "kind": "sftp",
                "host": "127.0.0.1",
                "port": server.port,
                "username": EMBEDDED_USER,
                "password": EMBEDDED_PASSWORD,
                "known_hosts": str(server.known_hosts),
                "remote_path": "backup2",
                "min_age_seconds": 0,
                "on_success": "delete",
                "timeout_seconds": 5,
                "connect_retries": 1,
            }
        )
        config = _config(tmp_path, source)
        con = open_warehouse(config.warehouse)
        try:
            report = collect_source(con, config, source)
        finally:
            con.close()
    outcomes = {f.name: (f.outcome, f.detail) for f in report.files}
    assert outcomes["IMArchive_1.xml"][0] == "parsed"
    assert outcomes["../escape.xml"] == (
        "quarantined",
        "the listed name holds a path separator (outside remote_path); left at the source",
    )
    assert outcomes["/abs.xml"][1].startswith("the server listed an absolute path")
    assert outcomes["sub/inner.xml"][0] == "quarantined"
    assert ".." not in outcomes  # '.' and '..' are never files
    assert not (served / "backup2" / "IMArchive_1.xml").exists()  # the listed file: deleted after commit
    for outside in (served / "escape.xml", served / "abs.xml", served / "backup2" / "sub" / "inner.xml"):
        assert outside.exists(), outside  # nothing outside the listed names was deleted
    assert report.error is None and list(_ledger(config)) == ["IMArchive_1.xml"]
    shutil.rmtree(served)


# --- the sensor against the real server: odd names are requested, repeating errors fail the tick ---


def _tick(source: SourceConfig, instance: dg.DagsterInstance, cursor: str | None = None) -> dg.SensorResult:
    from eur_pipeline.definitions import PIPELINE_JOB
    from eur_pipeline.defs.sensors import build_source_sensor

    return build_source_sensor(source, PIPELINE_JOB)(dg.build_sensor_context(instance=instance, cursor=cursor))


def test_the_sensor_requests_a_non_utf8_name_instead_of_failing_every_listing(sshd: Sshd, remote_dir: Path) -> None:
    write_remote(remote_dir, LATIN1, _variant(1))
    write_remote(remote_dir, "plain.xml", _variant(2))
    source = sshd.source_config(remote_dir)
    with dg.DagsterInstance.ephemeral() as instance:
        first = _tick(source, instance)
        second = _tick(source, instance, first.cursor)
    (run,) = second.run_requests
    assert run.run_config["ops"]["ingest"]["config"]["files"] == ["caf\ufffd_archive.xml", "plain.xml"]


@pytest.mark.parametrize(
    ("overrides", "cause"),
    [
        ({"private_key": "stranger"}, "authentication failed"),
        ({"known_hosts": "other"}, "HOST KEY CHANGED"),
        ({"remote_path": "no/such/folder"}, "remote_path 'no/such/folder' does not exist"),
        ({"password": "${EUR_TEST_UNSET_SFTP_PW}"}, "password: environment variable EUR_TEST_UNSET_SFTP_PW is not set"),
    ],
)
def test_an_error_that_will_repeat_fails_the_tick_with_its_cause(
    sshd: Sshd, remote_dir: Path, tmp_path: Path, overrides: dict[str, str], cause: str
) -> None:
    from eur_pipeline.config.loader import parse_config
    from eur_pipeline.defs.sensors import SensorListingError

    values = dict(overrides)
    if values.get("private_key") == "stranger":
        values["private_key"] = str(sshd.keys["stranger"])
    if values.get("known_hosts") == "other":
        other = tmp_path / "known_hosts"
        key = Path(str(sshd.keys["rsa"]) + ".pub").read_text().split()
        other.write_text(f"[127.0.0.1]:{sshd.port} {key[0]} {key[1]}\n")  # a different key for this host
        values["known_hosts"] = str(other)
    base = sshd.source_config(remote_dir).model_dump()
    base.update(sshd.source_config(remote_dir).options)
    base.update(values)
    base["remote_path"] = values.get("remote_path", str(remote_dir))
    source = parse_config({"sources": [base]}, tmp_path / "eur.yaml").sources[0]
    with dg.DagsterInstance.ephemeral() as instance, pytest.raises(SensorListingError, match=cause):
        _tick(source, instance)
