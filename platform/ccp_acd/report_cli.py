"""``ccp report``: historical KPIs, agent comparison and a caller's history from a node's admin API.

A thin client of AdminService (GetReport, ListAgentReports, GetCallerHistory):
the figures are the node's (docs/kpis.md defines them), this module only
parses the options and prints rich tables, or JSON with ``--json`` (times in
seconds, instants as ISO 8601 UTC). Not for live figures: ``ccp wallboard``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import click
import grpc
from ccpapi.v1 import admin_pb2, admin_pb2_grpc, common_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from rich.console import Console
from rich.table import Table

from ccp_acd.tls import ChannelSecurity, open_sync_channel

RPC_TIMEOUT_S = 60.0
GRANULARITIES = {"15m": admin_pb2.GRANULARITY_QUARTER_HOUR, "1h": admin_pb2.GRANULARITY_HOUR,
                 "1d": admin_pb2.GRANULARITY_DAY}
GROUPS = {"queue": admin_pb2.GROUP_BY_QUEUE, "site": admin_pb2.GROUP_BY_SITE, "tenant": admin_pb2.GROUP_BY_TENANT}
STATES = {common_pb2.INTERACTION_STATE_COMPLETED: "completed", common_pb2.INTERACTION_STATE_ABANDONED: "abandoned",
          common_pb2.INTERACTION_STATE_VOICEMAIL: "voicemail"}


class Instant(click.ParamType):
    """ISO 8601 date or date and time; without an offset it is UTC."""

    name = "ISO"

    def convert(self, value, param, ctx) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date or time", param, ctx)
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _timestamp(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value.astimezone(UTC))
    return ts


def _iso(ts: Timestamp) -> str:
    return ts.ToDatetime(tzinfo=UTC).isoformat().replace("+00:00", "Z") if ts.seconds or ts.nanos else ""


def _s(duration) -> float:
    return round(duration.seconds + duration.nanos / 1e9, 3)


def _security(ca: str, plaintext: bool) -> ChannelSecurity:
    return ChannelSecurity(plaintext=True) if plaintext else ChannelSecurity(ca_file=ca)


def _call(
    endpoint: str, token: str, security: ChannelSecurity, rpc: Callable[[admin_pb2_grpc.AdminServiceStub, tuple], object]
):
    with open_sync_channel(endpoint, security) as channel:
        try:
            return rpc(admin_pb2_grpc.AdminServiceStub(channel), (("authorization", f"Bearer {token}"),))
        except grpc.RpcError as e:
            raise click.ClickException(f"{endpoint}: {e.code().name}: {e.details()}") from None


def _emit(rows: list[dict], title: str, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = Table(title=title)
    for column in rows[0] if rows else ("(no rows)",):
        table.add_column(column, justify="left" if column in ("interval", "group", "agent", "id") else "right")
    for row in rows:
        table.add_row(*(f"{v:.3g}" if isinstance(v, float) else str(v) for v in row.values()))
    Console(width=200).print(table)


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime]:
    end = end or datetime.now(UTC)
    return start or end - timedelta(days=1), end


connection = [
    click.option("--endpoint", default="127.0.0.1:50051", show_default=True, help="A node's gRPC host:port."),
    click.option("--token", envvar="CCP_TOKEN", required=True, help="An admin token (or env CCP_TOKEN)."),
    click.option("--json", "as_json", is_flag=True, help="JSON instead of a table."),
    click.option("--ca", envvar="CCP_TLS_CA_FILE", default="", type=click.Path(dir_okay=False),
                 help="PEM CA that signs the node's certificate (or env CCP_TLS_CA_FILE); default: system roots."),
    click.option("--plaintext", envvar="CCP_PLAINTEXT", is_flag=True,
                 help="No TLS (or env CCP_PLAINTEXT=true): local development only."),
]
window = [
    click.option("--from", "start", type=Instant(), help="ISO 8601 (UTC without an offset); default: 24 h before --to."),
    click.option("--to", "end", type=Instant(), help="ISO 8601; default: now."),
]


def _options(*decorators):
    def apply(command):
        for decorator in reversed(decorators):
            command = decorator(command)
        return command

    return apply


@click.group()
def report() -> None:
    """Historical KPIs per interval, agent comparison, a caller's history (definitions: docs/kpis.md)."""


