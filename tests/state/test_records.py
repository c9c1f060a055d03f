"""The records historical reports read: the presence log, call history by arrival window, the caller index.

Every change of an agent's presence logs the interval it closes in the same
transaction; every ended call is indexed under a hash of its caller's address.
Times are explicit (``now=``) so each record is known to the nanosecond.
"""

from __future__ import annotations

import secrets

from ccp_acd.domain.models import (
    REASON_NO_ANSWER,
    Action,
    ActionKind,
    Call,
    Caller,
    Channel,
    ExpireOfferDecision,
    OfferDecision,
    Presence,
    PresenceInterval,
    QueueConfig,
    RerouteDecision,
)
from ccp_acd.state import keys
from ccp_acd.state.store import AgentProfile, TenantConfig

T0 = 1_700_000_000.0
NS0 = 1_700_000_000_000_000_000


def at(seconds: float) -> float:
    return T0 + seconds


def call_id_at(seconds: int, tag: str) -> str:
    """A call id as new_call_id makes them, arriving ``seconds`` after T0."""
    return f"{NS0 + seconds * 1_000_000_000:020d}-{tag}"


def interval(presence: Presence, start: float, end: float, *, reason: str = "", after_call: str = "") -> PresenceInterval:
    return PresenceInterval(
        agent_id="ann", presence=presence, start=at(start), end=at(end), site="a", reason_code=reason,
        after_call=after_call,
    )


async def new_tenant(store) -> str:
    tenant = f"records-{secrets.token_hex(3)}"
    await store.put_tenant_config(TenantConfig(name=tenant))
    await store.put_queue_config(tenant, QueueConfig("q"))
    await store.create_agent(tenant, "ann", AgentProfile(capacity={Channel.VOICE: 1}, site="a"), now=at(0))
    return tenant


async def enqueue(store, tenant: str, call_id: str, *, address: str = "", now: float) -> None:
    call = Call(id=call_id, queue="q", site="a", caller=Caller(address=address), enqueued_at=now, queued_since=now)
    await store.enqueue(tenant, call)


async def offer(store, tenant: str, call_id: str, *, now: float) -> None:
    view = await store.load_live(tenant)
    assert await store.commit(tenant, view, OfferDecision(call_id, "ann", expires_at=now + 15), node_id="n", now=now)


async def handle(store, tenant: str, call_id: str, *, offered: float, answered: float, done: float,
                 wrap_up_s: float, address: str = "") -> None:
    await enqueue(store, tenant, call_id, address=address, now=offered)
    await offer(store, tenant, call_id, now=offered)
    await store.accept(tenant, "ann", call_id, now=answered)
    await store.complete(tenant, "ann", call_id, disposition="", wrap_up_s=wrap_up_s, now=done)


async def test_a_shift_is_logged_as_the_intervals_the_agent_really_had(store):
    tenant = await new_tenant(store)
    call_id = call_id_at(45, "c1")
    await store.set_presence(tenant, "ann", Presence.BREAK, reason_code="logged-in", now=at(10))
    await store.set_presence(tenant, "ann", Presence.AVAILABLE, reason_code="", now=at(20))
    await store.set_presence(tenant, "ann", Presence.BREAK, reason_code="lunch", now=at(30))
    await store.set_presence(tenant, "ann", Presence.AVAILABLE, reason_code="", now=at(40))
    await handle(store, tenant, call_id, offered=at(45), answered=at(46), done=at(50), wrap_up_s=5)
    wrapping = await store.get_agent(tenant, "ann")
    assert (wrapping.presence, wrapping.wrap_up_call) == (Presence.WRAP_UP, call_id)
    # The wrap-up ran out at 55; the agent logs out at 70 and back in at 80 (logged-out time is not logged).
    await store.set_presence(tenant, "ann", Presence.LOGGED_OUT, reason_code="", now=at(70))
    await store.set_presence(tenant, "ann", Presence.BREAK, reason_code="logged-in", now=at(80))

    assert await store.presence_between(tenant, at(0), at(100)) == [
        interval(Presence.BREAK, 10, 20, reason="logged-in"),
        interval(Presence.AVAILABLE, 20, 30),
        interval(Presence.BREAK, 30, 40, reason="lunch"),
        interval(Presence.AVAILABLE, 40, 50),
        interval(Presence.WRAP_UP, 50, 55, after_call=call_id),
        interval(Presence.AVAILABLE, 55, 70),
    ]
    assert (await store.get_agent(tenant, "ann")).wrap_up_call == ""


