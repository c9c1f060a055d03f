"""The audit log (``api.audit``): admin writes and actions on another agent, allowed or refused, are stored
with actor, target and outcome, without caller numbers or secrets; ListAuditEvents pages through a window."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from datetime import UTC, datetime

import grpc
import grpc.aio
import pytest
from ccp_acd.api.auth import issue_token
from ccp_acd.cli import main
from ccp_acd.state import keys
from ccpapi.v1 import admin_pb2, agent_pb2, common_pb2
from click.testing import CliRunner
from google.protobuf.timestamp_pb2 import Timestamp

from tests.api.conftest import bearer
from tests.api.test_roles import code_of

pytestmark = pytest.mark.etcd

NUMBER = "+15550199"
ADMIN = "/ccpapi.v1.AdminService/"
AGENT = "/ccpapi.v1.AgentService/"


def ts(seconds: float) -> Timestamp:
    value = Timestamp()
    value.FromNanoseconds(round(seconds * 1e9))
    return value


async def audit(stubs, metadata, *, start: float, end: float | None = None, **kwargs) -> list[admin_pb2.AuditEvent]:
    answer = await stubs.admin.ListAuditEvents(
        admin_pb2.ListAuditEventsRequest(start_time=ts(start), end_time=ts(end or time.time() + 1), **kwargs),
        metadata=metadata,
    )
    return list(answer.events)


def rows(events) -> list[tuple[str, str, str, str]]:
    return [(e.method.rsplit("/", 1)[1], e.actor_role, e.target, e.outcome) for e in events]


def key_id(metadata) -> str:
    return metadata[0][1].split(".")[1]


async def test_admin_writes_are_audited_with_actor_target_and_outcome_and_no_caller_number(
    stubs, make_tenant, store, caplog
):
    t = await make_tenant()
    start = time.time()
    blocked = admin_pb2.AddBlockedCallerRequest(blocked=admin_pb2.BlockedCaller(pattern=NUMBER, reason="abuse"))
    with caplog.at_level(logging.INFO, logger="ccp_acd.audit"):
        await stubs.admin.CreateAgent(admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id="bob")), metadata=t.admin)
        await stubs.admin.UpdateAgent(
            admin_pb2.UpdateAgentRequest(agent=admin_pb2.Agent(id="bob", display_name="Bob")), metadata=t.admin
        )
        await stubs.admin.AddBlockedCaller(blocked, metadata=t.admin)
        await stubs.admin.RemoveBlockedCaller(admin_pb2.RemoveBlockedCallerRequest(pattern=NUMBER), metadata=t.admin)
        missing = await code_of(
            stubs.admin.RemoveBlockedCaller(admin_pb2.RemoveBlockedCallerRequest(pattern=NUMBER), metadata=t.admin)
        )
        invalid = await code_of(
            stubs.admin.CreateAgent(admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id="Not An Id")), metadata=t.admin)
        )
        await stubs.admin.DeleteAgent(admin_pb2.DeleteAgentRequest(agent_id="bob"), metadata=t.admin)
    assert (missing[0], invalid[0]) == (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.INVALID_ARGUMENT)

    events = await audit(stubs, t.admin, start=start)
    hashed = f"blocked:{keys.caller_key(t.name, NUMBER)[:16]}"
    assert rows(events) == [
        ("CreateAgent", "admin", "bob", "OK"),
        ("UpdateAgent", "admin", "bob", "OK"),
        ("AddBlockedCaller", "admin", hashed, "OK"),
        ("RemoveBlockedCaller", "admin", hashed, "OK"),
        ("RemoveBlockedCaller", "admin", hashed, "NOT_FOUND"),
        ("CreateAgent", "admin", "", "INVALID_ARGUMENT"),
        ("DeleteAgent", "admin", "bob", "OK"),
    ]
    assert {e.actor_key_id for e in events} == {key_id(t.admin)}
    assert all(e.method.startswith(ADMIN) for e in events)
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert all(start <= e.time.ToNanoseconds() / 1e9 <= time.time() for e in events)

    # Nowhere in the stored events (keys or values), nor in the log lines: the number, or the token's secret.
    stored, _ = await store.read_prefix(keys.audit_prefix(t.name))
    assert len(stored) == len(events)
    secret = t.admin[0][1].split(".")[2]
    raw = "".join(key + value.decode() for key, value, _ in stored)
    lines = [r.getMessage() for r in caplog.records if r.name == "ccp_acd.audit" and t.name in r.getMessage()]
    assert len(lines) == len(events)
    for text in (raw, *lines):
        assert "5550199" not in text and secret not in text and "abuse" not in text


async def test_refused_writes_are_audited_with_the_refused_role(stubs, make_tenant):
    t = await make_tenant()
    start = time.time()
    supervisor = bearer(await issue_token(t.store, tenant=t.name, role="supervisor"))
    alice = await t.agent_token("alice")
    create = admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id="mallory"))
    for metadata in (supervisor, alice, t.interaction):
        code, message = await code_of(stubs.admin.CreateAgent(create, metadata=metadata))
        assert code is grpc.StatusCode.PERMISSION_DENIED, message
    code, _ = await code_of(
        stubs.admin.AddBlockedCaller(
            admin_pb2.AddBlockedCallerRequest(blocked=admin_pb2.BlockedCaller(pattern=NUMBER)), metadata=supervisor
        )
    )
    assert code is grpc.StatusCode.PERMISSION_DENIED
    # A token that does not verify names no tenant: nothing to audit.
    code, _ = await code_of(stubs.admin.CreateAgent(create, metadata=bearer(f"{t.name}.ffffffffffff.{'x' * 43}")))
    assert code is grpc.StatusCode.UNAUTHENTICATED

    events = await audit(stubs, supervisor, start=start)  # the supervisor may read the audit log
    assert rows(events) == [
        ("CreateAgent", "supervisor", "mallory", "PERMISSION_DENIED"),
        ("CreateAgent", "agent", "mallory", "PERMISSION_DENIED"),
        ("CreateAgent", "interaction", "mallory", "PERMISSION_DENIED"),
        ("AddBlockedCaller", "supervisor", f"blocked:{keys.caller_key(t.name, NUMBER)[:16]}", "PERMISSION_DENIED"),
    ]
    assert [e.actor_key_id for e in events] == [key_id(m) for m in (supervisor, alice, t.interaction, supervisor)]
    for metadata in (alice, t.interaction):
        code, message = await code_of(
            stubs.admin.ListAuditEvents(
                admin_pb2.ListAuditEventsRequest(start_time=ts(start), end_time=ts(time.time())), metadata=metadata
            )
        )
        assert code is grpc.StatusCode.PERMISSION_DENIED and "AdminService/ListAuditEvents" in message


async def test_a_supervisor_forces_a_break_and_logs_an_agent_out_and_the_audit_log_shows_it(stubs, make_tenant):
    t = await make_tenant()
    for agent_id in ("alice", "bob"):
        await stubs.admin.CreateAgent(admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id=agent_id)), metadata=t.admin)
    alice = await t.agent_token("alice")
    supervisor = bearer(await issue_token(t.store, tenant=t.name, role="supervisor"))
    start = time.time()
    await stubs.agents.Login(agent_pb2.LoginRequest(agent_id="alice"), metadata=alice)
    await stubs.agents.SetState(
        agent_pb2.SetStateRequest(agent_id="alice", state=common_pb2.AGENT_STATE_AVAILABLE), metadata=alice
    )
    forced = await stubs.agents.SetState(
        agent_pb2.SetStateRequest(agent_id="alice", state=common_pb2.AGENT_STATE_BREAK, reason_code="coaching"),
        metadata=supervisor,
    )
    assert (forced.state, forced.reason_code) == (common_pb2.AGENT_STATE_BREAK, "coaching")
    seen = await stubs.agents.GetStatus(agent_pb2.GetStatusRequest(agent_id="alice"), metadata=alice)
    assert (seen.state, seen.reason_code) == (common_pb2.AGENT_STATE_BREAK, "coaching")
    refused = await code_of(stubs.agents.Login(agent_pb2.LoginRequest(agent_id="bob"), metadata=supervisor))
    assert refused[0] is grpc.StatusCode.PERMISSION_DENIED
    impersonation = await code_of(
        stubs.agents.SetState(
            agent_pb2.SetStateRequest(agent_id="bob", state=common_pb2.AGENT_STATE_AVAILABLE), metadata=alice
        )
    )
    assert impersonation[0] is grpc.StatusCode.PERMISSION_DENIED
    out = await stubs.agents.Logout(agent_pb2.LogoutRequest(agent_id="alice"), metadata=supervisor)
    assert out.state == common_pb2.AGENT_STATE_LOGGED_OUT
    gone = await code_of(stubs.agents.Logout(agent_pb2.LogoutRequest(agent_id="ghost"), metadata=supervisor))
    assert gone[0] is grpc.StatusCode.NOT_FOUND

    events = await audit(stubs, t.admin, start=start)
    # alice's own Login and SetState are not audited; everything done to an agent by someone else is.
    assert rows(events) == [
        ("SetState", "supervisor", "alice", "OK"),
        ("Login", "supervisor", "bob", "PERMISSION_DENIED"),
        ("SetState", "agent", "bob", "PERMISSION_DENIED"),
        ("Logout", "supervisor", "alice", "OK"),
        ("Logout", "supervisor", "ghost", "NOT_FOUND"),
    ]
    assert all(e.method.startswith(AGENT) for e in events)
    assert events[2].actor_key_id == key_id(alice)


async def test_list_audit_events_pages_through_a_window_by_limit(stubs, make_tenant):
    t = await make_tenant()
    start = time.time()
    for n in range(5):
        await stubs.admin.CreateAgent(admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id=f"a{n}")), metadata=t.admin)
    end = time.time() + 1
    everything = await audit(stubs, t.admin, start=start, end=end)
    assert [e.target for e in everything] == [f"a{n}" for n in range(5)]

    pages, token = [], ""
    for _ in range(5):  # bounded: 3 pages expected
        answer = await stubs.admin.ListAuditEvents(
            admin_pb2.ListAuditEventsRequest(start_time=ts(start), end_time=ts(end), limit=2, page_token=token),
            metadata=t.admin,
        )
        pages.append([e.target for e in answer.events])
        token = answer.next_page_token
        if not token:
            break
    assert pages == [["a0", "a1"], ["a2", "a3"], ["a4"]]

    # The window is [start, end): an event exactly at the end is out, one exactly at the start is in.
    third = everything[2].time.ToNanoseconds() / 1e9
    before = await audit(stubs, t.admin, start=start, end=third)
    assert [e.target for e in before] == ["a0", "a1"]
    after = await audit(stubs, t.admin, start=third, end=end)
    assert [e.target for e in after] == ["a2", "a3", "a4"]
    assert await audit(stubs, t.admin, start=start - 3600, end=start - 1) == []


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"end_time": 2.0}, "start_time: is required"),
        ({"start_time": 2.0}, "end_time: is required"),
        ({"start_time": 5.0, "end_time": 5.0}, "end_time: must be after start_time"),
        ({"start_time": 0.0, "end_time": 367 * 86400.0}, "end_time: the window is 367.0 days long; at most 366"),
        ({"start_time": 1.0, "end_time": 2.0, "limit": 1001}, "limit: 1001 is out of range 1..1000"),
        ({"start_time": 1.0, "end_time": 2.0, "limit": -1}, "limit: -1 is out of range 1..1000"),
        ({"start_time": 1.0, "end_time": 2.0, "page_token": "../x"}, "page_token: '../x' is not a next_page_token"),
    ],
)
async def test_list_audit_events_validates_window_limit_and_page_token(stubs, make_tenant, fields, message):
    t = await make_tenant()
    request = admin_pb2.ListAuditEventsRequest(
        **{k: ts(v) if k.endswith("_time") else v for k, v in fields.items()}
    )
    code, details = await code_of(stubs.admin.ListAuditEvents(request, metadata=t.admin))
    assert code is grpc.StatusCode.INVALID_ARGUMENT
    assert details.startswith(message), details


async def test_ccp_audit_prints_the_window_and_follows_pages(node, stubs, make_tenant):
    t = await make_tenant()
    start = time.time()
    for n in range(3):
        await stubs.admin.CreateAgent(admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id=f"a{n}")), metadata=t.admin)
    supervisor = await issue_token(t.store, tenant=t.name, role="supervisor")
    window = ["--from", datetime.fromtimestamp(start - 1, UTC).isoformat(),
              "--to", datetime.fromtimestamp(time.time() + 60, UTC).isoformat()]
    runner = CliRunner()

    def ccp(*args):
        return asyncio.to_thread(runner.invoke, main, ["audit", *args, "--endpoint", node.address, "--plaintext"],
                                 env={"CCP_TOKEN": supervisor})

    shown = await ccp(*window, "--json")
    assert shown.exit_code == 0, shown.output
    assert [(r["method"], r["target"], r["outcome"]) for r in json.loads(shown.output)] == [
        ("AdminService/CreateAgent", f"a{n}", "OK") for n in range(3)
    ]
    assert json.loads(shown.output)[0]["actor"] == f"admin/{key_id(t.admin)}"
    cut = await ccp(*window, "--limit", "2", "--json")
    assert [r["target"] for r in json.loads(cut.output)] == ["a0", "a1"]
    table = await ccp(*window)
    assert table.exit_code == 0 and "CreateAgent" in table.output and "outcome" in table.output, table.output
