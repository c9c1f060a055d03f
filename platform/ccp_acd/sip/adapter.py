"""The ``ccp sip`` process: one pyVoIP phone per trunk of the tenant, sessions for their calls, the node client.

asyncio owns the gRPC client, the etcd reads and the watches; pyVoIP's threads own the SIP and RTP sockets and
run one session per call (``sessions``). Trunk configs, the blocklist and the queue configs are re-read from
etcd every ``config_refresh_s`` (read-only); a change applies to the next INVITE: the screening snapshot is
swapped in one assignment, a trunk that appears gets a phone, one that goes away (or leaves this site) has its
phone stopped after its calls end.

Shutdown (SIGTERM, SIGINT): new INVITEs are no longer answered (the phones stop taking calls), each session
gets ``ShuttingDown``: callers still queued hear the sorry tone and are released and their interactions
cancelled ("adapter shutdown"); bridged calls are released on both legs and hung up as the caller's. No
caller is left connected to nothing. The grace for that is ``SHUTDOWN_GRACE_S``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import threading
import time
from collections.abc import Mapping

from ccp_acd.domain.models import QueueConfig
from ccp_acd.recordings import KeyRing, RecordingError, RecordingStore
from ccp_acd.sip import health, messages, rtp
from ccp_acd.sip.nodes import NodeClient
from ccp_acd.sip.phones import AdapterPhone
from ccp_acd.sip.pools import AgentPhones, RtpSlices
from ccp_acd.sip.screening import Rejection, TrunkView
from ccp_acd.sip.sessions import Context, Session
from ccp_acd.sip.settings import SipSettings
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import TrunkConfig
from ccp_acd.tls import ChannelSecurity

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 5.0


class Trunk:
    """One trunk's phone and its current screening snapshot."""

    def __init__(self, adapter: Adapter, view: TrunkView, *, port: int):
        self.adapter = adapter
        self.view = view
        self.sessions: set[Session] = set()
        self.calls_total = 0
        sip = view.trunk.sip
        host, carrier_port = (sip.carrier_host, sip.carrier_port) if sip else adapter.settings.carrier_of(view.trunk.name)
        self.phone = AdapterPhone(
            server=host, port=carrier_port, bind=adapter.settings.bind, sip_port=port,
            rtp_ports=adapter.rtp_ports(view.trunk.name), on_call=self._on_call, screen=self._screen,
            engine=adapter.engine,
        )

    def _screen(self, head: messages.Head, source: tuple[str, int]) -> Rejection | None:
        if self.adapter.stopping.is_set():
            return Rejection(503, "adapter shutting down")
        number, _ = messages.caller(head)
        return self.view.screen(source_host=source[0], dialled=messages.dialled(head), caller=number)

    def _on_call(self, call) -> None:
        """pyVoIP's call thread: runs the session to its end (pyVoIP forgets a call whose thread ended)."""
        session = Session(self.adapter.context(self), call)
        self.sessions.add(session)
        self.calls_total += 1
        try:
            session.run()
        finally:
            self.sessions.discard(session)


