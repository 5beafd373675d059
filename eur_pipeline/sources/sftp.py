"""SFTP source (paramiko): verified host keys, streamed downloads, completion after commit.

Reliability choices (docs/design.md, "Reliability"):

* Host keys are always verified, from ``known_hosts`` or a pinned ``SHA256:`` fingerprint; an
  unknown or changed key is a :class:`PermanentSourceError` that says how to fix it.
* Every blocking step has a deadline: TCP connect, banner, auth, and the SFTP channel itself
  (``settimeout``), because keepalive never notices a peer that silently vanished.
* Downloads use paramiko's prefetch without a request limit (a limit costs ~30x throughput) and
  stream through :func:`stream_to_file` (temporary name, size check, sha256, fsync, rename).
* Network failures become :class:`TransientSourceError` (retried with :func:`retry_transient`);
  authentication, host-key and configuration failures never are.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import posixpath
import socket
import stat
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import ClassVar, TypeVar

import paramiko
from paramiko.pkey import UnknownKeyType
from paramiko.sftp import CMD_CLOSE, CMD_EXTENDED, CMD_EXTENDED_REPLY, CMD_HANDLE, CMD_NAME, CMD_OPENDIR, CMD_READDIR
from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from eur_pipeline.config.model import SourceConfig
from eur_pipeline.errors import EurError, PermanentSourceError, SourceError, TransientSourceError
from eur_pipeline.names import decode_listed, raw_bytes, refusal, shown
from eur_pipeline.retry import Attempt, retry
from eur_pipeline.sources.base import FetchedFile, RemoteFile, is_candidate_name, stream_to_file

log = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_KNOWN_HOSTS = Path("~/.ssh/known_hosts")
# Transport tuning, measured with bench/sftp_download.py. paramiko's channel buffer drops consumed
# bytes from the front of one array, so each read costs O(bytes buffered): a huge window makes
# downloads ~5x slower; a few MiB keeps the pipe full. Bigger SSH packets mean fewer Python-level
# packet round trips in the transport thread.
WINDOW_SIZE = 4 * 1024 * 1024
MAX_PACKET_SIZE = 128 * 1024
FAST_CIPHERS = ("aes128-gcm@openssh.com", "aes256-gcm@openssh.com")
# SFTP read size: 32 KiB is what every server accepts; OpenSSH announces more (~255 KiB) through
# its limits@openssh.com extension, which cuts per-request overhead ~8x.
SAFE_READ_SIZE = 32 * 1024
MAX_READ_SIZE = 256 * 1024
_KEY_ALGORITHMS = {"ssh-rsa": ("rsa-sha2-512", "rsa-sha2-256")}
_FINGERPRINT = r"^SHA256:[A-Za-z0-9+/]{43}=?$"


class SftpOptions(BaseModel):
    """The ``kind: sftp`` keys of a source in eur.yaml."""

    model_config = ConfigDict(extra="forbid")

    host: str = Field(min_length=1)
    port: int = Field(default=22, ge=1, le=65535)
    username: str = Field(min_length=1)
    password: SecretStr | None = None
    private_key: Path | None = None
    private_key_passphrase: SecretStr | None = None
    known_hosts: Path | None = None
    host_key_fingerprint: str | None = Field(default=None, pattern=_FINGERPRINT)
    remote_path: str = "."
    timeout_seconds: float = Field(default=30, gt=0, le=3600)
    connect_retries: int = Field(default=4, ge=1, le=20)
    retry_max_seconds: float = Field(default=120, ge=0)
    keepalive_seconds: int = Field(default=15, ge=0)
    # A peer that drips a byte just inside the channel timeout would otherwise hold a download
    # forever: each file must arrive within timeout_seconds + size / min_download_kib_per_second.
    min_download_kib_per_second: float = Field(default=32, gt=0)

    @field_validator("private_key", "known_hosts")
    @classmethod
    def _expand_user(cls, value: Path | None) -> Path | None:
        return value.expanduser() if value is not None else None

    @model_validator(mode="after")
    def _needs_credentials(self) -> SftpOptions:
        if self.password is None and self.private_key is None:
            raise ValueError("an sftp source needs password or private_key (or both)")
        return self

    @property
    def known_hosts_path(self) -> Path | None:
        """known_hosts to check against; OpenSSH's default file unless a fingerprint is pinned."""
        if self.known_hosts is not None:
            return self.known_hosts
        return None if self.host_key_fingerprint else DEFAULT_KNOWN_HOSTS.expanduser()


