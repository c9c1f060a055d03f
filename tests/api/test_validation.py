"""Every RPC with malformed input: the precise status code, a message naming the field,
and a node that keeps serving valid requests afterwards."""

from __future__ import annotations

import grpc
import grpc.aio
import pytest
from ccpapi.v1 import admin_pb2, agent_pb2, common_pb2, interaction_pb2, site_pb2
from google.protobuf.duration_pb2 import Duration
from google.protobuf.timestamp_pb2 import Timestamp

from tests.api.conftest import CLUSTER_TOKEN, bearer

INVALID = grpc.StatusCode.INVALID_ARGUMENT
VOICE = common_pb2.CHANNEL_VOICE


def caller(**kwargs) -> common_pb2.Caller:
    kwargs.setdefault("address", "+15550100")
    return common_pb2.Caller(**kwargs)


def enqueue(**kwargs) -> interaction_pb2.EnqueueRequest:
    kwargs.setdefault("queue", "support")
    kwargs.setdefault("channel", VOICE)
    kwargs.setdefault("caller", caller())
    return interaction_pb2.EnqueueRequest(**kwargs)


def agent(**kwargs) -> admin_pb2.Agent:
    kwargs.setdefault("id", "alice")
    return admin_pb2.Agent(**kwargs)


def cap(channel: int, maximum: int) -> common_pb2.ChannelCapacity:
    return common_pb2.ChannelCapacity(channel=channel, max=maximum)


