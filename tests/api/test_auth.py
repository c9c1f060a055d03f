"""Tenant isolation and roles: the tenant comes from the token, never from the request."""

from __future__ import annotations

import grpc
import grpc.aio
import pytest
from ccp_acd.api.auth import issue_token
from ccp_acd.domain.models import QueueConfig
from ccpapi.v1 import admin_pb2, agent_pb2, common_pb2, interaction_pb2, site_pb2

from tests.api.conftest import CLUSTER_TOKEN, bearer

pytestmark = pytest.mark.etcd


def enqueue(queue: str = "support", address: str = "+15550100", **kwargs) -> interaction_pb2.EnqueueRequest:
    return interaction_pb2.EnqueueRequest(
        queue=queue, channel=common_pb2.CHANNEL_VOICE, caller=common_pb2.Caller(address=address), **kwargs
    )


async def code_of(awaitable) -> tuple[grpc.StatusCode, str]:
    try:
        await awaitable
    except grpc.aio.AioRpcError as e:
        return e.code(), e.details()
    return grpc.StatusCode.OK, ""


async def test_one_tenant_cannot_see_or_touch_another_tenants_data(stubs, make_tenant):
    a = await make_tenant(QueueConfig(name="support"))
    b = await make_tenant(QueueConfig(name="support"), QueueConfig(name="sales-b"))
    await stubs.admin.CreateAgent(
        admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id="bob")), metadata=b.admin
    )
    b_call = await stubs.interactions.Enqueue(enqueue(), metadata=b.interaction)
    await stubs.admin.AddBlockedCaller(
        admin_pb2.AddBlockedCallerRequest(blocked=admin_pb2.BlockedCaller(pattern="+1666*")), metadata=b.admin
    )

    # Agents: invisible and untouchable, even with the same ids.
    assert (await code_of(stubs.admin.GetAgent(admin_pb2.GetAgentRequest(agent_id="bob"), metadata=a.admin)))[
        0
    ] is grpc.StatusCode.NOT_FOUND
    assert (await stubs.admin.ListAgents(admin_pb2.ListAgentsRequest(), metadata=a.admin)).agents == []
    code, _ = await code_of(
        stubs.admin.DeleteAgent(admin_pb2.DeleteAgentRequest(agent_id="bob"), metadata=a.admin)
    )
    assert code is grpc.StatusCode.NOT_FOUND
    code, _ = await code_of(stubs.agents.Login(agent_pb2.LoginRequest(agent_id="bob"), metadata=a.admin))
    assert code is grpc.StatusCode.NOT_FOUND
    assert (
        await stubs.admin.GetAgent(admin_pb2.GetAgentRequest(agent_id="bob"), metadata=b.admin)
    ).id == "bob"

    # Interactions.
    for rpc, request in (
        (stubs.interactions.GetInteraction, interaction_pb2.GetInteractionRequest(interaction_id=b_call.id)),
        (stubs.interactions.Cancel, interaction_pb2.CancelRequest(interaction_id=b_call.id)),
    ):
        code, _ = await code_of(rpc(request, metadata=a.interaction))
        assert code is grpc.StatusCode.NOT_FOUND
    code, _ = await code_of(
        stubs.agents.AcceptOffer(
            agent_pb2.AcceptOfferRequest(agent_id="bob", interaction_id=b_call.id), metadata=a.admin
        )
    )
    assert code is grpc.StatusCode.FAILED_PRECONDITION
    still = await stubs.interactions.GetInteraction(
        interaction_pb2.GetInteractionRequest(interaction_id=b_call.id), metadata=b.interaction
    )
    assert still.state == common_pb2.INTERACTION_STATE_QUEUED

    # Statistics.
    listed = await stubs.admin.ListQueueStats(admin_pb2.ListQueueStatsRequest(), metadata=a.admin)
    assert [q.queue for q in listed.queues] == ["support"]
    assert listed.queues[0].waiting == 0
    code, _ = await code_of(
        stubs.admin.GetQueueStats(admin_pb2.GetQueueStatsRequest(queue="sales-b"), metadata=a.admin)
    )
    assert code is grpc.StatusCode.NOT_FOUND
    b_stats = await stubs.admin.GetQueueStats(
        admin_pb2.GetQueueStatsRequest(queue="support"), metadata=b.admin
    )
    assert b_stats.waiting == 1

    # Blocklist.
    assert (
        await stubs.admin.ListBlockedCallers(admin_pb2.ListBlockedCallersRequest(), metadata=a.admin)
    ).blocked == []
    code, _ = await code_of(
        stubs.admin.RemoveBlockedCaller(
            admin_pb2.RemoveBlockedCallerRequest(pattern="+1666*"), metadata=a.admin
        )
    )
    assert code is grpc.StatusCode.NOT_FOUND
    assert [
        x.pattern
        for x in (
            await stubs.admin.ListBlockedCallers(admin_pb2.ListBlockedCallersRequest(), metadata=b.admin)
        ).blocked
    ] == ["+1666*"]
    accepted = await stubs.interactions.Enqueue(enqueue(address="+16660001"), metadata=a.interaction)
    assert accepted.state == common_pb2.INTERACTION_STATE_QUEUED


