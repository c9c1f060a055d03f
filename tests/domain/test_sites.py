"""Sites: who adopts a lost site's calls, and N-way cross-site overflow (pure, no I/O).

Expected waits are worked out by hand with ``predictions.expected_wait_s``:
for a new caller of queue q at a site, position = (q's calls waiting there) + 1,
staffed = logged-in eligible agents there, available = those ready and holding
no work, aht = queue.expected_handle_s (180 s unless set), and

    wait = 0                                       if position <= available
         = (position - available) * aht / staffed  otherwise.
"""

from __future__ import annotations

import pytest
from ccp_acd.domain.models import (
    Agent,
    Call,
    CallState,
    ExpireOfferDecision,
    LiveView,
    OfferDecision,
    Presence,
    QueueConfig,
    Reservation,
    SiteMoveDecision,
    SkillRequirement,
)
from ccp_acd.domain.routing import plan
from ccp_acd.domain.sites import SiteContext, SiteState, SiteStatus, adopter, site_moves

NOW = 10_000.0


def agent(agent_id: str, site: str, **kw) -> Agent:
    kw.setdefault("presence", Presence.AVAILABLE)
    kw.setdefault("idle_since", NOW - 100)
    return Agent(id=agent_id, site=site, **kw)


def call(call_id: str, site: str, queue: str = "q", **kw) -> Call:
    kw.setdefault("enqueued_at", NOW - 1)
    kw.setdefault("queued_since", kw["enqueued_at"])
    return Call(id=call_id, queue=queue, site=site, **kw)


def busy(agent_id: str, site: str, queue: str = "q") -> list:
    """An agent of ``site`` on a connected call: staffed, not available."""
    return [
        agent(agent_id, site),
        call(f"talk-{agent_id}", site, queue, state=CallState.CONNECTED, agent_id=agent_id,
             enqueued_at=NOW - 300, answered_at=NOW - 290),
    ]


def view(*items, reservations=()) -> LiveView:
    agents = [i for i in items if isinstance(i, Agent)]
    calls = [i for i in items if isinstance(i, Call)]
    return LiveView(
        agents={a.id: a for a in agents},
        calls={c.id: c for c in calls},
        reservations={r.call_id: r for r in reservations},
    )


def context(site: str = "a", live=("a", "b", "c"), adopting=()) -> SiteContext:
    return SiteContext(site=site, live=frozenset(live), adopting=frozenset(adopting))


def moves(decisions) -> list[tuple[str, str]]:
    return [(d.call_id, d.to_site) for d in decisions if isinstance(d, SiteMoveDecision)]


# --- site state and adopter ------------------------------------------------------------


def test_a_site_without_a_state_record_is_up_and_a_down_one_is_not():
    assert SiteState().up
    assert not SiteState(status=SiteStatus.DOWN, since=NOW, reason="fire", by="sre").up


def test_adopter_is_the_first_live_site_of_the_order():
    assert adopter("b", ["b", "c", "a"], {"a", "c"}) == "c"
    assert adopter("a", ["a", "c", "b"], {"b", "c"}) == "c"  # the order wins over the sorted fallback


def test_adopter_skips_the_lost_site_even_if_listed_as_live():
    assert adopter("a", ["a", "b", "c"], {"a", "b", "c"}) == "b"


def test_adopter_skips_sites_of_the_order_that_are_not_live():
    assert adopter("a", ["a", "b", "c"], {"c"}) == "c"


def test_adopter_falls_back_to_any_live_site_sorted():
    assert adopter("a", ["a", "b"], {"z", "d", "m"}) == "d"
    assert adopter("a", ["a", "b"], {"a", "z", "d"}) == "d"


def test_adopter_is_none_when_nothing_else_is_live():
    assert adopter("a", ["a", "b"], set()) is None
    assert adopter("a", ["a", "b"], {"a"}) is None


# --- adoption of a down site's waiting calls ------------------------------------------------


def adoption_view() -> LiveView:
    pending = Reservation("b-offered", "b9", "node-b", offered_at=NOW - 3, expires_at=NOW + 12)
    return view(
        call("b-new", "b", enqueued_at=NOW - 5),
        call("b-old", "b", enqueued_at=NOW - 40),
        call("b-mid", "b", enqueued_at=NOW - 20),
        call("b-offered", "b", enqueued_at=NOW - 60),            # pending reservation
        call("b-other", "b", "other", enqueued_at=NOW - 50),     # queue not owned here
        call("b-talking", "b", state=CallState.CONNECTED, agent_id="b9", enqueued_at=NOW - 90),
        call("c-wait", "c", enqueued_at=NOW - 70),               # site c is up
        call("a-wait", "a", enqueued_at=NOW - 80),               # already here
        reservations=[pending],
    )


