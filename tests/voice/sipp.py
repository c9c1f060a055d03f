"""Running sipp as a SIP peer in tests and the benchmark: bounded runs of the scenarios in
ccp_acd/embedded/sipp/ (packaged: ``ccp up`` plays them too),
and what they did, read from sipp's own files (-trace_logs lines the scenarios write, -trace_stat counters).

Every run is bounded three ways: ``-m`` calls, ``-timeout`` (sipp quits, ``-timeout_error`` makes that a failure)
and the subprocess wait here, which kills a sipp that outlived its own timeout. Addresses are 127.0.0.1 only;
ports are picked free by binding port 0 (a port taken between the pick and sipp's bind fails the run loudly, it
never talks to a stranger).

Not for: judging the platform. The tests read the outcome lines and counters and decide.
"""

from __future__ import annotations

import csv
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from ccp_acd.embedded import sipp_peers

from tests.voice import media

SIPP = shutil.which("sipp") or "/usr/bin/sipp"
SCENARIOS = sipp_peers.SCENARIOS
HOST = "127.0.0.1"


free_udp_port = sipp_peers.free_udp_port


@dataclass
class Outcome:
    """What one sipp run did: its exit code, the scenario's log lines, its last statistics row, its errors."""

    returncode: int
    lines: list[str]
    stats: dict[str, str]
    errors: str
    output: str

    def events(self, word: str) -> list[str]:
        """The call-ids the scenario logged ``word`` for ("answered", "hung-up", "final", ...)."""
        return [line.split()[-1] for line in self.lines if line.split() and line.split()[0] == word]

    def finals(self) -> list[int]:
        """Final status codes logged by uac_rejected.xml, in order."""
        return [int(line.split()[1]) for line in self.lines if line.startswith("final ")]

    def count(self, name: str) -> int:
        """A cumulative counter of the last -trace_stat row ("SuccessfulCall", "FailedCall", ...)."""
        return int(self.stats.get(f"{name}(C)", "0") or 0)

    def describe(self) -> str:
        return (f"sipp exit {self.returncode}; log {self.lines}; successful {self.count('SuccessfulCall')}, "
                f"failed {self.count('FailedCall')}; errors: {self.errors[-1500:]}; output: {self.output[-800:]}")


@dataclass
class Sipp:
    """One sipp process running ``scenario`` in its own working directory (logs, stats, media.pcap)."""

    scenario: str
    workdir: Path
    port: int
    media_port: int
    process: subprocess.Popen | None = None
    timeout_s: float = 30.0
    args: list[str] = field(default_factory=list)

    def _files(self, suffix: str) -> list[Path]:
        return sorted(self.workdir.glob(f"{Path(self.scenario).stem}_*_{suffix}"))

    def wait(self, *, slack_s: float = 10.0) -> Outcome:
        """Wait for sipp to end (its own -timeout plus ``slack_s``; killed beyond that) and read its files."""
        assert self.process is not None
        try:
            out, _ = self.process.communicate(timeout=self.timeout_s + slack_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        return self.outcome(out or "")

    def stop(self) -> Outcome:
        """End a server-side sipp (it waits for calls until its -m or -timeout): SIGTERM, then read its files."""
        assert self.process is not None
        if self.process.poll() is None:
            self.process.terminate()
        try:
            out, _ = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            out, _ = self.process.communicate()
        return self.outcome(out or "")

    def outcome(self, output: str) -> Outcome:
        lines = [line.strip() for f in self._files("logs.log") for line in f.read_text().splitlines() if line.strip()]
        errors = "".join(f.read_text(errors="replace") for f in self._files("errors.log"))
        stats: dict[str, str] = {}
        path = self.workdir / "stat.csv"
        rows = list(csv.reader(path.read_text().splitlines(), delimiter=";")) if path.exists() else []
        if len(rows) >= 2:
            stats = dict(zip(rows[0], rows[-1], strict=False))
        return Outcome(returncode=self.process.returncode if self.process else -1, lines=lines, stats=stats,
                       errors=errors, output=output)

    def log_lines(self) -> list[str]:
        """The log lines written so far (sipp flushes its log file per line)."""
        return [line.strip() for f in self._files("logs.log") for line in f.read_text().splitlines() if line.strip()]


def start(
    scenario: str, workdir: Path, *, remote: str | None = None, calls: int = 1, timeout_s: float = 30.0,
    keys: dict[str, str] | None = None, variables: dict[str, int] | None = None, service: str | None = None,
    rtp_echo: bool = False, rtp_port: int | None = None, rate: float | None = None, limit: int | None = None,
    recv_timeout_ms: int | None = None, media_packets: list[tuple[float, bytes]] | None = None,
    port: int | None = None, extra: list[str] | None = None,
) -> Sipp:
    """Start sipp on ``scenario`` (a file name in ccp_acd/embedded/sipp/) in ``workdir`` (created).

    ``remote``: the peer "host:port" (client scenarios); without it sipp waits for calls. ``keys`` become
    ``-key``, ``variables`` ``-set`` (the scenarios' talk_ms, hold_ms, cancel_ms). ``rtp_port``: the port the
    scenario's SDP offers or answers (default: sipp's own media port, which echoes with ``rtp_echo``).
    ``media_packets``: what a caller scenario plays (media.pcap), default 3 s of tone.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    media.write_rtp_pcap(workdir / "media.pcap", media_packets if media_packets is not None else media.caller_packets())
    port = port or free_udp_port()
    media_port = free_udp_port(even=True)
    args = sipp_peers.command(
        SIPP, scenario, remote=remote, port=port, media_port=media_port, calls=calls, timeout_s=timeout_s,
        rtp_port=rtp_port, keys=keys, variables=variables, service=service, rtp_echo=rtp_echo, rate=rate, limit=limit,
        recv_timeout_ms=recv_timeout_ms, extra=extra,
    )
    process = subprocess.Popen(args, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started = Sipp(scenario=scenario, workdir=workdir, port=port, media_port=media_port, process=process,
                   timeout_s=timeout_s, args=args)
    if not remote:
        _until_bound(started)
    return started


def _until_bound(peer: Sipp, *, within_s: float = 5.0) -> None:
    """A server sipp is ready once its SIP port is taken (polled: binding it ourselves fails)."""
    deadline = time.monotonic() + within_s
    while time.monotonic() < deadline:
        if peer.process is not None and peer.process.poll() is not None:
            raise AssertionError(f"sipp {peer.scenario} exited at start: {peer.stop().describe()}")
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((HOST, peer.port))
            except OSError:
                return
        time.sleep(0.02)
    raise AssertionError(f"sipp {peer.scenario} did not bind {HOST}:{peer.port} within {within_s:g}s")
