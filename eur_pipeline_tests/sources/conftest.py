"""Real servers for the SFTP tests: OpenSSH sshd on loopback, the embedded paramiko server, and a
TCP relay that can forward, reset or blackhole a connection mid-transfer.

Every wait here is bounded in time and count, so a broken environment fails fast instead of hanging.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import select
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from eur_pipeline.config import SourceConfig
from eur_pipeline.demo.sftp_server import EmbeddedSftpServer

SSHD = Path("/usr/sbin/sshd")
SSH_KEYGEN = shutil.which("ssh-keygen") or "/usr/bin/ssh-keygen"
KEY_PASSPHRASE = "correct horse battery staple"


def require_sshd() -> None:
    """CI must have OpenSSH (the Makefile installs it): fail there, skip on a bare laptop."""
    if SSHD.exists() and Path(SSH_KEYGEN).exists():
        return
    message = f"{SSHD} (openssh-server) is not installed; run `make system-deps`"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_banner(port: int, timeout: float = 10.0) -> bool:
    """True once something on ``port`` speaks SSH (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(8).startswith(b"SSH-"):
                    return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def keygen(path: Path, kind: str, passphrase: str = "") -> Path:
    bits = {"rsa": ["-b", "3072"], "ecdsa": ["-b", "256"]}.get(kind, [])
    subprocess.run(
        [SSH_KEYGEN, "-q", "-t", kind, *bits, "-N", passphrase, "-C", f"eur-test-{kind}", "-f", str(path)],
        check=True,
        timeout=60,
    )
    return path


@dataclass
class Sshd:
    """A throwaway OpenSSH server: key auth only, ``internal-sftp`` starting in ``home``."""

    dir: Path
    port: int
    username: str
    home: Path
    host_key: Path
    known_hosts: Path
    keys: dict[str, Path]  # ed25519, ecdsa, rsa, ed25519_encrypted, stranger (not authorized)
    proc: subprocess.Popen[bytes] | None = None
    log: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log = self.dir / "sshd.log"

    def fingerprint(self) -> str:
        out = subprocess.run(
            [SSH_KEYGEN, "-lf", str(self.host_key) + ".pub"], check=True, capture_output=True, text=True
        ).stdout
        return out.split()[1]

    def source_config(self, remote_path: str | Path, **overrides: Any) -> SourceConfig:
        """A SourceConfig for this server with fast-failing test defaults."""
        values: dict[str, Any] = {
            "name": "sshd-test",
            "kind": "sftp",
            "host": "127.0.0.1",
            "port": self.port,
            "username": self.username,
            "private_key": str(self.keys["ed25519"]),
            "known_hosts": str(self.known_hosts),
            "remote_path": str(remote_path),
            "min_age_seconds": 0,
            "timeout_seconds": 5,
            "connect_retries": 3,
            "retry_max_seconds": 10,
        }
        values.update(overrides)
        return SourceConfig.model_validate({k: v for k, v in values.items() if v is not None})


SSHD_CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {host_key}
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/authorized_keys
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
MaxStartups 50:30:100
MaxSessions 50
Subsystem sftp internal-sftp -d {home}
LogLevel ERROR
"""


def _start_sshd(base: Path) -> Sshd:
    require_sshd()
    # OpenSSH refuses to start without its privilege-separation directory.
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    host_key = keygen(base / "ssh_host_ed25519_key", "ed25519")
    keys = {kind: keygen(base / f"id_{kind}", kind) for kind in ("ed25519", "ecdsa", "rsa")}
    keys["ed25519_encrypted"] = keygen(base / "id_ed25519_encrypted", "ed25519", KEY_PASSPHRASE)
    keys["stranger"] = keygen(base / "id_stranger", "ed25519")
    authorized = "".join(Path(f"{keys[k]}.pub").read_text() for k in ("ed25519", "ecdsa", "rsa", "ed25519_encrypted"))
    (base / "authorized_keys").write_text(authorized)
    home = base / "home"
    home.mkdir()
    username = pwd.getpwuid(os.getuid()).pw_name
    last_error = ""
    for _ in range(3):  # a free port can be taken between probing and binding: retry a little
        port = free_port()
        config = base / "sshd_config"
        config.write_text(SSHD_CONFIG.format(port=port, host_key=host_key, dir=base, home=home))
        log = (base / "sshd.log").open("ab")
        proc = subprocess.Popen([str(SSHD), "-D", "-e", "-f", str(config)], stdout=log, stderr=log)
        log.close()
        if wait_for_banner(port) and proc.poll() is None:
            pub = Path(f"{host_key}.pub").read_text().split()
            known_hosts = base / "known_hosts"
            known_hosts.write_text(f"[127.0.0.1]:{port} {pub[0]} {pub[1]}\n")
            return Sshd(base, port, username, home, host_key, known_hosts, keys, proc)
        proc.kill()
        proc.wait(timeout=5)
        last_error = (base / "sshd.log").read_text(errors="replace")[-2000:]
    pytest.fail(f"sshd did not start on loopback: {last_error}")


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sshd]:
    """One OpenSSH sshd for the whole session; tests use their own folders under it."""
    server = _start_sshd(tmp_path_factory.mktemp("sshd"))
    try:
        yield server
    finally:
        assert server.proc is not None
        server.proc.terminate()
        try:
            server.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait(timeout=5)


@pytest.fixture
def remote_dir(sshd: Sshd, request: pytest.FixtureRequest) -> Path:
    """An empty folder on the sshd server (the server and the test share the file system)."""
    name = "".join(c if c.isalnum() else "_" for c in request.node.name)[:80]
    path = sshd.dir / "data" / name
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def write_remote(folder: Path, name: str, data: bytes, age_seconds: float = 3600) -> Path:
    """Create a file as if uploaded ``age_seconds`` ago."""
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    then = time.time() - age_seconds
    os.utime(path, (then, then))
    return path


# ---------------------------------------------------------------------------------------------
# TCP relay for outage tests


class TcpRelay:
    """Loopback TCP relay to ``target_port``.

    ``mode``: ``forward`` passes everything; ``reset`` sends RST to both ends once ``after_bytes``
    have gone server→client on a connection; ``blackhole`` stops forwarding at that point but keeps
    both sockets open (a silently dead LAN); ``slow`` then forwards at most ``rate`` bytes/s (a
    congested WAN, or a peer that drips). Mode and threshold apply to new connections.
    """

    def __init__(self, target_port: int, mode: str = "forward", after_bytes: int = 0, rate: int = 256 * 1024) -> None:
        self.target_port = target_port
        self.mode = mode
        self.after_bytes = after_bytes
        self.rate = rate
        self.tripped = threading.Event()
        self._stop = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(8)
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self._spawn(self._accept_loop)

    def _spawn(self, target: Callable[..., None], *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept_loop(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(("127.0.0.1", self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._sockets += [client, upstream]
            self._spawn(self._pump, client, upstream, self.mode, self.after_bytes)

    def _pump(self, client: socket.socket, upstream: socket.socket, mode: str, after: int) -> None:
        down = 0
        pair = {client: upstream, upstream: client}
        while not self._stop.is_set():
            readable, _, _ = select.select(list(pair), [], [], 0.1)
            for sock in readable:
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    self._close(client, upstream)
                    return
                if sock is upstream and mode == "slow" and down + len(data) > after:
                    self.tripped.set()
                    for start in range(0, len(data), 1024):  # trickle, staying responsive to close()
                        if self._stop.wait(min(1024, len(data) - start) / self.rate):
                            return
                elif sock is upstream and mode != "forward" and down + len(data) > after:
                    self.tripped.set()
                    if mode == "reset":
                        self._close(client, upstream, reset=True)
                    else:  # blackhole: hold both sockets open, forward nothing, until the relay stops
                        self._stop.wait()
                    return
                if sock is upstream:
                    down += len(data)
                try:
                    pair[sock].sendall(data)
                except OSError:
                    self._close(client, upstream)
                    return

    @staticmethod
    def _close(*socks: socket.socket, reset: bool = False) -> None:
        for sock in socks:
            with contextlib.suppress(OSError):
                if reset:  # linger 0: close() sends RST instead of FIN
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                sock.close()

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            socks, threads = list(self._sockets), list(self._threads)
        self._close(*socks)
        for thread in threads:
            thread.join(timeout=5)


@pytest.fixture
def tcp_relay() -> Iterator[Callable[..., TcpRelay]]:
    """Factory: ``tcp_relay(target_port, mode="reset", after_bytes=2_000_000)``; all closed after the test."""
    relays: list[TcpRelay] = []

    def make(target_port: int, mode: str = "forward", after_bytes: int = 0, rate: int = 256 * 1024) -> TcpRelay:
        relay = TcpRelay(target_port, mode, after_bytes, rate)
        relays.append(relay)
        return relay

    yield make
    for relay in relays:
        relay.close()


# ---------------------------------------------------------------------------------------------
# Embedded paramiko server (password auth)

EMBEDDED_USER = "archiver"
EMBEDDED_PASSWORD = "s3cret-Pa55word"


@pytest.fixture
def embedded_sftp(tmp_path: Path) -> Iterator[EmbeddedSftpServer]:
    with EmbeddedSftpServer(tmp_path / "served", users={EMBEDDED_USER: EMBEDDED_PASSWORD}) as server:
        yield server
