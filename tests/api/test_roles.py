"""Roles per API method (``api.roles``): the table covers every method, each role gets exactly its column,
a method missing from the table is refused, and act-as-agent follows the table."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime, timedelta

import grpc
import grpc.aio
import pytest
from ccp_acd.api import roles
from ccp_acd.api.admin import AdminServicer
from ccp_acd.api.auth import Authenticator, Principal, issue_token
from ccp_acd.api.status import grpc_errors
from ccp_acd.errors import PermissionDenied
from ccp_acd.state.intervals import IntervalViews
from ccp_acd.state.store import TenantConfig
from ccpapi.v1 import admin_pb2, admin_pb2_grpc, agent_pb2, common_pb2, interaction_pb2, site_pb2
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from tests.api.conftest import bearer
from tests.helpers import ROOT

pytestmark = pytest.mark.etcd

SERVICES = ("AdminService", "AgentService", "InteractionService")


def descriptor_methods() -> set[str]:
    files = (admin_pb2.DESCRIPTOR, agent_pb2.DESCRIPTOR, interaction_pb2.DESCRIPTOR)
    return {
        f"/{service.full_name}/{method.name}"
        for file in files
        for service in file.services_by_name.values()
        for method in service.methods
    }


async def code_of(awaitable) -> tuple[grpc.StatusCode, str]:
    try:
        await awaitable
    except grpc.aio.AioRpcError as e:
        return e.code(), e.details()
    return grpc.StatusCode.OK, ""


def test_the_table_names_exactly_the_methods_of_the_tenant_services():
    methods = descriptor_methods()
    assert {m.split("/")[1].removeprefix("ccpapi.v1.") for m in methods} == set(SERVICES)
    assert set(roles.METHOD_ROLES) == methods, "a tenant RPC without a METHOD_ROLES entry (or a stale entry)"
    assert set(roles.ACT_AS_ANY) == {m for m in methods if m.startswith(roles.AGENT)}
    site_methods = {f"/{s.full_name}/{m.name}" for s in site_pb2.DESCRIPTOR.services_by_name.values() for m in s.methods}
    assert not site_methods & set(roles.METHOD_ROLES), "SiteService takes the cluster token, never a tenant role"
    for method, allowed in roles.METHOD_ROLES.items():
        assert "admin" in allowed, method
        assert allowed <= set(roles.ROLES), method
        assert roles.ACT_AS_ANY.get(method, frozenset()) <= allowed, method


def test_a_method_missing_from_the_table_is_refused_for_every_role():
    for role in roles.ROLES:
        principal = Principal(tenant="t", role=role, agent_id="a" if role == "agent" else "")
        with pytest.raises(PermissionDenied, match="AdminService/DropTenant is not open to any role"):
            principal.authorize("/ccpapi.v1.AdminService/DropTenant")
        assert not roles.may_act_as_any(role, "/ccpapi.v1.AgentService/Hijack")


def test_the_docs_table_is_the_one_the_code_enforces():
    doc = (ROOT / "docs" / "security.md").read_text()
    assert roles.markdown_table() in doc, "docs/security.md 'Roles and audit': paste roles.markdown_table()"


class TypoServicer(AdminServicer):
    """An AdminService whose ListAgents asks for a method name the table does not know (a typo)."""

    @grpc_errors
    async def ListAgents(self, request, context):
        await self._tenant(context, "ListAgent")
        return admin_pb2.ListAgentsResponse()


async def test_a_servicer_asking_for_an_unknown_method_fails_closed_on_a_real_server(store):
    tenant = f"t-{secrets.token_hex(4)}"
    await store.put_tenant_config(TenantConfig(name=tenant))
    token = bearer(await issue_token(store, tenant=tenant, role="admin"))
    server = grpc.aio.server()
    admin_pb2_grpc.add_AdminServiceServicer_to_server(
        TypoServicer(store, Authenticator(store), site="s", intervals=IntervalViews(store)), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    try:
        async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
            code, message = await code_of(
                admin_pb2_grpc.AdminServiceStub(channel).ListAgents(admin_pb2.ListAgentsRequest(), metadata=token)
            )
    finally:
        await server.stop(None)
    assert code is grpc.StatusCode.PERMISSION_DENIED
    assert message == "AdminService/ListAgent is not open to any role"


def _ts(value: datetime) -> Timestamp:
    ts = Timestamp()
    ts.FromDatetime(value)
    return ts


def requests(role: str) -> dict[str, object]:
    """One request per method (full name), acting as agent alice; names unique per role so its writes succeed."""
    now = datetime.now(UTC)
    window = {"start": _ts(now - timedelta(hours=1)), "end": _ts(now)}
    own, pattern = f"tmp-{role}", f"+1999{roles.ROLES.index(role)}*"
    ad, ag, it = roles.ADMIN, roles.AGENT, roles.INTERACTION
    return {
        f"{ad}CreateAgent": admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id=own)),
        f"{ad}UpdateAgent": admin_pb2.UpdateAgentRequest(agent=admin_pb2.Agent(id=own, display_name="Tmp")),
        f"{ad}DeleteAgent": admin_pb2.DeleteAgentRequest(agent_id=own),
        f"{ad}AddBlockedCaller": admin_pb2.AddBlockedCallerRequest(blocked=admin_pb2.BlockedCaller(pattern=pattern)),
        f"{ad}RemoveBlockedCaller": admin_pb2.RemoveBlockedCallerRequest(pattern=pattern),
        f"{ad}GetAgent": admin_pb2.GetAgentRequest(agent_id="alice"),
        f"{ad}ListAgents": admin_pb2.ListAgentsRequest(),
        f"{ad}GetQueueStats": admin_pb2.GetQueueStatsRequest(queue="support"),
        f"{ad}ListQueueStats": admin_pb2.ListQueueStatsRequest(),
        f"{ad}ListAgentStatuses": admin_pb2.ListAgentStatusesRequest(),
        f"{ad}GetTenantStats": admin_pb2.GetTenantStatsRequest(),
        f"{ad}GetReport": admin_pb2.GetReportRequest(
            **window, granularity=admin_pb2.GRANULARITY_HOUR, group_by=admin_pb2.GROUP_BY_QUEUE
        ),
        f"{ad}ListAgentReports": admin_pb2.ListAgentReportsRequest(**window),
        f"{ad}GetCallerHistory": admin_pb2.GetCallerHistoryRequest(address="+15550100"),
        f"{ad}ListBlockedCallers": admin_pb2.ListBlockedCallersRequest(),
        f"{ad}ListAuditEvents": admin_pb2.ListAuditEventsRequest(start_time=window["start"], end_time=window["end"]),
        f"{ag}Login": agent_pb2.LoginRequest(agent_id="alice"),
        f"{ag}Logout": agent_pb2.LogoutRequest(agent_id="alice"),
        f"{ag}SetState": agent_pb2.SetStateRequest(
            agent_id="alice", state=common_pb2.AGENT_STATE_BREAK, reason_code="coffee"
        ),
        f"{ag}GetStatus": agent_pb2.GetStatusRequest(agent_id="alice"),
        f"{ag}StreamOffers": agent_pb2.StreamOffersRequest(agent_id="alice"),
        f"{ag}AcceptOffer": agent_pb2.AcceptOfferRequest(agent_id="alice", interaction_id="no-such-call"),
        f"{ag}RejectOffer": agent_pb2.RejectOfferRequest(agent_id="alice", interaction_id="no-such-call"),
        f"{ag}Complete": agent_pb2.CompleteRequest(agent_id="alice", interaction_id="no-such-call"),
        f"{ag}GetCallerHistory": agent_pb2.AgentCallerHistoryRequest(agent_id="alice", interaction_id="no-such-call"),
        f"{it}Enqueue": interaction_pb2.EnqueueRequest(
            queue="support", channel=common_pb2.CHANNEL_VOICE, caller=common_pb2.Caller(address="+15550100"),
            request_id=f"req-{role}",
        ),
        f"{it}Cancel": interaction_pb2.CancelRequest(interaction_id="no-such-call"),
        f"{it}GetInteraction": interaction_pb2.GetInteractionRequest(interaction_id="no-such-call"),
        f"{it}WatchInteraction": interaction_pb2.WatchInteractionRequest(interaction_id="no-such-call"),
        f"{it}Hangup": interaction_pb2.HangupRequest(
            interaction_id="no-such-call", party=interaction_pb2.HANGUP_PARTY_CALLER
        ),
        f"{it}LeaveVoicemail": interaction_pb2.LeaveVoicemailRequest(
            interaction_id="no-such-call", recording_id="rec-1", duration=Duration(seconds=3)
        ),
        f"{it}RequestCallback": interaction_pb2.RequestCallbackRequest(interaction_id="no-such-call"),
        f"{it}Requeue": interaction_pb2.RequeueRequest(interaction_id="no-such-call", reason="agent-no-answer"),
        f"{ad}GetCallRecord": admin_pb2.GetCallRecordRequest(interaction_id="no-such-call"),
    }


# Allowed calls that cannot succeed on this data (no such interaction): any answer but a role refusal.
EXPECTED_NOT_OK = {
    f"{roles.AGENT}{name}" for name in ("AcceptOffer", "RejectOffer", "Complete", "GetCallerHistory")
} | {
    f"{roles.INTERACTION}{name}"
    for name in (
        "Cancel", "GetInteraction", "WatchInteraction", "Hangup", "LeaveVoicemail", "RequestCallback", "Requeue"
    )
} | {f"{roles.ADMIN}GetCallRecord"}


def rpc_of(stubs, method: str):
    service = method.split("/")[1].removeprefix("ccpapi.v1.")
    stub = {"AdminService": stubs.admin, "AgentService": stubs.agents, "InteractionService": stubs.interactions}[service]
    return getattr(stub, method.rsplit("/", 1)[1])


async def test_each_role_may_call_exactly_its_methods_on_a_real_node(stubs, make_tenant):
    t = await make_tenant()
    await stubs.admin.CreateAgent(admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id="alice")), metadata=t.admin)
    tokens = {
        "admin": t.admin,
        "supervisor": bearer(await issue_token(t.store, tenant=t.name, role="supervisor")),
        "agent": await t.agent_token("alice"),
        "interaction": t.interaction,
    }
    assert set(requests("admin")) == set(roles.METHOD_ROLES)
    streams = []
    try:
        for role in roles.ROLES:
            for method, request in requests(role).items():
                key = roles.short(method)
                allowed = role in roles.METHOD_ROLES[method]
                if method.endswith("/StreamOffers"):
                    stream = rpc_of(stubs, method)(request, metadata=tokens[role])
                    streams.append((role, allowed, stream))
                    continue
                call = rpc_of(stubs, method)(request, metadata=tokens[role])
                # WatchInteraction streams: its answer (here NOT_FOUND or a refusal) comes with the first read.
                code, message = await code_of(call.read() if method.endswith("/WatchInteraction") else call)
                if not allowed:
                    assert code is grpc.StatusCode.PERMISSION_DENIED, (role, key, code, message)
                    assert message.startswith(f"role {role!r} may not call {roles.short(method)}"), message
                elif method in EXPECTED_NOT_OK:
                    assert "may not call" not in message and code is not grpc.StatusCode.UNAUTHENTICATED, (role, key)
                else:
                    assert code is grpc.StatusCode.OK, (role, key, code, message)
        # An allowed offer stream opens (its first event is a heartbeat: alice has no offer); others are refused.
        for role, allowed, stream in streams:
            code, message = await code_of(asyncio.wait_for(stream.read(), timeout=15))
            if allowed:
                assert code is grpc.StatusCode.OK, (role, message)
            else:
                assert code is grpc.StatusCode.PERMISSION_DENIED and f"role {role!r}" in message, (role, message)
    finally:
        for _, _, stream in streams:
            stream.cancel()


async def test_only_admin_and_supervisor_may_act_as_another_agent_and_the_supervisor_only_where_the_table_says(
    stubs, make_tenant
):
    t = await make_tenant()
    for agent_id in ("alice", "bob"):
        await stubs.admin.CreateAgent(admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id=agent_id)), metadata=t.admin)
    await stubs.agents.Login(agent_pb2.LoginRequest(agent_id="bob"), metadata=t.admin)
    alice = await t.agent_token("alice")
    supervisor = bearer(await issue_token(t.store, tenant=t.name, role="supervisor"))
    on_bob = {
        "Login": agent_pb2.LoginRequest(agent_id="bob"),
        "GetStatus": agent_pb2.GetStatusRequest(agent_id="bob"),
        "SetState": agent_pb2.SetStateRequest(agent_id="bob", state=common_pb2.AGENT_STATE_BREAK, reason_code="meeting"),
        "AcceptOffer": agent_pb2.AcceptOfferRequest(agent_id="bob", interaction_id="no-such-call"),
        "RejectOffer": agent_pb2.RejectOfferRequest(agent_id="bob", interaction_id="no-such-call"),
        "Complete": agent_pb2.CompleteRequest(agent_id="bob", interaction_id="no-such-call"),
        "GetCallerHistory": agent_pb2.AgentCallerHistoryRequest(agent_id="bob", interaction_id="no-such-call"),
        "Logout": agent_pb2.LogoutRequest(agent_id="bob"),
    }
    for name, request in on_bob.items():
        method = f"{roles.AGENT}{name}"
        code, message = await code_of(rpc_of(stubs, method)(request, metadata=alice))
        assert code is grpc.StatusCode.PERMISSION_DENIED, (name, message)
        assert message == f"agent_id: a agent token may not act as agent 'bob' in AgentService/{name}"
        code, message = await code_of(rpc_of(stubs, method)(request, metadata=supervisor))
        if name in ("GetStatus", "SetState", "Logout"):
            assert code is grpc.StatusCode.OK, (name, message)
        else:
            assert code is grpc.StatusCode.PERMISSION_DENIED, (name, message)
            assert message.startswith(f"role 'supervisor' may not call AgentService/{name}"), message
    stream = stubs.agents.StreamOffers(agent_pb2.StreamOffersRequest(agent_id="bob"), metadata=supervisor)
    code, message = await code_of(stream.read())
    assert code is grpc.StatusCode.PERMISSION_DENIED and "role 'supervisor'" in message
    status = await stubs.agents.GetStatus(agent_pb2.GetStatusRequest(agent_id="bob"), metadata=t.admin)
    assert status.state == common_pb2.AGENT_STATE_LOGGED_OUT  # the supervisor's Logout came last


async def test_issue_token_knows_the_four_roles(store):
    tenant = f"t-{secrets.token_hex(4)}"
    for role in roles.ROLES:
        token = await issue_token(store, tenant=tenant, role=role, agent_id="alice" if role == "agent" else "")
        principal = await Authenticator(store).verify(token)
        assert (principal.role, principal.key_id) == (role, token.split(".")[1])
    with pytest.raises(ValueError, match="one of admin, supervisor, agent, interaction"):
        await issue_token(store, tenant=tenant, role="root")  # type: ignore[arg-type]
