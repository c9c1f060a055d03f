"""SiteService: what this site can take, and adopting a waiting call from another site.

Authenticated with the cluster token (``CCP_CLUSTER_TOKEN``), not a tenant
token: it spans tenants. With TLS on, the caller must also have shown a client
certificate the handshake verified against the cluster CA, which only the
node's peer port (``CCP_PEER_LISTEN``, mTLS required) asks for. With an
empty cluster token the service is disabled:
it stays registered (so the caller gets a clear answer, not UNIMPLEMENTED),
every call answers UNAVAILABLE, and its health status is NOT_SERVING.

GetSnapshot reports, per tenant and queue, the calls waiting at this site,
this site's agents staffed / available for the queue's widest skill
requirements, and the expected wait of a call arriving now (Erlang-style
estimate from ``domain.predictions``). It reads every tenant's live view: it
is meant for a peer polling every few seconds.

HandOverCall moves a queued call's routing site to this site in one guarded
transaction (``Store.hand_over``); the call keeps its arrival time and place
in line. ``from_site`` must be the call's current site: a site that lost the
call meanwhile (fencing) gets FAILED_PRECONDITION. Caveat: that check reads
before the transaction, which compares only the call record's revision, so a
concurrent hand-over by a third site is caught by the revision compare, not by
the site check.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import grpc.aio
from ccpapi.v1 import site_pb2, site_pb2_grpc

from ccp_acd.api import convert, validate
from ccp_acd.api.auth import ClusterAuthenticator
from ccp_acd.api.status import ServiceDisabled, grpc_errors
from ccp_acd.domain import predictions
from ccp_acd.domain.models import CallState, LiveView, QueueConfig
from ccp_acd.domain.skills import eligible
from ccp_acd.errors import FailedPrecondition, Unauthenticated
from ccp_acd.state.store import Store
from ccp_acd.tls import peer_certified


def queue_capacity(
    tenant: str, queue: QueueConfig, view: LiveView, *, site: str, now: float
) -> site_pb2.QueueCapacity:
    waiting = sum(
        1
        for c in view.calls.values()
        if c.queue == queue.name and c.site == site and c.state is CallState.QUEUED
    )
    widest = queue.widest_requirements()
    agents = [a for a in view.agents.values() if a.site == site and a.logged_in and eligible(a, widest)]
    busy = {c.agent_id for c in view.calls.values() if c.state is CallState.CONNECTED}
    busy |= {r.agent_id for r in view.reservations.values()}
    available = sum(1 for a in agents if a.ready(now) and a.id not in busy)
    wait_s = predictions.expected_wait_s(
        position=waiting + 1, staffed=len(agents), available=available, aht_s=queue.expected_handle_s
    )
    return site_pb2.QueueCapacity(
        tenant=tenant,
        queue=queue.name,
        waiting=waiting,
        agents_available=available,
        agents_staffed=len(agents),
        expected_wait=convert.duration(wait_s),
    )


class SiteServicer(site_pb2_grpc.SiteServiceServicer):
    def __init__(
        self,
        store: Store,
        auth: ClusterAuthenticator,
        *,
        site: str,
        require_peer_cert: bool = False,
        clock: Callable[[], float] = time.time,
    ):
        self._store = store
        self._auth = auth
        self._site = site
        self._require_peer_cert = require_peer_cert
        self._clock = clock

    def _check(self, context: grpc.aio.ServicerContext) -> None:
        if not self._auth.enabled:
            raise ServiceDisabled("SiteService is disabled on this node (CCP_CLUSTER_TOKEN is empty)")
        # The certificate was verified against the cluster CA in the handshake: only the peer port asks for one.
        if self._require_peer_cert and not peer_certified(context.auth_context()):
            raise Unauthenticated(
                "SiteService needs a client certificate from the cluster CA: call the node's peer port "
                "(CCP_PEER_LISTEN) over mTLS"
            )
        self._auth.check(context)

    @grpc_errors
    async def GetSnapshot(self, request, context):
        self._check(context)
        capacities = []
        for tenant in await self._store.list_tenants():
            queues = await self._store.get_queue_configs(tenant)
            view = await self._store.load_live(tenant)
            now = self._clock()
            for name in sorted(queues):
                capacities.append(queue_capacity(tenant, queues[name], view, site=self._site, now=now))
        return site_pb2.SiteSnapshot(
            site=self._site, queues=capacities, taken_at=convert.timestamp(self._clock())
        )

    @grpc_errors
    async def HandOverCall(self, request, context):
        self._check(context)
        validate.hand_over_call(request)
        call = await self._store.get_call(request.tenant, request.interaction_id)
        if call.site == self._site:
            return site_pb2.HandOverCallResponse(
                site=self._site, adopted=True, reason="already routed by this site"
            )
        if call.state is not CallState.QUEUED:
            raise FailedPrecondition(f"interaction_id: interaction is {call.state}; only queued calls move")
        if call.site != request.from_site:
            raise FailedPrecondition(
                f"from_site: the interaction is routed by site {call.site!r}, not {request.from_site!r}"
            )
        moved = await self._store.hand_over(
            request.tenant, request.interaction_id, to_site=self._site, now=self._clock()
        )
        return site_pb2.HandOverCallResponse(
            site=moved.site, adopted=moved.site == self._site, reason=moved.reason
        )