A = agent_pb2
# (service, method, request, field the message must name)
CASES = [
    ("agents", "Login", A.LoginRequest(agent_id=""), "agent_id"),
    ("agents", "Login", A.LoginRequest(agent_id="Alice"), "agent_id"),
    ("agents", "Logout", A.LogoutRequest(agent_id="-alice"), "agent_id"),
    ("agents", "SetState", A.SetStateRequest(agent_id="alice"), "state"),
    ("agents", "SetState", A.SetStateRequest(agent_id="alice", state=99), "state"),
    ("agents", "SetState", A.SetStateRequest(agent_id="alice", state=common_pb2.AGENT_STATE_BUSY), "state"),
    (
        "agents",
        "SetState",
        A.SetStateRequest(agent_id="alice", state=common_pb2.AGENT_STATE_BREAK),
        "reason_code",
    ),
    (
        "agents",
        "SetState",
        A.SetStateRequest(agent_id="alice", state=common_pb2.AGENT_STATE_BREAK, reason_code="Lunch Break"),
        "reason_code",
    ),
    (
        "agents",
        "SetState",
        A.SetStateRequest(agent_id="alice", state=common_pb2.AGENT_STATE_AVAILABLE, reason_code="x"),
        "reason_code",
    ),
    ("agents", "GetStatus", A.GetStatusRequest(agent_id="a" * 64), "agent_id"),
    ("agents", "StreamOffers", A.StreamOffersRequest(agent_id=""), "agent_id"),
    ("agents", "AcceptOffer", A.AcceptOfferRequest(agent_id="alice", interaction_id=""), "interaction_id"),
    ("agents", "AcceptOffer", A.AcceptOfferRequest(agent_id="alice", interaction_id="x/y"), "interaction_id"),
    ("agents", "AcceptOffer", A.AcceptOfferRequest(agent_id="al ice", interaction_id="x"), "agent_id"),
    (
        "agents",
        "RejectOffer",
        A.RejectOfferRequest(agent_id="alice", interaction_id="x", reason="\x00"),
        "reason",
    ),
    (
        "agents",
        "RejectOffer",
        A.RejectOfferRequest(agent_id="alice", interaction_id="x" * 65),
        "interaction_id",
    ),
    (
        "agents",
        "Complete",
        A.CompleteRequest(agent_id="alice", interaction_id="x", disposition="BAD"),
        "disposition",
    ),
    (
        "agents",
        "Complete",
        A.CompleteRequest(agent_id="alice", interaction_id="x", wrap_up=Duration(seconds=3601)),
        "wrap_up",
    ),
    (
        "agents",
        "Complete",
        A.CompleteRequest(agent_id="alice", interaction_id="x", wrap_up=Duration(seconds=-1)),
        "wrap_up",
    ),
    ("interactions", "Enqueue", enqueue(queue=""), "queue"),
    ("interactions", "Enqueue", enqueue(queue="Support"), "queue"),
    ("interactions", "Enqueue", enqueue(channel=0), "channel"),
    ("interactions", "Enqueue", enqueue(channel=42), "channel"),
    ("interactions", "Enqueue", interaction_pb2.EnqueueRequest(queue="support", channel=VOICE), "caller"),
    ("interactions", "Enqueue", enqueue(caller=caller(address="")), "caller.address"),
    ("interactions", "Enqueue", enqueue(caller=caller(address="+1" * 129)), "caller.address"),
    ("interactions", "Enqueue", enqueue(caller=caller(address="+1 555")), "caller.address"),
    ("interactions", "Enqueue", enqueue(caller=caller(display_name="x" * 129)), "caller.display_name"),
    (
        "interactions",
        "Enqueue",
        enqueue(caller=caller(data={f"k{i}": "v" for i in range(33)})),
        "caller.data",
    ),
    ("interactions", "Enqueue", enqueue(caller=caller(data={"acct": "v" * 1025})), "caller.data[acct]"),
    ("interactions", "Enqueue", enqueue(caller=caller(data={"bad key": "v"})), "caller.data"),
    ("interactions", "Enqueue", enqueue(priority=101), "priority"),
    ("interactions", "Enqueue", enqueue(priority=-1), "priority"),
    ("interactions", "Enqueue", enqueue(request_id="not an id!"), "request_id"),
    ("interactions", "Enqueue", enqueue(request_id="r" * 65), "request_id"),
    ("interactions", "Cancel", interaction_pb2.CancelRequest(interaction_id=""), "interaction_id"),
    ("interactions", "Cancel", interaction_pb2.CancelRequest(interaction_id="x", reason="r" * 257), "reason"),
    (
        "interactions",
        "GetInteraction",
        interaction_pb2.GetInteractionRequest(interaction_id="a" * 65),
        "interaction_id",
    ),
    ("admin", "CreateAgent", admin_pb2.CreateAgentRequest(), "agent"),
    ("admin", "CreateAgent", admin_pb2.CreateAgentRequest(agent=agent(id="UPPER")), "agent.id"),
    (
        "admin",
        "CreateAgent",
        admin_pb2.CreateAgentRequest(agent=agent(display_name="d" * 129)),
        "agent.display_name",
    ),
    (
        "admin",
        "CreateAgent",
        admin_pb2.CreateAgentRequest(agent=agent(skills={"billing": 11})),
        "agent.skills[billing]",
    ),
    (
        "admin",
        "CreateAgent",
        admin_pb2.CreateAgentRequest(agent=agent(skills={"billing": 0})),
        "agent.skills[billing]",
    ),
    (
        "admin",
        "CreateAgent",
        admin_pb2.CreateAgentRequest(agent=agent(skills={"Bad Skill": 5})),
        "agent.skills",
    ),
    (
        "admin",
        "CreateAgent",
        admin_pb2.CreateAgentRequest(agent=agent(capacity=[cap(0, 1)])),
        "agent.capacity[0].channel",
    ),
    (
        "admin",
        "CreateAgent",
        admin_pb2.CreateAgentRequest(agent=agent(capacity=[cap(VOICE, 51)])),
        "agent.capacity[0].max",
    ),
    (
        "admin",
        "CreateAgent",
        admin_pb2.CreateAgentRequest(agent=agent(capacity=[cap(VOICE, -1)])),
        "agent.capacity[0].max",
    ),
    (
        "admin",
        "CreateAgent",
        admin_pb2.CreateAgentRequest(agent=agent(capacity=[cap(VOICE, 1), cap(VOICE, 2)])),
        "agent.capacity[1].channel",
    ),
    ("admin", "CreateAgent", admin_pb2.CreateAgentRequest(agent=agent(site="Site A")), "agent.site"),
    ("admin", "UpdateAgent", admin_pb2.UpdateAgentRequest(agent=agent(id="")), "agent.id"),
    ("admin", "UpdateAgent", admin_pb2.UpdateAgentRequest(), "agent"),
    ("admin", "GetAgent", admin_pb2.GetAgentRequest(agent_id=""), "agent_id"),
    ("admin", "DeleteAgent", admin_pb2.DeleteAgentRequest(agent_id="x_"), "agent_id"),
    ("admin", "GetQueueStats", admin_pb2.GetQueueStatsRequest(queue=""), "queue"),
    ("admin", "GetQueueStats", admin_pb2.GetQueueStatsRequest(queue="support", window=Duration()), "window"),
    (
        "admin",
        "GetQueueStats",
        admin_pb2.GetQueueStatsRequest(queue="support", window=Duration(seconds=86401)),
        "window",
    ),
    ("admin", "ListQueueStats", admin_pb2.ListQueueStatsRequest(window=Duration(seconds=-5)), "window"),
    ("admin", "AddBlockedCaller", admin_pb2.AddBlockedCallerRequest(), "blocked"),
    (
        "admin",
        "AddBlockedCaller",
        admin_pb2.AddBlockedCallerRequest(blocked={"pattern": ""}),
        "blocked.pattern",
    ),
    (
        "admin",
        "AddBlockedCaller",
        admin_pb2.AddBlockedCallerRequest(blocked={"pattern": "*"}),
        "blocked.pattern",
    ),
    (
        "admin",
        "AddBlockedCaller",
        admin_pb2.AddBlockedCallerRequest(blocked={"pattern": "a/b"}),
        "blocked.pattern",
    ),
    (
        "admin",
        "AddBlockedCaller",
        admin_pb2.AddBlockedCallerRequest(blocked={"pattern": "+1*9*"}),
        "blocked.pattern",
    ),
    (
        "admin",
        "AddBlockedCaller",
        admin_pb2.AddBlockedCallerRequest(blocked={"pattern": "+1900*", "reason": "r" * 257}),
        "blocked.reason",
    ),
    (
        "admin",
        "AddBlockedCaller",
        admin_pb2.AddBlockedCallerRequest(blocked={"pattern": "+1900*", "created_at": Timestamp(seconds=5)}),
        "blocked.created_at",
    ),
    ("admin", "RemoveBlockedCaller", admin_pb2.RemoveBlockedCallerRequest(pattern=""), "pattern"),
    ("sites", "HandOverCall", site_pb2.HandOverCallRequest(interaction_id="x", from_site="site-b"), "tenant"),
    (
        "sites",
        "HandOverCall",
        site_pb2.HandOverCallRequest(tenant="t", interaction_id="", from_site="site-b"),
        "interaction_id",
    ),
    (
        "sites",
        "HandOverCall",
        site_pb2.HandOverCallRequest(tenant="t", interaction_id="x", from_site=""),
        "from_site",
    ),
    # Reports and caller history (tests/api/test_reports.py checks the messages in full).
    ("admin", "GetReport", admin_pb2.GetReportRequest(end=Timestamp(seconds=2), granularity=1, group_by=1), "start"),
    ("admin", "ListAgentReports", admin_pb2.ListAgentReportsRequest(start=Timestamp(seconds=2),
                                                                    end=Timestamp(seconds=1)), "end"),
    ("admin", "GetCallerHistory", admin_pb2.GetCallerHistoryRequest(address="+1555", limit=-1), "limit"),
    ("agents", "GetCallerHistory", A.AgentCallerHistoryRequest(agent_id="alice", interaction_id=""), "interaction_id"),
    # Voice (tests/api/test_voice_api.py checks the messages in full).
    ("interactions", "Enqueue", enqueue(trunk="Main"), "trunk"),
    ("interactions", "Enqueue", enqueue(ivr=[interaction_pb2.IvrStep(menu="", digits="1")]), "ivr[0].menu"),
    ("interactions", "Enqueue", enqueue(arrived_at=Timestamp(seconds=1)), "arrived_at"),
    ("interactions", "WatchInteraction", interaction_pb2.WatchInteractionRequest(interaction_id=""), "interaction_id"),
    ("interactions", "Hangup", interaction_pb2.HangupRequest(interaction_id="x"), "party"),
    ("interactions", "Hangup", interaction_pb2.HangupRequest(interaction_id="x", party=7), "party"),
    ("interactions", "Hangup", interaction_pb2.HangupRequest(
        interaction_id="x", party=interaction_pb2.HANGUP_PARTY_CALLER, recording_id="../etc/passwd"), "recording_id"),
    ("interactions", "LeaveVoicemail", interaction_pb2.LeaveVoicemailRequest(interaction_id="x"), "recording_id"),
    (
        "interactions",
        "LeaveVoicemail",
        interaction_pb2.LeaveVoicemailRequest(interaction_id="x", recording_id="r", duration=Duration(seconds=-1)),
        "duration",
    ),
    (
        "interactions",
        "LeaveVoicemail",
        interaction_pb2.LeaveVoicemailRequest(
            interaction_id="x", recording_id="r", duration=Duration(seconds=1), request_id="no spaces"
        ),
        "request_id",
    ),
    ("interactions", "RequestCallback", interaction_pb2.RequestCallbackRequest(interaction_id="x", number="12"), "number"),
    ("interactions", "Requeue", interaction_pb2.RequeueRequest(interaction_id="x"), "reason"),
    ("interactions", "Requeue", interaction_pb2.RequeueRequest(interaction_id="", reason="agent-no-answer"),
     "interaction_id"),
    ("admin", "GetCallRecord", admin_pb2.GetCallRecordRequest(interaction_id="a" * 65), "interaction_id"),
    ("admin", "CreateAgent", admin_pb2.CreateAgentRequest(agent=agent(sip_uri="tel:+1555")), "agent.sip_uri"),
    # Audit log (tests/api/test_audit.py checks the messages in full).
    ("admin", "ListAuditEvents", admin_pb2.ListAuditEventsRequest(end_time=Timestamp(seconds=2)), "start_time"),
]


