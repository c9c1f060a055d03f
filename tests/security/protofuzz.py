"""Hypothesis strategies for any protobuf request, derived from its descriptor, and raw calls by method name.

Every field of the message (and of its sub-messages, maps and repeated
fields) gets random and boundary values: empty, boundary-length and huge
strings (up to 1 MB, unicode with NUL and odd but valid code points), the
extremes of each integer type, negative numbers, NaN and infinities, enum
numbers no ``.proto`` defines (proto3 enums are open), long repeated fields.
String fields also draw from a pool of values the test knows to be valid (its
tenant's agent and queue names, call ids), so the fuzzer gets past the first
validator and reaches the store. :func:`raw_requests` goes below the message
type: random bytes, valid bytes with trailing garbage or unknown fields, and
unknown groups nested deeper than protobuf's recursion limit.

Not for: checking answers (the tests do); this module only generates and calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass

import grpc
import grpc.aio
from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor, FieldDescriptor, MethodDescriptor, ServiceDescriptor
from google.protobuf.message import Message
from hypothesis import strategies as st

# Sub-messages nest at most this deep in generated messages (ccpapi's own nesting is 2; raw_requests goes deeper).
MAX_DEPTH = 4
# Lengths of the "huge" strings: past every validator's limit, up to 1 MB (under gRPC's default 4 MiB message limit).
HUGE_LENGTHS = (257, 1025, 65_537, 1_000_000)
# Elements of a "long" repeated field.
LONG_REPEATED = 2_000
# Unknown groups nested this deep: past protobuf's default recursion limit of 100.
DEEP_GROUPS = (99, 101, 5_000)

ODD_STRINGS = (
    "", " ", "\x00", "a\x00b", "*", "/", "../..", "a/b", "\t", "\n", "%s%n", "' OR 1=1 --", "\u202e", "\ufeff",
    "\U0001d54f", "e\u0301", "\uffff", "\U0010ffff", "+", "+1900*", "**", "a" * 63, "a" * 64, "a" * 65, "-a", "a-",
    "A", "9" * 32, "9" * 33,
)

# Limits the validators use (priority 100, proficiency 10, wrap-up 3600 s, windows of 1 and 31 days), and neighbours.
BOUNDARY_INTEGERS = (-1, 0, 1, 2, 10, 11, 100, 101, 3600, 3601, 86_400, 86_401, 2_678_400, 2_678_401)

_INT_RANGES = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}


def _integers(low: int, high: int) -> st.SearchStrategy[int]:
    edges = sorted({v for v in (low, high, *BOUNDARY_INTEGERS) if low <= v <= high})
    return st.one_of(st.sampled_from(edges), st.integers(low, high))


def strings(pool: Sequence[str] = ()) -> st.SearchStrategy[str]:
    """Random, boundary and huge strings; values from ``pool`` (known-valid ones) a good part of the time."""
    huge = st.builds(
        lambda piece, length: (piece * length)[:length],
        st.sampled_from(["a", "\x00", "\u00e9", "\U0001f600", "/", "9"]),
        st.sampled_from(HUGE_LENGTHS),
    )
    options = [st.text(max_size=40), st.sampled_from(ODD_STRINGS), huge]
    if pool:
        options.insert(0, st.sampled_from(list(pool)))
    return st.one_of(*options)


def _scalar(field: FieldDescriptor, pool: Sequence[str]) -> st.SearchStrategy:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return strings(pool)
    if kind == FieldDescriptor.TYPE_BYTES:
        return st.binary(max_size=64)
    if kind == FieldDescriptor.TYPE_BOOL:
        return st.booleans()
    if kind == FieldDescriptor.TYPE_DOUBLE:
        return st.floats(allow_nan=True, allow_infinity=True)
    if kind == FieldDescriptor.TYPE_FLOAT:
        return st.floats(allow_nan=True, allow_infinity=True, width=32)
    if kind == FieldDescriptor.TYPE_ENUM:
        known = sorted(field.enum_type.values_by_number)
        return st.one_of(st.sampled_from(known), _integers(-(2**31), 2**31 - 1))  # open enums: any int32
    if kind in _INT_RANGES:
        return _integers(*_INT_RANGES[kind])
    raise NotImplementedError(f"no strategy for field {field.full_name} of type {kind}")


def _is_map(field: FieldDescriptor) -> bool:
    return field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type.GetOptions().map_entry


def _value(field: FieldDescriptor, pool: Sequence[str], depth: int) -> st.SearchStrategy:
    if field.type == FieldDescriptor.TYPE_MESSAGE:
        return messages(field.message_type, pool=pool, depth=depth + 1)
    return _scalar(field, pool)


def _field(field: FieldDescriptor, pool: Sequence[str], depth: int) -> st.SearchStrategy:
    if _is_map(field):
        key_field, value_field = field.message_type.fields_by_name["key"], field.message_type.fields_by_name["value"]
        return st.dictionaries(_scalar(key_field, pool), _value(value_field, pool, depth), max_size=40)
    if field.is_repeated:
        element = _value(field, pool, depth)
        long = st.lists(element, min_size=LONG_REPEATED, max_size=LONG_REPEATED) if depth == 0 else st.nothing()
        return st.one_of(st.lists(element, max_size=6), long)
    return _value(field, pool, depth)


def _build(descriptor: Descriptor, values: dict) -> Message:
    message = message_factory.GetMessageClass(descriptor)()
    for name, value in values.items():
        field = descriptor.fields_by_name[name]
        target = getattr(message, name)
        if _is_map(field):
            for key, item in value.items():
                if isinstance(item, Message):
                    target[key].CopyFrom(item)
                else:
                    target[key] = item
        elif field.is_repeated:
            if field.type == FieldDescriptor.TYPE_MESSAGE:
                for item in value:
                    target.add().CopyFrom(item)
            else:
                target.extend(value)
        elif field.type == FieldDescriptor.TYPE_MESSAGE:
            target.CopyFrom(value)
        else:
            setattr(message, name, value)
    return message


def messages(descriptor: Descriptor, *, pool: Sequence[str] = (), depth: int = 0) -> st.SearchStrategy[Message]:
    """Messages of ``descriptor`` with any subset of its fields set to random or boundary values."""
    if depth > MAX_DEPTH:
        return st.just(message_factory.GetMessageClass(descriptor)())
    optional = {field.name: _field(field, pool, depth) for field in descriptor.fields}
    return st.fixed_dictionaries({}, optional=optional).map(lambda values: _build(descriptor, values))


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte, value = value & 0x7F, value >> 7
        out.append(byte | (0x80 if value else 0))
        if not value:
            return bytes(out)


def _tag(number: int, wire_type: int) -> bytes:
    return _varint(number << 3 | wire_type)


def unknown_fields() -> st.SearchStrategy[bytes]:
    """Well-formed fields with numbers no ccpapi message uses (varint, length-delimited, fixed)."""
    number = st.integers(1000, 2**29 - 1)
    varint = st.builds(lambda n, v: _tag(n, 0) + _varint(v), number, st.integers(0, 2**64 - 1))
    blob = st.builds(lambda n, b: _tag(n, 2) + _varint(len(b)) + b, number, st.binary(max_size=64))
    fixed = st.builds(lambda n, b: _tag(n, 1) + b, number, st.binary(min_size=8, max_size=8))
    return st.lists(st.one_of(varint, blob, fixed), min_size=1, max_size=5).map(b"".join)


def nested_groups(depth: int) -> bytes:
    """An unknown group (field 1000) nested ``depth`` deep: well-formed, but deep."""
    return _tag(1000, 3) * depth + _tag(1000, 4) * depth


def raw_requests(descriptor: Descriptor, *, pool: Sequence[str] = ()) -> st.SearchStrategy[bytes]:
    """Bytes sent as the serialized request: random, valid with garbage or unknown fields after it, deep groups."""
    valid = messages(descriptor, pool=pool).map(lambda m: m.SerializeToString())
    return st.one_of(
        st.binary(max_size=256),
        st.builds(bytes.__add__, valid, st.binary(min_size=1, max_size=32)),
        st.builds(bytes.__add__, valid, unknown_fields()),
        st.builds(bytes.__add__, unknown_fields(), valid),
        st.sampled_from(DEEP_GROUPS).map(nested_groups),
    )


# -- calling a method by descriptor -------------------------------------------------------------------------


def path(method: MethodDescriptor) -> str:
    return f"/{method.containing_service.full_name}/{method.name}"


def methods(*services: ServiceDescriptor) -> list[MethodDescriptor]:
    return [method for service in services for method in service.methods]


@dataclass(frozen=True)
class Answer:
    code: grpc.StatusCode
    details: str
    # Serialized responses (a unary answer, or the stream's first event); empty for an error.
    responses: tuple[bytes, ...] = ()


def _identity(raw: bytes) -> bytes:
    return raw


async def call(
    channel: grpc.aio.Channel,
    method: MethodDescriptor,
    request: bytes,
    *,
    metadata: Sequence[tuple[str, str]],
    timeout_s: float,
    first_event_s: float = 1.0,
) -> Answer:
    """Call ``method`` with already serialized request bytes. A server stream is read for its first event
    (or its status) for at most ``first_event_s`` and then cancelled: OK with no response when it stays quiet."""
    try:
        if method.server_streaming:
            stream = channel.unary_stream(path(method), request_serializer=_identity, response_deserializer=_identity)
            responses = stream(request, metadata=metadata, timeout=timeout_s)
            try:
                async with asyncio.timeout(first_event_s):
                    first = await responses.read()
            except TimeoutError:
                return Answer(grpc.StatusCode.OK, "no event yet")
            finally:
                responses.cancel()
            if first is grpc.aio.EOF:
                return Answer(await responses.code(), await responses.details() or "")
            return Answer(grpc.StatusCode.OK, "", (first,))
        unary = channel.unary_unary(path(method), request_serializer=_identity, response_deserializer=_identity)
        return Answer(grpc.StatusCode.OK, "", (await unary(request, metadata=metadata, timeout=timeout_s),))
    except grpc.aio.AioRpcError as e:
        return Answer(e.code(), e.details() or "")