class Adapter:
    def __init__(self, settings: SipSettings, *, store: EtcdStore, nodes: NodeClient,
                 recordings: RecordingStore | None):
        self.settings = settings
        self.store = store
        self.nodes = nodes
        self.recordings = recordings
        self.stopping = threading.Event()
        self.rtp = RtpSlices(settings.rtp_port_low, settings.rtp_port_high)
        self.engine = rtp.RtpEngine()  # every leg's RTP, the trunks' and the agents' (sip/rtp.py)
        self.agents = AgentPhones(bind=settings.bind, first_port=settings.agent_port_low, rtp_ports=self.rtp,
                                  ports_each=settings.agent_rtp_ports, engine=self.engine)
        self.trunks: dict[str, Trunk] = {}
        self._trunk_rtp: dict[str, tuple[int, int]] = {}
        self.queues: Mapping[str, QueueConfig] = {}
        self.loop: asyncio.AbstractEventLoop | None = None

    def rtp_ports(self, trunk: str) -> tuple[int, int]:
        """A trunk's RTP slice, kept across its phones (a restarted or retried phone must not use up the range)."""
        if trunk not in self._trunk_rtp:
            self._trunk_rtp[trunk] = self.rtp.take(self.settings.trunk_rtp_ports)
        return self._trunk_rtp[trunk]

    def context(self, trunk: Trunk) -> Context:
        return Context(
            tenant=self.settings.tenant, trunk=trunk.view.trunk, phone=trunk.phone, agents=self.agents,
            nodes=self.nodes, loop=self.loop, settings=self.settings, recordings=self.recordings,
            stopping=self.stopping, queues=lambda: self.queues,
        )

    def _serves(self, trunk: TrunkConfig) -> bool:
        return trunk.home_site in ("", self.settings.site)

    async def refresh(self) -> None:
        """Read the tenant's trunks, blocklist and queues; start, update or stop phones to match."""
        if self.stopping.is_set():
            return
        tenant = self.settings.tenant
        configs = await self.store.get_trunk_configs(tenant)
        blocked = await self.store.list_blocked(tenant)
        self.queues = await self.store.get_queue_configs(tenant)
        wanted = {name: config for name, config in configs.items() if self._serves(config)}
        for name, config in wanted.items():
            view = TrunkView.of(config, blocked)
            trunk = self.trunks.get(name)
            if trunk is not None and trunk.view.trunk.sip == config.sip:
                trunk.view = view
                continue
            if trunk is not None:  # moved to another port or carrier: a new phone (calls up on the old one end first)
                del self.trunks[name]
                await asyncio.to_thread(trunk.phone.stop)
            port = config.sip.port if config.sip else self.settings.port_of(name)
            if port is None:
                log.warning("trunk %s has no sip.port (nor CCP_SIP_TRUNK_PORTS); not served", name)
                continue
            trunk = Trunk(self, view, port=port)
            try:
                await asyncio.to_thread(trunk.phone.start)
            except OSError as e:  # the port is taken: the other trunks are served, this one is retried next time
                log.error("trunk %s: cannot listen on %s:%s: %s", name, self.settings.bind, port, e.strerror)
                await asyncio.to_thread(trunk.phone.sip.stop)
                continue
            self.trunks[name] = trunk
            log.info("trunk %s: listening on %s:%s", name, self.settings.bind, port)
        for name in set(self.trunks) - set(wanted):
            trunk = self.trunks.pop(name)
            log.info("trunk %s: no longer served here; stopping its phone", name)
            await asyncio.to_thread(trunk.phone.stop)

    async def run(self, stop: asyncio.Event) -> None:
        self.loop = asyncio.get_running_loop()
        await self.refresh()
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.settings.config_refresh_s)
            if stop.is_set():
                break
            try:
                await self.refresh()
            except Exception as e:  # noqa: BLE001 - etcd trouble keeps the last configs; calls go on
                log.warning("config refresh failed: %s; keeping the last configs", type(e).__name__)
        await self.shutdown()

    async def shutdown(self) -> None:
        self.stopping.set()
        deadline = time.monotonic() + SHUTDOWN_GRACE_S
        while any(t.sessions for t in self.trunks.values()) and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        for trunk in self.trunks.values():
            await asyncio.to_thread(trunk.phone.stop)
        self.trunks.clear()
        await asyncio.to_thread(self.agents.stop)
        await asyncio.to_thread(self.engine.stop)


async def serve(settings: SipSettings, *, stop: asyncio.Event | None = None) -> None:
    """Run the adapter until ``stop`` is set (or SIGTERM/SIGINT when none is given)."""
    node_security = ChannelSecurity.from_env()
    etcd_security = ChannelSecurity.etcd_from_env()
    try:
        recordings = RecordingStore(settings.recordings_dir, KeyRing.from_env())
    except (RecordingError, ValueError, OSError) as e:
        log.warning("voicemail recording disabled: %s", e)
        recordings = None
    store = await EtcdStore.connect(settings.etcd_endpoint, security=etcd_security)
    nodes = NodeClient(settings.node_addresses(), security=node_security, token=settings.token(),
                       timeout_s=settings.node_timeout_s)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    adapter = Adapter(settings, store=store, nodes=nodes, recordings=recordings)
    listener = await health.start(adapter, settings.health_listen) if settings.health_listen else None
    try:
        await adapter.run(stop)
    finally:
        if listener is not None:
            await listener.cleanup()
        await nodes.close()
        await store.close()


def main() -> None:
    settings = SipSettings()  # type: ignore[call-arg]  # from the environment
    asyncio.run(serve(settings))
