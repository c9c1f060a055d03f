"""An accepted call is bridged to the agent's phone (B2BUA), and the caller's hang-up ends both legs; an agent
phone that refuses the call puts the same interaction back in the queue in the same place (Requeue)."""

from __future__ import annotations

import asyncio
import contextlib

import grpc.aio
import pytest
from ccp_acd.api.auth import issue_token
from ccp_acd.domain.models import CallState
from ccpapi.v1 import admin_pb2, admin_pb2_grpc, agent_pb2, agent_pb2_grpc, common_pb2, interaction_pb2, interaction_pb2_grpc

from tests.helpers import bearer, eventually
from tests.sip.conftest import (
    UAS_ANSWERS_UNTIL_BYE,
    UAS_BUSY,
    Running,
    answered_scenario,
    released_scenario,
    start_phone,
    start_sipp,
)

pytestmark = pytest.mark.etcd


async def agent_with_phone(running: Running, channel, phone_port: int):
    """alice, available, with her phone at ``phone_port``: (agent stub, her metadata, her offers, the reader)."""
    admin = bearer(await issue_token(running.store, tenant=running.tenant, role="admin"))
    alice = bearer(await issue_token(running.store, tenant=running.tenant, role="agent", agent_id="alice"))
    agents = agent_pb2_grpc.AgentServiceStub(channel)
    await admin_pb2_grpc.AdminServiceStub(channel).CreateAgent(admin_pb2.CreateAgentRequest(agent=admin_pb2.Agent(
        id="alice", sip_uri=f"sip:alice@127.0.0.1:{phone_port}")), metadata=admin)
    await agents.Login(agent_pb2.LoginRequest(agent_id="alice"), metadata=alice)
    await agents.SetState(agent_pb2.SetStateRequest(agent_id="alice", state=common_pb2.AGENT_STATE_AVAILABLE),
                          metadata=alice)
    offers: asyncio.Queue = asyncio.Queue()
    stream = agents.StreamOffers(agent_pb2.StreamOffersRequest(agent_id="alice"), metadata=alice)

    async def pump() -> None:
        async for event in stream:
            if event.HasField("offer"):
                offers.put_nowait(event.offer)

    return agents, alice, offers, stream, asyncio.create_task(pump())


async def completed(channel, token, interaction_id: str, *, what: str):
    """The interaction's record once COMPLETED (within 10 s)."""
    interactions = interaction_pb2_grpc.InteractionServiceStub(channel)

    async def ended():
        record = await interactions.GetInteraction(interaction_pb2.GetInteractionRequest(
            interaction_id=interaction_id), metadata=token)
        return record if record.state == common_pb2.INTERACTION_STATE_COMPLETED else None

    return await eventually(ended, timeout_s=10, what=what)


async def stop_reading(stream, reader) -> None:
    stream.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader


async def test_accepted_call_is_bridged_to_the_agent_and_the_caller_hangup_ends_both_legs(running: Running, tmp_path):
    phone, phone_port = await start_phone(UAS_ANSWERS_UNTIL_BYE, tmp_path=tmp_path)
    interaction_token = bearer(await issue_token(running.store, tenant=running.tenant, role="interaction"))
    async with grpc.aio.insecure_channel(running.node.address) as channel:
        agents, alice, offers, stream, reader = await agent_with_phone(running, channel, phone_port)
        try:
            caller = await start_sipp(answered_scenario("+15557770010", hold_ms=8000), port=running.port,
                                      tmp_path=tmp_path)
            offer = await asyncio.wait_for(offers.get(), 15)
            accepted = await agents.AcceptOffer(agent_pb2.AcceptOfferRequest(
                agent_id="alice", interaction_id=offer.interaction.id), metadata=alice)
            assert accepted.state == common_pb2.INTERACTION_STATE_CONNECTED
            assert await caller.wait() == 0, caller.output()
            assert await phone.wait() == 0, phone.output()
        finally:
            await stop_reading(stream, reader)

        record = await completed(channel, interaction_token, offer.interaction.id,
                                 what="the talk ended by the caller's hang-up")
        assert "hung-up" in [event.kind for event in record.timeline]


