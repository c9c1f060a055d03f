"""The adapter against sipp as the carrier and a real node: an answered call reaches the queue, with its trunk."""

from __future__ import annotations

import logging

import pytest
from ccp_acd.domain.models import CallState

from tests.helpers import eventually
from tests.sip.conftest import Running, answered_scenario, released_scenario, start_sipp
from tests.sip.test_adapter import live_calls

pytestmark = pytest.mark.etcd


async def test_answered_call_is_queued_with_its_trunk_and_cancelled_when_the_caller_hangs_up(running: Running, tmp_path,
                                                                                           caplog):
    caplog.set_level(logging.DEBUG, logger="ccp_acd.sip")
    caller = "+15557770003"
    sipp = await start_sipp(answered_scenario(caller, hold_ms=6000), port=running.port, tmp_path=tmp_path)

    async def queued():
        return await live_calls(running, caller)

    [call] = await eventually(queued, timeout_s=10, what="the call in the queue")
    assert call.queue == "support" and call.trunk == "main" and call.caller.display_name == "Test Caller"
    assert call.arrived_at and call.arrived_at <= call.enqueued_at
    assert await sipp.wait() == 0, sipp.output()

    async def abandoned():
        record = await running.store.get_call(running.tenant, call.id)
        return record if record.state is CallState.ABANDONED else None

    await eventually(abandoned, timeout_s=10, what="the call cancelled as abandoned")
    sip_logs = [r.getMessage() for r in caplog.records if r.name.startswith("ccp_acd.sip")]
    assert any("queued" in line for line in sip_logs)  # the call's transitions were logged...
    assert not any(caller[1:] in line for line in sip_logs)  # ...without the caller's number, before any redaction


async def test_shutdown_releases_a_queued_caller_and_cancels_the_interaction(running: Running, tmp_path):
    caller = "+15557770004"
    sipp = await start_sipp(released_scenario(caller), port=running.port, tmp_path=tmp_path)

    async def queued():
        return await live_calls(running, caller)

    [call] = await eventually(queued, timeout_s=10, what="the call in the queue")
    await running.adapter.shutdown()
    assert await sipp.wait() == 0, sipp.output()  # the adapter hung up (BYE) after the sorry tone
    record = await running.store.get_call(running.tenant, call.id)
    assert record.state is CallState.ABANDONED and "adapter shutdown" in record.reason