QUEUES_PLAIN = {"q": QueueConfig("q"), "other": QueueConfig("other")}


def test_a_down_sites_waiting_calls_of_owned_queues_move_here_in_waiting_order():
    decisions = site_moves(
        adoption_view(), QUEUES_PLAIN, owned={"q"}, context=context(live=("a", "c"), adopting=("b",)), now=NOW
    )
    # Oldest first (equal priorities): b-old (40 s), b-mid (20 s), b-new (5 s).
    assert moves(decisions) == [("b-old", "a"), ("b-mid", "a"), ("b-new", "a")]
    assert all(isinstance(d, SiteMoveDecision) for d in decisions)
    for d in decisions:
        assert "site b" in d.reason and "down" in d.reason and d.reason.endswith("a")


def test_adoption_skips_offered_calls_unowned_queues_and_up_sites():
    decisions = site_moves(
        adoption_view(), QUEUES_PLAIN, owned={"q"}, context=context(live=("a", "c"), adopting=("b",)), now=NOW
    )
    moved = {d.call_id for d in decisions}
    assert moved.isdisjoint({"b-offered", "b-other", "b-talking", "c-wait", "a-wait"})


def test_adoption_of_an_unowned_queue_belongs_to_its_owner():
    decisions = site_moves(
        adoption_view(), QUEUES_PLAIN, owned={"other"}, context=context(live=("a", "c"), adopting=("b",)), now=NOW
    )
    assert moves(decisions) == [("b-other", "a")]


def test_nothing_is_adopted_when_this_site_adopts_no_one():
    decisions = site_moves(adoption_view(), QUEUES_PLAIN, owned={"q", "other"}, context=context(), now=NOW)
    assert decisions == []


def test_adopted_calls_keep_aged_priority_order_across_several_down_sites():
    v = view(
        call("b-vip", "b", priority=2, enqueued_at=NOW - 1),     # 2 + 1/60   = 2.017
        call("d-old", "d", enqueued_at=NOW - 40),                # 0 + 40/60  = 0.667
        call("d-older", "d", enqueued_at=NOW - 130),             # 0 + 130/60 = 2.167
    )
    decisions = site_moves(
        v, {"q": QueueConfig("q")}, owned={"q"}, context=context(site="c", live=("c",), adopting=("b", "d")), now=NOW
    )
    assert moves(decisions) == [("d-older", "c"), ("b-vip", "c"), ("d-old", "c")]
    assert [d.reason for d in decisions] == [
        "site d is down: adopted by c", "site b is down: adopted by c", "site d is down: adopted by c",
    ]


# --- N-way overflow ---------------------------------------------------------------------


QUEUE = QueueConfig("q", site_overflow_margin_s=30.0)   # aht 180 s


def a_waiting(queue: str = "q", prefix: str = "a") -> list[Call]:
    """Six calls waiting at a; the oldest (the head) is <prefix>-w3, not the first listed nor the lowest id."""
    ages = {"w0": 10, "w1": 25, "w2": 5, "w3": 60, "w4": 40, "w5": 15}
    return [call(f"{prefix}-{cid}", "a", queue, enqueued_at=NOW - age) for cid, age in ages.items()]


def three_sites(*extra, c_agents=("c1", "c2")) -> LiveView:
    """a: 6 waiting, 2 agents busy; b: 2 waiting, 2 agents busy; c: nobody waiting, agents idle.

    a: position 7, available 0, staffed 2 -> (7-0)*180/2 = 630 s
    b: position 3, available 0, staffed 2 -> (3-0)*180/2 = 270 s
    c: position 1, available 2, staffed 2 -> 1 <= 2      =   0 s
    """
    return view(
        *a_waiting(),
        *busy("a1", "a"), *busy("a2", "a"),
        call("b-w0", "b", enqueued_at=NOW - 90), call("b-w1", "b", enqueued_at=NOW - 80),
        *busy("b1", "b"), *busy("b2", "b"),
        *(agent(cid, "c") for cid in c_agents),
        *extra,
    )


