"""Reports, agent comparison, tenant/site real time and caller history through a real node, and `ccp report`.

Calls run through the API (enqueue, accept, complete, cancel); the expected
figures are computed from the records and the presence times the API itself
returned (AgentStatus.state_since), so they are exact whatever the machine's speed.
"""

from __future__ import annotations

import asyncio
import json
import time

import grpc
import grpc.aio
import pytest
from ccp_acd.cli import main
from ccp_acd.domain.models import QueueConfig
from ccpapi.v1 import admin_pb2, agent_pb2, common_pb2, interaction_pb2
from click.testing import CliRunner
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from tests.helpers import eventually

pytestmark = pytest.mark.etcd

CALLER = "+15550177"
# One hour: every answer and every quick hang-up here is "within", whatever the machine's speed.
LENIENT = QueueConfig(name="support", sl_threshold_s=3600)
# Zero: any wait is beyond it, so its abandon is a failed call.
STRICT = QueueConfig(name="billing", sl_threshold_s=0)


def ts(seconds: float) -> Timestamp:
    t = Timestamp()
    t.FromNanoseconds(int(seconds * 1e9))
    return t


def secs(value) -> float:
    return value.seconds + value.nanos / 1e9


def enqueue(queue: str, address: str = CALLER) -> interaction_pb2.EnqueueRequest:
    return interaction_pb2.EnqueueRequest(queue=queue, channel=common_pb2.CHANNEL_VOICE,
                                          caller=common_pb2.Caller(address=address))


async def offered_to(stubs, t, call_id: str, agent: str) -> None:
    async def check():
        got = await stubs.interactions.GetInteraction(
            interaction_pb2.GetInteractionRequest(interaction_id=call_id), metadata=t.interaction)
        return got.offered_to == agent

    await eventually(check, timeout_s=15, what=f"{call_id} offered to {agent}")


async def set_state(stubs, token, state, reason=""):
    return await stubs.agents.SetState(
        agent_pb2.SetStateRequest(agent_id="alice", state=state, reason_code=reason), metadata=token)


async def run_calls(stubs, t):
    """alice answers one support call with a wrap-up she ends early; two calls are abandoned unanswered."""
    await stubs.admin.CreateAgent(admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id="alice")), metadata=t.admin)
    alice = await t.agent_token("alice")
    await stubs.agents.Login(agent_pb2.LoginRequest(agent_id="alice"), metadata=alice)
    staffed_from = secs((await set_state(stubs, alice, common_pb2.AGENT_STATE_AVAILABLE)).state_since)
    answered = await stubs.interactions.Enqueue(enqueue("support"), metadata=t.interaction)
    await offered_to(stubs, t, answered.id, "alice")
    await stubs.agents.AcceptOffer(agent_pb2.AcceptOfferRequest(agent_id="alice", interaction_id=answered.id),
                                   metadata=alice)
    done = await stubs.agents.Complete(
        agent_pb2.CompleteRequest(agent_id="alice", interaction_id=answered.id, disposition="resolved",
                                  wrap_up=Duration(seconds=600)), metadata=alice)
    assert done.state == common_pb2.AGENT_STATE_WRAP_UP
    wrap_from = secs(done.state_since)
    wrap_to = secs((await set_state(stubs, alice, common_pb2.AGENT_STATE_AVAILABLE)).state_since)  # ends it early
    staffed_to = secs((await set_state(stubs, alice, common_pb2.AGENT_STATE_BREAK, "lunch")).state_since)
    abandoned = []
    for queue in ("support", "billing"):
        call = await stubs.interactions.Enqueue(enqueue(queue), metadata=t.interaction)
        await stubs.interactions.Cancel(interaction_pb2.CancelRequest(interaction_id=call.id), metadata=t.interaction)
        abandoned.append(call.id)
    record = await stubs.interactions.GetInteraction(
        interaction_pb2.GetInteractionRequest(interaction_id=answered.id), metadata=t.interaction)
    return dict(
        alice=alice, answered=answered.id, abandoned=abandoned,
        talk=secs(record.ended_at) - secs(record.answered_at), wrap=wrap_to - wrap_from,
        staffed=staffed_to - staffed_from, asa=secs(record.answered_at) - secs(record.enqueued_at),
    )