async def test_agent_phone_refusing_the_call_puts_the_same_interaction_back_in_its_place(running: Running, tmp_path):
    phone, phone_port = await start_phone(UAS_BUSY, tmp_path=tmp_path)
    caller_number = "+15557770011"
    async with grpc.aio.insecure_channel(running.node.address) as channel:
        agents, alice, offers, stream, reader = await agent_with_phone(running, channel, phone_port)
        try:
            caller = await start_sipp(answered_scenario(caller_number, hold_ms=12000), port=running.port,
                                      tmp_path=tmp_path)
            offer = await asyncio.wait_for(offers.get(), 15)
            accepted = await agents.AcceptOffer(agent_pb2.AcceptOfferRequest(
                agent_id="alice", interaction_id=offer.interaction.id), metadata=alice)
            assert await phone.wait() == 0, phone.output()

            async def requeued():
                call = await running.store.get_call(running.tenant, offer.interaction.id)
                return call if call.state is CallState.QUEUED else None

            again = await eventually(requeued, timeout_s=15, what="the same interaction queued again")
            assert (again.agent_id, again.answered_at) == ("", None)
            assert again.enqueued_at == pytest.approx(accepted.enqueued_at.ToNanoseconds() / 1e9, abs=1e-6)
            assert [e.kind for e in again.timeline][-3:] == ["offered", "accepted", "requeued"]
            assert again.timeline[-1].detail == "agent-leg-486"
            view = await running.store.load_live(running.tenant)
            assert [c.id for c in view.calls.values() if c.caller.address == caller_number] == [again.id]  # one
            agent = await running.store.get_agent(running.tenant, "alice")
            assert (agent.presence, agent.reason_code, agent.calls_handled) == ("break", "no-answer", 0)
            assert await caller.wait() == 0, caller.output()  # still on hold until it hangs up: an abandon
        finally:
            await stop_reading(stream, reader)

    async def abandoned():
        record = await running.store.get_call(running.tenant, offer.interaction.id)
        return record if record.state is CallState.ABANDONED else None

    record = await eventually(abandoned, timeout_s=15, what="the caller's hang-up while queued again")
    assert (record.answered_at, record.agent_id, record.arrived_at) == (None, "", again.arrived_at)


async def test_a_bridged_call_whose_rtp_stops_ends_as_that_partys_hangup(running: Running, tmp_path):
    """No party sends RTP of its own once bridged: the caller's sipp only echoes (``-rtp_echo``), the agent's phone
    neither sends nor echoes, so the media dies out. (With both ends echoing, a packet of the hold music still in
    flight at the bridge could bounce between them for ever: seen once under the suite's load.) Both wait for a BYE
    that only the adapter's RTP timeout sends (without it they wait until sipp's own timeout)."""
    running.adapter.settings = running.settings.model_copy(update={"rtp_timeout_s": 2.0})
    phone, phone_port = await start_phone(UAS_ANSWERS_UNTIL_BYE, tmp_path=tmp_path, timeout_s=30, echo=False)
    interaction_token = bearer(await issue_token(running.store, tenant=running.tenant, role="interaction"))
    async with grpc.aio.insecure_channel(running.node.address) as channel:
        agents, alice, offers, stream, reader = await agent_with_phone(running, channel, phone_port)
        try:
            caller = await start_sipp(released_scenario("+15557770012"), port=running.port, tmp_path=tmp_path)
            offer = await asyncio.wait_for(offers.get(), 15)
            await agents.AcceptOffer(agent_pb2.AcceptOfferRequest(
                agent_id="alice", interaction_id=offer.interaction.id), metadata=alice)
            assert await caller.wait() == 0, caller.output()  # BYE'd by the adapter
            assert await phone.wait() == 0, phone.output()
        finally:
            await stop_reading(stream, reader)
        record = await completed(channel, interaction_token, offer.interaction.id, what="the call ended by the RTP timeout")
    assert "hung-up" in [event.kind for event in record.timeline]
