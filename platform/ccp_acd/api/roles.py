"""Who may call what: the role of every tenant API method, in one table.

``METHOD_ROLES`` maps the full gRPC name of every method of AdminService,
AgentService and InteractionService to the roles whose tokens may call it;
``Authenticator.principal`` checks it on every request. A method that is not
in the table is refused (PERMISSION_DENIED) whoever calls it: a new RPC is
closed until someone decides who may call it (``tests/api/test_roles.py``
fails until the table names every method of the service descriptors).

Roles (all within one tenant: the tenant is always the token's):

- ``admin``: everything, and may act as any agent of the tenant;
- ``supervisor``: every read of AdminService (statistics, reports, agents,
  caller history, blocklist, audit log), no AdminService write; on
  AgentService it may act as any agent for GetStatus, SetState and Logout
  (watch an agent, force a break, log an agent out) and nothing else: it never
  logs in, accepts, rejects or completes for an agent, and does not open an
  agent's offer stream (offers carry caller details the supervisor does not
  need to watch a team; ListAgentStatuses and the wallboard show who is busy);
- ``agent``: AgentService only, and only as the token's own agent;
- ``interaction``: InteractionService only (SIP trunk, chat widget, gateways).

``ACT_AS_ANY`` says, per AgentService method, which roles may name another
agent than their own; every other caller of AgentService must be an agent
token naming itself. The node-to-node SiteService is not here: it takes the
cluster token, never a tenant token (``auth.ClusterAuthenticator``).

This module is pure data and pure checks; it does not read tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

Role = Literal["admin", "supervisor", "agent", "interaction"]
ROLES: tuple[Role, ...] = ("admin", "supervisor", "agent", "interaction")

ADMIN = "/ccpapi.v1.AdminService/"
AGENT = "/ccpapi.v1.AgentService/"
INTERACTION = "/ccpapi.v1.InteractionService/"

_ADMIN_ONLY: frozenset[Role] = frozenset({"admin"})
_READERS: frozenset[Role] = frozenset({"admin", "supervisor"})
_DESK: frozenset[Role] = frozenset({"admin", "agent"})
_DESK_AND_SUPERVISOR: frozenset[Role] = frozenset({"admin", "supervisor", "agent"})
_INTERACTIONS: frozenset[Role] = frozenset({"admin", "interaction"})

METHOD_ROLES: Mapping[str, frozenset[Role]] = MappingProxyType({
    # AdminService: writes are admin's, reads also the supervisor's.
    f"{ADMIN}CreateAgent": _ADMIN_ONLY,
    f"{ADMIN}UpdateAgent": _ADMIN_ONLY,
    f"{ADMIN}DeleteAgent": _ADMIN_ONLY,
    f"{ADMIN}AddBlockedCaller": _ADMIN_ONLY,
    f"{ADMIN}RemoveBlockedCaller": _ADMIN_ONLY,
    f"{ADMIN}GetAgent": _READERS,
    f"{ADMIN}ListAgents": _READERS,
    f"{ADMIN}GetQueueStats": _READERS,
    f"{ADMIN}ListQueueStats": _READERS,
    f"{ADMIN}ListAgentStatuses": _READERS,
    f"{ADMIN}GetTenantStats": _READERS,
    f"{ADMIN}GetReport": _READERS,
    f"{ADMIN}ListAgentReports": _READERS,
    f"{ADMIN}GetCallerHistory": _READERS,
    f"{ADMIN}ListBlockedCallers": _READERS,
    f"{ADMIN}ListAuditEvents": _READERS,
    f"{ADMIN}GetCallRecord": _READERS,
    # AgentService: the agent's desktop; ACT_AS_ANY says who may name another agent.
    f"{AGENT}Login": _DESK,
    f"{AGENT}Logout": _DESK_AND_SUPERVISOR,
    f"{AGENT}SetState": _DESK_AND_SUPERVISOR,
    f"{AGENT}GetStatus": _DESK_AND_SUPERVISOR,
    f"{AGENT}StreamOffers": _DESK,
    f"{AGENT}AcceptOffer": _DESK,
    f"{AGENT}RejectOffer": _DESK,
    f"{AGENT}Complete": _DESK,
    f"{AGENT}GetCallerHistory": _DESK,
    # InteractionService: the channels that bring work in.
    f"{INTERACTION}Enqueue": _INTERACTIONS,
    f"{INTERACTION}Cancel": _INTERACTIONS,
    f"{INTERACTION}GetInteraction": _INTERACTIONS,
    # Voice: the SIP trunk adapter follows its calls and reports what the caller does.
    f"{INTERACTION}WatchInteraction": _INTERACTIONS,
    f"{INTERACTION}Hangup": _INTERACTIONS,
    f"{INTERACTION}LeaveVoicemail": _INTERACTIONS,
    f"{INTERACTION}RequestCallback": _INTERACTIONS,
    f"{INTERACTION}Requeue": _INTERACTIONS,
})

_SUPERVISED = ("Logout", "SetState", "GetStatus")
ACT_AS_ANY: Mapping[str, frozenset[Role]] = MappingProxyType({
    method: frozenset({"admin", "supervisor"}) if method.removeprefix(AGENT) in _SUPERVISED else _ADMIN_ONLY
    for method in METHOD_ROLES
    if method.startswith(AGENT)
})


def short(method: str) -> str:
    """``Service/Method`` of a full gRPC method name, for messages and logs."""
    return method.removeprefix("/ccpapi.v1.")


def refusal(role: str, method: str) -> str | None:
    """Why ``role`` may not call ``method`` (None: it may). Unknown methods are refused (fail closed)."""
    allowed = METHOD_ROLES.get(method)
    if allowed is None:
        return f"{short(method)} is not open to any role"
    if role not in allowed:
        needed = " or ".join(r for r in ROLES if r in allowed)
        return f"role {role!r} may not call {short(method)} (needs {needed})"
    return None


def may_act_as_any(role: str, method: str) -> bool:
    """Whether ``role`` may name any agent of its tenant in ``method`` (else only its own agent)."""
    return role in ACT_AS_ANY.get(method, frozenset())


def markdown_table() -> str:
    """The role x method table of docs/security.md ("Roles and audit"), rendered from the two tables."""
    lines = ["| Method | " + " | ".join(ROLES) + " |", "|---" * (len(ROLES) + 1) + "|"]
    for method, allowed in METHOD_ROLES.items():
        cells = []
        for role in ROLES:
            if role not in allowed:
                cells.append("")
            elif method.startswith(AGENT) and not may_act_as_any(role, method):
                cells.append("self")
            else:
                cells.append("any agent" if method.startswith(AGENT) else "yes")
        lines.append(f"| `{short(method)}` | " + " | ".join(cells) + " |")
    return "\n".join(lines)