def totals(rows, field):
    return sum(getattr(r, field) for r in rows)


async def test_reports_agents_tenant_stats_and_caller_history_match_the_calls_run(stubs, make_tenant):
    t = await make_tenant(LENIENT, STRICT)
    start = time.time() - 60
    ran = await run_calls(stubs, t)
    window = dict(start=ts(start), end=ts(time.time() + 60))

    by_queue = await stubs.admin.GetReport(admin_pb2.GetReportRequest(
        **window, granularity=admin_pb2.GRANULARITY_DAY, group_by=admin_pb2.GROUP_BY_QUEUE), metadata=t.admin)
    assert by_queue.start.seconds % 86400 == 0 and by_queue.end.seconds % 86400 == 0
    support = [r for r in by_queue.rows if r.group == "support"]
    billing = [r for r in by_queue.rows if r.group == "billing"]
    assert {r.group for r in by_queue.rows} == {"support", "billing"}   # every configured queue, and only those
    assert [totals(support, f) for f in ("offered", "answered", "answered_within_threshold", "abandoned",
                                         "abandoned_within_threshold")] == [2, 1, 1, 1, 1]
    [row] = [r for r in support if r.answered]
    # SL = 1 within / (2 offered - 1 short abandon); AHT = talk + the wrap-up alice ended early.
    assert row.service_level == pytest.approx(1.0)
    assert secs(row.average_speed_of_answer) == pytest.approx(ran["asa"], abs=1e-6)
    assert secs(row.average_handle_time) == pytest.approx(ran["talk"] + ran["wrap"], abs=1e-6)
    assert not row.HasField("occupancy")
    [bill] = [r for r in billing if r.offered]
    assert (bill.abandoned, bill.abandoned_within_threshold, bill.service_level, bill.abandonment_rate) == (1, 0, 0, 1)

    by_site = await stubs.admin.GetReport(admin_pb2.GetReportRequest(
        **window, granularity=admin_pb2.GRANULARITY_DAY, group_by=admin_pb2.GROUP_BY_SITE), metadata=t.admin)
    assert {r.group for r in by_site.rows} == {"site-a"}
    assert totals(by_site.rows, "offered") == 3
    staffed = sum(secs(r.staffed_time) for r in by_site.rows)
    handled = sum(secs(r.handle_time) for r in by_site.rows)
    assert staffed == pytest.approx(ran["staffed"], abs=1e-5)
    assert handled == pytest.approx(ran["talk"] + ran["wrap"], abs=1e-5)

    [alice] = (await stubs.admin.ListAgentReports(admin_pb2.ListAgentReportsRequest(**window), metadata=t.admin)).agents
    assert (alice.agent_id, alice.site, alice.handled) == ("alice", "site-a", 1)
    assert secs(alice.talk_time) == pytest.approx(ran["talk"], abs=1e-6)
    assert secs(alice.wrap_up_time) == pytest.approx(ran["wrap"], abs=1e-6)
    assert secs(alice.staffed_time) == pytest.approx(ran["staffed"], abs=1e-6)
    assert alice.occupancy == pytest.approx((ran["talk"] + ran["wrap"]) / ran["staffed"], rel=1e-6)

    waiting = await stubs.interactions.Enqueue(enqueue("support", "+15550999"), metadata=t.interaction)
    live = await stubs.admin.GetTenantStats(admin_pb2.GetTenantStatsRequest(), metadata=t.admin)
    assert (live.tenant.site, live.tenant.waiting, live.tenant.agents.logged_in, live.tenant.agents.on_break) == (
        "", 1, 1, 1)
    assert [(s.site, s.waiting, s.agents.logged_in) for s in live.sites] == [("site-a", 1, 1)]
    await stubs.interactions.Cancel(interaction_pb2.CancelRequest(interaction_id=waiting.id), metadata=t.interaction)

    history = await stubs.admin.GetCallerHistory(admin_pb2.GetCallerHistoryRequest(address=CALLER), metadata=t.admin)
    assert [c.id for c in history.calls] == [*reversed(ran["abandoned"]), ran["answered"]]   # newest first
    last = history.calls[-1]
    assert (last.queue, last.agent_id, last.state, last.disposition) == (
        "support", "alice", common_pb2.INTERACTION_STATE_COMPLETED, "resolved")
    assert last.HasField("answered") and not history.calls[0].HasField("answered")
    limited = await stubs.admin.GetCallerHistory(admin_pb2.GetCallerHistoryRequest(address=CALLER, limit=1),
                                                 metadata=t.admin)
    assert [c.id for c in limited.calls] == [ran["abandoned"][-1]]

    # Another tenant's admin sees none of it.
    other = await make_tenant()
    theirs = await stubs.admin.GetCallerHistory(admin_pb2.GetCallerHistoryRequest(address=CALLER),
                                                metadata=other.admin)
    assert list(theirs.calls) == []
    their_report = await stubs.admin.GetReport(admin_pb2.GetReportRequest(
        **window, granularity=admin_pb2.GRANULARITY_DAY, group_by=admin_pb2.GROUP_BY_TENANT), metadata=other.admin)
    assert totals(their_report.rows, "offered") == 0
    their_agents = await stubs.admin.ListAgentReports(admin_pb2.ListAgentReportsRequest(**window), metadata=other.admin)
    assert list(their_agents.agents) == []