async def test_a_wrap_up_ended_early_by_set_state_is_one_interval(store):
    tenant = await new_tenant(store)
    call_id = call_id_at(5, "c1")
    await store.set_presence(tenant, "ann", Presence.AVAILABLE, reason_code="", now=at(1))
    await handle(store, tenant, call_id, offered=at(5), answered=at(6), done=at(10), wrap_up_s=30)
    await store.set_presence(tenant, "ann", Presence.AVAILABLE, reason_code="", now=at(20))

    assert await store.presence_between(tenant, at(0), at(100)) == [
        interval(Presence.AVAILABLE, 1, 10),
        interval(Presence.WRAP_UP, 10, 20, after_call=call_id),
    ]
    assert (await store.get_agent(tenant, "ann")).wrap_up_call == ""


async def test_a_call_completed_after_the_last_wrap_up_ran_out_gets_its_own_wrap_up(store):
    tenant = await new_tenant(store)
    first, second = call_id_at(5, "c1"), call_id_at(20, "c2")
    await store.set_presence(tenant, "ann", Presence.AVAILABLE, reason_code="", now=at(1))
    await handle(store, tenant, first, offered=at(5), answered=at(6), done=at(10), wrap_up_s=5)
    await handle(store, tenant, second, offered=at(20), answered=at(21), done=at(30), wrap_up_s=5)

    agent = await store.get_agent(tenant, "ann")
    assert (agent.presence, agent.presence_since, agent.wrap_up_until, agent.wrap_up_call) == (
        Presence.WRAP_UP, at(30), at(35), second
    )
    assert await store.presence_between(tenant, at(0), at(100)) == [
        interval(Presence.AVAILABLE, 1, 10),
        interval(Presence.WRAP_UP, 10, 15, after_call=first),
        interval(Presence.AVAILABLE, 15, 30),
    ]


async def test_the_no_answer_break_the_router_commits_is_logged(store):
    tenant = await new_tenant(store)
    call_id = call_id_at(5, "c1")
    await store.set_presence(tenant, "ann", Presence.AVAILABLE, reason_code="", now=at(1))
    await enqueue(store, tenant, call_id, now=at(5))
    await offer(store, tenant, call_id, now=at(5))
    view = await store.load_live(tenant)
    assert await store.commit(tenant, view, ExpireOfferDecision(call_id, "ann"), node_id="n", now=at(20))
    await store.set_presence(tenant, "ann", Presence.AVAILABLE, reason_code="", now=at(25))

    assert await store.presence_between(tenant, at(0), at(100)) == [
        interval(Presence.AVAILABLE, 1, 20),
        interval(Presence.BREAK, 20, 25, reason=REASON_NO_ANSWER),
    ]


async def test_deleting_an_agent_logs_its_last_interval(store):
    tenant = await new_tenant(store)
    await store.set_presence(tenant, "ann", Presence.BREAK, reason_code="training", now=at(1))
    await store.delete_agent(tenant, "ann", now=at(9))

    assert await store.presence_between(tenant, at(0), at(100)) == [interval(Presence.BREAK, 1, 9, reason="training")]


async def test_presence_between_returns_intervals_overlapping_the_half_open_window(store):
    tenant = await new_tenant(store)
    for presence, now in ((Presence.AVAILABLE, 10), (Presence.BREAK, 20), (Presence.AVAILABLE, 30)):
        await store.set_presence(tenant, "ann", presence, reason_code="", now=at(now))
    await store.set_presence(tenant, "ann", Presence.LOGGED_OUT, reason_code="", now=at(40))
    first, second, third = (
        interval(Presence.AVAILABLE, 10, 20), interval(Presence.BREAK, 20, 30), interval(Presence.AVAILABLE, 30, 40)
    )

    # Touching a window at one instant is no overlap: [10, 20] ends where [20, 30) starts.
    assert await store.presence_between(tenant, at(20), at(30)) == [second]
    assert await store.presence_between(tenant, at(19.5), at(30.5)) == [first, second, third]
    assert await store.presence_between(tenant, at(25), at(26)) == [second]
    assert await store.presence_between(tenant, at(40), at(50)) == []
    assert await store.presence_between(tenant, at(0), at(10)) == []


