"""Wiring of one ACD node: etcd store, node session, gRPC server, router.

Start-up order: connect to etcd, bind the gRPC port (so the registration
carries the real address, also with port 0 in tests), open the node session
(lease + registration), start the server and the router, mark every service
SERVING in grpc.health.v1.

Shutdown (SIGTERM / SIGINT, or ``Node.stop``): mark NOT_SERVING, stop the
router, stop accepting RPCs while in-flight ones get ``SHUTDOWN_GRACE_S`` to
finish, and revoke the session lease at the same time so this node's pending
offers go back to their queues at once instead of after the lease TTL; then
close the store.

Not for: routing logic (``routing.Router``) or request handling (``api``).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import signal
import sys
from collections.abc import Awaitable
from dataclasses import dataclass

import grpc
import grpc.aio
from ccpapi.v1 import (
    admin_pb2,
    admin_pb2_grpc,
    agent_pb2,
    agent_pb2_grpc,
    interaction_pb2,
    interaction_pb2_grpc,
    site_pb2,
    site_pb2_grpc,
)
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer
from grpc_reflection.v1alpha import reflection
from opentelemetry import trace

from ccp_acd.api.admin import AdminServicer
from ccp_acd.api.agents import AgentServicer
from ccp_acd.api.auth import Authenticator, ClusterAuthenticator
from ccp_acd.api.decoding import RequestDecoding
from ccp_acd.api.interactions import InteractionServicer
from ccp_acd.api.overload import Overload, server_options
from ccp_acd.api.sites import SiteServicer
from ccp_acd.redaction import configure_logging
from ccp_acd.routing import Router
from ccp_acd.settings import NodeSettings
from ccp_acd.state.etcd import EtcdStore, Session
from ccp_acd.state.intervals import IntervalViews
from ccp_acd.state.live import LiveViews
from ccp_acd.state.retention import start_retention
from ccp_acd.state.sites import SiteDirectory
from ccp_acd.telemetry import Telemetry, start_telemetry
from ccp_acd.tls import server_credentials
from ccp_acd.wallboard.web import Wallboard, start_wallboard

log = logging.getLogger(__name__)

# Seconds in-flight RPCs (offer streams included) get to finish at shutdown.
SHUTDOWN_GRACE_S = 5.0
# Seconds any other shutdown step (router stop, lease revoke, client close) may take before it is abandoned:
# an unreachable etcd must not keep a SIGTERMed node alive.
STEP_TIMEOUT_S = 5.0

SERVICES = {
    "agent": agent_pb2.DESCRIPTOR.services_by_name["AgentService"].full_name,
    "interaction": interaction_pb2.DESCRIPTOR.services_by_name["InteractionService"].full_name,
    "admin": admin_pb2.DESCRIPTOR.services_by_name["AdminService"].full_name,
    "site": site_pb2.DESCRIPTOR.services_by_name["SiteService"].full_name,
}


@dataclass
class Node:
    """A running node: what ``start_node`` built; ``stop`` tears it down once."""

    settings: NodeSettings
    store: EtcdStore
    session: Session
    server: grpc.aio.Server
    health: HealthServicer
    router: Router
    router_task: asyncio.Task[None]
    port: int
    telemetry: Telemetry | None = None
    wallboard: Wallboard | None = None
    overload: Overload | None = None
    intervals: IntervalViews | None = None
    peer_port: int = 0  # the node-to-node (mTLS) port; 0: none

    @property
    def address(self) -> str:
        host = self.settings.grpc_listen.rpartition(":")[0]
        return f"{host}:{self.port}"

    @property
    def peer_address(self) -> str:
        host = self.settings.peer_listen.rpartition(":")[0]
        return f"{host}:{self.peer_port}" if self.peer_port else ""

    async def stop(self, *, grace_s: float = SHUTDOWN_GRACE_S) -> None:
        await self.health.enter_graceful_shutdown()
        self.router_task.cancel()
        _, pending = await asyncio.wait({self.router_task}, timeout=STEP_TIMEOUT_S)
        if pending:
            log.warning("the router did not stop within %ss; going on with the shutdown", STEP_TIMEOUT_S)
        if self.wallboard is not None:
            await _bounded(self.wallboard.stop(), "wallboard stop", STEP_TIMEOUT_S)
        if self.overload is not None:
            await self.overload.stop()
        await asyncio.gather(
            _bounded(self.server.stop(grace_s), "gRPC server stop", grace_s + STEP_TIMEOUT_S),
            _bounded(self.session.close(), "session close (lease revoke)", STEP_TIMEOUT_S),
        )
        if self.intervals is not None:
            await _bounded(self.intervals.close(), "interval caches stop", STEP_TIMEOUT_S)
        await _bounded(self.store.close(), "etcd client close", STEP_TIMEOUT_S)
        if self.telemetry is not None:
            self.telemetry.shutdown()
        log.info("node %s/%s stopped", self.settings.site, self.settings.node_id)


async def _bounded(awaitable: Awaitable[object], what: str, timeout_s: float) -> None:
    """Shutdown never hangs on one step: a step past its time is abandoned with a warning."""
    try:
        async with asyncio.timeout(timeout_s):
            await awaitable
    except TimeoutError:
        log.warning("%s did not finish within %ss; going on with the shutdown", what, timeout_s)


def _bind(server: grpc.aio.Server, settings: NodeSettings) -> tuple[int, int]:
    """Bind the clients' port and the optional peer port: TLS, or plaintext only when settings say so."""

    def add(listen: str, *, peer: bool) -> int:
        if settings.plaintext:
            port = server.add_insecure_port(listen)
        else:
            credentials = server_credentials(
                cert_file=settings.tls_cert_file, key_file=settings.tls_key_file, ca_file=settings.tls_ca_file,
                require_client_cert=peer,
            )
            port = server.add_secure_port(listen, credentials)
        if port == 0:
            raise OSError(f"cannot bind the gRPC server to {listen}")
        return port

    port = add(settings.grpc_listen, peer=False)
    return port, add(settings.peer_listen, peer=True) if settings.peer_listen else 0


