"""Retention on a real etcd: records past the tenant's retention go (with their caller index), newer stay,
other tenants are untouched, and a pass is bounded."""

from __future__ import annotations

import secrets
import time

import pytest
from ccp_acd.domain.models import Call, Caller, Presence
from ccp_acd.state import keys
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.retention import DAY_S, RetentionSweeper, Swept
from ccp_acd.state.store import AgentProfile, TenantConfig, TenantRetention

pytestmark = pytest.mark.etcd

DAYS = 30
NOW = time.time()
OLD = NOW - 40 * DAY_S  # past a 30-day retention
RECENT = NOW - 10 * DAY_S  # within it
CALLER = "+4930111222333"


async def new_tenant(store: EtcdStore, days: int = DAYS) -> str:
    name = f"t-{secrets.token_hex(4)}"
    await store.put_tenant_config(TenantConfig(name=name, home_site="site-a", retention=TenantRetention(days)))
    return name


async def ended_call(
    store: EtcdStore, tenant: str, *, arrived: float, ended: float, caller: str = CALLER, request_id: str = ""
) -> str:
    """A call filed in history the way the store files every call (enqueue, then cancel at ``ended``)."""
    call_id = f"{keys.nanos(arrived):020d}-{secrets.token_hex(4)}"
    call = Call(
        id=call_id, queue="support", caller=Caller(address=caller, display_name="Erika Mustermann"),
        enqueued_at=arrived, queued_since=arrived, request_id=request_id,
    )
    await store.enqueue(tenant, call)
    await store.cancel(tenant, call_id, reason="hung up", now=ended)
    return call_id


async def count(store: EtcdStore, prefix: str) -> int:
    records, _ = await store.read_prefix(prefix)
    return len(records)


async def test_records_past_retention_are_deleted_newer_kept_other_tenants_untouched(store):
    tenant, other = await new_tenant(store), await new_tenant(store)
    old = await ended_call(store, tenant, arrived=OLD, ended=OLD + 60, request_id="req-old-1")
    recent = await ended_call(store, tenant, arrived=RECENT, ended=RECENT + 60)
    # Arrived before the cut-off but ended after it (a long-waiting callback): kept.
    long_lived = await ended_call(store, tenant, arrived=OLD + 1, ended=RECENT)
    other_old = await ended_call(store, other, arrived=OLD, ended=OLD + 60)
    for t in (tenant, other):
        await store.create_agent(t, "alice", AgentProfile(skills={"support": 5}), now=OLD)
        await store.set_presence(t, "alice", Presence.AVAILABLE, reason_code="", now=OLD)
        await store.set_presence(t, "alice", Presence.BREAK, reason_code="lunch", now=OLD + 3600)  # logs an old interval
        await store.set_presence(t, "alice", Presence.AVAILABLE, reason_code="", now=RECENT)  # logs a recent one
    assert [c.id for c in await store.caller_history(tenant, CALLER, limit=10)] == [recent, long_lived, old]
    assert await store.client.get(keys.request(tenant, "req-old-1").encode()) is not None

    swept = await RetentionSweeper(store).sweep(tenant, days=DAYS, now=NOW)

    assert swept == Swept(history=1, callers=1, requests=1, presence=1, audit=0)
    left = [c.id for c in await store.history_between(tenant, 0, NOW)]
    assert left == sorted([long_lived, recent])
    assert [c.id for c in await store.caller_history(tenant, CALLER, limit=10)] == [recent, long_lived]
    index, _ = await store.read_prefix(keys.caller_prefix(tenant, keys.caller_key(tenant, CALLER)))
    assert sorted(keys.last_segment(k) for k, _, _ in index) == sorted([recent, long_lived])
    assert await store.client.get(keys.request(tenant, "req-old-1").encode()) is None
    intervals = await store.presence_between(tenant, 0, NOW)
    assert [i.end for i in intervals] == [pytest.approx(RECENT)]
    # The other tenant's old records are all still there.
    assert [c.id for c in await store.history_between(other, 0, NOW)] == [other_old]
    assert [c.id for c in await store.caller_history(other, CALLER)] == [other_old]
    assert len(await store.presence_between(other, 0, NOW)) == 2
    # A second pass finds nothing more.
    assert await RetentionSweeper(store).sweep(tenant, days=DAYS, now=NOW) == Swept()


async def test_a_pass_is_bounded_and_the_backlog_drains_over_passes(store):
    tenant = await new_tenant(store)
    old = [await ended_call(store, tenant, arrived=OLD + i, ended=OLD + i + 30, caller=f"+49301{i:07d}") for i in range(5)]
    sweeper = RetentionSweeper(store, batch=2, max_batches=1)

    first = await sweeper.sweep(tenant, days=DAYS, now=NOW)

    assert (first.history, first.callers) == (2, 2)
    assert [c.id for c in await store.history_between(tenant, 0, NOW)] == old[2:]  # oldest first
    assert (await sweeper.sweep(tenant, days=DAYS, now=NOW)).history == 2
    assert (await sweeper.sweep(tenant, days=DAYS, now=NOW)).history == 1
    assert await count(store, keys.history_prefix(tenant)) == 0
    assert await count(store, f"{keys.tenant_prefix(tenant)}callers/") == 0


async def test_sweep_all_uses_each_tenants_retention_and_only_routed_tenants(store):
    short, long_, unrouted = await new_tenant(store, days=5), await new_tenant(store, days=3650), await new_tenant(store, 5)
    for t in (short, long_, unrouted):
        await ended_call(store, t, arrived=RECENT, ended=RECENT + 60)  # 10 days old
    mine = {short, long_}

    done = await RetentionSweeper(store).sweep_all(routes=mine.__contains__, now=NOW)

    assert done[short].history == 1 and done[long_].history == 0 and unrouted not in done
    assert await count(store, keys.history_prefix(short)) == 0
    assert await count(store, keys.history_prefix(long_)) == 1
    assert await count(store, keys.history_prefix(unrouted)) == 1


async def test_audit_events_past_retention_are_deleted(store):
    tenant = await new_tenant(store)
    for at in (OLD, OLD + 1, RECENT):
        key = keys.audit_event(tenant, f"{keys.nanos(at):020d}-{secrets.token_hex(4)}")
        await store.client.put(key.encode(), b"{}")

    swept = await RetentionSweeper(store).sweep(tenant, days=DAYS, now=NOW)

    assert swept.audit == 2
    left, _ = await store.read_prefix(keys.audit_prefix(tenant))
    assert [keys.last_segment(k)[:20] for k, _, _ in left] == [f"{keys.nanos(RECENT):020d}"]


def test_tenant_spec_retention_reaches_the_tenant_config():
    from ccp_operator.specs import SpecError, tenant_config

    def resource(spec_extra: dict) -> dict:
        return {
            "apiVersion": "ccp.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": "acme"},
            "spec": {"homeSite": "site-a", **spec_extra},
        }

    assert tenant_config(resource({})).retention == TenantRetention(400)
    assert tenant_config(resource({"retention": {"callRecordsDays": 90}})).retention == TenantRetention(90)
    for bad in (0, 3651, "90"):
        with pytest.raises(SpecError, match="retention.callRecordsDays"):
            tenant_config(resource({"retention": {"callRecordsDays": bad}}))
