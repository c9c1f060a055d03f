"""Play a workload against real ACD nodes over gRPC, with simulated callers and agents.

Entry point: ``await run(workload, agents, targets=..., tokens=..., time_scale=..., drain_timeout_s=...)``
returns a ``Recording`` (one ``CallTimeline`` per planned call, in workload
order, times in model seconds) for ``history.check``.

Time is scaled: a model second lasts ``1 / time_scale`` real seconds, so an
hour of traffic can run in a minute. Only the simulation is scaled: the nodes'
own timers (offer timeout, queue wrap-up, max wait, skill rings, lease TTL)
stay in real seconds, so at 60x a queue's 300 s max wait is five model hours.
Simulated agents therefore send their wrap-up (scaled) with every Complete.

Callers enqueue at their arrival time (a retried Enqueue carries the same
request id, so a retry never makes a second call), hang up (Cancel) when their
patience runs out before an agent answers, and carry their handle time in the
caller data (``handle_s``, model seconds) with the run id and their index in
the workload (``run``, ``seq``). Agents log in, go available, take every offer
of this run from their offer stream, hold each call for its handle time and
complete it; several chats at once when their capacity allows.

Nodes may die under the load (that is what the drills do): every unary RPC is
retried on UNAVAILABLE / DEADLINE_EXCEEDED against the site's next node for at
most ``RETRY_FOR_S``, and the offer streams reconnect with a capped backoff. A
retried accept, complete or cancel whose first attempt did land answers
FAILED_PRECONDITION; the driver then reads the call to learn what happened
instead of guessing. Everything is bounded: the run ends ``drain_timeout_s``
after the last caller is done at the latest.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import grpc
import grpc.aio
from ccpapi.v1 import agent_pb2, agent_pb2_grpc, common_pb2, interaction_pb2, interaction_pb2_grpc
from google.protobuf import duration_pb2
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

from ccp_acd.domain.models import Channel
from ccp_acd.sim.history import CallTimeline, Recording
from ccp_acd.sim.workload import PlannedCall, SimAgent
from ccp_acd.tls import ChannelSecurity, open_channel

log = logging.getLogger(__name__)

T = TypeVar("T")

CHANNELS = {
    Channel.VOICE: common_pb2.CHANNEL_VOICE,
    Channel.CHAT: common_pb2.CHANNEL_CHAT,
    Channel.EMAIL: common_pb2.CHANNEL_EMAIL,
    Channel.CALLBACK: common_pb2.CHANNEL_CALLBACK,
}
STATES = {
    common_pb2.INTERACTION_STATE_QUEUED: "queued",
    common_pb2.INTERACTION_STATE_CONNECTED: "connected",
    common_pb2.INTERACTION_STATE_COMPLETED: "completed",
    common_pb2.INTERACTION_STATE_ABANDONED: "abandoned",
    common_pb2.INTERACTION_STATE_VOICEMAIL: "voicemail",
}
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
# Answers meaning "not in the state you expect": after a retry, the first attempt may have landed.
PRECONDITION = {grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND}
# Real seconds one RPC keeps being retried (across the site's nodes) before the sim gives up on it:
# longer than a node's lease TTL plus a restart, shorter than any test's patience.
RETRY_FOR_S = 20.0
# Real seconds per attempt: an etcd-backed write takes milliseconds; a hung node must not hold a caller.
RPC_TIMEOUT_S = 5.0
# Real seconds between offer-stream reconnects (doubling from the first to the last).
RECONNECT_BACKOFF_S = (0.05, 1.0)
# Calls read at once while draining and for the final records.
READ_CONCURRENCY = 16


def _retryable(error: BaseException) -> bool:
    return isinstance(error, grpc.aio.AioRpcError) and error.code() in RETRYABLE


@dataclass(frozen=True)
class Tokens:
    """Bearer tokens of one tenant: role ``interaction`` for the callers, role ``agent`` per agent id."""

    interaction: str
    agents: Mapping[str, str]


class _Targets:
    """Node addresses per site, with the one currently in use; a failed node hands over to the next.

    A site the mapping does not know (or "") uses every address, in order.
    """

    def __init__(self, targets: Sequence[str] | Mapping[str, Sequence[str]]):
        by_site = {site: list(a) for site, a in targets.items()} if isinstance(targets, Mapping) else {"": list(targets)}
        everything = list(dict.fromkeys(a for addresses in by_site.values() for a in addresses))
        if not everything or any(not a for a in by_site.values()):
            raise ValueError("targets: at least one node address, and none of the sites without one")
        self._by_site = {**by_site, "": by_site.get("", everything)}
        self._cycles = {site: itertools.cycle(a) for site, a in self._by_site.items()}
        self._current = {site: next(cycle) for site, cycle in self._cycles.items()}

    def site_of(self, site: str) -> str:
        return site if site in self._by_site else ""

    def current(self, site: str) -> str:
        return self._current[self.site_of(site)]

    def failed(self, site: str, address: str) -> None:
        site = self.site_of(site)
        if self._current[site] == address:
            self._current[site] = next(self._cycles[site])

    def addresses(self) -> list[str]:
        return list(dict.fromkeys(a for addresses in self._by_site.values() for a in addresses))


@dataclass(frozen=True)
class _Node:
    """One node's channel and its stubs, made once (a stub makes a callable for every method of its service)."""

    channel: grpc.aio.Channel
    interactions: interaction_pb2_grpc.InteractionServiceStub
    agents: agent_pb2_grpc.AgentServiceStub