def test_the_head_call_moves_to_the_best_of_all_live_sites_not_the_first_neighbour():
    decisions = site_moves(three_sites(), {"q": QUEUE}, owned={"q"}, context=context(), now=NOW)
    # a 630 s, b 270 s, c 0 s: c is best and 630 - 0 > 30. (b, the first neighbour, is also better.)
    assert moves(decisions) == [("a-w3", "c")]
    assert decisions[0].reason == "overflow: expected wait 630.0s at a, 0.0s at c"


def test_the_best_site_can_be_the_first_neighbour_too():
    # c: 3 waiting, 1 agent idle -> position 4, available 1, staffed 1 -> (4-1)*180/1 = 540 s
    # b: 270 s (as above) is now the best; a: 630 s; 630 - 270 = 360 > 30.
    crowded_c = [call(f"c-w{i}", "c", enqueued_at=NOW - 100 - i) for i in range(3)]
    decisions = site_moves(three_sites(*crowded_c, c_agents=("c1",)), {"q": QUEUE}, owned={"q"},
                           context=context(), now=NOW)
    assert moves(decisions) == [("a-w3", "b")]
    assert decisions[0].reason == "overflow: expected wait 630.0s at a, 270.0s at b"


def test_only_one_call_per_queue_moves_per_plan_and_it_is_the_oldest():
    decisions = site_moves(three_sites(), {"q": QUEUE}, owned={"q"}, context=context(), now=NOW)
    assert len(decisions) == 1 and decisions[0].call_id == "a-w3"


def test_equal_expected_waits_go_to_the_lowest_site_name():
    # b and d both: 1 idle agent, nobody waiting -> 0 s. a: 630 s.
    v = view(*a_waiting(), *busy("a1", "a"), *busy("a2", "a"), agent("d1", "d"), agent("b1", "b"))
    decisions = site_moves(v, {"q": QUEUE}, owned={"q"}, context=context(live=("a", "b", "d")), now=NOW)
    assert moves(decisions) == [("a-w3", "b")]


def test_agents_without_the_queues_skills_do_not_make_a_site_attractive():
    queue = QueueConfig("q", skills=(SkillRequirement("fr", 2),), site_overflow_margin_s=30.0)
    fr = {"fr": 3}
    v = view(
        *a_waiting(),
        *(x if isinstance(x, Call) else agent(x.id, "a", skills=fr) for x in busy("a1", "a") + busy("a2", "a")),
        call("b-w0", "b", enqueued_at=NOW - 90),
        *(x if isinstance(x, Call) else agent(x.id, "b", skills=fr) for x in busy("b1", "b")),
        agent("c1", "c", skills={"fr": 1}), agent("c2", "c"),
    )
    # a: 7*180/2 = 630 s. b: position 2, available 0, staffed 1 -> 360 s.
    # c: no agent with fr >= 2 -> unstaffed (24 h). Best is b: 630 - 360 = 270 > 30.
    decisions = site_moves(v, {"q": queue}, owned={"q"}, context=context(), now=NOW)
    assert decisions == [SiteMoveDecision("a-w3", "b", "overflow: expected wait 630.0s at a, 360.0s at b")]


def two_sites(margin: float) -> tuple[LiveView, dict[str, QueueConfig]]:
    """a: 1 waiting, 1 agent busy -> position 2, available 0, staffed 1 -> 2*180/1 = 360 s.
    b: nobody waiting, 1 agent busy -> position 1, available 0, staffed 1 -> 1*180/1 = 180 s.
    Difference: exactly 180 s.
    """
    v = view(call("a-head", "a", enqueued_at=NOW - 30), *busy("a1", "a"), *busy("b1", "b"))
    return v, {"q": QueueConfig("q", site_overflow_margin_s=margin)}


@pytest.mark.parametrize("margin", [180.0, 180.5, 600.0])
def test_no_move_when_the_best_site_is_better_by_the_margin_or_less(margin):
    v, queues = two_sites(margin)
    assert site_moves(v, queues, owned={"q"}, context=context(live=("a", "b")), now=NOW) == []


