"""Bearer-token authentication and role checks for the gRPC API.

Tokens are ``{tenant}.{key_id}.{secret}``: ``tenant`` names the tenant the
token acts for, ``key_id`` is a short random hex id naming the credential and
``secret`` is ``secrets.token_urlsafe(32)``. Only ``sha256(secret)`` is stored
(``Store.put_credential``); a presented secret is hashed and compared with
``hmac.compare_digest``. The tenant of every request comes from the verified
token and never from a request field, so one tenant cannot name another's data.

Roles (admin, supervisor, agent, interaction): which may call which method,
and who may act as another agent, is the table of ``api.roles``; every servicer
asks :meth:`Authenticator.principal` with the method's full name, which refuses
a method missing from the table.

Caching: a verified credential is remembered for ``cache_ttl_s`` (default
5 s) keyed by the sha256 of the whole token, so a busy agent desktop does not
cost one etcd read per request. The consistency caveat: a revoked or changed
credential keeps working on a node for up to that long. Failures are not
cached (a wrong token costs one etcd read; rate limiting belongs in front of
the node).

Expiry: a credential with ``expires_at`` (epoch seconds, set when the
operator rotates a tenant's tokens) is refused from then on, with the same
"invalid or revoked token" as an unknown one; its cache entry never outlives
the expiry. Expiry is judged by this node's wall clock (``wall_clock``), so a
node whose clock is off by more than the grace period ends it early or late.

The node-to-node SiteService uses the cluster token instead
(``settings.cluster_token``, see :class:`ClusterAuthenticator`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

import grpc.aio

from ccp_acd.api.roles import ROLES, Role, may_act_as_any, refusal, short
from ccp_acd.errors import PermissionDenied, Unauthenticated
from ccp_acd.settings import ID_PATTERN
from ccp_acd.state.store import Credential, Store

_TENANT = re.compile(ID_PATTERN)
_KEY_ID = re.compile(r"^[0-9a-f]{8,32}$")
_SECRET = re.compile(r"^[A-Za-z0-9_-]{20,128}$")
_BEARER = "bearer "
# Seconds a verified credential is trusted without re-reading etcd (see module doc).
CACHE_TTL_S = 5.0
# Bound on remembered tokens; the cache is dropped whole when it fills (rare, and only costs reads).
CACHE_MAX_ENTRIES = 10_000


@dataclass(frozen=True)
class Principal:
    tenant: str
    role: Role
    # For role "agent": the only agent this principal may act as.
    agent_id: str = ""
    # The credential's key id (never its secret): names the actor in the audit log.
    key_id: str = ""

    def authorize(self, method: str) -> None:
        """Raise PermissionDenied unless this principal's role may call ``method`` (``api.roles``)."""
        reason = refusal(self.role, method)
        if reason is not None:
            raise PermissionDenied(reason)

    def is_agent(self, agent_id: str) -> bool:
        """Whether this is the token of agent ``agent_id`` itself."""
        # Bytes: compare_digest refuses str with non-ASCII characters (TypeError), and agent_id may be any
        # string here (the audit asks this about requests that failed validation). Found by fuzzing.
        return self.role == "agent" and hmac.compare_digest(self.agent_id.encode(), agent_id.encode())

    def act_as(self, agent_id: str, *, method: str) -> None:
        """Raise PermissionDenied unless this principal may act as ``agent_id`` in ``method``."""
        if self.is_agent(agent_id) or may_act_as_any(self.role, method):
            return
        raise PermissionDenied(f"agent_id: a {self.role} token may not act as agent {agent_id!r} in {short(method)}")


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


async def issue_token(store: Store, *, tenant: str, role: Role, agent_id: str = "", expires_at: float = 0.0) -> str:
    """Create a credential and return the token; only its hash is stored, the token is shown once.

    ``expires_at``: epoch seconds after which it is refused (0: never)."""
    if not _TENANT.match(tenant):
        raise ValueError(f"invalid tenant {tenant!r}")
    if role not in ROLES:
        raise ValueError(f"invalid role {role!r}; one of {', '.join(ROLES)}")
    if (role == "agent") != bool(agent_id):
        raise ValueError("agent_id is required with role 'agent' and only with it")
    key_id = secrets.token_hex(6)
    secret = secrets.token_urlsafe(32)
    credential = Credential(sha256=_hash(secret), role=role, agent_id=agent_id, expires_at=expires_at)
    await store.put_credential(tenant, key_id, credential)
    return f"{tenant}.{key_id}.{secret}"


