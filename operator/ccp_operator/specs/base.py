"""What every ccp.dev spec model shares: the base model's strictness, name patterns, and the helpers
validators use to point at the exact field. ``schema`` and ``voice`` build on it."""

from __future__ import annotations

import ipaddress
from collections.abc import Hashable, Sequence
from typing import Annotated, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

GROUP = "ccp.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"

DNS_LABEL = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
OPTIONAL_DNS_LABEL = r"^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)?$"
E164 = r"^\+[1-9][0-9]{1,14}$"
SKILL_NAME = r"^[a-z0-9][a-z0-9_.-]{0,62}$"


class FieldProblem(ValueError):
    """Raised by a validator about a field below the one it validates: ``loc`` is relative to it,
    so the user reads ``spec.skills[1].name`` rather than ``spec.skills``."""

    def __init__(self, loc: tuple[str | int, ...], problem: str):
        super().__init__(problem)
        self.loc = loc


H = TypeVar("H", bound=Hashable)


def distinct(values: Sequence[H], key=lambda v: v, field: tuple[str, ...] = ()) -> Sequence[H]:
    seen: dict[Hashable, int] = {}
    for index, value in enumerate(values):
        if (k := key(value)) in seen:
            raise FieldProblem((index, *field), f"{k!r} is listed twice (first at [{seen[k]}])")
        seen[k] = index
    return values


def cidr(value: str) -> str:
    try:
        ipaddress.ip_network(value, strict=True)
    except ValueError as e:
        raise ValueError(f"{value!r} is not an IP network such as 192.0.2.0/24 ({e})") from None
    return value


def object_or_absent(schema: dict[str, Any]) -> None:
    """JSON Schema of an optional object field: the object, without the null branch. A structural
    schema has no unions; and left in, it would keep the object behind an unresolved ``$ref``."""
    schema.update(next(option for option in schema.pop("anyOf") if option.get("type") != "null"))


Name = Annotated[str, Field(pattern=DNS_LABEL, max_length=63)]  # maxLength bounds the cost of CEL rules on names
Seconds = Annotated[float, Field(ge=0)]


class Spec(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, extra="forbid", frozen=True, strict=True, allow_inf_nan=False
    )
    kind: ClassVar[str] = ""
