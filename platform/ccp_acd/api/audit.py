"""The audit log of admin actions: who tried what, on which target, and how it ended.

Audited: every AdminService write (CreateAgent, UpdateAgent, DeleteAgent,
AddBlockedCaller, RemoveBlockedCaller), and every Login, Logout or SetState
made by someone other than the agent itself (a supervisor forcing a break, an
admin logging an agent out, an agent token trying to act as a colleague);
whether the action succeeded or was refused. Each event is stored under the
tenant (``keys.audit_event``), read back by ``AdminService.ListAuditEvents``,
and logged as one INFO line on the ``ccp_acd.audit`` logger.

An event holds the time, the actor's role and credential key id (never the
token's secret), the full method name, the target (an agent id; for the
blocklist ``blocked:`` and a hash of the pattern, because patterns are caller
numbers) and the outcome (the gRPC status code's name). A request whose token
does not verify is not audited: it names no tenant one can trust.

Consistency caveat: the event is written right after the action, not in its
etcd transaction. Refusals have no transaction to join, and the store's
transitions (with their compare-and-set retries) would each need an extra
operation threaded through. A node that dies between the two, or an etcd that
fails the audit write, loses the stored event: the INFO line is written first,
and a failed write is logged as an error without changing the answer.

Not for: deciding who may do what (``api.roles``), nor reads (not audited).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Callable

import grpc
import grpc.aio

from ccp_acd.api.auth import Authenticator, Principal, bearer_token
from ccp_acd.api.status import status_of
from ccp_acd.errors import CcpError
from ccp_acd.settings import ID_PATTERN
from ccp_acd.state import keys
from ccp_acd.state.store import AuditEvent, Store

log = logging.getLogger("ccp_acd.audit")

_NAME = re.compile(ID_PATTERN)


def agent_target(agent_id: str) -> str:
    """An agent id as a target; "" when it is not a valid id (a refused request's field may hold anything)."""
    return agent_id if _NAME.match(agent_id) else ""


def blocked_target(tenant: str, pattern: str) -> str:
    """A blocklist entry as a target: a hash of the pattern, never the (caller number) pattern itself."""
    return f"blocked:{keys.caller_key(tenant, pattern)[:16]}"


def new_event_id(at: float) -> str:
    return f"{keys.nanos(at):020d}-{secrets.token_hex(4)}"


class AuditTrail:
    """Authorizes an audited action and records its outcome (module doc)."""

    def __init__(self, store: Store, auth: Authenticator, *, clock: Callable[[], float] = time.time):
        self._store = store
        self._auth = auth
        self._clock = clock

    @contextlib.asynccontextmanager
    async def action(
        self, context: grpc.aio.ServicerContext, method: str, *, target: Callable[[Principal], str],
        audited: Callable[[Principal], bool] = lambda _: True,
    ) -> AsyncIterator[Principal]:
        """The principal allowed to call ``method``; the block is the action, audited however it ends.

        ``target`` names the target for the principal's tenant; ``audited`` says whether this principal's
        call is audited at all (an agent changing its own presence is not).
        """
        principal = await self._auth.verify(bearer_token(context))  # Unauthenticated: no tenant to audit
        outcome = grpc.StatusCode.OK
        try:
            principal.authorize(method)
            yield principal
        except asyncio.CancelledError:
            outcome = grpc.StatusCode.CANCELLED
            raise
        except Exception as e:  # noqa: BLE001 - only classified here; re-raised for grpc_errors to answer
            outcome = status_of(e)[0]
            raise
        finally:
            if audited(principal):
                await self._record(principal, method, target(principal), outcome)

    async def _record(self, principal: Principal, method: str, target: str, outcome: grpc.StatusCode) -> None:
        at = self._clock()
        event = AuditEvent(
            id=new_event_id(at), at=at, actor_role=principal.role, actor_key_id=principal.key_id,
            method=method, target=target, outcome=outcome.name,
        )
        log.info(
            "audit tenant=%s actor=%s/%s method=%s target=%s outcome=%s id=%s",
            principal.tenant, event.actor_role, event.actor_key_id, method, target, event.outcome, event.id,
        )
        try:
            await self._store.put_audit(principal.tenant, event)
        except CcpError as e:  # the action is done; its answer must not change (module doc: caveat)
            log.error("audit event %s of tenant %s not stored: %s", event.id, principal.tenant, e)