def bearer_token(context: grpc.aio.ServicerContext) -> str:
    """The bearer token of the request's ``authorization`` metadata, or Unauthenticated."""
    values = [v for k, v in (context.invocation_metadata() or ()) if k == "authorization"]
    if not values:
        raise Unauthenticated("missing 'authorization: Bearer <token>' metadata")
    if len(values) > 1:
        raise Unauthenticated("more than one 'authorization' metadata entry")
    value = values[0] if isinstance(values[0], str) else ""
    if not value.lower().startswith(_BEARER) or not value[len(_BEARER) :].strip():
        raise Unauthenticated("the 'authorization' metadata is not 'Bearer <token>'")
    return value[len(_BEARER) :].strip()


class Authenticator:
    """Resolves a request's bearer token to a :class:`Principal` (tenant tokens)."""

    def __init__(
        self,
        store: Store,
        *,
        cache_ttl_s: float = CACHE_TTL_S,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ):
        self._store = store
        self._ttl = cache_ttl_s
        self._clock = clock  # for the cache's lifetimes
        self._wall_clock = wall_clock  # for credential expiry (epoch seconds, as stored)
        self._cache: dict[str, tuple[Principal, float]] = {}

    async def principal(self, context: grpc.aio.ServicerContext, *, method: str) -> Principal:
        """The verified principal, if its role may call ``method`` (a full gRPC method name, ``api.roles``).

        Unauthenticated without a valid token; PermissionDenied naming the role when the table does not
        allow it, and for any method the table does not list (fail closed).
        """
        principal = await self.verify(bearer_token(context))
        principal.authorize(method)
        return principal

    async def verify(self, token: str) -> Principal:
        cache_key = hashlib.sha256(token.encode()).hexdigest()
        now = self._clock()
        cached = self._cache.get(cache_key)
        if cached is not None and cached[1] > now:
            return cached[0]
        parts = token.split(".")
        if len(parts) != 3:
            raise Unauthenticated("malformed token: expected '{tenant}.{key_id}.{secret}'")
        tenant, key_id, secret = parts
        if not (_TENANT.match(tenant) and _KEY_ID.match(key_id) and _SECRET.match(secret)):
            raise Unauthenticated("malformed token: expected '{tenant}.{key_id}.{secret}'")
        credential = await self._store.get_credential(tenant, key_id)
        wall_now = self._wall_clock()
        if (
            credential is None
            or not hmac.compare_digest(credential.sha256, _hash(secret))
            or credential.expired(wall_now)
        ):
            # One message for all: do not tell a guesser which tenants or key ids exist, or which expired.
            raise Unauthenticated("invalid or revoked token")
        principal = Principal(tenant=tenant, role=credential.role, agent_id=credential.agent_id, key_id=key_id)
        if len(self._cache) >= CACHE_MAX_ENTRIES:
            self._cache.clear()
        lifetime = self._ttl if not credential.expires_at else min(self._ttl, credential.expires_at - wall_now)
        self._cache[cache_key] = (principal, now + lifetime)
        return principal


class ClusterAuthenticator:
    """Checks the node-to-node cluster token (SiteService). Disabled when the token is empty."""

    def __init__(self, cluster_token: str):
        self._digest = hashlib.sha256(cluster_token.encode()).digest() if cluster_token else b""

    @property
    def enabled(self) -> bool:
        return bool(self._digest)

    def check(self, context: grpc.aio.ServicerContext) -> None:
        token = bearer_token(context)
        presented = hashlib.sha256(token.encode()).digest()
        if not hmac.compare_digest(presented, self._digest):
            raise Unauthenticated("invalid cluster token")
