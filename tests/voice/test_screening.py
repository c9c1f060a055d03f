"""INVITEs the ``ccp sip`` process refuses before answering: an unknown number (404), a blocklisted caller (603).
Nothing reaches the ACD (no interaction, no caller history) and the numbers stay out of the adapter's log.
(tests/sip/test_adapter.py covers the same and the 403 of a foreign source against the adapter in-process.)"""

from __future__ import annotations

import pytest
from ccp_acd.domain.models import QueueConfig
from ccp_acd.state.store import TrunkConfig
from ccpapi.v1 import admin_pb2

from tests.voice.conftest import Peers, Voice
from tests.voice.sipp import free_udp_port

pytestmark = pytest.mark.etcd

NUMBER = "+15550001000"
LOOPBACK = ("127.0.0.0/8",)


async def _nothing_queued(tenant, caller: str) -> None:
    stats = await tenant.admin.GetQueueStats(admin_pb2.GetQueueStatsRequest(queue="support"), metadata=tenant.admin_md)
    assert (stats.offered, stats.waiting, stats.abandoned) == (0, 0, 0)
    history = await tenant.admin.GetCallerHistory(admin_pb2.GetCallerHistoryRequest(address=caller),
                                                  metadata=tenant.admin_md)
    assert list(history.calls) == []


async def test_unknown_number_is_refused_404_and_a_blocklisted_caller_603_with_no_interaction(voice: Voice,
                                                                                              peers: Peers):
    carrier = free_udp_port()
    trunk = TrunkConfig(name="main", numbers=(NUMBER,), default_queue="support", allowed_sources=LOOPBACK)
    tenant, adapter = await voice.tenant(queues=[QueueConfig(name="support")], trunks=[trunk], carrier_port=carrier,
                                         blocked=("+15559990000",))
    unknown = peers.call("uac_rejected.xml", to=adapter.address("main"), number="+15550009999", caller="+15550100",
                         port=carrier, timeout_s=15)
    assert unknown.finals() == [404], unknown.describe()
    blocked = peers.call("uac_rejected.xml", to=adapter.address("main"), number=NUMBER, caller="+15559990000",
                         port=carrier, timeout_s=15)
    assert blocked.finals() == [603], blocked.describe()
    await _nothing_queued(tenant, "+15550100")
    await _nothing_queued(tenant, "+15559990000")
    assert adapter.alive()
    assert "+15559990000" not in adapter.log() and "5559990000" not in adapter.log()

