"""JSON encoding of the records stored in etcd.

pydantic's TypeAdapter does the work for the frozen dataclasses (enums, tuples,
mappings keyed by enums), so the stored form is plain, readable JSON that
``etcdctl get`` shows as-is. Decoding validates: a hand-edited record with a
wrong type fails loudly instead of routing on garbage.
"""

from __future__ import annotations

from functools import cache
from typing import TypeVar

from pydantic import TypeAdapter

T = TypeVar("T")


@cache
def _adapter(kind: type) -> TypeAdapter:
    return TypeAdapter(kind)


def encode(record: object) -> bytes:
    return _adapter(type(record)).dump_json(record)


def decode(kind: type[T], raw: bytes) -> T:
    return _adapter(kind).validate_json(raw)
