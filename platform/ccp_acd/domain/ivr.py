"""A trunk's IVR: the DTMF menu tree (config) and what happens next when the caller presses digits or nothing.

The SIP adapter drives it: ``first_step`` when the call is answered, then, after playing a menu's prompt
and collecting digits (until ``digits_complete`` or the menu's timeout), ``next_step`` with what was
pressed ("" for nothing). Each step says: play menu M (again, after no input or an invalid choice), or
enqueue in queue Q, or enqueue in Q and take a voicemail / a callback request there.

Nothing is lost: a caller who presses nothing, or only wrong digits, ends in the menu's ``on_timeout``
target after its retries, else in the trunk's default queue. The spec (``ccp_operator.specs``) makes
sure every reference resolves, the default queue exists where needed and ``on_timeout`` chains end.

Pure: no timers, no audio, no I/O. Not for: the queue policy's own voicemail/callback (ActionKind),
which the router applies after the call is queued.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class TargetKind(StrEnum):
    QUEUE = "queue"          # enqueue in ``name``
    MENU = "menu"            # play menu ``name``
    CALLBACK = "callback"    # enqueue in ``name`` (""; the trunk's default queue) and ask for a callback
    VOICEMAIL = "voicemail"  # enqueue in ``name`` (""; the trunk's default queue) and take a voicemail


@dataclass(frozen=True)
class IvrTarget:
    kind: TargetKind
    name: str = ""


@dataclass(frozen=True)
class IvrOption:
    digits: str  # [0-9*#]{1,max_digits}
    target: IvrTarget


@dataclass(frozen=True)
class IvrMenu:
    name: str
    prompt: str  # ccp_acd.sip.prompts syntax
    # Seconds of silence after the prompt (or a digit) before the answer counts as given (or as no input).
    timeout_s: float = 5.0
    max_digits: int = 1
    # How many times the menu is played again after no input or an invalid choice before giving up.
    retries: int = 2
    options: tuple[IvrOption, ...] = ()
    # Where a caller who gave no valid answer goes after the retries; None: the trunk's default queue.
    on_timeout: IvrTarget | None = None

    def option(self, digits: str) -> IvrOption | None:
        return next((o for o in self.options if o.digits == digits), None)


@dataclass(frozen=True)
class IvrConfig:
    entry: str
    menus: tuple[IvrMenu, ...] = ()

    def menu(self, name: str) -> IvrMenu:
        for menu in self.menus:
            if menu.name == name:
                return menu
        raise IvrError(f"the IVR has no menu {name!r}")


class IvrError(ValueError):
    """A step asked of an IVR config that does not have it (the spec validation should have refused it)."""


class StepKind(StrEnum):
    MENU = "menu"            # play ``menu``'s prompt and collect digits
    QUEUE = "queue"          # enqueue in ``queue``
    CALLBACK = "callback"    # enqueue in ``queue``, then RequestCallback
    VOICEMAIL = "voicemail"  # enqueue in ``queue``, then play the queue's voicemail prompt and record


class Reason(StrEnum):
    ENTRY = "entry"          # the call was answered: the entry menu (or straight to the default queue)
    CHOSEN = "chosen"        # the digits matched an option
    NO_INPUT = "no-input"    # nothing pressed: the menu again
    INVALID = "invalid"      # digits that match no option: the menu again (play ``file:invalid-choice`` first)
    GAVE_UP = "gave-up"      # retries used up: the menu's on_timeout target or the default queue


@dataclass(frozen=True)
class Step:
    kind: StepKind
    reason: Reason
    menu: str = ""     # MENU: the menu to play, whose answer the next call to next_step is about
    attempt: int = 0   # MENU: 0 the first time, n the nth replay after no input or an invalid choice
    queue: str = ""    # QUEUE, CALLBACK, VOICEMAIL: where the call is enqueued


def _go(target: IvrTarget, reason: Reason, *, default_queue: str) -> Step:
    if target.kind == TargetKind.MENU:
        return Step(StepKind.MENU, reason, menu=target.name)
    queue = target.name or default_queue
    if not queue:
        raise IvrError(f"{target.kind} names no queue and the trunk has no default queue")
    return Step(StepKind(target.kind.value), reason, queue=queue)


def first_step(ivr: IvrConfig | None, *, default_queue: str) -> Step:
    """What to do with a call just answered: its IVR's entry menu, or (no IVR) the trunk's default queue."""
    if ivr is None:
        return _go(IvrTarget(TargetKind.QUEUE), Reason.ENTRY, default_queue=default_queue)
    return Step(StepKind.MENU, Reason.ENTRY, menu=ivr.menu(ivr.entry).name)


def next_step(ivr: IvrConfig, *, at: Step, digits: str, default_queue: str) -> Step:
    """What follows the answer ``digits`` ("" for none) to the menu step ``at``."""
    if at.kind != StepKind.MENU:
        raise IvrError(f"a {at.kind} step takes no digits")
    menu = ivr.menu(at.menu)
    if digits and (option := menu.option(digits)) is not None:
        return _go(option.target, Reason.CHOSEN, default_queue=default_queue)
    if at.attempt < menu.retries:
        return Step(StepKind.MENU, Reason.INVALID if digits else Reason.NO_INPUT, menu=menu.name, attempt=at.attempt + 1)
    target = menu.on_timeout or IvrTarget(TargetKind.QUEUE)
    return _go(target, Reason.GAVE_UP, default_queue=default_queue)


def digits_complete(menu: IvrMenu, digits: str) -> bool:
    """Whether to stop collecting: ``max_digits`` reached, or the digits are an option that no longer option
    extends (so "1" answers at once when the options are 1, 2 and 30, but "3" waits for its next digit)."""
    if len(digits) >= menu.max_digits:
        return True
    if menu.option(digits) is None:
        return False
    return not any(o.digits != digits and o.digits.startswith(digits) for o in menu.options)