async def invoke(stubs, tenant, service: str, method: str, request):
    metadata = bearer(CLUSTER_TOKEN) if service == "sites" else tenant.admin
    rpc = getattr(getattr(stubs, service), method)
    if method in ("StreamOffers", "WatchInteraction"):
        return [event async for event in rpc(request, metadata=metadata)]
    return await rpc(request, metadata=metadata)


@pytest.mark.etcd
async def test_every_rpc_rejects_malformed_input_naming_the_field_and_keeps_serving(stubs, make_tenant):
    tenant = await make_tenant()
    failures = []
    for service, method, request, field in CASES:
        try:
            await invoke(stubs, tenant, service, method, request)
        except grpc.aio.AioRpcError as e:
            if e.code() is not INVALID or not e.details().startswith(f"{field}:"):
                failures.append(f"{method}({request}): {e.code()} {e.details()!r}, wanted {field}")
        else:
            failures.append(f"{method}({request}) succeeded")
    assert not failures, "\n".join(failures)

    # Still serving, for valid requests of every service.
    created = await stubs.interactions.Enqueue(enqueue(), metadata=tenant.interaction)
    assert created.state == common_pb2.INTERACTION_STATE_QUEUED
    await stubs.admin.CreateAgent(admin_pb2.CreateAgentRequest(agent=agent()), metadata=tenant.admin)
    status = await stubs.agents.Login(A.LoginRequest(agent_id="alice"), metadata=tenant.admin)
    assert status.state == common_pb2.AGENT_STATE_BREAK
    snapshot = await stubs.sites.GetSnapshot(site_pb2.GetSnapshotRequest(), metadata=bearer(CLUSTER_TOKEN))
    assert any(q.tenant == tenant.name for q in snapshot.queues)


