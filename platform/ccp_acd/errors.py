"""Errors of the ACD node: one root, one subclass per way a request can fail.

The state layer and the domain raise these; ``api/status.py`` maps each to a
gRPC status code in one place. Library errors (aetcd, grpc) are translated at
the adapter boundary (``raise StateUnavailable(...) from e``).
"""


class CcpError(Exception):
    """Root of every error this package raises on purpose."""


class InvalidArgument(CcpError):
    """The request is malformed: a field is missing, too long, out of range."""


class NotFound(CcpError):
    """The tenant has no such agent, queue, interaction or blocklist entry."""


class AlreadyExists(CcpError):
    """Creating something whose id is taken."""


class FailedPrecondition(CcpError):
    """Valid request, wrong state: accept an offer that is not yours, complete a queued call."""


class Unauthenticated(CcpError):
    """No bearer token, or one that does not verify."""


class PermissionDenied(CcpError):
    """A valid token whose role does not allow the call (an agent acting as another agent)."""


class Conflict(CcpError):
    """A compare-and-set lost against a concurrent writer more times than we retry."""


class StateUnavailable(CcpError):
    """etcd cannot be reached or timed out; the request may be retried."""