async def start_node(settings: NodeSettings, *, tracer_provider: trace.TracerProvider | None = None) -> Node:
    """A serving node; ``tracer_provider`` (tests) replaces the one built from the OTEL_* variables."""
    store = await EtcdStore.connect(
        settings.etcd_endpoint, timeout_s=settings.etcd_timeout_s, security=settings.etcd_security()
    )
    telemetry: Telemetry | None = None
    try:
        telemetry = start_telemetry(settings, tracer_provider=tracer_provider)
        events = telemetry.events
        cluster_token = settings.cluster_token.get_secret_value()
        auth = Authenticator(store)
        directory = SiteDirectory(store, site=settings.site, node_id=settings.node_id)
        # The live views the router keeps for its tenants; the API and the wallboard read them too.
        views = LiveViews(store)
        # The queue statistics' interval totals, for the admin API and the wallboard (state/intervals.py).
        intervals = IntervalViews(store)
        overload = Overload(settings, refused=events.refused)
        # RequestDecoding last: next to the handlers, so the tracing interceptor sees its INVALID_ARGUMENT.
        # Overload before it: a request shed for overload is not even decoded (api/overload.py).
        server = grpc.aio.server(
            interceptors=(*telemetry.server_interceptors(), overload.interceptor(), RequestDecoding()),
            options=server_options(settings),
        )
        agent_pb2_grpc.add_AgentServiceServicer_to_server(AgentServicer(store, auth, events=events, views=views), server)
        interactions = InteractionServicer(
            store, auth, site=settings.site, node_id=settings.node_id, directory=directory, events=events,
            views=views, overload=overload,
        )
        interaction_pb2_grpc.add_InteractionServiceServicer_to_server(interactions, server)
        admin_pb2_grpc.add_AdminServiceServicer_to_server(
            # Blocklist writes through this node mark its config cache stale: the next Enqueue sees them.
            AdminServicer(store, auth, site=settings.site, views=views, intervals=intervals), server
        )
        site_pb2_grpc.add_SiteServiceServicer_to_server(
            # With TLS, SiteService answers only callers with a certificate from the cluster CA (the peer port).
            SiteServicer(
                store, ClusterAuthenticator(cluster_token), site=settings.site, require_peer_cert=not settings.plaintext
            ),
            server,
        )
        health = HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(health, server)
        reflection.enable_server_reflection(
            (
                *SERVICES.values(),
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ),
            server,
        )
        port, peer_port = _bind(server, settings)
        host = settings.grpc_listen.rpartition(":")[0]
        session = await store.open_session(
            site=settings.site,
            node_id=settings.node_id,
            ttl_s=settings.lease_ttl_s,
            grpc_address=f"{host}:{port}",
        )
    except BaseException:
        await store.close()
        if telemetry is not None:
            telemetry.shutdown()
        raise
    await server.start()
    overload.start()
    router = Router(store, session=session, settings=settings, directory=directory, events=events, views=views)
    interactions.route_arrivals(router.enqueue)  # offer on arrival (routing.py)
    router_task = asyncio.create_task(router.run(), name="router")
    telemetry.observe(router)
    wallboard = await start_wallboard(
        settings.wallboard_listen, store, auth, interval_s=settings.wallboard_interval_s, views=views,
        intervals=intervals,
    )
    for key, name in SERVICES.items():
        serving = key != "site" or bool(cluster_token)
        await health.set(
            name,
            health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING,
        )
    await health.set("", health_pb2.HealthCheckResponse.SERVING)
    log.info(
        "node %s/%s serving on %s:%d (%s)%s, GIL switch interval %g ms", settings.site, settings.node_id, host, port,
        "PLAINTEXT" if settings.plaintext else "TLS", f", peers on port {peer_port}" if peer_port else "",
        sys.getswitchinterval() * 1000,
    )
    return Node(
        settings, store, session, server, health, router, router_task, port, telemetry, wallboard=wallboard,
        overload=overload, intervals=intervals, peer_port=peer_port,
    )