@pytest.mark.parametrize("margin", [0.0, 179.5])
def test_a_move_when_the_best_site_is_better_by_more_than_the_margin(margin):
    v, queues = two_sites(margin)
    decisions = site_moves(v, queues, owned={"q"}, context=context(live=("a", "b")), now=NOW)
    assert decisions == [SiteMoveDecision("a-head", "b", "overflow: expected wait 360.0s at a, 180.0s at b")]


def test_no_overflow_when_every_site_expects_the_same_wait_even_with_a_zero_margin():
    # a: 1 waiting, 2 idle agents -> position 2 <= available 2 -> 0 s. b: 1 idle agent -> 0 s. 0 - 0 <= 0.
    v = view(call("a-head", "a"), agent("a1", "a"), agent("a2", "a"), agent("b1", "b"))
    queues = {"q": QueueConfig("q", site_overflow_margin_s=0.0)}
    assert site_moves(v, queues, owned={"q"}, context=context(live=("a", "b")), now=NOW) == []


def test_a_call_is_not_sent_back_to_a_site_it_has_been_at():
    # The head visited c (0 s): the next best, b (270 s), still wins by 630 - 270 = 360 > 30.
    v = three_sites(call("a-back", "a", enqueued_at=NOW - 500, visited_sites=("c",)))
    # a now has 7 waiting: position 8 -> 8*180/2 = 720 s.
    decisions = site_moves(v, {"q": QUEUE}, owned={"q"}, context=context(), now=NOW)
    assert decisions == [SiteMoveDecision("a-back", "b", "overflow: expected wait 720.0s at a, 270.0s at b")]


def test_a_call_that_has_been_at_the_best_site_stays_when_the_next_best_is_not_good_enough():
    # a: 720 s, b: 270 s -> 450 s better, within a margin of 500; c (0 s) was visited.
    queue = QueueConfig("q", site_overflow_margin_s=500.0)
    v = three_sites(call("a-back", "a", enqueued_at=NOW - 500, visited_sites=("c",)))
    assert site_moves(v, {"q": queue}, owned={"q"}, context=context(), now=NOW) == []


def test_a_call_that_has_been_at_every_other_site_stays():
    v = three_sites(call("a-back", "a", enqueued_at=NOW - 500, visited_sites=("b", "c")))
    assert site_moves(v, {"q": QUEUE}, owned={"q"}, context=context(), now=NOW) == []


def test_a_queue_without_a_margin_never_overflows_to_another_site():
    decisions = site_moves(three_sites(), {"q": QueueConfig("q")}, owned={"q"}, context=context(), now=NOW)
    assert decisions == []


def test_an_offered_head_call_is_not_moved():
    pending = Reservation("a-w3", "a1", "node-a", offered_at=NOW - 2, expires_at=NOW + 13)
    v = three_sites()
    v = LiveView(agents=v.agents, calls=v.calls, reservations={"a-w3": pending})
    decisions = site_moves(v, {"q": QUEUE}, owned={"q"}, context=context(), now=NOW)
    assert "a-w3" not in {d.call_id for d in decisions}


def test_only_owned_queues_overflow():
    # Queue r: 6 waiting at a (a: 7*180/2 = 630 s), none at b (1*180/2 = 90 s) or c (0 s): head r-w3 -> c.
    # Queue q: as in three_sites (630 / 270 / 0): head a-w3 -> c.
    queues = {"q": QUEUE, "r": QueueConfig("r", site_overflow_margin_s=30.0)}
    v = three_sites(*a_waiting("r", prefix="r"))
    assert moves(site_moves(v, queues, owned={"r"}, context=context(), now=NOW)) == [("r-w3", "c")]
    assert moves(site_moves(v, queues, owned={"q"}, context=context(), now=NOW)) == [("a-w3", "c")]
    assert moves(site_moves(v, queues, owned={"q", "r"}, context=context(), now=NOW)) == [
        ("a-w3", "c"), ("r-w3", "c"),
    ]
    assert site_moves(v, queues, owned=set(), context=context(), now=NOW) == []


def test_sites_that_are_not_live_are_never_targets():
    # c (0 s, idle agents still in the view) is down: the best live site is b (270 s).
    decisions = site_moves(three_sites(), {"q": QUEUE}, owned={"q"}, context=context(live=("a", "b")), now=NOW)
    assert moves(decisions) == [("a-w3", "b")]
    # Nothing else is live: nowhere to go.
    assert site_moves(three_sites(), {"q": QUEUE}, owned={"q"}, context=context(live=("a",)), now=NOW) == []


