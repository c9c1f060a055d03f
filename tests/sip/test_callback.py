"""Queue-policy callback: the caller is told and released; when an agent accepts the callback, the adapter dials
the agent first, then the caller through the trunk's carrier, bridges them, and the caller's hang-up ends it."""

from __future__ import annotations

import asyncio

import grpc.aio
import pytest
from ccp_acd.domain.models import Action, ActionKind, CallState, Channel, QueueConfig
from ccpapi.v1 import agent_pb2

from tests.helpers import eventually
from tests.sip.conftest import (
    UAS_ANSWERS_THEN_HANGS_UP,
    UAS_ANSWERS_UNTIL_BYE,
    Running,
    released_scenario,
    start_phone,
    start_phone_on,
    start_sipp,
)
from tests.sip.test_bridging import agent_with_phone, stop_reading

pytestmark = pytest.mark.etcd


@pytest.fixture
def queue_config() -> QueueConfig:
    # Nobody logged in: the router turns the call into a callback at once.
    return QueueConfig(name="support", on_no_agents=Action(kind=ActionKind.CALLBACK), wrap_up_s=0)


async def test_callback_releases_the_caller_then_dials_agent_and_caller_and_bridges_them(running: Running, tmp_path):
    number = "+15557770030"
    caller = await start_sipp(released_scenario(number), port=running.port, tmp_path=tmp_path)
    assert await caller.wait() == 0, caller.output()  # told "we will call you back" and released (our BYE)

    async def callback():
        view = await running.store.load_live(running.tenant)
        return [c for c in view.calls.values() if c.caller.address == number and c.channel is Channel.CALLBACK]

    [item] = await eventually(callback, timeout_s=10, what="the callback in the queue")

    callee = await start_phone_on(UAS_ANSWERS_THEN_HANGS_UP, port=running.carrier_port, tmp_path=tmp_path)
    phone, phone_port = await start_phone(UAS_ANSWERS_UNTIL_BYE, tmp_path=tmp_path)
    async with grpc.aio.insecure_channel(running.node.address) as channel:
        agents, alice, offers, stream, reader = await agent_with_phone(running, channel, phone_port)
        try:
            offer = await asyncio.wait_for(offers.get(), 15)
            assert offer.interaction.id == item.id
            await agents.AcceptOffer(agent_pb2.AcceptOfferRequest(agent_id="alice", interaction_id=item.id),
                                     metadata=alice)
            assert await callee.wait() == 0, callee.output()  # the caller answered, talked, hung up
            assert await phone.wait() == 0, phone.output()    # the agent was released with a BYE
        finally:
            await stop_reading(stream, reader)

    async def ended():
        record = await running.store.get_call(running.tenant, item.id)
        return record if record.state is CallState.COMPLETED else None

    await eventually(ended, timeout_s=10, what="the callback's talk ended by the caller")
