"""``ccp wallboard``: the wallboard in a terminal, polling a node's AdminService (rich Live).

Each refresh is one ``ListQueueStats`` (the last hour) and one
``ListAgentStatuses``: the same figures as the web page, through the public
API, so it works from anywhere the gRPC port is reachable. The trend column is
the largest queue length seen in each 5-minute interval *while this view has
been open* (the API has no per-interval series; the web page's chart has the
full hour from the call records).

Not for: scripts wanting numbers (use the admin API); ``--once`` prints one
frame for a quick look or a test.
"""

from __future__ import annotations

import time
from collections import Counter, defaultdict
from dataclasses import dataclass

import click
import grpc
from ccpapi.v1 import admin_pb2, admin_pb2_grpc, common_pb2
from google.protobuf.duration_pb2 import Duration
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from ccp_acd.tls import ChannelSecurity, open_sync_channel
from ccp_acd.wallboard.snapshot import BUCKET_S, WINDOW_S, bucket_starts, sl_status

SPARKS = "▁▂▃▄▅▆▇█"
STYLES = {"met": "bold white on green", "near": "bold black on yellow", "missed": "bold white on red"}
STATES = {
    common_pb2.AGENT_STATE_AVAILABLE: "available",
    common_pb2.AGENT_STATE_BUSY: "busy",
    common_pb2.AGENT_STATE_WRAP_UP: "wrap-up",
    common_pb2.AGENT_STATE_BREAK: "break",
}
# Seconds one poll's RPCs may take before the frame is reported stale.
RPC_TIMEOUT_S = 5.0


@dataclass(frozen=True)
class Frame:
    at: float
    queues: tuple[admin_pb2.QueueStats, ...]
    agents: tuple[object, ...]  # agent_pb2.AgentStatus


class Trend:
    """Largest queue length per queue and clock-aligned 5-minute interval, for the last hour."""

    def __init__(self) -> None:
        self._peaks: dict[str, dict[float, int]] = defaultdict(dict)

    def add(self, frame: Frame) -> None:
        bucket = bucket_starts(frame.at)[-1]
        for q in frame.queues:
            peaks = self._peaks[q.queue]
            peaks[bucket] = max(peaks.get(bucket, 0), q.waiting)
            for old in [b for b in peaks if b <= frame.at - WINDOW_S]:
                del peaks[old]

    def spark(self, queue: str, *, now: float) -> str:
        peaks = self._peaks.get(queue, {})
        top = max(peaks.values(), default=0) or 1
        return "".join(
            SPARKS[round(peaks[b] / top * (len(SPARKS) - 1))] if b in peaks else " "
            for b in bucket_starts(now, window_s=WINDOW_S, bucket_s=BUCKET_S)
        )


def _seconds(d: Duration) -> float:
    return d.seconds + d.nanos / 1e9


def _clock(seconds: float) -> str:
    if seconds >= 86400:
        return "-"
    s = round(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


def render(frame: Frame, trend: Trend, *, status: str = "") -> Group:
    table = Table(title=f"queues, last hour - {time.strftime('%H:%M:%S', time.localtime(frame.at))}", expand=True)
    for column in ("queue", "SL", "target", "waiting", "longest wait", "expected", "offered", "answered",
                   "abandoned", "agents a/b/w/br", "waiting, 5-min peaks"):
        table.add_column(column, justify="left" if column in ("queue", "waiting, 5-min peaks") else "right")
    for q in frame.queues:
        state = sl_status(q.service_level, q.service_level_target)
        a = q.agents
        table.add_row(
            q.queue,
            Text(f" {q.service_level:.0%} ", style=STYLES[state]),
            f"{q.service_level_target:.0%} in {_seconds(q.service_level_threshold):g} s",
            Text(str(q.waiting), style="bold"),
            _clock(_seconds(q.longest_wait)),
            _clock(_seconds(q.expected_wait)),
            str(q.offered),
            str(q.answered),
            str(q.abandoned),
            f"{a.available}/{a.busy}/{a.wrap_up}/{a.on_break}",
            trend.spark(q.queue, now=frame.at),
        )
    counts = Counter(STATES.get(a.state, "logged out") for a in frame.agents)
    agents = Text("agents: " + ", ".join(f"{counts[s]} {s}" for s in STATES.values()))
    parts = [table, agents]
    if status:
        parts.append(Text(status, style="yellow"))
    return Group(*parts)


def fetch(stub: admin_pb2_grpc.AdminServiceStub, *, token: str) -> Frame:
    metadata = (("authorization", f"Bearer {token}"),)
    window = Duration(seconds=int(WINDOW_S))
    queues = stub.ListQueueStats(admin_pb2.ListQueueStatsRequest(window=window), metadata=metadata,
                                 timeout=RPC_TIMEOUT_S)
    agents = stub.ListAgentStatuses(admin_pb2.ListAgentStatusesRequest(), metadata=metadata, timeout=RPC_TIMEOUT_S)
    return Frame(at=time.time(), queues=tuple(queues.queues), agents=tuple(agents.agents))


def _refused(e: grpc.RpcError) -> bool:
    return e.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED,
                        grpc.StatusCode.INVALID_ARGUMENT)


@click.command()
@click.option("--endpoint", default="127.0.0.1:50051", show_default=True, help="A node's gRPC host:port.")
@click.option("--token", envvar="CCP_TOKEN", required=True, help="An admin token (or env CCP_TOKEN).")
@click.option("--interval", type=click.FloatRange(min=0.5, max=60), default=2.0, show_default=True,
              help="Seconds between refreshes.")
@click.option("--once", is_flag=True, help="Print one frame and exit.")
@click.option("--ca", envvar="CCP_TLS_CA_FILE", default="", type=click.Path(dir_okay=False),
              help="PEM CA that signs the node's certificate (or env CCP_TLS_CA_FILE); default: system roots.")
@click.option("--plaintext", envvar="CCP_PLAINTEXT", is_flag=True,
              help="No TLS (or env CCP_PLAINTEXT=true): local development only.")
def wallboard(endpoint: str, token: str, interval: float, once: bool, ca: str, plaintext: bool) -> None:
    """A live view of the tenant's queues and agents (the terminal twin of the node's /wallboard page)."""
    console = Console()
    trend = Trend()
    security = ChannelSecurity(plaintext=True) if plaintext else ChannelSecurity(ca_file=ca)
    with open_sync_channel(endpoint, security) as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        try:
            frame = fetch(stub, token=token)
        except grpc.RpcError as e:
            raise click.ClickException(f"{endpoint}: {e.code().name}: {e.details()}") from None
        trend.add(frame)
        if once:
            console.print(render(frame, trend))
            return
        with Live(render(frame, trend), console=console, auto_refresh=False, screen=False) as live:
            try:
                while True:
                    time.sleep(interval)
                    status = ""
                    try:
                        frame = fetch(stub, token=token)
                        trend.add(frame)
                    except grpc.RpcError as e:
                        if _refused(e):
                            raise click.ClickException(f"{endpoint}: {e.code().name}: {e.details()}") from None
                        status = f"stale since {time.strftime('%H:%M:%S', time.localtime(frame.at))}: {e.code().name}"
                    live.update(render(frame, trend, status=status), refresh=True)
            except KeyboardInterrupt:
                return