async def test_caller_history_is_the_callers_ended_calls_newest_first(store):
    tenant = await new_tenant(store)
    repeat, other = "sip:+4930123456@carrier.example", "+4989765432"
    await store.set_presence(tenant, "ann", Presence.AVAILABLE, reason_code="", now=at(1))
    # Three ways a call ends: completed by the agent, cancelled by the caller, re-routed to voicemail.
    await handle(store, tenant, call_id_at(10, "c1"), offered=at(10), answered=at(11), done=at(20), wrap_up_s=0,
                 address=repeat)
    await enqueue(store, tenant, call_id_at(30, "c2"), address=other, now=at(30))
    await store.cancel(tenant, call_id_at(30, "c2"), reason="hung up", now=at(31))
    await enqueue(store, tenant, call_id_at(40, "c3"), address=repeat, now=at(40))
    view = await store.load_live(tenant)
    reroute = RerouteDecision(call_id_at(40, "c3"), Action(ActionKind.VOICEMAIL), reason="max-wait")
    assert await store.commit(tenant, view, reroute, node_id="n", now=at(50))
    await enqueue(store, tenant, call_id_at(60, "c4"), now=at(60))
    await store.cancel(tenant, call_id_at(60, "c4"), reason="hung up", now=at(61))

    history = await store.caller_history(tenant, repeat)
    assert [(c.id, c.state.value, c.agent_id) for c in history] == [
        (call_id_at(40, "c3"), "voicemail", ""),
        (call_id_at(10, "c1"), "completed", "ann"),
    ]
    assert [c.id for c in await store.caller_history(tenant, repeat, limit=1)] == [call_id_at(40, "c3")]
    assert [c.id for c in await store.caller_history(tenant, other)] == [call_id_at(30, "c2")]
    assert await store.caller_history(tenant, "+4930123456") == []  # exact addresses: no normalization
    assert await store.caller_history(tenant, "") == []

    everything, _ = await store.read_prefix(keys.ROOT + "/")
    assert any("/callers/" in key for key, _, _ in everything)
    for key, _, _ in everything:
        for secret in (repeat, other, "4930123456", "4989765432"):
            assert secret not in key, f"caller address in key {key}"


def test_caller_keys_differ_by_tenant_and_address_and_hide_both():
    one = keys.caller_key("t1", "+4930123")
    assert len(one) == 32 and int(one, 16) >= 0
    assert one == keys.caller_key("t1", "+4930123")
    assert len({one, keys.caller_key("t2", "+4930123"), keys.caller_key("t1", "+4930124")}) == 3
    assert "4930123" not in keys.caller_call("t1", one, "c1")


async def test_history_between_is_calls_that_arrived_in_the_half_open_window(store):
    tenant = await new_tenant(store)
    arrivals = {seconds: call_id_at(seconds, f"c{seconds}") for seconds in (1, 2, 3)}
    for seconds, call_id in arrivals.items():
        await enqueue(store, tenant, call_id, now=at(seconds))
        await store.cancel(tenant, call_id, reason="hung up", now=at(seconds + 10))

    def ids(calls):
        return [c.id for c in calls]

    assert ids(await store.history_between(tenant, at(1), at(3))) == [arrivals[1], arrivals[2]]
    assert ids(await store.history_between(tenant, at(2), at(3))) == [arrivals[2]]
    assert ids(await store.history_between(tenant, at(1.5), at(3.5))) == [arrivals[2], arrivals[3]]
    assert ids(await store.history_between(tenant, at(3), at(3))) == []
    assert ids(await store.history_since(tenant, at(2))) == [arrivals[2], arrivals[3]]
