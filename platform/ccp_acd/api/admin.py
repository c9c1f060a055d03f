"""AdminService: agents and skills, real-time statistics, reports, caller history, the blocklist.

Writes are the admin's, reads also the supervisor's (``api.roles``); the
tenant is the token's. Every write, allowed or refused, is audited
(``api.audit``) and the audit log is read by ListAuditEvents. Statistics are computed on one
live view plus the history of calls that arrived in the window (ending now),
by ``domain.kpis``. The live view is the node's watch-fed one for tenants it
routes (``state.live``: no etcd read, this node's own writes shown), a range
read otherwise; the history is one range read per request (plus the queue
configs) — fine for dashboards polling every few seconds, not meant for
per-call use.

Reports (``domain.reports``) read the call records of the window plus
``TALK_LOOKBACK_S`` before it (their talk is agent time inside it) and the
presence intervals up to ``MAX_WRAP_UP_S`` after it (a wrap-up that follows a
call of the window). A 31-day report reads a month of records: an export, not
a dashboard poll.

An agent created without capacity gets one voice call, and without a site
gets this node's site.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc.aio
from ccpapi.v1 import admin_pb2, admin_pb2_grpc

from ccp_acd.api import convert, validate, validate_voice
from ccp_acd.api.audit import AuditTrail, agent_target, blocked_target
from ccp_acd.api.auth import Authenticator
from ccp_acd.api.roles import ADMIN
from ccp_acd.api.status import grpc_errors
from ccp_acd.domain import kpis, reports
from ccp_acd.domain.models import QueueConfig
from ccp_acd.errors import NotFound
from ccp_acd.state.intervals import IntervalViews
from ccp_acd.state.live import LiveViews
from ccp_acd.state.store import BlockedCaller, Store

# Seconds before a report's window whose calls may still be talking in it (longer talk is cut there).
TALK_LOOKBACK_S = 3600.0


class AdminServicer(admin_pb2_grpc.AdminServiceServicer):
    def __init__(
        self, store: Store, auth: Authenticator, *, site: str, clock: Callable[[], float] = time.time,
        intervals: IntervalViews, views: LiveViews | None = None, audit: AuditTrail | None = None,
    ):
        self._store = store
        self._audit = audit or AuditTrail(store, auth, clock=clock)
        self._views = views or LiveViews(store)
        self._intervals = intervals
        self._auth = auth
        self._site = site
        self._clock = clock

    async def _tenant(self, context: grpc.aio.ServicerContext, rpc: str) -> str:
        return (await self._auth.principal(context, method=f"{ADMIN}{rpc}")).tenant

    # -- agents -------------------------------------------------------------

    @grpc_errors
    async def CreateAgent(self, request, context):
        target = agent_target(request.agent.id)
        async with self._audit.action(context, f"{ADMIN}CreateAgent", target=lambda _: target) as principal:
            validate.create_agent(request)
            profile = convert.agent_profile(request.agent, default_site=self._site)
            agent = await self._store.create_agent(principal.tenant, request.agent.id, profile, now=self._clock())
        return convert.agent(agent)

    @grpc_errors
    async def GetAgent(self, request, context):
        validate.agent_id_only(request)
        tenant = await self._tenant(context, "GetAgent")
        return convert.agent(await self._store.get_agent(tenant, request.agent_id))

    @grpc_errors
    async def ListAgents(self, request, context):
        tenant = await self._tenant(context, "ListAgents")
        agents = sorted(await self._store.list_agents(tenant), key=lambda a: a.id)
        return admin_pb2.ListAgentsResponse(agents=[convert.agent(a) for a in agents])

    @grpc_errors
    async def UpdateAgent(self, request, context):
        target = agent_target(request.agent.id)
        async with self._audit.action(context, f"{ADMIN}UpdateAgent", target=lambda _: target) as principal:
            validate.update_agent(request)
            profile = convert.agent_profile(request.agent, default_site=self._site)
            agent = await self._store.update_agent(principal.tenant, request.agent.id, profile)
        return convert.agent(agent)

    @grpc_errors
    async def DeleteAgent(self, request, context):
        target = agent_target(request.agent_id)
        async with self._audit.action(context, f"{ADMIN}DeleteAgent", target=lambda _: target) as principal:
            validate.agent_id_only(request)
            await self._store.delete_agent(principal.tenant, request.agent_id, now=self._clock())
        return admin_pb2.DeleteAgentResponse()

    # -- statistics -----------------------------------------------------------

    async def _stats(
        self, tenant: str, queues: list[QueueConfig], window_s: float
    ) -> list[admin_pb2.QueueStats]:
        now = self._clock()
        view = await self._views.read(tenant)
        window = await self._intervals.window(tenant, {q.name: q for q in queues}, now - window_s, now=now)
        return [
            convert.queue_stats(
                queue.name,
                kpis.queue_stats_of(
                    queue=queue, view=view, interval=window.total(queue.name), now=now, window_start=window.start
                ),
            )
            for queue in queues
        ]

    @grpc_errors
    async def GetQueueStats(self, request, context):
        window_s = validate.get_queue_stats(request)
        tenant = await self._tenant(context, "GetQueueStats")
        queue = (await self._store.get_queue_configs(tenant)).get(request.queue)
        if queue is None:
            raise NotFound(f"queue: queue {request.queue!r} not found")
        return (await self._stats(tenant, [queue], window_s))[0]

    @grpc_errors
    async def ListQueueStats(self, request, context):
        window_s = validate.window(request)
        tenant = await self._tenant(context, "ListQueueStats")
        queues = sorted((await self._store.get_queue_configs(tenant)).values(), key=lambda q: q.name)
        return admin_pb2.ListQueueStatsResponse(queues=await self._stats(tenant, queues, window_s))

    @grpc_errors
    async def ListAgentStatuses(self, request, context):
        tenant = await self._tenant(context, "ListAgentStatuses")
        view = await self._views.read(tenant)
        now = self._clock()
        return admin_pb2.ListAgentStatusesResponse(
            agents=[
                convert.agent_status(view.agents[a], active=convert.active_calls(view, a), now=now)
                for a in sorted(view.agents)
            ]
        )

    @grpc_errors
    async def GetTenantStats(self, request, context):
        tenant = await self._tenant(context, "GetTenantStats")
        now = self._clock()
        view = await self._views.read(tenant)
        config = await self._store.get_tenant_config(tenant)
        sites = (config.home_site, *config.failover_sites) if config else ()
        whole, per_site = kpis.tenant_live_stats(view, now=now, sites=sites)
        return admin_pb2.TenantStats(
            at=convert.timestamp(now), tenant=convert.live_stats(whole), sites=[convert.live_stats(s) for s in per_site]
        )

    # -- reports ----------------------------------------------------------------

    async def _records(self, tenant: str, start: float, end: float):
        calls = await self._store.history_between(tenant, start - TALK_LOOKBACK_S, end)
        presence = await self._store.presence_between(tenant, start, end + validate.MAX_WRAP_UP_S)
        agent_sites = {a.id: a.site for a in await self._store.list_agents(tenant)}
        return calls, presence, agent_sites

    @grpc_errors
    async def GetReport(self, request, context):
        start, end, granularity, group_by = validate.get_report(request)
        tenant = await self._tenant(context, "GetReport")
        first, last = reports.aligned(start, end, granularity)
        queues = await self._store.get_queue_configs(tenant)
        calls, presence, agent_sites = await self._records(tenant, first, last)
        groups = queues if group_by is reports.GroupBy.QUEUE else set(agent_sites.values())
        rows = reports.interval_report(
            calls=calls, presence=presence, queues=queues, start=first, end=last, granularity=granularity,
            group_by=group_by, groups=groups, agent_sites=agent_sites,
        )
        return admin_pb2.Report(
            start=convert.timestamp(first), end=convert.timestamp(last), granularity=request.granularity,
            group_by=request.group_by, rows=[convert.report_row(r) for r in rows],
        )

    @grpc_errors
    async def ListAgentReports(self, request, context):
        start, end = validate.report_window(request)
        tenant = await self._tenant(context, "ListAgentReports")
        calls, presence, agent_sites = await self._records(tenant, start, end)
        rows = reports.agent_report(calls=calls, presence=presence, start=start, end=end, agent_sites=agent_sites)
        return admin_pb2.ListAgentReportsResponse(agents=[convert.agent_report(r) for r in rows])

    @grpc_errors
    async def GetCallerHistory(self, request, context):
        limit = validate.get_caller_history(request)
        tenant = await self._tenant(context, "GetCallerHistory")
        calls = await self._store.caller_history(tenant, request.address, limit=limit)
        return convert.caller_history(request.address, calls)

    @grpc_errors
    async def GetCallRecord(self, request, context):
        """One call record, live or ended, with its timeline (a live one with its offer and agent's phone)."""
        validate_voice.get_call_record(request)
        tenant = await self._tenant(context, "GetCallRecord")
        call = await self._store.get_call(tenant, request.interaction_id)
        if call.state.terminal:
            return convert.interaction(call)
        view = await self._views.read(tenant)
        return convert.interaction(view.calls.get(call.id, call), view=view, now=self._clock())

    # -- blocklist ------------------------------------------------------------

    @grpc_errors
    async def AddBlockedCaller(self, request, context):
        pattern = request.blocked.pattern
        method = f"{ADMIN}AddBlockedCaller"
        async with self._audit.action(context, method, target=lambda p: blocked_target(p.tenant, pattern)) as principal:
            validate.add_blocked_caller(request)
            blocked = BlockedCaller(pattern=pattern, reason=request.blocked.reason, created_at=self._clock())
            try:
                added = await self._store.add_blocked(principal.tenant, blocked)
            finally:  # also when the outcome is unknown: the next Enqueue re-reads the blocklist
                self._views.blocklist_written(principal.tenant)
        return convert.blocked(added)

    @grpc_errors
    async def RemoveBlockedCaller(self, request, context):
        pattern = request.pattern
        method = f"{ADMIN}RemoveBlockedCaller"
        async with self._audit.action(context, method, target=lambda p: blocked_target(p.tenant, pattern)) as principal:
            validate.remove_blocked_caller(request)
            try:
                await self._store.remove_blocked(principal.tenant, pattern)
            finally:
                self._views.blocklist_written(principal.tenant)
        return admin_pb2.RemoveBlockedCallerResponse()

    @grpc_errors
    async def ListBlockedCallers(self, request, context):
        tenant = await self._tenant(context, "ListBlockedCallers")
        blocked = sorted(await self._store.list_blocked(tenant), key=lambda b: b.pattern)
        return admin_pb2.ListBlockedCallersResponse(blocked=[convert.blocked(b) for b in blocked])

    # -- audit log --------------------------------------------------------------

    @grpc_errors
    async def ListAuditEvents(self, request, context):
        start, end, limit, after = validate.list_audit_events(request)
        tenant = await self._tenant(context, "ListAuditEvents")
        # One more than asked: whether another page follows, without a second read.
        events = await self._store.list_audit(tenant, start=start, end=end, limit=limit + 1, after=after)
        page = events[:limit]
        return admin_pb2.ListAuditEventsResponse(
            events=[convert.audit_event(e) for e in page], next_page_token=page[-1].id if len(events) > limit else "",
        )
