"""Download throughput: eur-pipeline's SftpSource vs the OpenSSH ``sftp`` client.

Both fetch the same file from the same throwaway loopback sshd with the same ed25519 key, in the
same run, alternating, best of ``--repeat``; each timing includes connect and authentication.
SftpSource's time also includes what the pipeline needs and ``sftp`` does not do: sha256 while
streaming, size check, fsync and rename. Target (issue 3): SftpSource >= 0.8x OpenSSH.

    python -m bench.sftp_download [--size-mb 256] [--repeat 3] [--ciphers LIST]
"""

from __future__ import annotations

import argparse
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SSHD = "/usr/sbin/sshd"
TARGET_RATIO = 0.8

SSHD_CONFIG = """\
Port {port}
ListenAddress 127.0.0.1
HostKey {dir}/host_key
PidFile {dir}/sshd.pid
AuthorizedKeysFile {dir}/id_ed25519.pub
UsePAM no
StrictModes no
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
Subsystem sftp internal-sftp
LogLevel ERROR
"""


@dataclass
class Server:
    dir: Path
    port: int
    user: str
    key: Path
    known_hosts: Path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _keygen(path: Path) -> None:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True, timeout=30)


def _wait_ssh(port: int, timeout: float = 10) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                if s.recv(4) == b"SSH-":
                    return True
        except OSError:
            time.sleep(0.05)
    return False


@contextmanager
def throwaway_sshd(base: Path) -> Iterator[Server]:
    """An OpenSSH sshd on loopback with one authorized ed25519 key (needs root for sshd)."""
    if not Path(SSHD).exists() or not shutil.which("sftp"):
        raise SystemExit("bench needs OpenSSH: /usr/sbin/sshd and sftp (run `make system-deps`)")
    Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    _keygen(base / "host_key")
    _keygen(base / "id_ed25519")
    port = _free_port()
    (base / "sshd_config").write_text(SSHD_CONFIG.format(port=port, dir=base))
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(base / "sshd_config")], stderr=subprocess.DEVNULL)
    try:
        if not _wait_ssh(port):
            raise SystemExit("sshd did not start")
        kind, b64 = (base / "host_key.pub").read_text().split()[:2]
        known_hosts = base / "known_hosts"
        known_hosts.write_text(f"[127.0.0.1]:{port} {kind} {b64}\n")
        user = pwd.getpwuid(os.getuid()).pw_name
        yield Server(base, port, user, base / "id_ed25519", known_hosts)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def make_file(path: Path, size: int) -> None:
    """Incompressible content (compression is off on both sides anyway)."""
    block = os.urandom(1 << 20)
    with path.open("wb") as f:
        written = 0
        while written < size:
            n = min(len(block), size - written)
            f.write(block[:n])
            written += n


def openssh_get(server: Server, remote: Path, dest: Path, ciphers: str | None) -> None:
    batch = server.dir / "batch"
    batch.write_text(f'get "{remote}" "{dest}"\n')
    options = ["-o", f"UserKnownHostsFile={server.known_hosts}", "-o", "StrictHostKeyChecking=yes"]
    options += ["-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "Compression=no"]
    if ciphers:
        options += ["-o", f"Ciphers={ciphers}"]
    cmd = ["sftp", "-q", "-b", str(batch), "-i", str(server.key), "-P", str(server.port), *options]
    subprocess.run([*cmd, f"{server.user}@127.0.0.1"], check=True, timeout=600, stdout=subprocess.DEVNULL)


def sftp_source(server: Server, remote_dir: Path):  # type: ignore[no-untyped-def]
    """An SftpSource on ``server``'s folder ``remote_dir`` (not yet connected)."""
    from eur_pipeline.config import SourceConfig
    from eur_pipeline.sources.sftp import SftpSource

    cfg = SourceConfig.model_validate(
        {
            "name": "bench",
            "kind": "sftp",
            "host": "127.0.0.1",
            "port": server.port,
            "username": server.user,
            "private_key": str(server.key),
            "known_hosts": str(server.known_hosts),
            "remote_path": str(remote_dir),
        }
    )
    return SftpSource(cfg)


def source_get(server: Server, remote: Path, dest: Path) -> str:
    """Download with SftpSource; returns the cipher it negotiated (so the comparison is interpretable)."""
    with sftp_source(server, remote.parent) as src:
        (listed,) = [f for f in src.list_files() if f.name == remote.name]
        src.fetch(listed, dest)
        transport = src._transport
        return transport.remote_cipher if transport else "?"


def _time(fn: Callable[[], None]) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def run(size_mb: int = 256, repeat: int = 3, ciphers: str | None = None) -> dict[str, float]:
    """Measure both clients; returns MB/s for each and the ratio (SftpSource / OpenSSH)."""
    size = size_mb * 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="eur-bench-sftp-") as tmp:
        base = Path(tmp)
        (base / "srv").mkdir()
        remote = base / "srv" / "archive.xml"
        make_file(remote, size)
        with throwaway_sshd(base) as server:
            best = {"openssh": float("inf"), "sftp_source": float("inf")}
            negotiated: list[str] = []
            for i in range(repeat):
                order = ["openssh", "sftp_source"] if i % 2 == 0 else ["sftp_source", "openssh"]
                for who in order:
                    dest = base / f"dl-{who}"
                    dest.unlink(missing_ok=True)
                    if who == "openssh":
                        elapsed = _time(lambda d=dest: openssh_get(server, remote, d, ciphers))
                    else:
                        elapsed = _time(lambda d=dest: negotiated.append(source_get(server, remote, d)))
                    if dest.stat().st_size != size:
                        raise SystemExit(f"{who}: downloaded {dest.stat().st_size} bytes, expected {size}")
                    best[who] = min(best[who], elapsed)
                    dest.unlink()
            cipher = negotiated[-1]
    mb = size / 1e6
    result = {
        "openssh_mb_s": mb / best["openssh"],
        "sftp_source_mb_s": mb / best["sftp_source"],
    }
    result["ratio"] = result["sftp_source_mb_s"] / result["openssh_mb_s"]
    print(f"sftp download, {size_mb} MiB file over loopback sshd, best of {repeat} (connect included):")
    print(f"  OpenSSH sftp client : {result['openssh_mb_s']:8.1f} MB/s" + (f"  (Ciphers={ciphers})" if ciphers else ""))
    print(f"  SftpSource (paramiko): {result['sftp_source_mb_s']:7.1f} MB/s  (+sha256, fsync; {cipher})")
    verdict = "OK" if result["ratio"] >= TARGET_RATIO else f"BELOW target {TARGET_RATIO}"
    print(f"  ratio               : {result['ratio']:8.2f}x  {verdict}")
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--ciphers", help="force OpenSSH's cipher (e.g. aes128-ctr, what paramiko negotiates)")
    parser.add_argument("--check", action="store_true", help=f"exit 1 when the ratio is below {TARGET_RATIO}")
    args = parser.parse_args(argv)
    result = run(args.size_mb, args.repeat, args.ciphers)
    return 1 if args.check and result["ratio"] < TARGET_RATIO else 0


if __name__ == "__main__":
    sys.exit(main())