# ---------------------------------------------------------------------------------------------
# Pure helpers


def key_fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH's ``SHA256:...`` fingerprint (as printed by ``ssh-keygen -lf``)."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def known_hosts_name(host: str, port: int) -> str:
    """The host name as known_hosts spells it: ``host`` on 22, ``[host]:port`` elsewhere."""
    return host if port == 22 else f"[{host}]:{port}"


def retry_transient(
    action: Callable[[], T],
    *,
    attempts: int,
    max_seconds: float,
    base_delay: float = 1.0,
    max_delay: float = 30.0,
    what: str = "operation",
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
) -> T:
    """Run ``action``, retrying :class:`SourceError` with ``retryable`` set (``eur_pipeline.retry``).

    Permanent errors (auth, host key, config) are raised at once. The last error is re-raised with
    the number of tries appended, so the run's one-line reason says it retried."""

    def log_retry(a: Attempt) -> None:
        log.warning("%s failed (attempt %d of %d), retrying in %.1fs: %s", what, a.number, attempts, a.delay, a.error)

    def give_up(exc: BaseException, tries: int) -> BaseException:
        return type(exc)(f"{exc} (gave up after {tries} attempt{'s' * (tries > 1)})")

    return retry(
        action,
        retryable=lambda exc: isinstance(exc, SourceError) and exc.retryable,
        attempts=attempts,
        max_seconds=max_seconds,
        base_delay=base_delay,
        max_delay=max_delay,
        on_retry=log_retry,
        give_up=give_up,
        sleep=sleep,
        clock=clock,
    )


def classify_network_error(source: str, doing: str, exc: BaseException) -> SourceError:
    """Map a socket/paramiko failure to transient (network) or permanent (auth, key, config)."""
    if isinstance(exc, SourceError):
        return exc
    if isinstance(exc, paramiko.PasswordRequiredException):
        return PermanentSourceError(
            f"{source}: {doing}: the private key is encrypted; set private_key_passphrase "
            "(e.g. private_key_passphrase: ${EUR_SFTP_KEY_PASSPHRASE})"
        )
    if isinstance(exc, paramiko.BadAuthenticationType):
        allowed = ", ".join(exc.allowed_types) or "none"
        return PermanentSourceError(
            f"{source}: {doing}: authentication refused: the server allows only {allowed}; "
            "configure a matching password or private_key"
        )
    if isinstance(exc, paramiko.AuthenticationException):
        return PermanentSourceError(
            f"{source}: {doing}: authentication failed ({_reason(exc)}); "
            "check username, password / private_key and the server's authorized_keys"
        )
    if isinstance(exc, paramiko.BadHostKeyException):
        return PermanentSourceError(f"{source}: {doing}: host key mismatch; not connecting")
    if isinstance(exc, paramiko.IncompatiblePeer):
        return PermanentSourceError(f"{source}: {doing}: no common SSH algorithms ({_reason(exc)})")
    if isinstance(exc, socket.gaierror):
        if exc.errno == socket.EAI_AGAIN:
            return TransientSourceError(f"{source}: {doing}: name lookup failed temporarily ({_reason(exc)})")
        return PermanentSourceError(f"{source}: {doing}: unknown host ({_reason(exc)}); check host")
    if isinstance(exc, TimeoutError):
        return TransientSourceError(f"{source}: {doing}: timed out (no answer from the server)")
    if isinstance(exc, ConnectionRefusedError):
        return TransientSourceError(f"{source}: {doing}: connection refused (is the SFTP server up?)")
    if isinstance(exc, ConnectionError | EOFError):
        return TransientSourceError(f"{source}: {doing}: connection lost ({type(exc).__name__})")
    if isinstance(exc, FileNotFoundError):
        return PermanentSourceError(f"{source}: {doing}: no such file or folder on the server")
    if isinstance(exc, PermissionError):
        return PermanentSourceError(f"{source}: {doing}: permission denied on the server")
    if isinstance(exc, OSError) and exc.errno is None:
        # paramiko raises a bare IOError(text) for an SFTP "failure" status: the server refused
        # this one operation; the connection is fine and the next run tries again.
        return SourceError(f"{source}: {doing}: the server refused: {_reason(exc)}")
    if isinstance(exc, OSError):
        return TransientSourceError(f"{source}: {doing}: network error ({_reason(exc)})")
    if isinstance(exc, UnicodeError):
        # will repeat on every try: names are read as bytes, so this is other text the server sent
        return PermanentSourceError(f"{source}: {doing}: the server sent text that is not UTF-8 ({_reason(exc)})")
    if isinstance(exc, paramiko.SSHException):
        return TransientSourceError(f"{source}: {doing}: SSH connection failed ({_reason(exc)})")
    return TransientSourceError(f"{source}: {doing}: {type(exc).__name__}: {_reason(exc)}")


