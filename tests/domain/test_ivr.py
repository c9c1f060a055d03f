"""The IVR resolver: from the entry menu, digits lead to menus, queues, voicemail or callbacks; no input and
wrong digits replay the menu up to its retries, then the menu's onTimeout or the trunk's default queue."""

from __future__ import annotations

import pytest
from ccp_acd.domain.ivr import (
    IvrConfig,
    IvrError,
    IvrMenu,
    IvrOption,
    IvrTarget,
    Reason,
    Step,
    StepKind,
    TargetKind,
    digits_complete,
    first_step,
    next_step,
)

MAIN = IvrMenu(
    name="main",
    prompt="file:main-menu",
    retries=2,
    max_digits=2,
    options=(
        IvrOption("1", IvrTarget(TargetKind.QUEUE, "sales")),
        IvrOption("2", IvrTarget(TargetKind.MENU, "support")),
        IvrOption("3", IvrTarget(TargetKind.VOICEMAIL, "general")),
        IvrOption("4", IvrTarget(TargetKind.CALLBACK)),
        IvrOption("*", IvrTarget(TargetKind.MENU, "main")),
        IvrOption("30", IvrTarget(TargetKind.QUEUE, "vip")),
    ),
    on_timeout=IvrTarget(TargetKind.QUEUE, "general"),
)
SUPPORT = IvrMenu(
    name="support",
    prompt="tone:440:200",
    retries=0,
    options=(IvrOption("1", IvrTarget(TargetKind.QUEUE, "support")), IvrOption("9", IvrTarget(TargetKind.MENU, "main"))),
)
IVR = IvrConfig(entry="main", menus=(MAIN, SUPPORT))


def walk(*answers: str, default_queue: str = "general") -> list[Step]:
    steps = [first_step(IVR, default_queue=default_queue)]
    for digits in answers:
        steps.append(next_step(IVR, at=steps[-1], digits=digits, default_queue=default_queue))
    return steps


def test_a_call_starts_at_the_entry_menu_or_without_an_ivr_in_the_default_queue():
    assert first_step(IVR, default_queue="general") == Step(StepKind.MENU, Reason.ENTRY, menu="main")
    assert first_step(None, default_queue="general") == Step(StepKind.QUEUE, Reason.ENTRY, queue="general")


@pytest.mark.parametrize(
    ("answers", "last"),
    [
        (["1"], Step(StepKind.QUEUE, Reason.CHOSEN, queue="sales")),
        (["30"], Step(StepKind.QUEUE, Reason.CHOSEN, queue="vip")),
        (["2"], Step(StepKind.MENU, Reason.CHOSEN, menu="support")),
        (["2", "1"], Step(StepKind.QUEUE, Reason.CHOSEN, queue="support")),
        (["2", "9", "1"], Step(StepKind.QUEUE, Reason.CHOSEN, queue="sales")),
        (["3"], Step(StepKind.VOICEMAIL, Reason.CHOSEN, queue="general")),
        (["4"], Step(StepKind.CALLBACK, Reason.CHOSEN, queue="general")),  # no queue named: the default queue
        (["*"], Step(StepKind.MENU, Reason.CHOSEN, menu="main")),
    ],
)
def test_digits_lead_where_the_options_say(answers, last):
    assert walk(*answers)[-1] == last


def test_no_input_replays_the_menu_up_to_its_retries_then_takes_on_timeout():
    steps = walk("", "", "")
    assert [(s.kind, s.reason, s.menu, s.attempt) for s in steps[1:3]] == [
        (StepKind.MENU, Reason.NO_INPUT, "main", 1),
        (StepKind.MENU, Reason.NO_INPUT, "main", 2),
    ]
    assert steps[3] == Step(StepKind.QUEUE, Reason.GAVE_UP, queue="general")


def test_wrong_digits_count_as_tries_and_are_told_apart_from_silence():
    steps = walk("7", "", "99")
    assert [s.reason for s in steps[1:]] == [Reason.INVALID, Reason.NO_INPUT, Reason.GAVE_UP]
    assert steps[-1].queue == "general"


def test_a_right_answer_after_a_wrong_one_still_counts():
    assert walk("7", "1")[-1] == Step(StepKind.QUEUE, Reason.CHOSEN, queue="sales")


def test_a_menu_without_on_timeout_gives_up_into_the_trunks_default_queue():
    # support: no retries, no onTimeout
    assert walk("2", "", default_queue="fallback")[-1] == Step(StepKind.QUEUE, Reason.GAVE_UP, queue="fallback")
    assert walk("2", "5", default_queue="fallback")[-1] == Step(StepKind.QUEUE, Reason.GAVE_UP, queue="fallback")


def test_a_replay_of_a_menu_reached_again_starts_its_tries_afresh():
    steps = walk("", "*")
    assert steps[-1] == Step(StepKind.MENU, Reason.CHOSEN, menu="main", attempt=0)


def test_nowhere_to_go_and_unknown_menus_are_errors_not_lost_calls():
    with pytest.raises(IvrError, match="no default queue"):
        walk("4", default_queue="")
    with pytest.raises(IvrError, match="no menu 'nope'"):
        first_step(IvrConfig(entry="nope", menus=(MAIN,)), default_queue="general")
    with pytest.raises(IvrError, match="takes no digits"):
        next_step(IVR, at=Step(StepKind.QUEUE, Reason.CHOSEN, queue="sales"), digits="1", default_queue="general")


@pytest.mark.parametrize(
    ("digits", "complete"),
    [("", False), ("1", True), ("3", False), ("30", True), ("37", True), ("*", True), ("7", False)],
)
def test_collection_stops_at_an_unambiguous_option_or_max_digits(digits, complete):
    assert digits_complete(MAIN, digits) is complete