class Simulation:
    """One bounded run. ``recording.timelines`` fills in as it goes (a live display may read it)."""

    def __init__(
        self,
        workload: Sequence[PlannedCall],
        agents: Sequence[SimAgent],
        *,
        targets: Sequence[str] | Mapping[str, Sequence[str]],
        tokens: Tokens,
        time_scale: float = 1.0,
        drain_timeout_s: float = 30.0,
        security: ChannelSecurity | None = None,
    ):
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        missing = [a.id for a in agents if a.id not in tokens.agents]
        if missing:
            raise ValueError(f"no agent token for {', '.join(missing)}")
        self.workload = list(workload)
        self.agents = list(agents)
        self.tokens = tokens
        self.time_scale = time_scale
        self.drain_timeout_s = drain_timeout_s
        self.recording = Recording(
            timelines=[CallTimeline(planned=p, index=i) for i, p in enumerate(self.workload)],
            time_scale=time_scale,
            run_id=secrets.token_hex(4),
        )
        self._targets = _Targets(targets)
        self._started = 0.0
        self._answered = [asyncio.Event() for _ in self.workload]
        self._nodes: dict[str, _Node] = {}
        # None: from CCP_TLS_CA_FILE / CCP_PLAINTEXT, like every client (tls.ChannelSecurity.from_env).
        self._security = security or ChannelSecurity.from_env()

    @property
    def timelines(self) -> list[CallTimeline]:
        return self.recording.timelines

    # -- time --------------------------------------------------------------

    def now(self) -> float:
        """Model seconds since the run started."""
        return (time.monotonic() - self._started) * self.time_scale

    async def _sleep_until(self, model_s: float) -> None:
        await asyncio.sleep(max(0.0, self._started + model_s / self.time_scale - time.monotonic()))

    # -- connections -------------------------------------------------------

    def _node(self, address: str) -> _Node:
        if address not in self._nodes:
            channel = open_channel(address, self._security)
            self._nodes[address] = _Node(
                channel, interaction_pb2_grpc.InteractionServiceStub(channel), agent_pb2_grpc.AgentServiceStub(channel)
            )
        return self._nodes[address]

    async def _rpc(self, site: str, call: Callable[[_Node, tuple], Awaitable[T]], *, token: str) -> tuple[T, str]:
        """``call(node, metadata)`` retried on UNAVAILABLE across the site's nodes; returns (answer, address).

        The first attempt goes without tenacity: its bookkeeping cost more per call than the RPC's own
        Python (a profile of ``bench routing``'s driver), and almost every call succeeds at once.
        """
        metadata = (("authorization", f"Bearer {token}"),)

        async def once() -> tuple[T, str]:
            address = self._targets.current(site)
            try:
                return await call(self._node(address), metadata), address
            except grpc.aio.AioRpcError as e:
                if e.code() in RETRYABLE:
                    self._targets.failed(site, address)
                raise

        try:
            return await once()
        except Exception as e:
            if not _retryable(e):
                raise
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_delay(RETRY_FOR_S),
            wait=wait_exponential(multiplier=0.05, max=1.0),
            reraise=True,
        ):
            with attempt:
                return await once()
        raise AssertionError("unreachable: tenacity reraises the last error")

    async def _read(self, site: str, call_id: str) -> common_pb2.Interaction:
        request = interaction_pb2.GetInteractionRequest(interaction_id=call_id)
        record, _ = await self._rpc(
            site,
            lambda node, md: node.interactions.GetInteraction(
                request, metadata=md, timeout=RPC_TIMEOUT_S
            ),
            token=self.tokens.interaction,
        )
        return record

    # -- the run -----------------------------------------------------------

    async def run(self) -> Recording:
        self._started = time.monotonic()
        self.recording.started_wall = time.time()
        agents = [asyncio.create_task(self._agent(a), name=f"sim-agent-{a.id}") for a in self.agents]
        try:
            await asyncio.gather(*(self._caller(t) for t in self.timelines))
            await self._drain()
            await self._read_final_records()
        finally:
            for task in agents:
                task.cancel()
            await asyncio.gather(*agents, return_exceptions=True)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RPC_TIMEOUT_S):
                    await asyncio.gather(*(self._logout(a) for a in self.agents), return_exceptions=True)
            for node in self._nodes.values():
                await node.channel.close()
        return self.recording

    async def _caller(self, timeline: CallTimeline) -> None:
        planned = timeline.planned
        await self._sleep_until(planned.at_s)
        request = interaction_pb2.EnqueueRequest(
            queue=planned.queue,
            channel=CHANNELS[planned.channel],
            priority=planned.priority,
            caller=common_pb2.Caller(
                address=planned.caller or f"+1555{timeline.index:07d}",
                data={"seq": str(timeline.index), "handle_s": f"{planned.handle_s:.6g}", "run": self.recording.run_id},
            ),
            request_id=f"sim-{self.recording.run_id}-{timeline.index}",
        )
        timeline.enqueued_at = self.now()
        try:
            call, address = await self._rpc(
                planned.site,
                lambda node, md: node.interactions.Enqueue(
                    request, metadata=md, timeout=RPC_TIMEOUT_S
                ),
                token=self.tokens.interaction,
            )
        except grpc.aio.AioRpcError as e:
            timeline.enqueued_at = None
            timeline.enqueue_error = f"{e.code().name}: {e.details()}"
            return
        timeline.call_id, timeline.acked_at, timeline.enqueue_node = call.id, self.now(), address
        if call.state != common_pb2.INTERACTION_STATE_QUEUED:
            timeline.final_state = STATES.get(call.state, "")  # e.g. straight to voicemail
            return
        if planned.patience_s is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, timeline.enqueued_at + planned.patience_s - self.now()) / self.time_scale):
                await self._answered[timeline.index].wait()
            return
        await self._abandon(timeline)

    async def _abandon(self, timeline: CallTimeline) -> None:
        cancel = interaction_pb2.CancelRequest(interaction_id=timeline.call_id, reason="abandoned")
        site = timeline.planned.site
        try:
            await self._rpc(
                site,
                lambda node, md: node.interactions.Cancel(
                    cancel, metadata=md, timeout=RPC_TIMEOUT_S
                ),
                token=self.tokens.interaction,
            )
            timeline.abandoned_at = self.now()
        except grpc.aio.AioRpcError as e:
            if e.code() not in PRECONDITION:
                log.warning("abandon of %s failed: %s %s", timeline.call_id, e.code().name, e.details())
                return
            # Answered in the meantime or already ended (voicemail): the caller stays. Or a retried
            # Cancel whose first attempt landed: then the record says abandoned.
            with contextlib.suppress(grpc.aio.AioRpcError):
                record = await self._read(site, timeline.call_id)
                if record.state == common_pb2.INTERACTION_STATE_ABANDONED and not timeline.accepts:
                    timeline.abandoned_at = self.now()

    async def _agent(self, agent: SimAgent) -> None:
        token = self.tokens.agents[agent.id]
        md = (("authorization", f"Bearer {token}"),)
        handling: dict[str, asyncio.Task] = {}
        backoff = RECONNECT_BACKOFF_S[0]
        try:
            while True:
                address = self._targets.current(agent.site)
                try:
                    stub = self._node(address).agents
                    status = await stub.Login(agent_pb2.LoginRequest(agent_id=agent.id), metadata=md, timeout=RPC_TIMEOUT_S)
                    if status.state in (common_pb2.AGENT_STATE_LOGGED_OUT, common_pb2.AGENT_STATE_BREAK):
                        await stub.SetState(
                            agent_pb2.SetStateRequest(agent_id=agent.id, state=common_pb2.AGENT_STATE_AVAILABLE),
                            metadata=md,
                            timeout=RPC_TIMEOUT_S,
                        )
                    async for event in stub.StreamOffers(agent_pb2.StreamOffersRequest(agent_id=agent.id), metadata=md):
                        backoff = RECONNECT_BACKOFF_S[0]
                        if not event.HasField("offer"):
                            continue
                        interaction = event.offer.interaction
                        # A reconnected stream repeats pending offers: one handler per call.
                        if interaction.id in handling:
                            continue
                        task = asyncio.create_task(self._handle(agent, token, interaction))
                        handling[interaction.id] = task
                        task.add_done_callback(lambda _, key=interaction.id: handling.pop(key, None))
                except grpc.aio.AioRpcError as e:
                    if e.code() not in RETRYABLE and e.code() is not grpc.StatusCode.CANCELLED:
                        log.warning("agent %s: %s %s", agent.id, e.code().name, e.details())
                    self._targets.failed(agent.site, address)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, RECONNECT_BACKOFF_S[1])
        finally:
            for task in list(handling.values()):
                task.cancel()
            await asyncio.gather(*handling.values(), return_exceptions=True)

    def _ours(self, interaction: common_pb2.Interaction) -> CallTimeline | None:
        data = interaction.caller.data
        if data.get("run") != self.recording.run_id:
            return None
        try:
            seq = int(data.get("seq", "-1"))
        except ValueError:
            return None
        return self.timelines[seq] if 0 <= seq < len(self.timelines) else None

    async def _handle(self, agent: SimAgent, token: str, interaction: common_pb2.Interaction) -> None:
        timeline = self._ours(interaction)
        if timeline is None:
            return  # not this run's call: leave the offer to time out
        timeline.offers.append((agent.id, self.now()))
        site = agent.site
        accept = agent_pb2.AcceptOfferRequest(agent_id=agent.id, interaction_id=interaction.id)
        try:
            _, address = await self._rpc(
                site,
                lambda node, md: node.agents.AcceptOffer(accept, metadata=md, timeout=RPC_TIMEOUT_S),
                token=token,
            )
        except grpc.aio.AioRpcError as e:
            if e.code() not in PRECONDITION:
                log.warning("agent %s: accept of %s failed: %s %s", agent.id, interaction.id, e.code().name, e.details())
                return
            # The offer expired, was withdrawn or the caller hung up; or a retried accept whose first
            # attempt landed, in which case the call is connected to this agent.
            try:
                record = await self._read(site, interaction.id)
            except grpc.aio.AioRpcError:
                return
            if record.state != common_pb2.INTERACTION_STATE_CONNECTED or record.agent_id != agent.id:
                return
            address = self._targets.current(site)
        timeline.accepts.append((agent.id, self.now()))
        timeline.answer_node = address
        self._answered[timeline.index].set()
        await asyncio.sleep(timeline.planned.handle_s / self.time_scale)
        complete = agent_pb2.CompleteRequest(agent_id=agent.id, interaction_id=interaction.id, disposition="done")
        if agent.wrap_up_s is not None:
            wrap_up = duration_pb2.Duration()
            wrap_up.FromNanoseconds(round(agent.wrap_up_s / self.time_scale * 1e9))
            complete.wrap_up.CopyFrom(wrap_up)
            complete.wrap_up.SetInParent()
        try:
            await self._rpc(
                site,
                lambda node, md: node.agents.Complete(complete, metadata=md, timeout=RPC_TIMEOUT_S),
                token=token,
            )
        except grpc.aio.AioRpcError as e:
            if e.code() not in PRECONDITION:
                log.warning("agent %s: complete of %s failed: %s %s", agent.id, interaction.id, e.code().name, e.details())
                return
            # A retried Complete whose first attempt landed: the record says completed.
            try:
                record = await self._read(site, interaction.id)
            except grpc.aio.AioRpcError:
                return
            if record.state != common_pb2.INTERACTION_STATE_COMPLETED or record.agent_id != agent.id:
                log.warning("agent %s: %s is no longer ours: %s", agent.id, interaction.id, e.details())
                return
        timeline.completed_at = self.now()

    def _resolved(self, timeline: CallTimeline) -> bool:
        return (
            not timeline.call_id
            or timeline.completed_at is not None
            or timeline.abandoned_at is not None
            or timeline.final_state in ("completed", "abandoned", "voicemail")
        )

    async def _drain(self) -> None:
        """Wait for every call to end (bounded); poll the ones no client will hear the end of."""
        deadline = time.monotonic() + self.drain_timeout_s
        while time.monotonic() < deadline:
            open_calls = [t for t in self.timelines if not self._resolved(t)]
            if not open_calls:
                return
            # Calls nobody answered may have ended on the node's own policy (voicemail, max wait).
            await self._read_final_records([t for t in open_calls if not t.accepts][:50])
            await asyncio.sleep(0.25)

    async def _read_final_records(self, timelines: Sequence[CallTimeline] | None = None) -> None:
        limit = asyncio.Semaphore(READ_CONCURRENCY)

        async def read(timeline: CallTimeline) -> None:
            async with limit:
                try:
                    record = await self._read(timeline.planned.site, timeline.call_id)
                except grpc.aio.AioRpcError as e:
                    timeline.final_state = "missing" if e.code() is grpc.StatusCode.NOT_FOUND else ""
                    return
            timeline.final_state = STATES.get(record.state, "")
            timeline.final_agent = record.agent_id
            timeline.final_reason = record.reason
            timeline.final_queue = record.queue
            timeline.final_site = record.site

        chosen = self.timelines if timelines is None else timelines
        await asyncio.gather(*(read(t) for t in chosen if t.call_id))

    async def _logout(self, agent: SimAgent) -> None:
        logout = agent_pb2.LogoutRequest(agent_id=agent.id)
        with contextlib.suppress(grpc.aio.AioRpcError):
            await self._rpc(
                agent.site,
                lambda node, md: node.agents.Logout(logout, metadata=md, timeout=RPC_TIMEOUT_S),
                token=self.tokens.agents[agent.id],
            )


