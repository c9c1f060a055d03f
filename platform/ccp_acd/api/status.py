"""The one place that turns ``ccp_acd.errors`` into gRPC status codes.

Every servicer method is wrapped with :func:`grpc_errors`. A ``CcpError``
becomes its status code with the error's message (written for the client: it
names the field or the record). Anything else is a bug: it is logged with its
traceback and answered INTERNAL with a generic message, so no internal detail
leaks and the node keeps serving every other request.

Not for: deciding what is an error (the store, the validators and the
authenticator raise), nor for retries (clients retry ABORTED / UNAVAILABLE).
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable
from typing import Any

import grpc
import grpc.aio

from ccp_acd import errors

log = logging.getLogger(__name__)

# Order matters only for subclasses; these are all siblings under CcpError.
STATUS_CODES: dict[type[errors.CcpError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.Conflict: grpc.StatusCode.ABORTED,
    errors.StateUnavailable: grpc.StatusCode.UNAVAILABLE,
}


class ResourceExhausted(errors.CcpError):
    """A limit of the tenant's configuration is reached (a full queue). API-only."""


class ServiceDisabled(errors.CcpError):
    """The service is switched off on this node by configuration (SiteService without a cluster token)."""


STATUS_CODES[ResourceExhausted] = grpc.StatusCode.RESOURCE_EXHAUSTED
STATUS_CODES[ServiceDisabled] = grpc.StatusCode.UNAVAILABLE

INTERNAL_MESSAGE = "internal error; the incident was logged on the node"


def status_of(error: BaseException) -> tuple[grpc.StatusCode, str]:
    """The status code and message a client gets for ``error``."""
    if isinstance(error, errors.CcpError):
        for kind in type(error).__mro__:
            code = STATUS_CODES.get(kind)  # type: ignore[arg-type]
            if code is not None:
                return code, str(error) or kind.__name__
    return grpc.StatusCode.INTERNAL, INTERNAL_MESSAGE


def _describe(method: Callable[..., Any], error: BaseException) -> tuple[grpc.StatusCode, str]:
    code, message = status_of(error)
    if code is grpc.StatusCode.INTERNAL:
        log.error("%s failed unexpectedly", method.__qualname__, exc_info=error)
    elif code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.ABORTED):
        log.warning("%s: %s", method.__qualname__, message)
    return code, message


def grpc_errors(method: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a grpc.aio servicer method (unary coroutine or server-streaming async generator)."""
    if inspect.isasyncgenfunction(method):

        @functools.wraps(method)
        async def streaming(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
            try:
                async for item in method(self, request, context):
                    yield item
                return
            except grpc.aio.AbortError:
                raise
            except Exception as e:  # noqa: BLE001 - every failure must become a status, see module doc
                code, message = _describe(method, e)
            await context.abort(code, message)

        return streaming

    @functools.wraps(method)
    async def unary(self: Any, request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await method(self, request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as e:  # noqa: BLE001 - every failure must become a status, see module doc
            code, message = _describe(method, e)
        await context.abort(code, message)

    return unary
