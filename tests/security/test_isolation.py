"""Tenant isolation, proven per API method: A's tokens cannot read or change B's objects; an agent cannot act as another.

One real node (etcd, gRPC on loopback) and two populated tenants
(``tenants``). The cases are keyed by full method name and a test checks they
cover exactly the methods of the service descriptors, so an RPC added without
an isolation case fails here. For every method, every role of A's tokens and
every request naming B's objects (agent ids, call ids, queue, blocklist
pattern, caller numbers, idempotency key), the answer is an error or a
response carrying none of B's values that the request did not itself contain;
and B's etcd records (the whole tenant prefix) are byte-identical before and
after the whole matrix. Nothing in B's prefix moves with time while it is idle
(see ``tenants``), so nothing is excluded from that comparison.

The role matrix checks every (role, method) cell of ``roles.METHOD_ROLES``
inside A's own tenant, and on AgentService both "as itself" and "as another
agent" against ``may_act_as_any``.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

import grpc
import grpc.aio
import pytest
import pytest_asyncio
from ccp_acd.api.roles import METHOD_ROLES, ROLES, may_act_as_any
from ccpapi.v1 import admin_pb2, agent_pb2, common_pb2, interaction_pb2, site_pb2
from google.protobuf import message_factory
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from tests.helpers import scaled
from tests.security import protofuzz
from tests.security.conftest import Metadata, Tally, tenant_records
from tests.security.tenants import Stubs, TenantA, TenantB, populate_a, populate_b

pytestmark = [pytest.mark.etcd, pytest.mark.asyncio(loop_scope="module")]

CLUSTER_TOKEN = "isolation-cluster-token"  # SiteService enabled: the refusal of tenant tokens is the token's
SERVICES = (
    admin_pb2.DESCRIPTOR.services_by_name["AdminService"],
    agent_pb2.DESCRIPTOR.services_by_name["AgentService"],
    interaction_pb2.DESCRIPTOR.services_by_name["InteractionService"],
    site_pb2.DESCRIPTOR.services_by_name["SiteService"],
)
METHODS = {protofuzz.path(m): m for m in protofuzz.methods(*SERVICES)}
TENANT_METHODS = {p: m for p, m in METHODS.items() if not p.startswith("/ccpapi.v1.SiteService/")}

C = grpc.StatusCode
# Errors that keep B's data out of A's answer. FAILED_PRECONDITION and ALREADY_EXISTS concern A's own records
# (e.g. "no offer of that id for this agent"); their messages are checked for B's values like any answer.
ISOLATING_ERRORS = frozenset({
    C.NOT_FOUND, C.PERMISSION_DENIED, C.UNAUTHENTICATED, C.INVALID_ARGUMENT, C.FAILED_PRECONDITION, C.ALREADY_EXISTS,
})
# SiteService takes the cluster token only.
SITE_REFUSALS = frozenset({C.UNAUTHENTICATED, C.PERMISSION_DENIED, C.UNAVAILABLE})
RPC_TIMEOUT_S = 10.0
HOUR = 3600
AUDIT = "/ccpapi.v1.AdminService/ListAuditEvents"

Fields = dict
Case = Callable[[TenantA, TenantB, float], list[Fields]]


def _span(now: float, days: float = 1) -> Fields:
    return {"start": Timestamp(seconds=int(now - HOUR)), "end": Timestamp(seconds=int(now + days * HOUR))}


def _as(agent: str, **fields) -> Fields:
    return {"agent_id": agent, **fields}


# Requests naming B's objects, by method. Each role of A sends each of them.
B_CASES: dict[str, Case] = {
    "/ccpapi.v1.AdminService/CreateAgent": lambda a, b, now: [{"agent": admin_pb2.Agent(id=b.agents[0])}],
    "/ccpapi.v1.AdminService/GetAgent": lambda a, b, now: [{"agent_id": x} for x in b.agents],
    "/ccpapi.v1.AdminService/ListAgents": lambda a, b, now: [{}],
    "/ccpapi.v1.AdminService/UpdateAgent": lambda a, b, now: [
        {"agent": admin_pb2.Agent(id=x, display_name="taken over")} for x in b.agents
    ],
    "/ccpapi.v1.AdminService/DeleteAgent": lambda a, b, now: [{"agent_id": x} for x in b.agents],
    "/ccpapi.v1.AdminService/GetQueueStats": lambda a, b, now: [{"queue": b.queue, "window": Duration(seconds=HOUR)}],
    "/ccpapi.v1.AdminService/ListQueueStats": lambda a, b, now: [{"window": Duration(seconds=HOUR)}],
    "/ccpapi.v1.AdminService/ListAgentStatuses": lambda a, b, now: [{}],
    "/ccpapi.v1.AdminService/GetTenantStats": lambda a, b, now: [{}],
    "/ccpapi.v1.AdminService/GetReport": lambda a, b, now: [
        {**_span(now), "granularity": admin_pb2.GRANULARITY_HOUR, "group_by": g}
        for g in (admin_pb2.GROUP_BY_QUEUE, admin_pb2.GROUP_BY_SITE, admin_pb2.GROUP_BY_TENANT)
    ],
    "/ccpapi.v1.AdminService/ListAgentReports": lambda a, b, now: [_span(now)],
    "/ccpapi.v1.AdminService/GetCallerHistory": lambda a, b, now: [{"address": x} for x in b.callers],
    "/ccpapi.v1.AdminService/AddBlockedCaller": lambda a, b, now: [{"blocked": admin_pb2.BlockedCaller(pattern=b.blocked)}],
    "/ccpapi.v1.AdminService/RemoveBlockedCaller": lambda a, b, now: [{"pattern": b.blocked}],
    "/ccpapi.v1.AdminService/ListBlockedCallers": lambda a, b, now: [{}],
    "/ccpapi.v1.AdminService/ListAuditEvents": lambda a, b, now: [
        {"start_time": Timestamp(seconds=int(now - HOUR)), "end_time": Timestamp(seconds=int(now + HOUR))}
    ],
    "/ccpapi.v1.AgentService/Login": lambda a, b, now: [_as(x) for x in b.agents],
    "/ccpapi.v1.AgentService/Logout": lambda a, b, now: [_as(x) for x in b.agents],
    "/ccpapi.v1.AgentService/SetState": lambda a, b, now: [
        _as(b.agents[0], state=common_pb2.AGENT_STATE_BREAK, reason_code="lunch"),
        _as(b.agents[1], state=common_pb2.AGENT_STATE_AVAILABLE),
    ],
    "/ccpapi.v1.AgentService/GetStatus": lambda a, b, now: [_as(x) for x in b.agents],
    "/ccpapi.v1.AgentService/StreamOffers": lambda a, b, now: [_as(x) for x in b.agents],
    "/ccpapi.v1.AgentService/AcceptOffer": lambda a, b, now: [
        _as(x, interaction_id=b.waiting) for x in (b.agents[0], "alice")
    ],
    "/ccpapi.v1.AgentService/RejectOffer": lambda a, b, now: [
        _as(x, interaction_id=b.waiting) for x in (b.agents[0], "alice")
    ],
    "/ccpapi.v1.AgentService/Complete": lambda a, b, now: [
        _as(x, interaction_id=b.connected, disposition="hijacked") for x in (b.agents[0], "alice")
    ],
    "/ccpapi.v1.AgentService/GetCallerHistory": lambda a, b, now: [
        _as(x, interaction_id=c) for x in (b.agents[0], "alice") for c in (b.connected, b.ended)
    ],
    "/ccpapi.v1.InteractionService/Enqueue": lambda a, b, now: [
        {"queue": q, "channel": common_pb2.CHANNEL_VOICE, "caller": common_pb2.Caller(address=b.callers[2]),
         "request_id": b.request_id}
        for q in (b.queue, "support")
    ],
    "/ccpapi.v1.InteractionService/Cancel": lambda a, b, now: [{"interaction_id": b.waiting}],
    "/ccpapi.v1.InteractionService/GetInteraction": lambda a, b, now: [
        {"interaction_id": c} for c in (b.ended, b.connected, b.waiting)
    ],
    "/ccpapi.v1.InteractionService/WatchInteraction": lambda a, b, now: [
        {"interaction_id": c} for c in (b.ended, b.connected, b.waiting)
    ],
    "/ccpapi.v1.InteractionService/Hangup": lambda a, b, now: [
        {"interaction_id": c, "party": p}
        for c in (b.connected, b.waiting, b.ended)
        for p in (interaction_pb2.HANGUP_PARTY_CALLER, interaction_pb2.HANGUP_PARTY_AGENT)
    ],
    "/ccpapi.v1.InteractionService/LeaveVoicemail": lambda a, b, now: [
        {"interaction_id": c, "recording_id": "rec-iso-1", "duration": Duration(seconds=5)} for c in (b.waiting, b.ended)
    ],
    "/ccpapi.v1.InteractionService/RequestCallback": lambda a, b, now: [
        {"interaction_id": b.waiting}, {"interaction_id": b.waiting, "number": b.callers[2]}
    ],
    "/ccpapi.v1.InteractionService/Requeue": lambda a, b, now: [
        {"interaction_id": c, "reason": "agent-no-answer", "request_id": r}
        for c in (b.connected, b.waiting, b.ended)
        for r in ("", b.request_id)
    ],
    "/ccpapi.v1.AdminService/GetCallRecord": lambda a, b, now: [
        {"interaction_id": c} for c in (b.ended, b.connected, b.waiting)
    ],
    "/ccpapi.v1.SiteService/GetSnapshot": lambda a, b, now: [{}],
    "/ccpapi.v1.SiteService/HandOverCall": lambda a, b, now: [
        {"tenant": b.name, "interaction_id": b.waiting, "from_site": "site-a"}
    ],
}


def request(method: MethodDescriptor, fields: Fields) -> bytes:
    return message_factory.GetMessageClass(method.input_type)(**fields).SerializeToString()


async def send(channel: grpc.aio.Channel, method: MethodDescriptor, fields: Fields, metadata: Metadata):
    return await protofuzz.call(
        channel, method, request(method, fields), metadata=metadata, timeout_s=scaled(RPC_TIMEOUT_S), first_event_s=0.3
    )


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stubs(module_channel: grpc.aio.Channel) -> Stubs:
    return Stubs.on(module_channel)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def a(module_store, stubs) -> TenantA:
    return await populate_a(module_store, stubs)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def b(module_store, stubs) -> TenantB:
    return await populate_b(module_store, stubs)


async def test_every_method_has_an_isolation_case_and_a_role_entry():
    assert set(B_CASES) == set(METHODS), "an RPC without an isolation case (or a case for no RPC)"
    assert set(METHOD_ROLES) == set(TENANT_METHODS), "an RPC without a row in roles.METHOD_ROLES"


async def _undo(stubs: Stubs, a: TenantA, path: str, fields: Fields, answer) -> None:
    """Remove what an allowed write created in A, so later answers to A do not show A's own copy of B's names."""
    admin = a.tokens["admin"]
    if answer.code is not C.OK:
        return
    if path.endswith("/CreateAgent"):
        await stubs.admin.DeleteAgent(admin_pb2.DeleteAgentRequest(agent_id=fields["agent"].id), metadata=admin)
    elif path.endswith("/AddBlockedCaller"):
        await stubs.admin.RemoveBlockedCaller(
            admin_pb2.RemoveBlockedCallerRequest(pattern=fields["blocked"].pattern), metadata=admin
        )
    elif path.endswith("/Enqueue"):
        created = common_pb2.Interaction.FromString(answer.responses[0])
        await stubs.interactions.Cancel(interaction_pb2.CancelRequest(interaction_id=created.id), metadata=admin)


async def test_tenant_a_can_neither_read_nor_change_tenant_b(
    a: TenantA, b: TenantB, stubs: Stubs, module_channel, module_store, tally: Tally
):
    before = await tenant_records(module_store, b.name)
    now = (await stubs.admin.GetTenantStats(admin_pb2.GetTenantStatsRequest(), metadata=a.tokens["admin"])).at.seconds
    leaks: list[str] = []
    # Requests that name nothing of B first: A's own writes below (then undone) cannot show up in them.
    cases = sorted(
        ((path, fields) for path in METHODS for fields in B_CASES[path](a, b, now)),
        key=lambda case: any(m.encode() in request(METHODS[case[0]], case[1]) for m in b.markers),
    )
    for path, fields in cases:
        method = METHODS[path]
        sent = request(method, fields)
        for role, metadata in a.tokens.items():
            answer = await send(module_channel, method, fields, metadata)
            tally.isolation[protofuzz.path(method)] += 1
            seen = b"".join(answer.responses) + answer.details.encode()
            # A's audit log names the agent ids A's own requests named (in this or another test): A's data.
            markers = b.markers - set(b.agents) if path == AUDIT else b.markers
            shown = sorted(m for m in markers if m.encode() in seen and m.encode() not in sent)
            allowed = SITE_REFUSALS if path in METHODS.keys() - TENANT_METHODS.keys() else ISOLATING_ERRORS | {C.OK}
            if answer.code not in allowed or shown:
                leaks.append(f"{role} {path} {fields}: {answer.code.name} {answer.details!r} showing {shown}")
            await _undo(stubs, a, path, fields, answer)
    assert not leaks, "\n".join(leaks)
    assert await tenant_records(module_store, b.name) == before, "tenant B's etcd records changed"


async def test_a_token_whose_tenant_is_edited_to_b_is_refused(a: TenantA, b: TenantB, module_channel, tally: Tally):
    refused: list[str] = []
    for role, metadata in a.tokens.items():
        _, key_id, secret = metadata[0][1].removeprefix("Bearer ").split(".")
        forged = (("authorization", f"Bearer {b.name}.{key_id}.{secret}"),)
        for path, method in TENANT_METHODS.items():
            fields = B_CASES[path](a, b, 0)[0]
            answer = await send(module_channel, method, fields, forged)
            tally.isolation[path] += 1
            if answer.code is not C.UNAUTHENTICATED:
                refused.append(f"{role} {path}: {answer.code.name} {answer.details!r}")
    assert not refused, "\n".join(refused)


AGENT_METHODS = {p: m for p, m in TENANT_METHODS.items() if p.startswith("/ccpapi.v1.AgentService/")}


def own_request(path: str, agent: str, a: TenantA, now: float) -> Fields:
    """A request of A's own data that passes validation and names ``agent`` (AgentService) or nothing of B."""
    held = a.held.get(agent, "00000000000000000000-00000000")
    name = path.rsplit("/", 1)[1]
    fields: dict[str, Fields] = {
        "CreateAgent": {"agent": admin_pb2.Agent(id=f"new-{secrets.token_hex(3)}")},
        "GetAgent": {"agent_id": "alice"},
        "UpdateAgent": {"agent": admin_pb2.Agent(id="alice", skills={"english": 5})},
        "DeleteAgent": {"agent_id": "nobody"},
        "GetQueueStats": {"queue": "support"},
        "GetReport": {**_span(now), "granularity": admin_pb2.GRANULARITY_HOUR, "group_by": admin_pb2.GROUP_BY_QUEUE},
        "ListAgentReports": _span(now),
        "AdminService/GetCallerHistory": {"address": "+15550100000"},
        "AddBlockedCaller": {"blocked": admin_pb2.BlockedCaller(pattern=f"+1999{len(agent)}*")},
        "RemoveBlockedCaller": {"pattern": "+1998*"},
        "ListAuditEvents": {"start_time": Timestamp(seconds=int(now - HOUR)), "end_time": Timestamp(seconds=int(now + 60))},
        "SetState": _as(agent, state=common_pb2.AGENT_STATE_BREAK, reason_code="lunch"),
        "AcceptOffer": _as(agent, interaction_id="00000000000000000000-00000000"),
        "RejectOffer": _as(agent, interaction_id="00000000000000000000-00000000"),
        "Complete": _as(agent, interaction_id="00000000000000000000-00000000"),
        "AgentService/GetCallerHistory": _as(agent, interaction_id=held),
        "Enqueue": {
            "queue": "support", "channel": common_pb2.CHANNEL_VOICE, "caller": common_pb2.Caller(address="+15550123")
        },
        "Cancel": {"interaction_id": "00000000000000000000-00000000"},
        "GetInteraction": {"interaction_id": "00000000000000000000-00000000"},
        "WatchInteraction": {"interaction_id": "00000000000000000000-00000000"},
        "Hangup": {"interaction_id": "00000000000000000000-00000000", "party": interaction_pb2.HANGUP_PARTY_CALLER},
        "LeaveVoicemail": {
            "interaction_id": "00000000000000000000-00000000", "recording_id": "rec-1", "duration": Duration(seconds=5)
        },
        "RequestCallback": {"interaction_id": "00000000000000000000-00000000"},
        "Requeue": {"interaction_id": "00000000000000000000-00000000", "reason": "agent-no-answer"},
        "GetCallRecord": {"interaction_id": "00000000000000000000-00000000"},
    }
    key = path.removeprefix("/ccpapi.v1.") if path.removeprefix("/ccpapi.v1.") in fields else name
    if key in fields:
        return fields[key]
    return _as(agent) if path in AGENT_METHODS else {}


