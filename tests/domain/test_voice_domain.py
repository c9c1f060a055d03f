"""Voice in the routing domain: voicemail items' capacity and policy, and the call record's timeline."""

from __future__ import annotations

from ccp_acd.domain import timeline
from ccp_acd.domain.models import Action, ActionKind, Call, CallState, Channel, QueueConfig
from ccp_acd.domain.routing import plan

from tests.domain.test_routing import NOW, agent, call, offers, view


def test_a_voicemail_is_offered_to_an_agent_whose_capacity_does_not_name_it_but_not_beside_a_call():
    plain = agent("a1")  # capacity {voice: 1}: voicemail defaults to one
    result = offers(plan(view([plain], [call("vm", channel=Channel.VOICEMAIL)]), {"q": QueueConfig("q")}, site="a",
                         now=NOW))
    assert result == {"vm": "a1"}
    on_phone = call("c0", agent_id="a1", state=CallState.CONNECTED)
    assert offers(plan(view([plain], [on_phone, call("vm", channel=Channel.VOICEMAIL)]), {"q": QueueConfig("q")},
                       site="a", now=NOW)) == {}


def test_an_agent_with_voicemail_capacity_zero_gets_no_voicemail():
    refuser = agent("a1", capacity={Channel.VOICE: 1, Channel.VOICEMAIL: 0})
    assert offers(plan(view([refuser], [call("vm", channel=Channel.VOICEMAIL)]), {"q": QueueConfig("q")}, site="a",
                       now=NOW)) == {}


def test_queue_policy_never_turns_a_voicemail_item_into_another_voicemail_or_a_callback():
    for kind in (ActionKind.VOICEMAIL, ActionKind.CALLBACK):
        queue = QueueConfig("q", on_no_agents=Action(kind))
        assert plan(view([], [call("vm", channel=Channel.VOICEMAIL)]), {"q": queue}, site="a", now=NOW) == []
        assert plan(view([], [call("voice")]), {"q": queue}, site="a", now=NOW) != []


def test_the_timeline_is_bounded_keeping_the_arrival_and_the_latest_events():
    record = timeline.arrival(Call(id="c", queue="q", enqueued_at=NOW), arrived_at=NOW - 5, ivr=[("main", "1", NOW - 2)])
    assert [e.kind for e in record.timeline] == ["arrived", "ivr", "queued"]
    for i in range(150):
        record = timeline.note(record, timeline.Kind.OFFERED, NOW + i, agent_id=f"a{i}")
    assert len(record.timeline) == timeline.MAX_EVENTS
    assert record.timeline[0].kind == "arrived"
    assert record.timeline[-1].agent_id == "a149"
    assert record.timeline[1].agent_id == f"a{150 - timeline.MAX_EVENTS + 1}"
