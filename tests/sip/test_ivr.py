"""The IVR on a real call: the caller's RFC 2833 digit picks the queue, and the answer is recorded."""

from __future__ import annotations

from dataclasses import replace

import pytest
from ccp_acd.domain.ivr import IvrConfig, IvrMenu, IvrOption, IvrTarget, TargetKind
from ccp_acd.domain.models import QueueConfig
from ccp_acd.state.store import TrunkSip

from tests.helpers import eventually
from tests.sip.conftest import Running, dtmf_scenario, start_sipp
from tests.sip.test_adapter import live_calls

pytestmark = pytest.mark.etcd

MENU = IvrConfig(entry="main", menus=(IvrMenu(
    name="main", prompt="tone:440:200", timeout_s=4.0, max_digits=1, retries=0,
    options=(IvrOption("1", IvrTarget(TargetKind.QUEUE, "sales")), IvrOption("2", IvrTarget(TargetKind.QUEUE, "support"))),
),))


async def test_digit_pressed_in_the_menu_picks_the_queue_and_is_recorded(running: Running, tmp_path):
    await running.store.put_queue_config(running.tenant, QueueConfig(name="sales"))
    trunk = (await running.store.get_trunk_configs(running.tenant))["main"]
    assert isinstance(trunk.sip, TrunkSip)
    await running.store.put_trunk_config(running.tenant, replace(trunk, ivr=MENU))
    await running.adapter.refresh()
    caller = "+15557770040"
    sipp = await start_sipp(dtmf_scenario(caller, "1", hold_ms=6000), port=running.port, tmp_path=tmp_path)

    async def queued():
        return await live_calls(running, caller)

    [call] = await eventually(queued, timeout_s=12, what="the call queued by the IVR")
    assert call.queue == "sales"
    assert [event.detail for event in call.timeline if event.kind == "ivr"] == ["main: 1"]
    assert await sipp.wait() == 0, sipp.output()