def test_a_down_site_being_adopted_is_not_an_overflow_target():
    decisions = site_moves(
        three_sites(), {"q": QUEUE}, owned={"q"}, context=context(live=("a", "b"), adopting=("c",)), now=NOW
    )
    assert moves(decisions) == [("a-w3", "b")]


# --- plan() integration ----------------------------------------------------------------


def test_a_head_call_offered_at_home_is_not_also_moved():
    # a: 3 waiting, 1 agent idle -> position 4, available 1, staffed 1 -> (4-1)*180/1 = 540 s; b: 0 s.
    v = view(
        call("h", "a", enqueued_at=NOW - 50), call("h2", "a", enqueued_at=NOW - 20), call("h3", "a", enqueued_at=NOW - 5),
        agent("a1", "a"), agent("b1", "b"), agent("b2", "b"),
    )
    ctx = context(live=("a", "b"))
    # On its own, overflow would move the head to b (540 - 0 > 30) ...
    assert moves(site_moves(v, {"q": QUEUE}, owned={"q"}, context=ctx, now=NOW)) == [("h", "b")]
    # ... but the planner offers it at home first, and drops the move for the same call.
    decisions = plan(v, {"q": QUEUE}, site="a", now=NOW, owned={"q"}, sites=ctx)
    assert OfferDecision("h", "a1", NOW + 15.0) in decisions
    assert "h" not in {d.call_id for d in decisions if isinstance(d, SiteMoveDecision)}


def test_plan_without_site_context_never_moves_calls():
    decisions = plan(three_sites(), {"q": QUEUE}, site="a", now=NOW, owned={"q"})
    assert moves(decisions) == []


def test_plan_overflows_when_nobody_is_free_at_home():
    decisions = plan(three_sites(), {"q": QUEUE}, site="a", now=NOW, owned={"q"}, sites=context())
    assert decisions == [SiteMoveDecision("a-w3", "c", "overflow: expected wait 630.0s at a, 0.0s at c")]


def owned_view() -> LiveView:
    expired_q = Reservation("qx", "a3", "node-a", offered_at=NOW - 16, expires_at=NOW - 1)
    expired_r = Reservation("rx", "a4", "node-a", offered_at=NOW - 17, expires_at=NOW - 2)
    return view(
        agent("a1", "a", idle_since=NOW - 100), agent("a2", "a", idle_since=NOW - 50),
        agent("a3", "a", presence=Presence.BREAK), agent("a4", "a", presence=Presence.BREAK),
        call("q1", "a", "q", enqueued_at=NOW - 10), call("r1", "a", "r", enqueued_at=NOW - 20),
        call("qx", "a", "q", enqueued_at=NOW - 30), call("rx", "a", "r", enqueued_at=NOW - 30),
        call("bq", "b", "q", enqueued_at=NOW - 30), call("br", "b", "r", enqueued_at=NOW - 40),
        reservations=[expired_q, expired_r],
    )


def test_plan_with_owned_queues_leaves_other_queues_calls_and_offers_alone():
    queues = {"q": QueueConfig("q"), "r": QueueConfig("r")}
    ctx = context(live=("a",), adopting=("b",))
    decisions = plan(owned_view(), queues, site="a", now=NOW, owned={"q"}, sites=ctx)
    assert decisions == [
        ExpireOfferDecision("qx", "a3"),
        OfferDecision("q1", "a1", NOW + 15.0),   # a1 idle longest; r1 (older) is not ours
        SiteMoveDecision("bq", "a", "site b is down: adopted by a"),
    ]


def test_plan_owning_everything_handles_every_queue():
    queues = {"q": QueueConfig("q"), "r": QueueConfig("r")}
    ctx = context(live=("a",), adopting=("b",))
    decisions = plan(owned_view(), queues, site="a", now=NOW, sites=ctx)
    assert decisions == [
        ExpireOfferDecision("rx", "a4"),          # expires first (NOW - 2)
        ExpireOfferDecision("qx", "a3"),
        OfferDecision("r1", "a1", NOW + 15.0),    # r1 waited 20 s, q1 10 s
        OfferDecision("q1", "a2", NOW + 15.0),
        SiteMoveDecision("br", "a", "site b is down: adopted by a"),
        SiteMoveDecision("bq", "a", "site b is down: adopted by a"),
    ]
