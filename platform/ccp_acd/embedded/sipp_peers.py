"""sipp peers of ``ccp up``: the carrier's caller (a UAC) and the agents' phones (UASs), from the packaged scenarios.

Every run is bounded: ``-m`` calls, ``-timeout`` with ``-timeout_error`` and ``-recv_timeout``; ``stop`` ends one
that outlived them (SIGTERM, then SIGKILL). Loopback only. What a run did is read from sipp's own files: the
scenario's log lines ("answered", "bye-received") and the last ``-trace_stat`` row.
"""

from __future__ import annotations

import csv
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

SCENARIOS = Path(__file__).resolve().parent / "sipp"
HOST = "127.0.0.1"
# RFC 2833 DTMF pcaps shipped with Debian's sip-tester: the caller presses one digit.
DTMF_PCAP = "/usr/share/sip-tester/dtmf_2833_{digit}.pcap"
# What the phones play once answered (sip-tester's only audio pcap; the adapter relays it as it comes).
PHONE_PCAP = "/usr/share/sip-tester/g711a.pcap"


def sipp_binary() -> str | None:
    return shutil.which("sipp")


def free_udp_port(*, even: bool = False) -> int:
    """A UDP port free on 127.0.0.1 now. ``even``: a media port for sipp's ``-mp``, RTP's even convention, with
    the three ports above it free too (sipp binds port+1 and port+2 as well, and exits 255 when one is taken)."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.bind((HOST, 0))
            port = s.getsockname()[1]
        if not even:
            return port
        if port % 2 == 0 and port < 65000 and all(_udp_free(port + n) for n in range(1, 4)):
            return port


def _udp_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return False
    return True


def udp_bound(port: int) -> bool:
    """True when someone holds ``port`` on 127.0.0.1 (binding it ourselves fails)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.bind((HOST, port))
        except OSError:
            return True
    return False


@dataclass
class SippRun:
    name: str
    scenario: str
    workdir: Path
    port: int
    process: subprocess.Popen

    @property
    def pid(self) -> int:
        return self.process.pid

    def alive(self) -> bool:
        return self.process.poll() is None

    def lines(self) -> list[str]:
        files = sorted(self.workdir.glob(f"{Path(self.scenario).stem}_*_logs.log"))
        return [line.strip() for f in files for line in f.read_text(errors="replace").splitlines() if line.strip()]

    def events(self, word: str) -> int:
        return sum(1 for line in self.lines() if line.split()[0] == word)

    def stats(self) -> dict[str, str]:
        path = self.workdir / "stat.csv"
        rows = list(csv.reader(path.read_text().splitlines(), delimiter=";")) if path.exists() else []
        return dict(zip(rows[0], rows[-1], strict=False)) if len(rows) >= 2 else {}

    def count(self, name: str) -> int:
        return int(self.stats().get(f"{name}(C)", "0") or 0)

    def errors(self) -> str:
        files = sorted(self.workdir.glob(f"{Path(self.scenario).stem}_*_errors.log"))
        return "".join(f.read_text(errors="replace") for f in files)

    def stop(self, timeout_s: float = 5.0) -> None:
        if self.alive():
            self.process.terminate()
        try:
            self.process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def command(
    binary: str, scenario: str, *, remote: str | None, port: int, media_port: int, calls: int, timeout_s: float,
    rtp_port: int | None = None, keys: dict[str, str] | None = None, variables: dict[str, int] | None = None,
    service: str | None = None, rtp_echo: bool = False, rate: float | None = None, limit: int | None = None,
    recv_timeout_ms: int | None = None, extra: list[str] | None = None,
) -> list[str]:
    """The sipp command line for a packaged ``scenario``, bounded (-m, -timeout with -timeout_error), its logs,
    errors and statistics in the working directory. Shared by ``ccp up``, the voice tests and ``bench sip``.

    ``keys`` become ``-key`` (``caller`` defaults to anonymous), ``variables`` ``-set``; ``rtp_port`` is the port
    the scenario's SDP offers or answers (default: sipp's own media port, which echoes with ``rtp_echo``).
    """
    keys = {"caller": "anonymous", **(keys or {})}
    args = [binary, *([remote] if remote else []), "-sf", str(SCENARIOS / scenario), "-i", HOST, "-p", str(port),
            "-mi", HOST, "-mp", str(media_port), "-m", str(calls), "-timeout", f"{timeout_s:g}s", "-timeout_error",
            "-nostdin", "-trace_logs", "-trace_err", "-trace_stat", "-stf", "stat.csv", "-fd", "1",
            # A stray retransmission (a second ACK for a 200 the peer saw twice) must not abort a call: it is
            # ignored, and the outcome is judged by the scenario's log lines, which only a completed path writes.
            "-default_behaviors", "all,-abortunexp", "-key", "rtp_port", str(rtp_port or media_port)]
    for name, value in keys.items():
        args += ["-key", name, value]
    for name, value in (variables or {}).items():
        args += ["-set", name, str(value)]
    if service:
        args += ["-s", service]
    if rtp_echo:
        args.append("-rtp_echo")
    if rate is not None:
        args += ["-r", f"{rate:g}"]
    if limit is not None:
        args += ["-l", str(limit)]
    if recv_timeout_ms is not None:
        args += ["-recv_timeout", str(recv_timeout_ms)]
    return args + (extra or [])


def start(
    name: str, scenario: str, workdir: Path, *, media_pcap: str, calls: int, timeout_s: float,
    remote: str | None = None, port: int | None = None, service: str | None = None, rate: float | None = None,
    variables: dict[str, int] | None = None, rtp_echo: bool = False, recv_timeout_ms: int | None = None,
) -> SippRun:
    """Start sipp on a packaged ``scenario`` in ``workdir`` (created; its logs, stats and media.pcap go there)."""
    binary = sipp_binary()
    if binary is None:
        raise RuntimeError("sipp is not on PATH (Debian/Ubuntu: apt-get install sip-tester)")
    workdir.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(media_pcap, workdir / "media.pcap")
    port = port or free_udp_port()
    media_port = free_udp_port(even=True)
    args = command(binary, scenario, remote=remote, port=port, media_port=media_port, calls=calls, timeout_s=timeout_s,
                   variables=variables, service=service, rtp_echo=rtp_echo, rate=rate, recv_timeout_ms=recv_timeout_ms)
    with open(workdir / "sipp.out", "wb") as out:
        process = subprocess.Popen(args, cwd=workdir, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    return SippRun(name=name, scenario=scenario, workdir=workdir, port=port, process=process)
