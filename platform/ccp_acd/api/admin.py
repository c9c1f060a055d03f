"""AdminService: agents and skills, real-time statistics, the caller blocklist.

Admin role only; the tenant is the token's. Statistics are computed on one
live view plus the history of calls that arrived in the window (ending now),
by ``domain.kpis``; nothing is cached, so each call costs two etcd range
reads per request (plus the queue configs) — fine for dashboards polling every
few seconds, not meant for per-call use.

An agent created without capacity gets one voice call, and without a site
gets this node's site.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc.aio
from ccpapi.v1 import admin_pb2, admin_pb2_grpc

from ccp_acd.api import convert, validate
from ccp_acd.api.auth import Authenticator
from ccp_acd.api.status import grpc_errors
from ccp_acd.domain import kpis
from ccp_acd.domain.models import QueueConfig
from ccp_acd.errors import NotFound
from ccp_acd.state.store import BlockedCaller, Store

ADMIN_ROLES = ("admin",)


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(
        self, store: Store, auth: Authenticator, *, site: str, clock: Callable[[], float] = time.time
    ):
        self._store = store
        self._auth = auth
        self._site = site
        self._clock = clock

    async def _tenant(self, context: grpc.aio.ServicerContext) -> str:
        return (await self._auth.principal(context, roles=ADMIN_ROLES)).tenant

    # -- agents -------------------------------------------------------------

    @grpc_errors
    async def CreateAgent(self, request, context):
        validate.create_agent(request)
        tenant = await self._tenant(context)
        profile = convert.agent_profile(request.agent, default_site=self._site)
        agent = await self._store.create_agent(tenant, request.agent.id, profile, now=self._clock())
        return convert.agent(agent)

    @grpc_errors
    async def GetAgent(self, request, context):
        validate.agent_id_only(request)
        tenant = await self._tenant(context)
        return convert.agent(await self._store.get_agent(tenant, request.agent_id))

    @grpc_errors
    async def ListAgents(self, request, context):
        tenant = await self._tenant(context)
        agents = sorted(await self._store.list_agents(tenant), key=lambda a: a.id)
        return admin_pb2.ListAgentsResponse(agents=[convert.agent(a) for a in agents])

    @grpc_errors
    async def UpdateAgent(self, request, context):
        validate.update_agent(request)
        tenant = await self._tenant(context)
        profile = convert.agent_profile(request.agent, default_site=self._site)
        return convert.agent(await self._store.update_agent(tenant, request.agent.id, profile))

    @grpc_errors
    async def DeleteAgent(self, request, context):
        validate.agent_id_only(request)
        tenant = await self._tenant(context)
        await self._store.delete_agent(tenant, request.agent_id)
        return admin_pb2.DeleteAgentResponse()

    # -- statistics -----------------------------------------------------------

    async def _stats(
        self, tenant: str, queues: list[QueueConfig], window_s: float
    ) -> list[admin_pb2.QueueStats]:
        now = self._clock()
        view = await self._store.load_live(tenant)
        history = await self._store.history_since(tenant, now - window_s)
        return [
            convert.queue_stats(
                queue.name,
                kpis.queue_stats(queue=queue, view=view, history=history, now=now, window_s=window_s),
            )
            for queue in queues
        ]

    @grpc_errors
    async def GetQueueStats(self, request, context):
        window_s = validate.get_queue_stats(request)
        tenant = await self._tenant(context)
        queue = (await self._store.get_queue_configs(tenant)).get(request.queue)
        if queue is None:
            raise NotFound(f"queue: queue {request.queue!r} not found")
        return (await self._stats(tenant, [queue], window_s))[0]

    @grpc_errors
    async def ListQueueStats(self, request, context):
        window_s = validate.window(request)
        tenant = await self._tenant(context)
        queues = sorted((await self._store.get_queue_configs(tenant)).values(), key=lambda q: q.name)
        return admin_pb2.ListQueueStatsResponse(queues=await self._stats(tenant, queues, window_s))

    @grpc_errors
    async def ListAgentStatuses(self, request, context):
        tenant = await self._tenant(context)
        view = await self._store.load_live(tenant)
        now = self._clock()
        return admin_pb2.ListAgentStatusesResponse(
            agents=[
                convert.agent_status(view.agents[a], active=convert.active_calls(view, a), now=now)
                for a in sorted(view.agents)
            ]
        )

    # -- blocklist ------------------------------------------------------------

    @grpc_errors
    async def AddBlockedCaller(self, request, context):
        validate.add_blocked_caller(request)
        tenant = await self._tenant(context)
        blocked = BlockedCaller(
            pattern=request.blocked.pattern, reason=request.blocked.reason, created_at=self._clock()
        )
        return convert.blocked(await self._store.add_blocked(tenant, blocked))

    @grpc_errors
    async def RemoveBlockedCaller(self, request, context):
        validate.remove_blocked_caller(request)
        tenant = await self._tenant(context)
        await self._store.remove_blocked(tenant, request.pattern)
        return admin_pb2.RemoveBlockedCallerResponse()

    @grpc_errors
    async def ListBlockedCallers(self, request, context):
        tenant = await self._tenant(context)
        blocked = sorted(await self._store.list_blocked(tenant), key=lambda b: b.pattern)
        return admin_pb2.ListBlockedCallersResponse(blocked=[convert.blocked(b) for b in blocked])