@report.command("intervals")
@_options(*connection, *window)
@click.option("--granularity", type=click.Choice(list(GRANULARITIES)), default="1h", show_default=True)
@click.option("--by", "group_by", type=click.Choice(list(GROUPS)), default="queue", show_default=True)
def intervals(endpoint, token, as_json, ca, plaintext, start, end, granularity, group_by) -> None:
    """KPIs per UTC interval and queue, site or tenant; a call counts in the interval it arrived in."""
    start, end = _window(start, end)
    request = admin_pb2.GetReportRequest(start=_timestamp(start), end=_timestamp(end),
                                         granularity=GRANULARITIES[granularity], group_by=GROUPS[group_by])
    answer = _call(endpoint, token, _security(ca, plaintext),
                   lambda stub, md: stub.GetReport(request, metadata=md, timeout=RPC_TIMEOUT_S))
    rows = []
    for r in answer.rows:
        row = {"interval": _iso(r.interval_start), "group": r.group or "(tenant)", "offered": r.offered,
               "answered": r.answered, "within_t": r.answered_within_threshold, "abandoned": r.abandoned,
               "short_abandons": r.abandoned_within_threshold, "service_level": r.service_level,
               "asa_s": _s(r.average_speed_of_answer), "aht_s": _s(r.average_handle_time),
               "abandonment_rate": r.abandonment_rate, "longest_wait_s": _s(r.longest_wait),
               "overflowed": r.overflowed}
        if r.HasField("occupancy"):
            row.update(staffed_s=_s(r.staffed_time), handle_s=_s(r.handle_time), occupancy=r.occupancy)
        rows.append(row)
    _emit(rows, f"{_iso(answer.start)} .. {_iso(answer.end)} by {group_by}, {granularity}", as_json)


@report.command("agents")
@_options(*connection, *window)
def agents(endpoint, token, as_json, ca, plaintext, start, end) -> None:
    """Per agent: calls handled, talk, wrap-up, AHT, staffed time and occupancy over the window."""
    start, end = _window(start, end)
    request = admin_pb2.ListAgentReportsRequest(start=_timestamp(start), end=_timestamp(end))
    answer = _call(endpoint, token, _security(ca, plaintext), lambda stub, md: stub.ListAgentReports(request, metadata=md,
                                                                           timeout=RPC_TIMEOUT_S))
    rows = [{"agent": a.agent_id, "site": a.site, "handled": a.handled, "talk_s": _s(a.talk_time),
             "wrap_up_s": _s(a.wrap_up_time), "aht_s": _s(a.average_handle_time), "staffed_s": _s(a.staffed_time),
             "occupancy": a.occupancy} for a in answer.agents]
    _emit(rows, f"agents {start.isoformat()} .. {end.isoformat()}", as_json)


@report.command("caller")
@_options(*connection)
@click.argument("address")
@click.option("--limit", type=click.IntRange(1, 100), default=10, show_default=True)
def caller(endpoint, token, as_json, ca, plaintext, address, limit) -> None:
    """A caller's previous calls, newest first: when, queue, outcome, agent, disposition."""
    request = admin_pb2.GetCallerHistoryRequest(address=address, limit=limit)
    answer = _call(endpoint, token, _security(ca, plaintext), lambda stub, md: stub.GetCallerHistory(request, metadata=md,
                                                                           timeout=RPC_TIMEOUT_S))
    rows = [{"id": c.id, "arrived": _iso(c.arrived), "queue": c.queue, "outcome": STATES.get(c.state, "?"),
             "waited_s": round(((c.answered if c.HasField("answered") else c.ended).ToNanoseconds()
                                - c.arrived.ToNanoseconds()) / 1e9, 3),
             "agent": c.agent_id, "disposition": c.disposition} for c in answer.calls]
    _emit(rows, f"history of {address}", as_json)
