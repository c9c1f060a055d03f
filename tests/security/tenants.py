"""Two populated tenants on a real node, for the isolation suite.

Tenant B has what a tenant can have: agents (one holding a call, one logged
out), a queue, an ended call (so a caller history and a record in the
reports), a connected call, a waiting call with an idempotency key, caller
data, a disposition, a blocklist entry. Every value is a marker a response to
tenant A must never carry (:attr:`TenantB.markers`). Tenant A has agents
``alice`` and ``bob``, each holding a connected call (so the role matrix can
call GetCallerHistory as either), and a token per role.

The snapshot of B's etcd records is stable once :func:`populate_b` returns:
the waiting call cannot be offered (B's only logged-in agent is at capacity),
no queue has a max-wait, and B's tokens are not used afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc.aio
from ccp_acd.api.auth import ROLES
from ccpapi.v1 import admin_pb2, admin_pb2_grpc, agent_pb2, agent_pb2_grpc, common_pb2, interaction_pb2, interaction_pb2_grpc

from tests.helpers import eventually
from tests.security.conftest import Metadata, new_tenant, token


@dataclass
class Stubs:
    admin: admin_pb2_grpc.AdminServiceStub
    agents: agent_pb2_grpc.AgentServiceStub
    interactions: interaction_pb2_grpc.InteractionServiceStub

    @classmethod
    def on(cls, channel: grpc.aio.Channel) -> Stubs:
        return cls(
            admin_pb2_grpc.AdminServiceStub(channel),
            agent_pb2_grpc.AgentServiceStub(channel),
            interaction_pb2_grpc.InteractionServiceStub(channel),
        )


@dataclass
class TenantA:
    name: str
    tokens: dict[str, Metadata]  # by role; the agent token is alice's
    held: dict[str, str]  # agent id -> id of the connected call it holds


@dataclass
class TenantB:
    name: str
    agents: tuple[str, str]  # (the agent holding a call, the logged-out one)
    queue: str
    ended: str
    connected: str
    waiting: str
    callers: tuple[str, str, str]  # of the ended, connected and waiting calls
    request_id: str  # the waiting call's idempotency key
    blocked: str  # a blocklist pattern
    markers: frozenset[str]  # everything above, plus B's name and free-text values


async def _ready(stubs: Stubs, admin: Metadata, agent_id: str, **agent) -> None:
    await stubs.admin.CreateAgent(admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id=agent_id, **agent)), metadata=admin)
    await stubs.agents.Login(agent_pb2.LoginRequest(agent_id=agent_id), metadata=admin)
    await stubs.agents.SetState(
        agent_pb2.SetStateRequest(agent_id=agent_id, state=common_pb2.AGENT_STATE_AVAILABLE), metadata=admin
    )


async def _answered(stubs: Stubs, admin: Metadata, call_id: str) -> str:
    """Wait for the call's offer, accept it as the agent offered; that agent's id."""

    async def offered() -> str:
        seen = await stubs.interactions.GetInteraction(
            interaction_pb2.GetInteractionRequest(interaction_id=call_id), metadata=admin
        )
        return seen.offered_to

    agent_id = await eventually(offered, what=f"an offer of {call_id}")
    await stubs.agents.AcceptOffer(agent_pb2.AcceptOfferRequest(agent_id=agent_id, interaction_id=call_id), metadata=admin)
    return agent_id


def _call(queue: str, address: str, **kwargs) -> interaction_pb2.EnqueueRequest:
    return interaction_pb2.EnqueueRequest(
        queue=queue, channel=common_pb2.CHANNEL_VOICE, caller=common_pb2.Caller(address=address, **kwargs.pop("caller", {})),
        **kwargs,
    )


async def populate_a(store, stubs: Stubs) -> TenantA:
    name = await new_tenant(store, "iso-a", "support")
    tokens = {role: await token(store, name, role, "alice" if role == "agent" else "") for role in ROLES}
    admin = tokens["admin"]
    held: dict[str, str] = {}
    for agent_id in ("alice", "bob"):
        await _ready(stubs, admin, agent_id)
        call = await stubs.interactions.Enqueue(_call("support", f"+1555010000{len(held)}"), metadata=admin)
        held[await _answered(stubs, admin, call.id)] = call.id
    return TenantA(name=name, tokens=tokens, held=held)


async def populate_b(store, stubs: Stubs) -> TenantB:
    name = await new_tenant(store, "iso-b", "b-sales")
    admin = await token(store, name, "admin")
    callers = ("+15559990001", "+15559990002", "+15559990003")
    await _ready(stubs, admin, "b-carol", display_name="Carol of B", skills={"b-only-skill": 7})
    await stubs.admin.CreateAgent(
        admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(id="b-dave", display_name="Dave of B")), metadata=admin
    )
    ended = await stubs.interactions.Enqueue(
        _call("b-sales", callers[0], caller={"display_name": "B caller", "data": {"account": "b-account-42"}},
              request_id="b-request-1"),
        metadata=admin,
    )
    await _answered(stubs, admin, ended.id)
    await stubs.agents.Complete(
        agent_pb2.CompleteRequest(agent_id="b-carol", interaction_id=ended.id, disposition="b-sold"), metadata=admin
    )
    connected = await stubs.interactions.Enqueue(_call("b-sales", callers[1]), metadata=admin)
    await _answered(stubs, admin, connected.id)
    waiting = await stubs.interactions.Enqueue(_call("b-sales", callers[2], request_id="b-request-3"), metadata=admin)
    await stubs.admin.AddBlockedCaller(
        admin_pb2.AddBlockedCallerRequest(blocked=admin_pb2.BlockedCaller(pattern="+1666*", reason="b fraud ring")),
        metadata=admin,
    )
    markers = {
        name, "b-carol", "b-dave", "Carol of B", "Dave of B", "b-only-skill", "b-sales", ended.id, connected.id,
        waiting.id, *callers, "B caller", "b-account-42", "b-request-1", "b-request-3", "b-sold", "+1666", "b fraud ring",
    }
    return TenantB(
        name=name, agents=("b-carol", "b-dave"), queue="b-sales", ended=ended.id, connected=connected.id,
        waiting=waiting.id, callers=callers, request_id="b-request-3", blocked="+1666*", markers=frozenset(markers),
    )