async def test_roles_limit_services_and_agents_act_only_as_themselves(stubs, make_tenant):
    t = await make_tenant()
    for agent_id in ("alice", "bob"):
        await stubs.admin.CreateAgent(
            admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id=agent_id)), metadata=t.admin
        )
    alice = await t.agent_token("alice")

    status = await stubs.agents.Login(agent_pb2.LoginRequest(agent_id="alice"), metadata=alice)
    assert status.agent_id == "alice"
    denied = [
        stubs.agents.Login(agent_pb2.LoginRequest(agent_id="bob"), metadata=alice),
        stubs.agents.GetStatus(agent_pb2.GetStatusRequest(agent_id="bob"), metadata=alice),
        stubs.admin.ListAgents(admin_pb2.ListAgentsRequest(), metadata=alice),
        stubs.interactions.Enqueue(enqueue(), metadata=alice),
        stubs.agents.GetStatus(agent_pb2.GetStatusRequest(agent_id="alice"), metadata=t.interaction),
        stubs.admin.ListAgents(admin_pb2.ListAgentsRequest(), metadata=t.interaction),
    ]
    for rpc in denied:
        code, message = await code_of(rpc)
        assert code is grpc.StatusCode.PERMISSION_DENIED, message
    stream = stubs.agents.StreamOffers(agent_pb2.StreamOffersRequest(agent_id="bob"), metadata=alice)
    code, _ = await code_of(stream.read())
    assert code is grpc.StatusCode.PERMISSION_DENIED
    # An admin may act as any agent.
    assert (
        await stubs.agents.Login(agent_pb2.LoginRequest(agent_id="bob"), metadata=t.admin)
    ).agent_id == "bob"


async def test_missing_garbled_and_forged_tokens_are_unauthenticated(stubs, make_tenant, store):
    a = await make_tenant()
    b = await make_tenant()
    token_a = await issue_token(store, tenant=a.name, role="admin")
    _, key_id, secret = token_a.split(".")
    bad_metadata = [
        None,
        (("authorization", "Bearer"),),
        (("authorization", "Basic dXNlcjpwYXNz"),),
        bearer("garbage"),
        bearer("a.b.c.d"),
        bearer(f"{a.name}.{key_id}.{'x' * 43}"),  # wrong secret
        bearer(f"{b.name}.{key_id}.{secret}"),  # a's credential presented for tenant b
        bearer(f"{a.name}.ffffffffffff.{secret}"),  # unknown key id
        bearer(CLUSTER_TOKEN),  # the cluster token is not a tenant token
    ]
    for metadata in bad_metadata:
        code, message = await code_of(
            stubs.admin.ListAgents(admin_pb2.ListAgentsRequest(), metadata=metadata)
        )
        assert code is grpc.StatusCode.UNAUTHENTICATED, (metadata, message)
    assert (
        await stubs.admin.ListAgents(admin_pb2.ListAgentsRequest(), metadata=bearer(token_a))
    ).agents == []


async def test_site_service_needs_the_cluster_token(stubs, make_tenant):
    t = await make_tenant()
    for metadata in (None, t.admin, bearer("wrong")):
        code, _ = await code_of(stubs.sites.GetSnapshot(site_pb2.GetSnapshotRequest(), metadata=metadata))
        assert code is grpc.StatusCode.UNAUTHENTICATED
    snapshot = await stubs.sites.GetSnapshot(site_pb2.GetSnapshotRequest(), metadata=bearer(CLUSTER_TOKEN))
    assert snapshot.site == "site-a"
