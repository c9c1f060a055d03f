"""Max-length admission: the rule Enqueue applies and the what-if simulates."""

from __future__ import annotations

import pytest
from ccp_acd.domain.admission import admit
from ccp_acd.domain.models import Action, ActionKind, Call, Channel, QueueConfig

QUEUES = {"q": QueueConfig("q"), "other": QueueConfig("other")}


@pytest.mark.parametrize(
    ("action", "queue", "channel", "outcome"),
    [
        (Action(ActionKind.QUEUE, "other"), "other", Channel.VOICE, "queued"),
        (Action(ActionKind.QUEUE, "q"), "q", Channel.VOICE, "refused"),  # overflow into itself
        (Action(ActionKind.QUEUE, "gone"), "q", Channel.VOICE, "refused"),  # no such queue
        (Action(ActionKind.CALLBACK), "q", Channel.CALLBACK, "queued"),
        (Action(ActionKind.VOICEMAIL), "q", Channel.VOICE, "voicemail"),
        (Action(), "q", Channel.VOICE, "refused"),
    ],
)
def test_a_full_queue_applies_its_max_length_action(action, queue, channel, outcome):
    config = QueueConfig("q", max_length=1, on_max_length=action)
    call, got = admit(Call("c", "q"), config, QUEUES, waiting=1)
    assert (call.queue, call.channel, got) == (queue, channel, outcome)
    if queue != "q":
        assert call.route_history == ("q",) and "max-length 1 in q" in call.reason


def test_below_max_length_or_without_one_the_call_is_queued_unchanged():
    call = Call("c", "q")
    assert admit(call, QueueConfig("q", max_length=2, on_max_length=Action(ActionKind.VOICEMAIL)), QUEUES, waiting=1) == (
        call, "queued")
    assert admit(call, QueueConfig("q"), QUEUES, waiting=10_000) == (call, "queued")
