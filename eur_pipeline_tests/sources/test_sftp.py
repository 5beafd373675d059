"""The sftp source against a real OpenSSH sshd on loopback (and the embedded server for passwords)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import paramiko
import pytest
from pydantic import ValidationError

from eur_pipeline.demo.sftp_server import EmbeddedSftpServer, generate_ed25519_key
from eur_pipeline.errors import PermanentSourceError, TransientSourceError
from eur_pipeline.sources.base import RemoteFile, ready_files
from eur_pipeline.sources.sftp import (
    SftpOptions,
    SftpSource,
    key_fingerprint,
    known_hosts_name,
    retry_transient,
)

from .conftest import EMBEDDED_PASSWORD, EMBEDDED_USER, KEY_PASSPHRASE, Sshd, free_port, write_remote

pytestmark = pytest.mark.sshd


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ---------------------------------------------------------------------------------------------
# Pure helpers


def test_retry_transient_retries_network_errors_then_succeeds() -> None:
    calls, waits = [], []

    def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise TransientSourceError("src: connection refused")
        return "ok"

    assert retry_transient(flaky, attempts=5, max_seconds=60, sleep=waits.append) == "ok"
    assert waits == [1.0, 2.0]


def test_retry_transient_never_retries_permanent_errors() -> None:
    calls = []

    def denied() -> None:
        calls.append(1)
        raise PermanentSourceError("src: authentication failed")

    with pytest.raises(PermanentSourceError):
        retry_transient(denied, attempts=5, max_seconds=60, sleep=lambda _: None)
    assert len(calls) == 1


def test_retry_transient_is_bounded_by_attempts_and_total_time() -> None:
    now = [0.0]

    def down() -> None:
        raise TransientSourceError("src: connection refused")

    def sleep(seconds: float) -> None:
        now[0] += seconds

    with pytest.raises(TransientSourceError, match=r"gave up after 4 attempts"):
        retry_transient(down, attempts=4, max_seconds=60, sleep=sleep, clock=lambda: now[0])
    assert now[0] == 1 + 2 + 4
    now[0] = 0.0
    with pytest.raises(TransientSourceError, match=r"gave up after 3 attempts"):
        retry_transient(down, attempts=10, max_seconds=5, sleep=sleep, clock=lambda: now[0])
    assert now[0] == 1 + 2  # the next wait (4 s) would end after the 5 s budget


def test_options_need_credentials_and_valid_fingerprint() -> None:
    base = {"host": "h", "username": "u"}
    with pytest.raises(ValidationError, match="password or private_key"):
        SftpOptions.model_validate(base)
    with pytest.raises(ValidationError, match="host_key_fingerprint"):
        SftpOptions.model_validate({**base, "password": "x", "host_key_fingerprint": "MD5:ab:cd"})
    opts = SftpOptions.model_validate({**base, "password": "hunter2"})
    assert "hunter2" not in repr(opts) and "hunter2" not in str(opts.model_dump())


def test_known_hosts_name_follows_openssh() -> None:
    assert known_hosts_name("sftp.example", 22) == "sftp.example"
    assert known_hosts_name("10.0.0.1", 2222) == "[10.0.0.1]:2222"


def test_fingerprint_matches_ssh_keygen(sshd: Sshd) -> None:
    key = paramiko.PKey.from_path(sshd.host_key)
    assert key_fingerprint(key) == sshd.fingerprint()


# ---------------------------------------------------------------------------------------------
# Listing, download, completion


def test_list_skips_dot_temp_and_folders_and_readiness_filters(sshd: Sshd, remote_dir: Path) -> None:
    write_remote(remote_dir, "ready.xml", b"<messages/>")
    write_remote(remote_dir, "fresh.xml", b"<messages/>", age_seconds=0)
    write_remote(remote_dir, "empty.xml", b"")
    write_remote(remote_dir, "zipped.xml.gz", b"\x1f\x8b")
    write_remote(remote_dir, ".hidden.xml", b"x")
    write_remote(remote_dir, "upload.xml.part", b"x")
    write_remote(remote_dir, "notes.txt", b"x")
    (remote_dir / "sub.xml").mkdir()
    with SftpSource(sshd.source_config(remote_dir)) as src:
        listing = src.list_files()
    assert [f.name for f in listing] == ["empty.xml", "fresh.xml", "ready.xml", "zipped.xml.gz"]
    ready = ready_files(listing, min_age_seconds=60)
    assert [f.name for f in ready] == ["ready.xml", "zipped.xml.gz"]
    mtime = os.stat(remote_dir / "ready.xml").st_mtime
    assert next(f for f in listing if f.name == "ready.xml").mtime == int(mtime)


def test_remote_path_relative_to_login_home(sshd: Sshd) -> None:
    folder = sshd.home / "backup2"
    write_remote(folder, "a.xml", b"<messages/>")
    with SftpSource(sshd.source_config("backup2")) as src:
        assert src.root == str(folder)
        assert [f.name for f in src.list_files()] == ["a.xml"]


def test_missing_remote_path_is_a_clear_permanent_error(sshd: Sshd, remote_dir: Path) -> None:
    with pytest.raises(PermanentSourceError, match=r"remote_path .* does not exist"):
        SftpSource(sshd.source_config(remote_dir / "nope")).__enter__()


def test_fetch_streams_verifies_size_and_sha256(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    data = os.urandom(3 * 1024 * 1024 + 17)
    write_remote(remote_dir, "big.xml", data)
    with SftpSource(sshd.source_config(remote_dir)) as src:
        (remote,) = src.list_files()
        fetched = src.fetch(remote, tmp_path / "landing" / "big.xml")
    assert fetched.size == len(data) and fetched.sha256 == sha(data)
    assert fetched.path.read_bytes() == data
    assert os.listdir(tmp_path / "landing") == ["big.xml"]  # no temporary file left


def test_large_reads_only_when_the_server_announces_them(
    sshd: Sshd, remote_dir: Path, embedded_sftp: EmbeddedSftpServer
) -> None:
    """OpenSSH announces ~255 KiB reads (limits@openssh.com); a server that does not gets 32 KiB."""
    with SftpSource(sshd.source_config(remote_dir)) as src:
        assert src._read_size > 32 * 1024
    (embedded_sftp.root / "backup2").mkdir()
    with SftpSource(_embedded_config(embedded_sftp, EMBEDDED_PASSWORD)) as src:
        assert src._read_size == 32 * 1024


def test_fetch_refuses_a_file_that_grew_since_listing(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    path = write_remote(remote_dir, "growing.xml", b"x" * 1000)
    with SftpSource(sshd.source_config(remote_dir)) as src:
        (remote,) = src.list_files()
        with path.open("ab") as f:
            f.write(b"y" * 500)
        with pytest.raises(Exception, match="changed during download"):
            src.fetch(remote, tmp_path / "growing.xml")
        assert not list(tmp_path.iterdir())
        # the connection is still usable after that refusal
        assert [f.size for f in src.list_files()] == [1500]


@pytest.mark.parametrize("on_success", ["delete", "move", "keep"])
def test_complete(sshd: Sshd, remote_dir: Path, on_success: str) -> None:
    write_remote(remote_dir, "a.xml", b"<messages/>")
    cfg = sshd.source_config(remote_dir, on_success=on_success, move_to="done/2024" if on_success == "move" else None)
    with SftpSource(cfg) as src:
        (remote,) = src.list_files()
        src.complete(remote)
        src.complete(remote)  # idempotent: the next run retries completions that may have happened
        remaining = [f.name for f in src.list_files()]
    if on_success == "delete":
        assert remaining == [] and sorted(os.listdir(remote_dir)) == []
    elif on_success == "move":
        assert remaining == [] and (remote_dir / "done" / "2024" / "a.xml").read_bytes() == b"<messages/>"
    else:
        assert remaining == ["a.xml"]


# ---------------------------------------------------------------------------------------------
# Keys and authentication


@pytest.mark.parametrize("kind", ["ed25519", "ecdsa", "rsa", "ed25519_encrypted"])
def test_key_types(sshd: Sshd, remote_dir: Path, kind: str) -> None:
    write_remote(remote_dir, "a.xml", b"<messages/>")
    passphrase = KEY_PASSPHRASE if kind == "ed25519_encrypted" else None
    cfg = sshd.source_config(remote_dir, private_key=str(sshd.keys[kind]), private_key_passphrase=passphrase)
    with SftpSource(cfg) as src:
        assert [f.name for f in src.list_files()] == ["a.xml"]


def test_encrypted_key_without_passphrase_says_so(sshd: Sshd, remote_dir: Path) -> None:
    cfg = sshd.source_config(remote_dir, private_key=str(sshd.keys["ed25519_encrypted"]))
    with pytest.raises(PermanentSourceError, match="encrypted; set private_key_passphrase"):
        SftpSource(cfg).__enter__()


def test_wrong_passphrase_is_permanent_and_not_echoed(sshd: Sshd, remote_dir: Path) -> None:
    cfg = sshd.source_config(
        remote_dir, private_key=str(sshd.keys["ed25519_encrypted"]), private_key_passphrase="wrong-Secret-9"
    )
    with pytest.raises(PermanentSourceError) as info:
        SftpSource(cfg).__enter__()
    assert "wrong private_key_passphrase" in str(info.value) and "wrong-Secret-9" not in str(info.value)


def test_wrong_key_is_a_clear_auth_error_not_retried(sshd: Sshd, remote_dir: Path) -> None:
    cfg = sshd.source_config(remote_dir, private_key=str(sshd.keys["stranger"]), connect_retries=5)
    started = time.monotonic()
    with pytest.raises(PermanentSourceError) as info:
        SftpSource(cfg).__enter__()
    elapsed = time.monotonic() - started
    message = str(info.value)
    assert message.startswith("sshd-test: ") and "authentication failed" in message
    assert "\n" not in message
    assert elapsed < 1.0, f"an auth failure must not be retried (took {elapsed:.2f}s)"


def test_pinned_fingerprint_without_known_hosts(sshd: Sshd, remote_dir: Path) -> None:
    cfg = sshd.source_config(remote_dir, known_hosts=None, host_key_fingerprint=sshd.fingerprint())
    with SftpSource(cfg) as src:
        assert src.list_files() == []


def test_wrong_pinned_fingerprint_refused(sshd: Sshd, remote_dir: Path) -> None:
    other = key_fingerprint(generate_ed25519_key())
    cfg = sshd.source_config(remote_dir, known_hosts=None, host_key_fingerprint=other)
    with pytest.raises(PermanentSourceError, match=r"does not match the pinned host_key_fingerprint") as info:
        SftpSource(cfg).__enter__()
    assert sshd.fingerprint() in str(info.value)  # says what the server sent, so an admin can compare


def test_changed_host_key_refused_at_once_remote_untouched(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    write_remote(remote_dir, "a.xml", b"<messages/>")
    impostor = generate_ed25519_key()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} ssh-ed25519 {impostor.get_base64()}\n")
    cfg = sshd.source_config(remote_dir, known_hosts=str(known_hosts), on_success="delete", connect_retries=5)
    started = time.monotonic()
    with pytest.raises(PermanentSourceError) as info:
        SftpSource(cfg).__enter__()
    assert time.monotonic() - started < 1.0
    message = str(info.value)
    assert "HOST KEY CHANGED" in message and "ssh-keygen -R" in message and sshd.fingerprint() in message
    assert (remote_dir / "a.xml").read_bytes() == b"<messages/>"


def test_unknown_host_refused_with_how_to_fix(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text("[127.0.0.1]:1 ssh-ed25519 " + generate_ed25519_key().get_base64() + "\n")
    cfg = sshd.source_config(remote_dir, known_hosts=str(known_hosts))
    with pytest.raises(PermanentSourceError, match="unknown host key") as info:
        SftpSource(cfg).__enter__()
    message = str(info.value)
    assert f"ssh-keyscan -p {sshd.port} 127.0.0.1" in message
    assert f"host_key_fingerprint: {sshd.fingerprint()}" in message


def test_known_hosts_with_other_key_type_of_same_host(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    """known_hosts listing only a different key type: we ask the server for that type; OpenSSH
    would refuse when the server lacks it, and so do we (never a silent accept)."""
    ecdsa = paramiko.ECDSAKey.generate()
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(f"[127.0.0.1]:{sshd.port} {ecdsa.get_name()} {ecdsa.get_base64()}\n")
    with pytest.raises(PermanentSourceError, match="HOST KEY CHANGED"):
        SftpSource(sshd.source_config(remote_dir, known_hosts=str(known_hosts))).__enter__()


# ---------------------------------------------------------------------------------------------
# Outages


def test_server_down_fails_in_bounded_time_with_one_line(sshd: Sshd, remote_dir: Path) -> None:
    cfg = sshd.source_config(remote_dir, port=free_port(), connect_retries=3, retry_max_seconds=10)
    started = time.monotonic()
    with pytest.raises(TransientSourceError) as info:
        SftpSource(cfg).__enter__()
    elapsed = time.monotonic() - started
    message = str(info.value)
    print(f"\nserver down: gave up after {elapsed:.2f}s: {message}")
    assert "connection refused" in message and "gave up after 3 attempts" in message and "\n" not in message
    assert 2.9 < elapsed < 5  # waits 1 s + 2 s between the three tries


def _fault_run(sshd: Sshd, remote_dir: Path, tmp_path: Path, relay_port: int, timeout: float) -> float:
    # Through the relay the host is [127.0.0.1]:relay_port, which known_hosts does not list: pin instead.
    cfg = sshd.source_config(
        remote_dir,
        port=relay_port,
        known_hosts=None,
        host_key_fingerprint=sshd.fingerprint(),
        timeout_seconds=timeout,
        connect_retries=1,
    )
    src = SftpSource(cfg)
    with src:
        (remote,) = src.list_files()
        started = time.monotonic()
        with pytest.raises(TransientSourceError) as info:
            src.fetch(remote, tmp_path / "landing" / remote.name)
        elapsed = time.monotonic() - started
        assert "\n" not in str(info.value)
        # The dead connection was dropped; the next call reconnects (the relay passes small transfers).
        assert [f.name for f in src.list_files()] == [remote.name]
    return elapsed


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["reset", "blackhole"])
def test_relay_fault_mid_transfer(
    sshd: Sshd, remote_dir: Path, tmp_path: Path, tcp_relay, mode: str, request: pytest.FixtureRequest
) -> None:
    data = os.urandom(24 * 1024 * 1024)
    write_remote(remote_dir, "big.xml", data)
    relay = tcp_relay(sshd.port, mode=mode, after_bytes=4 * 1024 * 1024)
    timeout = 2.0
    elapsed = _fault_run(sshd, remote_dir, tmp_path, relay.port, timeout)
    print(f"\n{mode} mid-transfer: fetch failed after {elapsed:.2f}s (channel timeout {timeout}s)")
    assert relay.tripped.is_set()
    assert elapsed < timeout + 2
    landing = tmp_path / "landing"
    assert not landing.exists() or list(landing.iterdir()) == []  # no partial file, not even a temp one
    assert sha((remote_dir / "big.xml").read_bytes()) == sha(data)  # remote intact
    # the next run (network back) completes
    relay.close()
    with SftpSource(sshd.source_config(remote_dir)) as src:
        (remote,) = src.list_files()
        assert src.fetch(remote, landing / "big.xml").sha256 == sha(data)


@pytest.mark.slow
def test_a_dripping_peer_is_cut_off_by_the_per_file_deadline(
    sshd: Sshd, remote_dir: Path, tmp_path: Path, tcp_relay
) -> None:
    """Bytes arriving just often enough to beat the channel timeout must not hold a download forever."""
    data = os.urandom(2 * 1024 * 1024)
    write_remote(remote_dir, "drip.xml", data)
    relay = tcp_relay(sshd.port, mode="slow", after_bytes=1024 * 1024, rate=64 * 1024)
    cfg = sshd.source_config(
        remote_dir,
        port=relay.port,
        known_hosts=None,
        host_key_fingerprint=sshd.fingerprint(),
        timeout_seconds=3,
        connect_retries=1,
        min_download_kib_per_second=512,
    )
    with SftpSource(cfg) as src:
        (remote,) = src.list_files()
        started = time.monotonic()
        with pytest.raises(TransientSourceError, match=r"not finished within its deadline of 7 s .*512 KiB/s"):
            src.fetch(remote, tmp_path / "landing" / remote.name)
        elapsed = time.monotonic() - started
    print(f"\ndripping peer: cut off after {elapsed:.1f}s (deadline 3 s + 2 MiB at 512 KiB/s)")
    assert relay.tripped.is_set() and elapsed < 12
    assert not (tmp_path / "landing").exists() or list((tmp_path / "landing").iterdir()) == []
    assert sha((remote_dir / "drip.xml").read_bytes()) == sha(data)


def test_after_a_failed_reconnect_the_source_fails_fast(sshd: Sshd, remote_dir: Path, tcp_relay) -> None:
    write_remote(remote_dir, "a.xml", b"<messages/>")
    relay = tcp_relay(sshd.port)
    cfg = sshd.source_config(
        remote_dir,
        port=relay.port,
        known_hosts=None,
        host_key_fingerprint=sshd.fingerprint(),
        connect_retries=2,
        on_success="delete",
    )
    with SftpSource(cfg) as src:
        (remote,) = src.list_files()
        relay.close()  # LAN gone: the session dies and new connections are refused
        deadline = time.monotonic() + 5  # let paramiko notice, so the next call is the reconnect attempt
        while src._transport is not None and src._transport.is_active() and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(TransientSourceError, match="connection"):
            src.list_files()  # reconnect is tried (with its retries) ...
        started = time.monotonic()
        with pytest.raises(TransientSourceError, match="not retried again"):
            src.complete(remote)  # ... but only once per session: later calls fail at once
        assert time.monotonic() - started < 0.5  # no network wait at all (slack for a loaded CI box)


def test_reconnects_after_a_dropped_connection(sshd: Sshd, remote_dir: Path, tmp_path: Path) -> None:
    write_remote(remote_dir, "a.xml", b"<messages/>")
    with SftpSource(sshd.source_config(remote_dir)) as src:
        assert src._transport is not None
        src._transport.close()  # e.g. the server restarted between two files
        (remote,) = src.list_files()
        assert src.fetch(remote, tmp_path / "a.xml").size == len(b"<messages/>")


@pytest.mark.slow
def test_listing_10000_files_is_bounded(sshd: Sshd, remote_dir: Path) -> None:
    then = time.time() - 3600
    for i in range(10_000):
        path = remote_dir / f"IM_archive_{i:05d}.xml"
        path.write_bytes(b"<messages/>")
        os.utime(path, (then, then))
    with SftpSource(sshd.source_config(remote_dir)) as src:
        started = time.monotonic()
        listing = src.list_files()
        elapsed = time.monotonic() - started
    print(f"\nlisting 10,000 files over sftp: {elapsed:.2f}s")
    assert len(listing) == 10_000 and len(ready_files(listing, 60)) == 10_000
    assert elapsed < 10


# ---------------------------------------------------------------------------------------------
# Password authentication (embedded paramiko server; sshd here is key-only)


def _embedded_config(server: EmbeddedSftpServer, password: str, **extra: object):
    from eur_pipeline.config import SourceConfig

    return SourceConfig.model_validate(
        {
            "name": "embedded",
            "kind": "sftp",
            "host": "127.0.0.1",
            "port": server.port,
            "username": EMBEDDED_USER,
            "password": password,
            "known_hosts": str(server.known_hosts),
            "remote_path": "backup2",
            "timeout_seconds": 5,
            "connect_retries": 1,
            **extra,
        }
    )


def test_password_auth_fetch_and_delete(embedded_sftp: EmbeddedSftpServer, tmp_path: Path) -> None:
    data = os.urandom(500_000)
    write_remote(embedded_sftp.root / "backup2", "a.xml", data)
    cfg = _embedded_config(embedded_sftp, EMBEDDED_PASSWORD, on_success="delete")
    with SftpSource(cfg) as src:
        (remote,) = src.list_files()
        assert remote == RemoteFile("a.xml", len(data), remote.mtime)
        assert src.fetch(remote, tmp_path / "a.xml").sha256 == sha(data)
        src.complete(remote)
    assert not (embedded_sftp.root / "backup2" / "a.xml").exists()


def test_wrong_password_is_permanent_and_never_echoed(embedded_sftp: EmbeddedSftpServer) -> None:
    (embedded_sftp.root / "backup2").mkdir()
    cfg = _embedded_config(embedded_sftp, "Wrong-Pa55word", connect_retries=5)
    started = time.monotonic()
    with pytest.raises(PermanentSourceError, match="authentication failed") as info:
        SftpSource(cfg).__enter__()
    assert time.monotonic() - started < 1.0
    assert "Wrong-Pa55word" not in str(info.value) and EMBEDDED_PASSWORD not in str(info.value)


def test_embedded_server_pins_its_key(embedded_sftp: EmbeddedSftpServer) -> None:
    line = embedded_sftp.known_hosts.read_text().split()
    assert line[0] == f"[127.0.0.1]:{embedded_sftp.port}" and line[1] == "ssh-ed25519"
    assert key_fingerprint(embedded_sftp.host_key) == embedded_sftp.fingerprint


def test_embedded_server_with_public_key_and_move(tmp_path: Path) -> None:
    key_file = tmp_path / "id_ed25519"
    client_key = generate_ed25519_key(write_to=key_file)
    with EmbeddedSftpServer(tmp_path / "root", authorized_keys=[client_key]) as server:
        write_remote(server.root, "a.xml", b"<messages/>")
        from eur_pipeline.config import SourceConfig

        cfg = SourceConfig.model_validate(
            {
                "name": "embedded-key",
                "kind": "sftp",
                "host": "127.0.0.1",
                "port": server.port,
                "username": "anyone",
                "private_key": str(key_file),
                "host_key_fingerprint": server.fingerprint,
                "on_success": "move",
                "move_to": "collected",
            }
        )
        with SftpSource(cfg) as src:
            (remote,) = src.list_files()
            src.complete(remote)
        assert (server.root / "collected" / "a.xml").exists() and not (server.root / "a.xml").exists()
