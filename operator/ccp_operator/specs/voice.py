"""The voice parts of the Trunk and Queue specs: where the SIP adapter serves a trunk (``sip``), the trunk's
DTMF menu tree (``ivr``), and a queue's music on hold, announcements and voicemail.

Rules about one resource are checked here (references between menus resolve, digits fit their menu,
a caller who presses nothing always reaches a queue); ``crds`` restates what the API server can check
as CEL rules, except that ``onTimeout`` chains end (a graph walk): the operator refuses those. Whether
the queues named exist is a question about a set: see ``loader``.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from ccp_acd.domain.voice_settings import DEFAULT_VOICEMAIL_PROMPT
from ccp_acd.sip.prompts import PROMPT_PATTERN, PromptError, parse_prompt
from pydantic import AfterValidator, Field, model_validator

from ccp_operator.specs.base import FieldProblem, Name, Spec, distinct, object_or_absent

_PORT = r"([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
CARRIER = rf"^(\[[0-9a-fA-F:.]{{2,45}}\]|[A-Za-z0-9]([A-Za-z0-9.-]{{0,251}}[A-Za-z0-9])?):{_PORT}$"
DIGITS = r"^[0-9*#]{1,8}$"
MAX_DIGITS = 8


def _prompt(value: str) -> str:
    try:
        parse_prompt(value)
    except PromptError as e:
        raise ValueError(str(e)) from None
    return value


def _carrier(value: str) -> str:
    if not re.fullmatch(CARRIER, value):
        raise ValueError(f"{value!r} is not host:port (a DNS name or IP, a port 1..65535), e.g. sbc.example.net:5060")
    return value


# The pattern goes into the CRD (the API server checks it); the validator gives the precise message here.
Prompt = Annotated[str, Field(max_length=300, json_schema_extra={"pattern": PROMPT_PATTERN}), AfterValidator(_prompt)]


class SipSpec(Spec):
    port: int = Field(
        ge=1024, le=65535, description="The SIP adapter's SIP/UDP port for this trunk (one per trunk and site)."
    )
    carrier: Annotated[str, AfterValidator(_carrier)] = Field(
        max_length=262,
        json_schema_extra={"pattern": CARRIER},
        description="The carrier's SBC as host:port: where the adapter sends its SIP requests and replies, and"
        " dials callbacks.",
    )


class IvrTargetSpec(Spec):
    queue: Name | None = Field(default=None, description="Enqueue the call in this queue.")
    menu: Name | None = Field(default=None, description="Play this menu.")
    action: Literal["callback", "voicemail"] | None = Field(
        default=None,
        description="Enqueue in queue (absent: the trunk's defaultQueue) and take a voicemail or a callback request.",
    )

    @model_validator(mode="after")
    def _one_destination(self) -> IvrTargetSpec:
        if self.menu is not None and (self.queue is not None or self.action is not None):
            raise FieldProblem(("menu",), "a menu target takes no queue or action beside it")
        if self.menu is None and self.queue is None and self.action is None:
            raise FieldProblem(("queue",), "needs one of queue, menu or action")
        return self


class IvrOptionSpec(IvrTargetSpec):
    digits: Annotated[
        str, Field(pattern=DIGITS, max_length=MAX_DIGITS, description="What the caller presses: 1 to 8 of 0-9, * and #.")
    ]


def _distinct_digits(options: list[IvrOptionSpec]) -> list[IvrOptionSpec]:
    return list(distinct(options, key=lambda o: o.digits, field=("digits",)))


class MenuSpec(Spec):
    name: Name
    prompt: Prompt
    timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="Silence after the prompt or a digit before the answer counts as given."
    )
    max_digits: int = Field(default=1, ge=1, le=MAX_DIGITS)
    retries: int = Field(default=2, ge=0, le=5, description="Replays after no input or an invalid choice.")
    options: Annotated[list[IvrOptionSpec], AfterValidator(_distinct_digits)] = Field(default_factory=list, max_length=16)
    on_timeout: IvrTargetSpec | None = Field(
        default=None,
        json_schema_extra=object_or_absent,
        description="Where a caller goes after the retries without a valid answer (absent: the trunk's defaultQueue).",
    )

    @model_validator(mode="after")
    def _digits_fit(self) -> MenuSpec:
        for index, option in enumerate(self.options):
            if len(option.digits) > self.max_digits:
                raise FieldProblem(
                    ("options", index, "digits"), f"{option.digits!r} is longer than maxDigits ({self.max_digits})"
                )
        return self


def _distinct_menus(menus: list[MenuSpec]) -> list[MenuSpec]:
    return list(distinct(menus, key=lambda m: m.name, field=("name",)))


class IvrSpec(Spec):
    entry: Name = Field(description="The menu a caller hears first.")
    menus: Annotated[list[MenuSpec], AfterValidator(_distinct_menus)] = Field(min_length=1, max_length=32)

    @model_validator(mode="after")
    def _references_resolve(self) -> IvrSpec:
        names = [m.name for m in self.menus]

        def check(menu: str | None, loc: tuple[str | int, ...]) -> None:
            if menu is not None and menu not in names:
                raise FieldProblem(loc, f"names menu {menu!r}, which is not in menus")

        check(self.entry, ("entry",))
        for i, menu in enumerate(self.menus):
            for j, option in enumerate(menu.options):
                check(option.menu, ("menus", i, "options", j, "menu"))
            if menu.on_timeout is not None:
                check(menu.on_timeout.menu, ("menus", i, "onTimeout", "menu"))
        self._timeouts_end(names)
        return self

    def _timeouts_end(self, names: list[str]) -> None:
        """A caller who presses nothing follows onTimeout from menu to menu: that walk must reach a queue."""
        by_name = {m.name: m for m in self.menus}
        for index, start in enumerate(self.menus):
            walk, menu = [start.name], start
            while menu.on_timeout is not None and menu.on_timeout.menu is not None:
                menu = by_name[menu.on_timeout.menu]
                if menu.name in walk:
                    raise FieldProblem(
                        ("menus", index, "onTimeout", "menu"),
                        f"loops {' -> '.join([*walk, menu.name])}: a caller who presses nothing would never reach a queue",
                    )
                walk.append(menu.name)


class AnnouncementsSpec(Spec):
    every_seconds: int = Field(
        default=0, ge=0, le=3600, description="Seconds between announcements to a waiting caller; 0: none, else >= 10."
    )
    position: bool = Field(default=True, description='Say "you are number N in the queue".')
    expected_wait: bool = Field(default=True, description='Say "your expected wait is M minutes".')

    @model_validator(mode="after")
    def _not_too_often(self) -> AnnouncementsSpec:
        if 0 < self.every_seconds < 10:
            raise FieldProblem(("everySeconds",), "must be 0 (no announcements) or at least 10 seconds")
        return self


class VoicemailSpec(Spec):
    max_seconds: float = Field(default=120.0, ge=5, le=600, description="The longest message recorded.")
    prompt: Prompt = Field(default=DEFAULT_VOICEMAIL_PROMPT, description="Played before the beep.")


MusicOnHold = Annotated[
    str,
    Field(max_length=300, json_schema_extra={"pattern": f"^$|{PROMPT_PATTERN}"}),
    AfterValidator(lambda value: _prompt(value) if value else value),
]



def every_call_reaches_a_queue(*, default_queue: str, sip: SipSpec | None, ivr: IvrSpec | None) -> None:
    """The trunk-level rule (a TrunkSpec validator): without a defaultQueue, something else must say where a
    call goes: the IVR, with an onTimeout on every menu and a queue on every action."""
    if default_queue:
        return
    if ivr is None:
        if sip is not None:
            raise FieldProblem(("defaultQueue",), "is needed by a trunk with sip and no ivr: calls must reach a queue")
        return
    for i, menu in enumerate(ivr.menus):
        if menu.on_timeout is None:
            raise FieldProblem(
                ("ivr", "menus", i, "onTimeout"),
                "is needed when the trunk has no defaultQueue: a caller who presses nothing must reach a queue",
            )
        targets: list[tuple[tuple[str | int, ...], IvrTargetSpec]] = [(("ivr", "menus", i, "onTimeout"), menu.on_timeout)]
        targets += [(("ivr", "menus", i, "options", j), o) for j, o in enumerate(menu.options)]
        for loc, target in targets:
            if target.action is not None and target.queue is None:
                raise FieldProblem((*loc, "queue"), f"action {target.action!r} needs queue: the trunk has no defaultQueue")
