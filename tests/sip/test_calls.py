"""The call state machine: every decision of a call's life, without sockets."""

from __future__ import annotations

from dataclasses import replace

import pytest
from ccp_acd.sip import calls
from ccp_acd.sip.calls import (
    ANSWER,
    BRIDGE,
    BYE_AGENT,
    BYE_CALLER,
    DIAL_CALLER,
    HOLD,
    LEAVE_VOICEMAIL,
    RECORD,
    RUN_IVR,
    CallState,
    Phase,
    cancel,
    dial_agent,
    enqueue,
    hangup,
    notice,
    requeue,
    step,
)

CONNECTED = calls.Update("INTERACTION_STATE_CONNECTED", agent_sip_uri="sip:alice@127.0.0.1:5090",
                         connection="alice@1000")


def run(*events: calls.Event, state: CallState | None = None) -> tuple[CallState, list]:
    state = state or CallState()
    actions: list = []
    for event in events:
        state, done = step(state, event)
        actions.extend(done)
    return state, actions


def queued() -> CallState:
    state, _ = run(calls.Answered(), calls.IvrDone("support"), calls.Enqueued("i-1"))
    return state


def test_answered_call_runs_the_ivr_then_is_queued_with_hold_music():
    state, actions = run(calls.Answered(), calls.IvrDone("support"), calls.Enqueued("i-1"))
    assert actions == [ANSWER, RUN_IVR, enqueue("support"), HOLD]
    assert state.phase is Phase.QUEUED and state.interaction_id == "i-1" and state.queue == "support"


def test_cancel_before_the_answer_creates_nothing():
    state, actions = run(calls.Cancelled())
    assert state.ended and actions == []


def test_caller_hanging_up_while_enqueue_is_in_flight_is_cancelled_once_it_returns():
    state, actions = run(calls.Answered(), calls.IvrDone("support"), calls.CallerHungUp())
    assert state.phase is Phase.QUEUING and actions[-1] == enqueue("support")
    state, actions = step(state, calls.Enqueued("i-1"))
    assert state.ended and actions == (cancel("caller hung up"),)


def test_enqueue_refused_plays_busy_and_hangs_up_never_silence():
    state, actions = run(calls.Answered(), calls.IvrDone("support"), calls.EnqueueRefused("RESOURCE_EXHAUSTED"))
    assert state.ended and actions[-2:] == [notice("busy"), BYE_CALLER]


def test_caller_hanging_up_while_queued_cancels_the_interaction_as_abandoned():
    state, actions = step(queued(), calls.CallerHungUp())
    assert state.ended and actions == (cancel("caller hung up"),)


def test_connected_dials_the_agent_then_bridges():
    state, actions = run(CONNECTED, calls.AgentAnswered(), state=queued())
    assert actions == [dial_agent("sip:alice@127.0.0.1:5090"), BRIDGE] and state.phase is Phase.BRIDGED


@pytest.mark.parametrize(("event", "expected"), [
    (calls.CallerHungUp(), (BYE_AGENT, hangup("CALLER"))),
    (calls.AgentHungUp(), (BYE_CALLER, hangup("AGENT"))),
])
def test_either_side_hanging_up_releases_the_other_and_tells_the_node_who(event, expected):
    bridged, _ = run(CONNECTED, calls.AgentAnswered(), state=queued())
    state, actions = step(bridged, event)
    assert state.ended and actions == expected


def test_failed_agent_leg_requeues_the_same_interaction_and_the_caller_stays_on_hold():
    state, actions = run(CONNECTED, calls.AgentFailed("agent-leg-486"), state=queued())
    assert actions[-1:] == [requeue("agent-leg-486")]  # no Hangup: the agent never talked; no new Enqueue
    assert (state.phase, state.interaction_id, state.agent_attempts) == (Phase.QUEUED, "i-1", 1)


def test_the_next_acceptance_after_a_requeue_dials_the_next_agent_and_bridges():
    requeued, _ = run(CONNECTED, calls.AgentFailed("agent-no-answer"), calls.Update("INTERACTION_STATE_QUEUED"),
                      state=queued())
    bob = calls.Update("INTERACTION_STATE_CONNECTED", agent_sip_uri="sip:bob@127.0.0.1:5091", connection="bob@2000")
    state, actions = run(bob, calls.AgentAnswered(), state=requeued)
    assert actions == [dial_agent("sip:bob@127.0.0.1:5091"), BRIDGE] and state.phase is Phase.BRIDGED
    assert state.agent_attempts == 2


def test_a_late_report_of_the_requeued_acceptance_does_not_dial_that_agent_again():
    requeued, _ = run(CONNECTED, calls.AgentFailed("agent-leg-486"), state=queued())
    assert step(requeued, CONNECTED) == (requeued, ())
    again = replace(CONNECTED, connection="alice@3000")  # alice accepting it again later is a new acceptance
    assert step(requeued, again)[1] == (dial_agent(CONNECTED.agent_sip_uri),)


def test_a_requeue_the_node_refuses_ends_the_talk_and_releases_the_caller_with_sorry():
    requeued, _ = run(CONNECTED, calls.AgentFailed("agent-leg-486"), state=queued())
    state, actions = step(requeued, calls.RequeueRefused("UNAVAILABLE"))
    assert state.ended and actions == (hangup("AGENT"), notice("sorry"), BYE_CALLER)