async def run(
    workload: Sequence[PlannedCall],
    agents: Sequence[SimAgent],
    *,
    targets: Sequence[str] | Mapping[str, Sequence[str]],
    tokens: Tokens,
    time_scale: float = 1.0,
    drain_timeout_s: float = 30.0,
    security: ChannelSecurity | None = None,
) -> Recording:
    """Play ``workload`` with ``agents`` against the nodes at ``targets``; bounded; returns what happened.

    - ``targets``: node addresses ("host:port"), either one list used by every
      call and agent, or site -> addresses so a call (``PlannedCall.site``) and
      an agent (``SimAgent.site``) reach their own site's nodes; a site not
      listed uses every address.
    - ``tokens``: the tenant's interaction token and one agent token per agent.
    - ``time_scale``: model seconds per real second.
    - ``drain_timeout_s``: real seconds to wait, after the last caller is
      enqueued (or abandoned), for the calls in the system to end.
    - ``security``: TLS (the CA) or explicit plaintext; None: from the CCP_*
      environment (``tls.ChannelSecurity.from_env``).

    The agents must exist on the tenant (AdminService.CreateAgent or the
    store); they are logged out at the end. The nodes' queue config is not
    touched. The run's model clock starts when this is called: each
    ``CallTimeline`` has ``enqueued_at`` (the caller sent Enqueue),
    ``answered_at`` (its accept succeeded), ``ended_at``, ``wait_s`` and the
    node's final record; ``history.check(recording)`` gives the verdict.
    """
    simulation = Simulation(
        workload, agents, targets=targets, tokens=tokens, time_scale=time_scale, drain_timeout_s=drain_timeout_s,
        security=security,
    )
    return await simulation.run()