async def serve(settings: NodeSettings, *, ready: asyncio.Event | None = None) -> None:
    """Run a node until SIGTERM / SIGINT (or cancellation), then shut down gracefully."""
    node = await start_node(settings)
    # Everything built so far (modules, protobuf descriptors, pydantic validators, gRPC machinery) lives as
    # long as the process: out of the collector's sight, a full collection no longer walks it. Before, a
    # gen-2 collection paused the event loop for ~56 ms in a 20 s latency run (docs/performance.md).
    gc.collect()
    gc.freeze()
    # Retention (state/retention.py): every node sweeps the tenants it routes; deletes are idempotent.
    retention = start_retention(node.store, routes=settings.routes, interval_s=settings.retention_interval_s)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    handled: list[signal.Signals] = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not main thread / not supported here
            loop.add_signal_handler(sig, stop.set)
            handled.append(sig)
    if ready is not None:
        ready.set()
    try:
        waiter = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait({waiter, node.router_task}, return_when=asyncio.FIRST_COMPLETED)
        if node.router_task in done and not waiter.done():
            log.error("the router stopped unexpectedly; shutting the node down")
            waiter.cancel()
        log.info("shutting down")
    finally:
        for sig in handled:
            loop.remove_signal_handler(sig)
        retention.cancel()
        await asyncio.wait({retention})
        await node.stop()


def main() -> None:
    """Entry point for ``ccp node``: settings from CCP_* variables, run until signalled."""
    settings = NodeSettings()
    # Every record is redacted before it is written: caller numbers, tokens, the cluster token.
    configure_logging(settings.log_level, secrets=(settings.cluster_token.get_secret_value(),))
    sys.setswitchinterval(settings.gil_switch_interval_s)
    asyncio.run(serve(settings))


if __name__ == "__main__":
    main()