def test_a_requeue_reason_that_is_not_a_reason_code_is_sent_as_agent_leg_failed():
    assert requeue("agent leg failed: 486") == requeue("agent-leg-failed")


def test_connected_without_an_agent_endpoint_counts_as_a_failed_agent_leg():
    state, actions = step(queued(), calls.Update("INTERACTION_STATE_CONNECTED"))
    assert state.phase is Phase.QUEUED and actions == (requeue("agent-no-phone"),)


def test_after_the_last_agent_attempt_the_caller_hears_sorry_and_is_released():
    state = replace(queued(), agent_attempts=calls.MAX_AGENT_ATTEMPTS - 1)
    state, actions = run(CONNECTED, calls.AgentFailed("no answer"), state=state)
    assert state.ended and actions[-3:] == [hangup("AGENT"), notice("sorry"), BYE_CALLER]


def test_queue_policy_voicemail_plays_the_prompt_records_and_leaves_it():
    state, actions = run(calls.Update("INTERACTION_STATE_VOICEMAIL"), calls.RecordingDone(), state=queued())
    assert actions == [notice("voicemail"), RECORD, LEAVE_VOICEMAIL, BYE_CALLER] and state.ended


def test_caller_hanging_up_during_voicemail_still_leaves_it():
    state, actions = run(calls.Update("INTERACTION_STATE_VOICEMAIL"), calls.CallerHungUp(), state=queued())
    assert actions[-1] == LEAVE_VOICEMAIL and state.ended


def test_callback_tells_the_caller_then_dials_agent_first_and_then_the_caller():
    state, actions = run(calls.Update("INTERACTION_STATE_QUEUED", channel="CHANNEL_CALLBACK"), state=queued())
    assert actions == [notice("callback"), BYE_CALLER] and state.phase is Phase.AWAITING_CALLBACK
    state, actions = run(CONNECTED, calls.AgentAnswered(), calls.CallerAnswered(), state=state)
    assert actions == [dial_agent(CONNECTED.agent_sip_uri), DIAL_CALLER, BRIDGE] and state.phase is Phase.BRIDGED


def test_callback_caller_not_answering_hangs_up_as_the_caller():
    waiting, _ = run(calls.Update("INTERACTION_STATE_QUEUED", channel="CHANNEL_CALLBACK"), state=queued())
    state, actions = run(CONNECTED, calls.AgentAnswered(), calls.CallerUnreachable("486"), state=waiting)
    assert state.ended and actions[-2:] == [BYE_AGENT, hangup("CALLER")]


def test_interaction_ended_elsewhere_releases_the_caller_with_a_notice():
    state, actions = step(queued(), calls.Update("INTERACTION_STATE_ABANDONED"))
    assert state.ended and actions == (notice("sorry"), BYE_CALLER)


@pytest.mark.parametrize(("events", "expected"), [
    ((), [notice("sorry"), BYE_CALLER, cancel("adapter error")]),
    ((CONNECTED,), [BYE_AGENT, notice("sorry"), BYE_CALLER, hangup("CALLER")]),
    ((CONNECTED, calls.AgentAnswered()), [BYE_AGENT, BYE_CALLER, hangup("CALLER")]),
])
def test_a_failure_releases_every_leg_and_the_interaction(events, expected):
    state, _ = run(*events, state=queued())
    state, actions = step(state, calls.Failed("boom"))
    assert state.ended and list(actions) == expected


def test_shutdown_while_queued_tells_the_caller_and_cancels():
    state, actions = step(queued(), calls.ShuttingDown())
    assert state.ended and actions[-1] == cancel("adapter shutdown")


def test_position_updates_while_queued_change_nothing():
    state = queued()
    assert step(state, calls.Update("INTERACTION_STATE_QUEUED", position=3)) == (state, ())


def test_an_ended_call_ignores_everything():
    state, _ = step(queued(), calls.CallerHungUp())
    assert step(state, CONNECTED) == (state, ())


def test_ivr_voicemail_option_records_once_queued():
    state, actions = run(calls.Answered(), calls.IvrDone("support", wants="voicemail"), calls.Enqueued("i-1"))
    assert actions[-2:] == [notice("voicemail"), RECORD] and state.phase is Phase.VOICEMAIL


def test_ivr_callback_option_asks_the_node_then_releases_the_caller_when_it_is_a_callback():
    state, actions = run(calls.Answered(), calls.IvrDone("support", wants="callback"), calls.Enqueued("i-1"))
    assert actions[-2:] == [HOLD, calls.REQUEST_CALLBACK] and state.phase is Phase.QUEUED
    state, actions = step(state, calls.Update("INTERACTION_STATE_QUEUED", channel="CHANNEL_CALLBACK"))
    assert actions == (notice("callback"), BYE_CALLER) and state.phase is Phase.AWAITING_CALLBACK


def test_an_update_of_another_interaction_is_ignored():
    state = queued()
    stale = calls.Update("INTERACTION_STATE_COMPLETED", interaction_id="i-0")
    assert step(state, stale) == (state, ())
    assert step(state, calls.Update("INTERACTION_STATE_COMPLETED", interaction_id="i-1"))[0].ended