async def test_agent_screen_pop_shows_previous_calls_only_to_the_agent_holding_the_call(stubs, make_tenant):
    t = await make_tenant(LENIENT, STRICT)
    ran = await run_calls(stubs, t)
    alice = ran["alice"]
    await stubs.admin.CreateAgent(admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id="bob")), metadata=t.admin)
    bob = await t.agent_token("bob")
    await set_state(stubs, alice, common_pb2.AGENT_STATE_AVAILABLE)
    current = await stubs.interactions.Enqueue(enqueue("support"), metadata=t.interaction)
    await offered_to(stubs, t, current.id, "alice")

    def request(agent, call_id, limit=0):
        return agent_pb2.AgentCallerHistoryRequest(agent_id=agent, interaction_id=call_id, limit=limit)

    offered = await stubs.agents.GetCallerHistory(request("alice", current.id), metadata=alice)
    assert offered.address == CALLER
    assert [c.id for c in offered.calls] == [*reversed(ran["abandoned"]), ran["answered"]]   # not the current one
    await stubs.agents.AcceptOffer(agent_pb2.AcceptOfferRequest(agent_id="alice", interaction_id=current.id),
                                   metadata=alice)
    connected = await stubs.agents.GetCallerHistory(request("alice", current.id, limit=1), metadata=alice)
    assert [(c.id, c.agent_id) for c in connected.calls] == [(ran["abandoned"][-1], "")]

    for agent, token, call_id in (
        ("bob", bob, current.id),                 # someone else's call
        ("alice", alice, ran["answered"]),        # her own call, but ended
        ("alice", alice, "no-such-call"),         # unknown: same answer, ids cannot be probed
    ):
        with pytest.raises(grpc.aio.AioRpcError) as denied:
            await stubs.agents.GetCallerHistory(request(agent, call_id), metadata=token)
        assert denied.value.code() == grpc.StatusCode.PERMISSION_DENIED, (agent, call_id)
        assert "does not hold" in denied.value.details()
    with pytest.raises(grpc.aio.AioRpcError) as impostor:
        await stubs.agents.GetCallerHistory(request("alice", current.id), metadata=bob)
    assert impostor.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (admin_pb2.GetReportRequest(end=ts(2e9), granularity=1, group_by=1), "start: is required"),
        (admin_pb2.GetReportRequest(start=ts(2e9), end=ts(2e9), granularity=1, group_by=1), "end: must be after start"),
        (admin_pb2.GetReportRequest(start=ts(2e9), end=ts(2e9 + 32 * 86400), granularity=3, group_by=1),
         "end: the window is 32.0 days long; at most 31"),
        (admin_pb2.GetReportRequest(start=ts(2e9), end=ts(2e9 + 21 * 86400), granularity=1, group_by=1),
         "granularity: the window covers 2017 intervals of 15m; at most 2000"),
        (admin_pb2.GetReportRequest(start=ts(2e9), end=ts(2e9 + 60), group_by=1),
         "granularity: is required (GRANULARITY_UNSPECIFIED is not allowed)"),
        (admin_pb2.GetReportRequest(start=ts(2e9), end=ts(2e9 + 60), granularity=1, group_by=9),
         "group_by: 9 is not a known GroupBy value"),
        (admin_pb2.ListAgentReportsRequest(start=ts(2e9 + 1), end=ts(2e9)), "end: must be after start"),
        (admin_pb2.GetCallerHistoryRequest(address=CALLER, limit=101), "limit: 101 is out of range 1..100"),
        (admin_pb2.GetCallerHistoryRequest(address="", limit=5), "address: is required"),
    ],
)
async def test_bad_report_requests_are_invalid_argument_naming_the_field(stubs, make_tenant, request_, message):
    t = await make_tenant()
    rpc = {admin_pb2.GetReportRequest: stubs.admin.GetReport, admin_pb2.ListAgentReportsRequest:
           stubs.admin.ListAgentReports, admin_pb2.GetCallerHistoryRequest: stubs.admin.GetCallerHistory}
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await rpc[type(request_)](request_, metadata=t.admin)
    assert refused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert refused.value.details().startswith(message), refused.value.details()


