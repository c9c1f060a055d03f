"""Undecodable requests answered INVALID_ARGUMENT instead of grpc's UNKNOWN.

grpc-python decodes a request before any servicer code runs; bytes that are
not a valid protobuf message of the method's request type (corrupt wire
format, a truncated field, groups nested past protobuf's recursion limit)
made it answer UNKNOWN with the parser's exception class in the message.
:class:`RequestDecoding`, a server interceptor, wraps the request
deserializer of every ``ccpapi.*`` method: a failed decode becomes a marker
that the wrapped method turns into INVALID_ARGUMENT "request: not a valid
ccpapi.v1.X message", before authentication (nothing was read, nothing is
touched).

Not for: field rules (``validate``), nor other services (health, reflection:
theirs are left alone). Install it last in the interceptor list, so it sits
next to the handlers and outer interceptors (tracing) see its answer.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import grpc
import grpc.aio
from google.protobuf.message import DecodeError

# Methods of these packages get the decoding guard.
GUARDED_PREFIX = "/ccpapi."


@dataclass(frozen=True)
class _Undecodable:
    """Stands in for a request that did not decode; the method answers INVALID_ARGUMENT."""

    message: str


def _guarded_deserializer(deserialize: Callable[[bytes], Any], type_name: str) -> Callable[[bytes], Any]:
    def decode(raw: bytes) -> Any:
        try:
            return deserialize(raw)
        except (DecodeError, RecursionError, ValueError):  # every way the protobuf parser refuses bytes
            return _Undecodable(f"request: not a valid {type_name} message (corrupt or truncated wire format)")

    return decode


def _guarded_unary(behavior: Callable[..., Awaitable[Any]]) -> Callable[..., Awaitable[Any]]:
    async def unary(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, _Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
        return await behavior(request, context)

    return unary


def _guarded_stream(behavior: Callable[..., Any]) -> Callable[..., Any]:
    async def stream(request: Any, context: grpc.aio.ServicerContext) -> Any:
        if isinstance(request, _Undecodable):
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, request.message)
        async for item in behavior(request, context):
            yield item

    return stream


def _type_name(deserialize: Callable[[bytes], Any]) -> str:
    owner = getattr(deserialize, "__self__", None)  # FromString is a classmethod of the request class
    descriptor = getattr(owner, "DESCRIPTOR", None)
    return getattr(descriptor, "full_name", "request")


class RequestDecoding(grpc.aio.ServerInterceptor):
    """See module doc."""

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(handler_call_details)
        method = handler_call_details.method or ""
        if handler is None or not method.startswith(GUARDED_PREFIX) or handler.request_deserializer is None:
            return handler
        deserializer = _guarded_deserializer(handler.request_deserializer, _type_name(handler.request_deserializer))
        if handler.unary_unary is not None:
            return grpc.unary_unary_rpc_method_handler(
                _guarded_unary(handler.unary_unary),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream is not None:
            return grpc.unary_stream_rpc_method_handler(
                _guarded_stream(handler.unary_stream),
                request_deserializer=deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler  # client-streaming methods: none in ccpapi; left as grpc made them
