"""An in-process SFTP server on loopback (paramiko), for ``eur-pipeline demo`` and tests.

It lets the demo collect over SFTP exactly as production does (verified host key, delete after
commit) without an OpenSSH install, and it is the password-auth test server. It serves one local
folder as ``/`` (the login's home), generates an ed25519 host key, and writes a known_hosts file
pinning it, so clients connect with full host-key checking.

    with EmbeddedSftpServer(root, users={"demo": "secret"}) as server:
        server.port, server.known_hosts, server.fingerprint
"""

from __future__ import annotations

import io
import logging
import os
import posixpath
import secrets
import socket
import threading
from pathlib import Path
from typing import Any

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from paramiko.sftp import SFTP_OK

from eur_pipeline.sources.sftp import key_fingerprint, known_hosts_name

log = logging.getLogger(__name__)
# Server-side session errors (a client that disconnects, fails the host-key check, ...) are the
# client's to report; keep paramiko's tracebacks for them out of the demo's output.
_session_log = logging.getLogger(f"{__name__}.session")
_session_log.addHandler(logging.NullHandler())
_session_log.setLevel(logging.CRITICAL)


def generate_ed25519_key(write_to: Path | None = None) -> paramiko.Ed25519Key:
    """A fresh ed25519 key (paramiko can neither generate nor save one), optionally saved as an
    OpenSSH private key file (mode 0600) for a client's ``private_key``."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption()
    )
    if write_to is not None:
        write_to.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(write_to, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
    return paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode("ascii")))


class _Handle(paramiko.SFTPHandle):
    def stat(self) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.fstat(self.readfile.fileno()))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def chattr(self, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_OK


class _RootedSftp(paramiko.SFTPServerInterface):
    """Serves ``root`` as ``/``; every path is confined to it (``..`` cannot escape)."""

    def __init__(self, server: paramiko.ServerInterface, *args: Any, root: Path, **kwargs: Any) -> None:
        super().__init__(server, *args, **kwargs)
        self.root = root

    def _local(self, path: str) -> str:
        clean = posixpath.normpath("/" + path).lstrip("/")
        return str(self.root / clean) if clean else str(self.root)

    def canonicalize(self, path: str) -> str:
        return posixpath.normpath("/" + path)

    def list_folder(self, path: str) -> list[paramiko.SFTPAttributes] | int:
        local = self._local(path)
        try:
            out = []
            with os.scandir(local) as entries:
                for entry in entries:
                    out.append(paramiko.SFTPAttributes.from_stat(entry.stat(follow_symlinks=False), entry.name))
            return out
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def stat(self, path: str) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.stat(self._local(path)))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def lstat(self, path: str) -> paramiko.SFTPAttributes | int:
        try:
            return paramiko.SFTPAttributes.from_stat(os.lstat(self._local(path)))
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)

    def open(self, path: str, flags: int, attr: paramiko.SFTPAttributes) -> paramiko.SFTPHandle | int:
        local = self._local(path)
        try:
            fd = os.open(local, flags | getattr(os, "O_BINARY", 0), 0o644)
            mode = "rb" if flags & (os.O_WRONLY | os.O_RDWR) == 0 else ("ab" if flags & os.O_APPEND else "r+b")
            f = os.fdopen(fd, mode)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        handle = _Handle(flags)
        handle.filename = local
        handle.readfile = f
        handle.writefile = f
        return handle

    def remove(self, path: str) -> int:
        return self._call(os.remove, self._local(path))

    def rename(self, oldpath: str, newpath: str) -> int:
        new = self._local(newpath)
        if os.path.exists(new):
            return paramiko.sftp.SFTP_FAILURE
        return self._call(os.rename, self._local(oldpath), new)

    def posix_rename(self, oldpath: str, newpath: str) -> int:
        return self._call(os.replace, self._local(oldpath), self._local(newpath))

    def mkdir(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        return self._call(os.mkdir, self._local(path))

    def rmdir(self, path: str) -> int:
        return self._call(os.rmdir, self._local(path))

    def chattr(self, path: str, attr: paramiko.SFTPAttributes) -> int:
        return SFTP_OK

    @staticmethod
    def _call(fn: Any, *args: str) -> int:
        try:
            fn(*args)
        except OSError as exc:
            return paramiko.SFTPServer.convert_errno(exc.errno)
        return SFTP_OK


class _Auth(paramiko.ServerInterface):
    def __init__(self, users: dict[str, str], authorized_keys: list[paramiko.PKey]) -> None:
        self.users = users
        self.keys = {k.asbytes() for k in authorized_keys}

    def get_allowed_auths(self, username: str) -> str:
        methods = (["publickey"] if self.keys else []) + (["password"] if self.users else [])
        return ",".join(methods) or "none"

    def check_auth_password(self, username: str, password: str) -> int:
        expected = self.users.get(username)
        if expected is not None and secrets.compare_digest(expected.encode(), password.encode()):
            return paramiko.AUTH_SUCCESSFUL
        return paramiko.AUTH_FAILED

    def check_auth_publickey(self, username: str, key: paramiko.PKey) -> int:
        return paramiko.AUTH_SUCCESSFUL if key.asbytes() in self.keys else paramiko.AUTH_FAILED

    def check_channel_request(self, kind: str, chanid: int) -> int:
        if kind == "session":
            return paramiko.OPEN_SUCCEEDED
        return paramiko.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED


class EmbeddedSftpServer:
    """A loopback SFTP server in a background thread. Use as a context manager or start()/stop().

    ``users`` maps user name → password; ``authorized_keys`` are public keys any user may log in
    with. On start, ``known_hosts`` is written into ``state_dir`` (default: a hidden folder beside
    ``root``, so the served folder holds only archives), pinning the host key for ``[host]:port``.
    """

    def __init__(
        self,
        root: Path,
        *,
        users: dict[str, str] | None = None,
        authorized_keys: list[paramiko.PKey] | None = None,
        state_dir: Path | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        host_key: paramiko.PKey | None = None,
    ) -> None:
        self.root = Path(root).resolve()
        self.users = dict(users or {})
        self.authorized_keys = list(authorized_keys or [])
        if not self.users and not self.authorized_keys:
            raise ValueError("EmbeddedSftpServer needs users (passwords) or authorized_keys")
        self.state_dir = Path(state_dir) if state_dir else self.root.parent / f".{self.root.name}-sftp"
        self.host = host
        self._requested_port = port
        self.host_key = host_key or generate_ed25519_key()
        self.port = 0
        self._listener: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._transports: list[paramiko.Transport] = []
        self._lock = threading.Lock()

    @property
    def fingerprint(self) -> str:
        return key_fingerprint(self.host_key)

    @property
    def known_hosts(self) -> Path:
        return self.state_dir / "known_hosts"

    def start(self) -> EmbeddedSftpServer:
        self.root.mkdir(parents=True, exist_ok=True)
        self.state_dir.mkdir(parents=True, exist_ok=True)
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, self._requested_port))
        listener.listen(16)
        listener.settimeout(0.2)  # so the accept loop notices stop() promptly
        self._listener = listener
        self.port = listener.getsockname()[1]
        line = f"{known_hosts_name(self.host, self.port)} {self.host_key.get_name()} {self.host_key.get_base64()}\n"
        self.known_hosts.write_text(line, encoding="ascii")
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, name=f"embedded-sftp:{self.port}", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            transports, self._transports = self._transports, []
        for transport in transports:
            transport.close()

    def __enter__(self) -> EmbeddedSftpServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self) -> None:
        assert self._listener is not None
        while not self._stopping.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                break
            try:
                self._start_session(conn)
            except Exception as exc:  # one bad client must not stop the server
                log.warning("embedded sftp: session failed to start: %s", exc)
                conn.close()

    def _start_session(self, conn: socket.socket) -> None:
        conn.settimeout(None)
        transport = paramiko.Transport(conn)
        transport.set_log_channel(_session_log.name)
        transport.add_server_key(self.host_key)
        transport.set_subsystem_handler("sftp", paramiko.SFTPServer, _RootedSftp, root=self.root)
        with self._lock:
            self._transports = [t for t in self._transports if t.is_active()] + [transport]
        transport.start_server(event=threading.Event(), server=_Auth(self.users, self.authorized_keys))


__all__ = ["EmbeddedSftpServer", "generate_ed25519_key"]
