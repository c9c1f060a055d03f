"""The adapter against sipp as the carrier and a real node: INVITEs refused before they are answered."""

from __future__ import annotations

import pytest
from ccp_acd.state.store import BlockedCaller

from tests.sip.conftest import Running, rejected_scenario, start_sipp

pytestmark = pytest.mark.etcd


async def live_calls(running: Running, caller: str) -> list:
    view = await running.store.load_live(running.tenant)
    return [call for call in view.calls.values() if call.caller.address == caller]


async def test_unknown_number_gets_404_and_no_interaction(running: Running, tmp_path):
    sipp = await start_sipp(rejected_scenario("+15557770001", 404), port=running.port, tmp_path=tmp_path,
                            service="+15550199")
    assert await sipp.wait() == 0, sipp.output()
    assert await live_calls(running, "+15557770001") == []


async def test_blocklisted_caller_gets_603_decline(running: Running, tmp_path):
    await running.store.add_blocked(running.tenant, BlockedCaller(pattern="+1555666*", reason="abuse"))
    await running.adapter.refresh()
    sipp = await start_sipp(rejected_scenario("+15556660001", 603), port=running.port, tmp_path=tmp_path)
    assert await sipp.wait() == 0, sipp.output()
    assert await live_calls(running, "+15556660001") == []


async def test_foreign_source_gets_403_forbidden(running: Running, tmp_path):
    sipp = await start_sipp(rejected_scenario("+15557770002", 403), port=running.port, tmp_path=tmp_path,
                            local_ip="127.0.0.2")
    assert await sipp.wait() == 0, sipp.output()