async def test_reports_need_the_admin_role(stubs, make_tenant):
    t = await make_tenant()
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await stubs.admin.GetTenantStats(admin_pb2.GetTenantStatsRequest(), metadata=t.interaction)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED


async def test_ccp_report_prints_intervals_agents_and_caller_history(node, stubs, make_tenant):
    t = await make_tenant(LENIENT, STRICT)
    ran = await run_calls(stubs, t)
    token = t.admin[0][1].removeprefix("Bearer ")
    runner = CliRunner()

    def ccp(*args):
        return asyncio.to_thread(runner.invoke, main, ["report", *args, "--endpoint", node.address],
                                 env={"CCP_TOKEN": token})

    window = ["--from", time.strftime("%Y-%m-%dT00:00", time.gmtime(time.time() - 3600)),
              "--to", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 60))]
    shown = await ccp("intervals", *window, "--granularity", "1d", "--by", "queue", "--json")
    assert shown.exit_code == 0, shown.output
    rows = json.loads(shown.output)
    assert sum(r["offered"] for r in rows if r["group"] == "support") == 2
    assert sum(r["abandoned"] for r in rows if r["group"] == "billing") == 1

    table = await ccp("intervals", *window, "--granularity", "1h", "--by", "site")
    assert table.exit_code == 0, table.output
    assert "site-a" in table.output and "occupancy" in table.output

    agents = await ccp("agents", *window, "--json")
    assert agents.exit_code == 0, agents.output
    [alice] = json.loads(agents.output)
    assert (alice["agent"], alice["handled"]) == ("alice", 1)
    assert alice["talk_s"] == pytest.approx(ran["talk"], abs=1e-3)

    caller = await ccp("caller", CALLER)
    assert caller.exit_code == 0, caller.output
    assert "resolved" in caller.output and "abandoned" in caller.output and ran["answered"] in caller.output

    bad = await ccp("intervals", "--from", "2024-01-02", "--to", "2024-01-01")
    assert bad.exit_code == 1 and "INVALID_ARGUMENT: end: must be after start" in bad.output
    not_a_date = await ccp("agents", "--from", "yesterday")
    assert not_a_date.exit_code == 2 and "not an ISO 8601" in not_a_date.output