async def test_each_role_may_call_exactly_the_methods_of_its_row(a: TenantA, stubs, module_channel, tally: Tally):
    now = (await stubs.admin.GetTenantStats(admin_pb2.GetTenantStatsRequest(), metadata=a.tokens["admin"])).at.seconds
    wrong: list[str] = []
    for path, method in TENANT_METHODS.items():
        # AgentService: as alice (the agent token's own agent) and as bob (another agent for every role).
        for target in ("alice", "bob") if path in AGENT_METHODS else ("",):
            for role in ROLES:
                allowed = role in METHOD_ROLES[path] and (
                    not target or (role == "agent" and target == "alice") or may_act_as_any(role, path)
                )
                answer = await send(module_channel, method, own_request(path, target, a, now), a.tokens[role])
                tally.isolation[path] += 1
                refused = answer.code in (C.PERMISSION_DENIED, C.UNAUTHENTICATED)
                if refused == allowed:
                    wrong.append(f"{role} {path} as {target or '-'}: {answer.code.name} {answer.details!r}")
    assert not wrong, "\n".join(wrong)


async def test_an_agent_cannot_act_as_another_agent_on_any_agent_method(a: TenantA, b: TenantB, module_channel, tally):
    """alice's token naming bob (same tenant) and B's agent: PERMISSION_DENIED on every AgentService method."""
    wrong: list[str] = []
    for path, method in AGENT_METHODS.items():
        for other in ("bob", b.agents[0]):
            fields = {**own_request(path, "bob", a, 0), "agent_id": other}
            answer = await send(module_channel, method, fields, a.tokens["agent"])
            tally.isolation[path] += 1
            if answer.code is not C.PERMISSION_DENIED:
                wrong.append(f"alice as {other} {path}: {answer.code.name} {answer.details!r}")
    assert not wrong, "\n".join(wrong)