def server_read_size(sftp: paramiko.SFTPClient) -> int:
    """The largest SFTP read the server promises to serve in full (OpenSSH's limits@openssh.com).

    A server may legally answer a read with fewer bytes than asked; paramiko's prefetch then falls
    back to one round trip per read, so we only ask for more than 32 KiB when the server said so.
    """
    try:
        kind, msg = sftp._request(CMD_EXTENDED, "limits@openssh.com")
    except OSError as exc:
        if exc.errno is not None or isinstance(exc, TimeoutError):
            raise
        return SAFE_READ_SIZE  # extension not supported
    if kind != CMD_EXTENDED_REPLY:
        return SAFE_READ_SIZE
    msg.get_int64()  # max packet length
    max_read = msg.get_int64()
    return max(SAFE_READ_SIZE, min(max_read, MAX_READ_SIZE)) if max_read else SAFE_READ_SIZE


def _listdir_attr_raw(sftp: paramiko.SFTPClient, path: str) -> list[tuple[str, paramiko.SFTPAttributes]]:
    """``listdir_attr`` that keeps each name's bytes (paramiko decodes them as strict UTF-8, so one
    Latin-1 name failed the whole listing); names are decoded losslessly with ``surrogateescape``."""
    kind, msg = sftp._request(CMD_OPENDIR, raw_bytes(path))
    if kind != CMD_HANDLE:
        raise paramiko.SFTPError("Expected handle")
    handle = msg.get_binary()
    found = []
    try:
        while True:
            try:
                kind, msg = sftp._request(CMD_READDIR, handle)
            except EOFError:
                break
            if kind != CMD_NAME:
                raise paramiko.SFTPError("Expected name response")
            for _ in range(msg.get_int()):
                name = decode_listed(msg.get_string())
                longname = msg.get_string()
                attr = paramiko.SFTPAttributes._from_msg(msg, name, longname)
                if name not in (".", ".."):
                    found.append((name, attr))
    finally:
        sftp._request(CMD_CLOSE, handle)
    return found


def _quiet_prefetch_thread(reader: paramiko.SFTPFile) -> None:
    """paramiko's prefetch thread dies with a traceback on stderr when the connection drops while
    it is still sending requests; the reading side already raises the same failure, so silence it."""
    original = reader._prefetch_thread

    def run(*args: object) -> None:
        try:
            original(*args)
        except (EOFError, OSError, paramiko.SSHException):
            log.debug("prefetch requests stopped: connection lost")

    reader._prefetch_thread = run  # type: ignore[method-assign]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# ---------------------------------------------------------------------------------------------
# The plugin


