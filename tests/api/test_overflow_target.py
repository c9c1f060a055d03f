"""A full queue overflows into its target queue even when the node's config cache does not show the target yet
(created a moment ago, its watch event not applied): Enqueue reads the target from etcd instead of refusing."""

from __future__ import annotations

from ccp_acd.domain.models import Action, ActionKind, QueueConfig
from ccp_acd.state.configs import ConfigCache
from ccpapi.v1 import common_pb2, interaction_pb2

from tests.helpers import eventually

CALL = interaction_pb2.EnqueueRequest(
    queue="spill", channel=common_pb2.CHANNEL_VOICE, caller=common_pb2.Caller(address="+15550100")
)
SPILL = QueueConfig(name="spill", max_length=1, on_max_length=Action(kind=ActionKind.QUEUE, target_queue="later"))


async def test_a_full_queue_overflows_into_a_target_the_config_cache_does_not_show_yet(
    node, stubs, make_tenant, monkeypatch
):
    """The target's watch event is held back in the node's config cache (as a slow watch would hold it), so the
    cache shows the full queue and not its target, deterministically."""
    t = await make_tenant(SPILL)
    views = node.router.views

    async def following() -> bool:
        configs = views._configs.get(t.name)  # the tenant's config caches: started when the node routes it
        return configs is not None and configs[0].ready.is_set()

    await eventually(following, what="the node to route the tenant and follow its queues")
    held = []
    apply = ConfigCache._apply

    def holding_back(cache, event):
        if event.key.endswith("/later/config"):
            held.append(event)
            return
        apply(cache, event)

    monkeypatch.setattr(ConfigCache, "_apply", holding_back)
    await t.store.put_queue_config(t.name, QueueConfig(name="later"))

    async def seen() -> bool:
        return bool(held)

    await eventually(seen, what="the cache to receive the target's event")
    assert "later" not in await views.queue_configs(t.name)

    first = await stubs.interactions.Enqueue(CALL, metadata=t.interaction)
    assert first.state == common_pb2.INTERACTION_STATE_QUEUED
    spilled = await stubs.interactions.Enqueue(CALL, metadata=t.interaction)
    assert (spilled.queue, list(spilled.route_history)) == ("later", ["spill"])
