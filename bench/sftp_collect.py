"""Downloads overlapping loads: collecting several archives over SFTP, next file fetched ahead vs in turn.

One throwaway loopback OpenSSH sshd serves ``FILES`` generated archives (~30 MB each at scale 1),
reached twice: directly (loopback: the download is CPU work, like the parse) and through a relay
process that paces the server's bytes to ``RELAY_MB_PER_S`` (a WAN link: the download is waiting,
which is what overlapping hides). Each measurement is a fresh ``python -m bench.stages`` process
collecting every file into a new warehouse (the collect stage is compared: download, parse, load,
completion). Alternating pairs, ``EUR_FETCH_AHEAD=1`` (the default) against ``EUR_FETCH_AHEAD=0``,
in the same run; the download alone (SftpSource, every file in turn) is printed beside them.

    python -m bench.sftp_collect   (BENCH_SCALE scales the archive sizes; needs root for sshd)
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.sftp_download import Server, _free_port, _wait_ssh, sftp_source, throwaway_sshd

SCALE = float(os.environ.get("BENCH_SCALE", "1"))
FILES = 8
CONVERSATIONS = max(400, int(41_000 * SCALE))  # over FILES days: ~30 MB a file at scale 1
PAIRS = 2
RELAY_MB_PER_S = 20.0

CONFIG = """\
warehouse: ./warehouse.duckdb
landing_dir: ./landing
timezone: UTC
sources:
  - name: bench-sftp
    kind: sftp
    format: avaya_presence_xml
    site: "Corporation 1/Avaya IM"
    host: 127.0.0.1
    port: {port}
    username: {user}
    private_key: {key}
    known_hosts: {known_hosts}
    remote_path: {remote}
    pattern: "*.xml"
    on_success: keep
    min_age_seconds: 0
"""


def collect_seconds(server: Server, remote: Path, work: Path, ahead: bool) -> float:
    site = work / f"site-{'ahead' if ahead else 'in-turn'}"
    shutil.rmtree(site, ignore_errors=True)
    site.mkdir()
    (site / "eur.yaml").write_text(
        CONFIG.format(port=server.port, user=server.user, key=server.key, known_hosts=server.known_hosts, remote=remote)
    )
    env = {**os.environ, "EUR_FETCH_AHEAD": "1" if ahead else "0"}
    out = subprocess.run(
        [sys.executable, "-m", "bench.stages", str(site / "eur.yaml")],
        check=True,
        capture_output=True,
        text=True,
        env=env,
        cwd=Path(__file__).resolve().parent.parent,
        timeout=1800,
    ).stdout
    return float(json.loads(out.strip().splitlines()[-1])["collect"])


def download_seconds(server: Server, remote: Path, work: Path) -> float:
    started = time.perf_counter()
    with sftp_source(server, remote) as src:
        for listed in src.list_files():
            src.fetch(listed, work / "download" / listed.name)
    elapsed = time.perf_counter() - started
    shutil.rmtree(work / "download", ignore_errors=True)
    return elapsed


def relay(listen: int, target: int, mb_per_s: float) -> None:
    """Forward one loopback port to another (one connection at a time, both ways), pacing what the
    target sends to ``mb_per_s``: a slow link between collector and server, in a process of its own."""
    server = socket.create_server(("127.0.0.1", listen))
    while True:
        client, _ = server.accept()
        upstream = socket.create_connection(("127.0.0.1", target))

        def pump(src: socket.socket, dst: socket.socket, rate: float | None) -> None:
            # a token bucket holding at most a quarter second of the link: idle time is not saved up
            burst = (rate or 0) * 1e6 / 4
            tokens, last = burst, time.monotonic()
            try:
                while block := src.recv(64 * 1024):
                    if rate is not None:
                        now = time.monotonic()
                        tokens = min(burst, tokens + (now - last) * rate * 1e6) - len(block)
                        last = now
                        if tokens < 0:
                            time.sleep(-tokens / (rate * 1e6))
                    dst.sendall(block)
            except OSError:
                pass
            finally:
                for end in (src, dst):
                    end.close()

        threading.Thread(target=pump, args=(client, upstream, None), daemon=True).start()
        threading.Thread(target=pump, args=(upstream, client, mb_per_s), daemon=True).start()


@contextmanager
def relayed(server: Server, mb_per_s: float) -> Iterator[Server]:
    """The same sshd behind a paced relay (its own known_hosts line: the port is part of the host name)."""
    port = _free_port()
    code = f"from bench.sftp_collect import relay; relay({port}, {server.port}, {mb_per_s})"
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=Path(__file__).resolve().parent.parent)
    try:
        if not _wait_ssh(port):
            raise SystemExit("relay did not start")
        kind, b64 = (server.dir / "host_key.pub").read_text().split()[:2]
        known_hosts = server.dir / "known_hosts_relay"
        known_hosts.write_text(f"[127.0.0.1]:{port} {kind} {b64}\n")
        yield dataclasses.replace(server, port=port, known_hosts=known_hosts)
    finally:
        proc.kill()
        proc.wait(timeout=10)


def compare(label: str, server: Server, remote: Path, work: Path) -> None:
    timings: dict[bool, list[float]] = {True: [], False: []}
    for _ in range(PAIRS):
        for ahead in (True, False):
            timings[ahead].append(collect_seconds(server, remote, work, ahead))
    download = download_seconds(server, remote, work)
    best = {k: min(v) for k, v in timings.items()}
    print(f"  {label}: download alone (every file in turn, no parse or load) {download:.2f}s")
    print(f"    baseline  collect, each file downloaded in turn (EUR_FETCH_AHEAD=0): {_fmt(timings[False])}")
    print(
        f"    pipeline  collect, next file downloaded ahead:                     {_fmt(timings[True])} "
        f"({best[True] / best[False]:.2f}x the in-turn collect, best of {PAIRS})",
        flush=True,
    )


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="eur-bench-sftp-collect-") as tmp:
        work = Path(tmp)
        remote = work / "remote"
        subprocess.run(
            [
                *(str(Path(sys.executable).parent / "eur-pipeline"), "generate", str(remote)),
                *("--conversations", str(CONVERSATIONS), "--days", str(FILES), "--files-per-day", "1"),
            ],
            check=True,
            capture_output=True,
            timeout=1800,
        )
        files = sorted(remote.glob("*.xml"))
        size = sum(f.stat().st_size for f in files)
        print(f"sftp collect bench: {len(files)} archives, {size / 1e6:,.0f} MB, over a loopback OpenSSH sshd")
        (work / "sshd").mkdir()
        with throwaway_sshd(work / "sshd") as server:
            compare("loopback", server, remote, work)
            with relayed(server, RELAY_MB_PER_S) as slow:
                compare(f"link paced to {RELAY_MB_PER_S:g} MB/s", slow, remote, work)
        load = os.getloadavg()
        print(f"  machine load average during the run: {load[0]:.1f} / {load[1]:.1f} on {os.cpu_count()} cores")


def _fmt(values: list[float]) -> str:
    return " / ".join(f"{v:.2f}s" for v in values)


if __name__ == "__main__":
    main()