class SftpSource:
    """Collects from one folder on an SFTP server. Connects on ``__enter__`` (retrying transient
    failures); after a network error mid-operation the connection is dropped and the next call
    reconnects, so one bad transfer does not poison the rest of the run."""

    kind: ClassVar[str] = "sftp"
    Options: ClassVar[type[BaseModel]] = SftpOptions

    def __init__(self, config: SourceConfig) -> None:
        self.config = config
        self.options = SftpOptions.model_validate(config.options)
        self.name = config.name
        self._transport: paramiko.Transport | None = None
        self._sftp: paramiko.SFTPClient | None = None
        self._root: str | None = None
        self._reconnect_error: SourceError | None = None
        self._read_size = SAFE_READ_SIZE
        self.refused: list[tuple[str, str]] = []  # (name, reason) of the last listing's unusable entries

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> SftpSource:
        self.connect_with_retry()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def connect_with_retry(self) -> None:
        """Connect, retrying transient failures within ``connect_retries`` / ``retry_max_seconds``."""
        opts = self.options
        retry_transient(
            self.connect,
            attempts=opts.connect_retries,
            max_seconds=opts.retry_max_seconds,
            what=f"{self.name}: connect",
        )

    def connect(self) -> None:
        """One connection attempt: TCP, key exchange, host-key check, auth, SFTP session, root."""
        self.close()
        opts = self.options
        where = f"connect to {opts.host}:{opts.port}"
        sock: socket.socket | None = None
        transport: paramiko.Transport | None = None
        try:
            sock = socket.create_connection((opts.host, opts.port), timeout=opts.timeout_seconds)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            transport = paramiko.Transport(
                sock, default_window_size=WINDOW_SIZE, default_max_packet_size=MAX_PACKET_SIZE
            )
            transport.banner_timeout = opts.timeout_seconds
            transport.handshake_timeout = opts.timeout_seconds
            transport.auth_timeout = opts.timeout_seconds
            sec = transport.get_security_options()
            # AES-GCM first: authenticated encryption without a separate HMAC pass is the fastest
            # cipher paramiko offers (OpenSSH servers support it); the rest stay as fallbacks.
            sec.ciphers = [*FAST_CIPHERS, *(c for c in sec.ciphers if c not in FAST_CIPHERS)]
            known = self._known_keys()
            if known:
                # Ask for the key type we can verify, as OpenSSH does (else we might be offered
                # an ed25519 key while known_hosts only holds the host's rsa key).
                # An rsa key is listed as ssh-rsa but negotiated as rsa-sha2-*: ask for the names the
                # transport knows (an unknown name made paramiko refuse with "unknown cipher").
                wanted = [n for k in known for n in _KEY_ALGORITHMS.get(k, (k,)) if n in sec.key_types]
                sec.key_types = [*wanted, *(k for k in sec.key_types if k not in wanted)]
            transport.start_client(timeout=opts.timeout_seconds)
            self._verify_host_key(transport.get_remote_server_key(), known)
            self._authenticate(transport)
            if opts.keepalive_seconds:
                transport.set_keepalive(opts.keepalive_seconds)
            sftp = paramiko.SFTPClient.from_transport(transport)
            if sftp is None:
                raise TransientSourceError(f"{self.name}: {where}: the server refused the sftp subsystem")
            sftp.get_channel().settimeout(opts.timeout_seconds)
            self._read_size = server_read_size(sftp)
            self._transport, self._sftp = transport, sftp
        except BaseException as exc:
            if transport is not None:
                transport.close()
            elif sock is not None:
                sock.close()
            if isinstance(exc, Exception):
                raise classify_network_error(self.name, where, exc) from None
            raise
        self._root = self._resolve_root()

    def close(self) -> None:
        """Drop the connection (safe to call twice; never blocks on a dead peer)."""
        transport, self._transport, self._sftp = self._transport, None, None
        if transport is not None:
            transport.close()

    # -- host key and auth ----------------------------------------------------------------------

    def _known_keys(self) -> dict[str, paramiko.PKey]:
        """Key type → key recorded for this host in known_hosts (empty when not listed)."""
        path = self.options.known_hosts_path
        if path is None:
            return {}
        if not path.is_file():
            if self.options.known_hosts is not None:
                raise PermanentSourceError(
                    f"{self.name}: known_hosts file {path} does not exist; create it with "
                    f"`{self._keyscan_hint()} >> {path}` after checking the key with the server's admin"
                )
            return {}
        try:
            keys = paramiko.HostKeys(str(path))
        except (OSError, paramiko.SSHException, ValueError) as exc:
            raise PermanentSourceError(f"{self.name}: cannot read known_hosts {path}: {_reason(exc)}") from None
        entry = keys.lookup(known_hosts_name(self.options.host, self.options.port))
        return dict(entry) if entry else {}

    def _verify_host_key(self, key: paramiko.PKey, known: dict[str, paramiko.PKey]) -> None:
        opts = self.options
        got = f"{key.get_name()} {key_fingerprint(key)}"
        host = known_hosts_name(opts.host, opts.port)
        if opts.host_key_fingerprint and key_fingerprint(key) != opts.host_key_fingerprint:
            raise PermanentSourceError(
                f"{self.name}: host key for {host} does not match the pinned host_key_fingerprint "
                f"{opts.host_key_fingerprint} (server sent {got}). Possible man-in-the-middle; if the "
                "server's key was changed on purpose, pin the new fingerprint"
            )
        if known:
            expected = known.get(key.get_name())
            if expected is None or expected.asbytes() != key.asbytes():
                listed = ", ".join(f"{k.get_name()} {key_fingerprint(k)}" for k in known.values())
                raise PermanentSourceError(
                    f"{self.name}: HOST KEY CHANGED for {host}: known_hosts {opts.known_hosts_path} lists "
                    f"{listed}, server sent {got}. Possible man-in-the-middle; not connecting. If the "
                    f"change is expected, replace the line (`ssh-keygen -R '{host}' -f "
                    f"{opts.known_hosts_path}` then `{self._keyscan_hint()}`)"
                )
            return
        if opts.host_key_fingerprint:
            return
        raise PermanentSourceError(
            f"{self.name}: unknown host key for {host} (server sent {got}); not in "
            f"{opts.known_hosts_path}. Verify the fingerprint with the server's admin, then add it with "
            f"`{self._keyscan_hint()} >> {opts.known_hosts_path}` or set host_key_fingerprint: "
            f"{key_fingerprint(key)}"
        )

    def _keyscan_hint(self) -> str:
        port = f"-p {self.options.port} " if self.options.port != 22 else ""
        return f"ssh-keyscan {port}{self.options.host}"

    def _load_private_key(self) -> paramiko.PKey:
        opts = self.options
        assert opts.private_key is not None
        secret = opts.private_key_passphrase
        passphrase = secret.get_secret_value().encode() if secret else None  # cryptography wants bytes
        try:
            return paramiko.PKey.from_path(opts.private_key, passphrase)
        except FileNotFoundError:
            raise PermanentSourceError(f"{self.name}: private_key {opts.private_key} does not exist") from None
        except (TypeError, paramiko.PasswordRequiredException):
            raise PermanentSourceError(
                f"{self.name}: private_key {opts.private_key} is encrypted; set private_key_passphrase"
            ) from None
        except (ValueError, paramiko.SSHException, UnknownKeyType) as exc:
            hint = "wrong private_key_passphrase, or " if passphrase else ""
            raise PermanentSourceError(
                f"{self.name}: cannot load private_key {opts.private_key} ({hint}not an ed25519/ecdsa/rsa "
                f"key: {type(exc).__name__})"
            ) from None

    def _authenticate(self, transport: paramiko.Transport) -> None:
        """Key first, then password; a server asking for both (partial auth) gets both."""
        opts = self.options
        remaining: list[str] = []
        if opts.private_key is not None:
            remaining = transport.auth_publickey(opts.username, self._load_private_key())
            if transport.is_authenticated():
                return
            if opts.password is None:
                raise PermanentSourceError(
                    f"{self.name}: authentication needs more than the key (server wants "
                    f"{', '.join(remaining)}); set password"
                )
        if opts.password is not None:
            transport.auth_password(opts.username, opts.password.get_secret_value())
        if not transport.is_authenticated():
            raise PermanentSourceError(f"{self.name}: authentication incomplete for user {opts.username}")

    # -- remote paths ---------------------------------------------------------------------------

    def _resolve_root(self) -> str:
        """Absolute remote folder (relative ``remote_path`` is relative to the login's home)."""
        sftp = self._sftp
        assert sftp is not None
        path = self.options.remote_path
        with self._network(f"open remote_path {path!r}"):
            try:
                root = sftp.normalize(path)
                mode = sftp.stat(root).st_mode
            except FileNotFoundError:
                raise PermanentSourceError(
                    f"{self.name}: remote_path {path!r} does not exist on {self.options.host}"
                ) from None
        if mode is None or not stat.S_ISDIR(mode):
            raise PermanentSourceError(f"{self.name}: remote_path {path!r} is not a folder")
        return root

    @property
    def root(self) -> str:
        if self._root is None:
            raise SourceError(f"{self.name}: not connected")
        return self._root

    def remote_full_path(self, name: str) -> str:
        """The listed file inside ``remote_path``; anything else is refused before any request."""
        reason = refusal(name)
        if reason is not None:
            raise PermanentSourceError(f"{self.name}: {shown(name)}: {reason}; not touched")
        return posixpath.join(self.root, name)

    def move_dir(self) -> str:
        move_to = self.config.move_to or "collected"
        return posixpath.normpath(posixpath.join(self.root, move_to))

    # -- the Source protocol --------------------------------------------------------------------

    def list_files(self) -> list[RemoteFile]:
        """One listing of ``remote_path``: regular files matching the pattern.

        Names are read as bytes and kept losslessly (``surrogateescape``), so one name that is not
        UTF-8 never makes the whole listing fail. An entry that is not a plain name inside the folder
        (``..``, absolute, a separator) is never returned; it is kept in ``refused`` with its reason."""
        sftp = self._client()
        with self._network(f"list {self.root}"):
            entries = _listdir_attr_raw(sftp, self.root)
        found, refused = [], []
        for name, e in entries:
            if e.st_mode is None or not stat.S_ISREG(e.st_mode) or not is_candidate_name(name, self.config.pattern):
                continue
            reason = refusal(name)
            if reason is not None:
                refused.append((name, reason))
                continue
            found.append(RemoteFile(name=name, size=e.st_size or 0, mtime=float(e.st_mtime or 0)))
        self.refused = refused
        return sorted(found, key=lambda f: f.name)

    def fetch(self, remote: RemoteFile, dest: Path) -> FetchedFile:
        """Stream one file with unlimited prefetch; the channel timeout bounds a silent drop."""
        sftp = self._client()
        path = self.remote_full_path(remote.name)
        what = f"{self.name}: {shown(remote.name)}"
        with self._network(f"download {shown(path)}"):
            try:
                reader = sftp.open(raw_bytes(path), "rb")
            except FileNotFoundError:
                raise SourceError(f"{what}: disappeared before it was collected") from None
            _quiet_prefetch_thread(reader)
            reader.MAX_REQUEST_SIZE = self._read_size  # prefetch() splits the file into reads of this size
            reader.prefetch(remote.size)
            deadline = self.options.timeout_seconds + remote.size / (self.options.min_download_kib_per_second * 1024)
            expired = threading.Event()
            watchdog = threading.Timer(deadline, self._expire_download, args=(expired,))
            watchdog.daemon = True
            watchdog.start()
            try:
                # Read exactly one SFTP response per call: bigger reads make paramiko concatenate.
                fetched = stream_to_file(reader, remote, dest, self.name, chunk=self._read_size)
            except EurError:
                reader.close()  # the stream ended normally (size mismatch) or the local disk failed
                raise
            except Exception as exc:
                if expired.is_set():
                    raise TransientSourceError(
                        f"{what}: download of {remote.size:,} bytes not finished within its deadline of "
                        f"{deadline:.0f} s (timeout_seconds + size at min_download_kib_per_second "
                        f"{self.options.min_download_kib_per_second:g} KiB/s): the server sends too slowly; "
                        "will retry on the next run"
                    ) from None
                if not isinstance(exc, EOFError) or self._transport is None or not self._transport.is_active():
                    raise
                # SFTP end-of-file status before the listed size: the file shrank meanwhile.
                raise SourceError(
                    f"{what}: changed during download (shrank below the listed {remote.size} bytes); "
                    "taken once its size and mtime are stable"
                ) from None
            finally:
                watchdog.cancel()
            reader.close()
        return fetched

    def _expire_download(self, expired: threading.Event) -> None:
        """Watchdog: a download past its deadline closes the transport, which ends the blocked read."""
        expired.set()
        if self._transport is not None:
            self._transport.close()

    def complete(self, remote: RemoteFile) -> None:
        """Apply on_success. Idempotent: a file already gone (deleted or moved) is not an error."""
        action = self.config.on_success
        if action == "keep":
            return
        sftp = self._client()
        path = self.remote_full_path(remote.name)
        if action == "delete":
            with self._network(f"delete {shown(path)}"):
                try:
                    sftp.remove(raw_bytes(path))
                except FileNotFoundError:
                    log.info("%s: %s already deleted", self.name, shown(path))
            return
        target_dir = self.move_dir()
        target = posixpath.join(target_dir, posixpath.basename(remote.name))
        with self._network(f"move {shown(path)} to {target_dir}"):
            self._makedirs(target_dir)
            try:
                sftp.posix_rename(raw_bytes(path), raw_bytes(target))
            except FileNotFoundError:
                log.info("%s: %s already moved", self.name, shown(path))
            except OSError as exc:
                if exc.errno is not None or isinstance(exc, TimeoutError):
                    raise
                # Server without the posix-rename extension: plain rename (fails if target exists).
                sftp.rename(raw_bytes(path), raw_bytes(target))

    # -- internals ------------------------------------------------------------------------------

    def _client(self) -> paramiko.SFTPClient:
        """The live SFTP session. After a dropped connection, reconnect (with retry) once; if that
        fails too, fail fast for the rest of this session so a dead network costs one timeout,
        not one per remaining file."""
        if self._sftp is None or self._transport is None or not self._transport.is_active():
            if self._reconnect_error is not None:
                raise TransientSourceError(f"{self._reconnect_error} (not retried again in this run)")
            try:
                self.connect_with_retry()
            except SourceError as exc:
                self._reconnect_error = exc
                raise
        assert self._sftp is not None
        return self._sftp

    def _makedirs(self, path: str) -> None:
        sftp = self._client()
        missing: list[str] = []
        current = path
        while current not in ("", "/"):
            try:
                mode = sftp.stat(current).st_mode
            except FileNotFoundError:
                missing.append(current)
                current = posixpath.dirname(current)
                continue
            if mode is not None and not stat.S_ISDIR(mode):
                raise PermanentSourceError(f"{self.name}: move_to {current} exists and is not a folder")
            break
        for folder in reversed(missing):
            try:
                sftp.mkdir(folder)
            except OSError:
                # Raced with another collector creating it: fine if it now exists.
                sftp.stat(folder)

    @contextmanager
    def _network(self, doing: str) -> Iterator[None]:
        """Translate failures; on a network failure drop the (possibly dead) connection at once
        instead of letting later calls each wait out the channel timeout."""
        try:
            yield
        except SourceError as exc:
            if isinstance(exc, TransientSourceError):
                self.close()
            raise
        except EurError:
            raise  # a local file-system error says what it is; the connection is fine
        except Exception as exc:
            error = classify_network_error(self.name, doing, exc)
            if isinstance(error, TransientSourceError):
                self.close()
            raise error from None


__all__ = [
    "SftpOptions",
    "SftpSource",
    "classify_network_error",
    "key_fingerprint",
    "known_hosts_name",
    "retry_transient",
]