def test_every_rpc_has_a_malformed_input_case():
    from ccpapi.v1 import admin_pb2 as adm
    from ccpapi.v1 import agent_pb2 as agt
    from ccpapi.v1 import interaction_pb2 as itr
    from ccpapi.v1 import site_pb2 as sit

    with_input = set()
    for module in (adm, agt, itr, sit):
        for service in module.DESCRIPTOR.services_by_name.values():
            for method in service.methods:
                if method.input_type.fields:  # requests without fields cannot be malformed
                    with_input.add(method.name)
    assert with_input == {method for _, method, _, _ in CASES}


NOT_FOUND_CASES = [
    ("agents", "GetStatus", A.GetStatusRequest(agent_id="nobody"), grpc.StatusCode.NOT_FOUND, "nobody"),
    ("agents", "StreamOffers", A.StreamOffersRequest(agent_id="nobody"), grpc.StatusCode.NOT_FOUND, "nobody"),
    (
        "interactions",
        "Enqueue",
        enqueue(queue="nowhere"),
        grpc.StatusCode.NOT_FOUND,
        "queue: queue 'nowhere'",
    ),
    (
        "interactions",
        "GetInteraction",
        interaction_pb2.GetInteractionRequest(interaction_id="0000-none"),
        grpc.StatusCode.NOT_FOUND,
        "0000-none",
    ),
    (
        "admin",
        "GetQueueStats",
        admin_pb2.GetQueueStatsRequest(queue="nowhere"),
        grpc.StatusCode.NOT_FOUND,
        "queue",
    ),
    (
        "admin",
        "DeleteAgent",
        admin_pb2.DeleteAgentRequest(agent_id="nobody"),
        grpc.StatusCode.NOT_FOUND,
        "nobody",
    ),
    (
        "admin",
        "RemoveBlockedCaller",
        admin_pb2.RemoveBlockedCallerRequest(pattern="+1900*"),
        grpc.StatusCode.NOT_FOUND,
        "the pattern is not on the blocklist",
    ),
    (
        "agents",
        "AcceptOffer",
        A.AcceptOfferRequest(agent_id="alice", interaction_id="0000-none"),
        grpc.StatusCode.FAILED_PRECONDITION,
        "0000-none",
    ),
    (
        "agents",
        "Complete",
        A.CompleteRequest(agent_id="alice", interaction_id="0000-none"),
        grpc.StatusCode.FAILED_PRECONDITION,
        "0000-none",
    ),
    (
        "sites",
        "HandOverCall",
        site_pb2.HandOverCallRequest(tenant="nobody", interaction_id="0000-none", from_site="site-b"),
        grpc.StatusCode.NOT_FOUND,
        "0000-none",
    ),
]


@pytest.mark.etcd
@pytest.mark.parametrize(("service", "method", "request_", "code", "mention"), NOT_FOUND_CASES)
async def test_well_formed_requests_for_missing_things_get_precise_codes(
    stubs, make_tenant, service, method, request_, code, mention
):
    tenant = await make_tenant()
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await invoke(stubs, tenant, service, method, request_)
    assert raised.value.code() is code
    assert mention in raised.value.details()


@pytest.mark.etcd
async def test_creating_an_agent_twice_is_already_exists(stubs, make_tenant):
    tenant = await make_tenant()
    await stubs.admin.CreateAgent(admin_pb2.CreateAgentRequest(agent=agent()), metadata=tenant.admin)
    with pytest.raises(grpc.aio.AioRpcError) as raised:
        await stubs.admin.CreateAgent(admin_pb2.CreateAgentRequest(agent=agent()), metadata=tenant.admin)
    assert raised.value.code() is grpc.StatusCode.ALREADY_EXISTS
    assert "alice" in raised.value.details()
