"""The IVR on a call: plays each menu's prompt, collects RFC 2833 digits by the menu's timeout, max digits and
retries, and records the answers; what follows each answer is ``ccp_acd.domain.ivr``'s (pure) decision.

Runs in the call's session thread. Digits pressed during a prompt interrupt it (barge-in) and count.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from pyVoIP.VoIP import CallState, VoIPCall

POLL_S = 0.02


@dataclass(frozen=True)
class Answer:
    menu: str
    digits: str
    at: float


@dataclass(frozen=True)
class Outcome:
    """Where the IVR sends the call: the queue, and "voicemail"/"callback" when an option asked for one."""

    queue: str
    wants: str
    answers: tuple[Answer, ...]


def run(call: VoIPCall, ivr, *, default_queue: str, play: Callable[[str, Callable[[], bool]], None]) -> Outcome | None:
    """The IVR ``ivr`` (an ``IvrConfig``, or None: straight to ``default_queue``) on ``call``; None when the caller
    hung up on the way. ``play(prompt, interrupted)`` plays a prompt until done or ``interrupted()``."""
    from ccp_acd.domain import ivr as decide

    step = decide.first_step(ivr, default_queue=default_queue)
    answers: list[Answer] = []
    while step.kind == decide.StepKind.MENU:
        menu = ivr.menu(step.menu)
        pressed: list[str] = []
        digit_waiting = _barge_in(call, pressed)
        if step.reason == decide.Reason.INVALID:
            play("file:invalid-choice", digit_waiting)
        if not pressed:
            play(menu.prompt, digit_waiting)
        digits = _collect(call, menu, "".join(pressed))
        if digits is None:
            return None
        answers.append(Answer(menu=menu.name, digits=digits, at=time.time()))
        step = decide.next_step(ivr, at=step, digits=digits, default_queue=default_queue)
    wants = step.kind.value if step.kind in (decide.StepKind.CALLBACK, decide.StepKind.VOICEMAIL) else ""
    return Outcome(queue=step.queue, wants=wants, answers=tuple(answers))


def _barge_in(call: VoIPCall, pressed: list[str]) -> Callable[[], bool]:
    """Whether a digit came during a prompt (it is kept in ``pressed``)."""

    def check() -> bool:
        digit = call.get_dtmf(1)
        if digit:
            pressed.append(digit)
        return bool(pressed)

    return check


def _collect(call: VoIPCall, menu, digits: str) -> str | None:
    """Digits until the menu's answer is complete or ``timeout_s`` passes without one; None: caller gone."""
    from ccp_acd.domain.ivr import digits_complete

    deadline = time.monotonic() + menu.timeout_s
    while not (digits and digits_complete(menu, digits)):
        if call.state != CallState.ANSWERED:
            return None
        d = call.get_dtmf(1)
        if d:
            digits += d
            deadline = time.monotonic() + menu.timeout_s
        elif time.monotonic() >= deadline:
            break
        else:
            time.sleep(POLL_S)
    return digits
