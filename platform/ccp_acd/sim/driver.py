"""Play a workload against real ACD nodes over gRPC, with simulated callers and agents.

Time is scaled: a model second lasts ``1 / time_scale`` real seconds, so an
hour of traffic can run in a minute. Callers enqueue at their arrival time (a
retried Enqueue carries the same request id, so a retry never makes a second
call), hang up when their patience runs out before an agent answers, and
carry their handle time in the caller data (``handle_s``). Agents log in, go
available, take every offer from their offer stream, hold each call for its
handle time and complete it; several chats at once when their capacity allows.

Nodes may die under the load (that is what the drills do): every RPC is
retried on UNAVAILABLE against the site's next node, and the offer streams
reconnect with backoff. Everything is bounded: the run ends ``drain_timeout_s``
after the last arrival at the latest.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import grpc
import grpc.aio
from ccpapi.v1 import agent_pb2, agent_pb2_grpc, common_pb2, interaction_pb2, interaction_pb2_grpc
from tenacity import AsyncRetrying, retry_if_exception, stop_after_delay, wait_exponential

from ccp_acd.domain.models import Channel
from ccp_acd.sim.history import CallTimeline
from ccp_acd.sim.workload import PlannedCall, SimAgent

log = logging.getLogger(__name__)

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
RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.ABORTED}
# How long one RPC keeps being retried (across the site's nodes) before the sim gives up on it.
RETRY_FOR_S = 15.0
RPC_TIMEOUT_S = 5.0


def _retryable(error: BaseException) -> bool:
    return isinstance(error, grpc.aio.AioRpcError) and error.code() in RETRYABLE


def _code(error: BaseException) -> grpc.StatusCode | None:
    return error.code() if isinstance(error, grpc.aio.AioRpcError) else None


@dataclass(frozen=True)
class Endpoints:
    """Where to reach each site (node addresses, any order) and the credentials to use."""

    addresses: Mapping[str, Sequence[str]]
    interaction_token: str
    agent_tokens: Mapping[str, str]


class Simulation:
    """One bounded run. ``timelines`` fills in as it goes (a live display may read it)."""

    def __init__(
        self,
        workload: Sequence[PlannedCall],
        agents: Sequence[SimAgent],
        endpoints: Endpoints,
        *,
        time_scale: float = 1.0,
        drain_timeout_s: float = 30.0,
    ):
        if time_scale <= 0:
            raise ValueError("time_scale must be positive")
        self.workload = list(workload)
        self.agents = list(agents)
        self.endpoints = endpoints
        self.time_scale = time_scale
        self.drain_timeout_s = drain_timeout_s
        self.timelines = [CallTimeline(planned=p) for p in self.workload]
        self.run_id = secrets.token_hex(4)
        self._started = 0.0
        self._answered = {p.seq: asyncio.Event() for p in self.workload}
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._next = {site: itertools.cycle(addresses) for site, addresses in endpoints.addresses.items()}
        self._current = {site: addresses[0] for site, addresses in endpoints.addresses.items()}

    # -- time --------------------------------------------------------------

    def now(self) -> float:
        """Model seconds since the run started."""
        return (time.monotonic() - self._started) * self.time_scale

    async def _sleep_until(self, model_s: float) -> None:
        await asyncio.sleep(max(0.0, self._started + model_s / self.time_scale - time.monotonic()))

    # -- connections -------------------------------------------------------

    def _channel(self, site: str) -> grpc.aio.Channel:
        address = self._current[site]
        if address not in self._channels:
            self._channels[address] = grpc.aio.insecure_channel(address)
        return self._channels[address]

    def _fail_over(self, site: str, failed: str) -> None:
        if self._current[site] == failed:
            self._current[site] = next(self._next[site])

    async def _rpc(self, site: str, call, *, token: str):
        """``call(channel, metadata)`` with retries on UNAVAILABLE across the site's nodes."""
        metadata = (("authorization", f"Bearer {token}"),)
        async for attempt in AsyncRetrying(
            retry=retry_if_exception(_retryable),
            stop=stop_after_delay(RETRY_FOR_S),
            wait=wait_exponential(multiplier=0.05, max=1.0),
            reraise=True,
        ):
            with attempt:
                address = self._current[site]
                try:
                    return await call(self._channel(site), metadata)
                except grpc.aio.AioRpcError as e:
                    if e.code() in RETRYABLE:
                        self._fail_over(site, address)
                    raise
        raise AssertionError("unreachable")

    # -- the run -----------------------------------------------------------

    async def run(self) -> list[CallTimeline]:
        self._started = time.monotonic()
        agents = [asyncio.create_task(self._agent(a), name=f"agent-{a.id}") for a in self.agents]
        try:
            await asyncio.gather(*(self._caller(t) for t in self.timelines))
            await self._drain()
            await self._read_final_records()
        finally:
            for task in agents:
                task.cancel()
            await asyncio.gather(*agents, return_exceptions=True)
            await asyncio.gather(*(self._logout(a) for a in self.agents), return_exceptions=True)
            for channel in self._channels.values():
                await channel.close()
        return self.timelines

    async def _caller(self, timeline: CallTimeline) -> None:
        planned = timeline.planned
        await self._sleep_until(planned.at_s)
        request = interaction_pb2.EnqueueRequest(
            queue=planned.queue,
            channel=CHANNELS[planned.channel],
            priority=planned.priority,
            caller=common_pb2.Caller(
                address=planned.address or f"+1555{planned.seq:07d}",
                data={"seq": str(planned.seq), "handle_s": f"{planned.handle_s:.3f}", "run": self.run_id},
            ),
            request_id=f"sim-{self.run_id}-{planned.seq}",
        )
        try:
            call = await self._rpc(
                planned.site,
                lambda ch, md: interaction_pb2_grpc.InteractionServiceStub(ch).Enqueue(
                    request, metadata=md, timeout=RPC_TIMEOUT_S
                ),
                token=self.endpoints.interaction_token,
            )
        except grpc.aio.AioRpcError as e:
            timeline.enqueue_error = f"{e.code().name}: {e.details()}"
            return
        timeline.call_id, timeline.enqueued_at = call.id, self.now()
        if call.state != common_pb2.INTERACTION_STATE_QUEUED:
            timeline.final_state = STATES.get(call.state, "")  # e.g. straight to voicemail
            return
        if planned.patience_s is None:
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(planned.patience_s / self.time_scale):
                await self._answered[planned.seq].wait()
            return
        await self._abandon(timeline)

    async def _abandon(self, timeline: CallTimeline) -> None:
        cancel = interaction_pb2.CancelRequest(interaction_id=timeline.call_id, reason="abandoned")
        try:
            await self._rpc(
                timeline.planned.site,
                lambda ch, md: interaction_pb2_grpc.InteractionServiceStub(ch).Cancel(
                    cancel, metadata=md, timeout=RPC_TIMEOUT_S
                ),
                token=self.endpoints.interaction_token,
            )
            timeline.abandoned_at = self.now()
        except grpc.aio.AioRpcError as e:
            # Answered in the meantime, or already ended (voicemail): the caller stays.
            if e.code() not in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                log.warning("abandon of %s failed: %s", timeline.call_id, e.details())

    async def _agent(self, agent: SimAgent) -> None:
        token = self.endpoints.agent_tokens[agent.id]
        handling: set[asyncio.Task] = set()
        backoff = 0.05
        while True:
            address = self._current[agent.site]
            try:
                stub = agent_pb2_grpc.AgentServiceStub(self._channel(agent.site))
                md = (("authorization", f"Bearer {token}"),)
                await stub.Login(agent_pb2.LoginRequest(agent_id=agent.id), metadata=md, timeout=RPC_TIMEOUT_S)
                await stub.SetState(
                    agent_pb2.SetStateRequest(agent_id=agent.id, state=common_pb2.AGENT_STATE_AVAILABLE),
                    metadata=md,
                    timeout=RPC_TIMEOUT_S,
                )
                async for event in stub.StreamOffers(agent_pb2.StreamOffersRequest(agent_id=agent.id), metadata=md):
                    backoff = 0.05
                    if event.HasField("offer"):
                        task = asyncio.create_task(self._handle(agent, token, event.offer.interaction))
                        handling.add(task)
                        task.add_done_callback(handling.discard)
            except asyncio.CancelledError:
                for task in handling:
                    task.cancel()
                raise
            except grpc.aio.AioRpcError as e:
                if e.code() not in RETRYABLE and e.code() is not grpc.StatusCode.CANCELLED:
                    log.warning("agent %s: %s %s", agent.id, e.code().name, e.details())
                self._fail_over(agent.site, address)
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 1.0)

    async def _handle(self, agent: SimAgent, token: str, interaction: common_pb2.Interaction) -> None:
        seq = int(interaction.caller.data.get("seq", "-1"))
        if interaction.caller.data.get("run") != self.run_id or not 0 <= seq < len(self.timelines):
            return  # not ours
        timeline = self.timelines[seq]
        accept = agent_pb2.AcceptOfferRequest(agent_id=agent.id, interaction_id=interaction.id)
        try:
            await self._rpc(
                agent.site,
                lambda ch, md: agent_pb2_grpc.AgentServiceStub(ch).AcceptOffer(accept, metadata=md, timeout=RPC_TIMEOUT_S),
                token=token,
            )
        except grpc.aio.AioRpcError as e:
            if e.code() in (grpc.StatusCode.FAILED_PRECONDITION, grpc.StatusCode.NOT_FOUND):
                return  # the offer expired, was withdrawn, or the caller hung up
            raise
        timeline.accepts.append((agent.id, self.now()))
        self._answered[seq].set()
        await asyncio.sleep(timeline.planned.handle_s / self.time_scale)
        complete = agent_pb2.CompleteRequest(agent_id=agent.id, interaction_id=interaction.id, disposition="done")
        await self._rpc(
            agent.site,
            lambda ch, md: agent_pb2_grpc.AgentServiceStub(ch).Complete(complete, metadata=md, timeout=RPC_TIMEOUT_S),
            token=token,
        )
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
            unanswered = [t for t in open_calls if not t.accepts][:50]
            await self._read_final_records(unanswered)
            await asyncio.sleep(0.25)

    async def _read_final_records(self, timelines: Sequence[CallTimeline] | None = None) -> None:
        limit = asyncio.Semaphore(16)

        async def read(timeline: CallTimeline) -> None:
            request = interaction_pb2.GetInteractionRequest(interaction_id=timeline.call_id)
            async with limit:
                try:
                    record = await self._rpc(
                        timeline.planned.site,
                        lambda ch, md: interaction_pb2_grpc.InteractionServiceStub(ch).GetInteraction(
                            request, metadata=md, timeout=RPC_TIMEOUT_S
                        ),
                        token=self.endpoints.interaction_token,
                    )
                except grpc.aio.AioRpcError as e:
                    timeline.final_state = "missing" if e.code() is grpc.StatusCode.NOT_FOUND else ""
                    return
            timeline.final_state = STATES.get(record.state, "")
            timeline.final_agent = record.agent_id
            timeline.final_reason = record.reason

        chosen = self.timelines if timelines is None else timelines
        await asyncio.gather(*(read(t) for t in chosen if t.call_id))

    async def _logout(self, agent: SimAgent) -> None:
        logout = agent_pb2.LogoutRequest(agent_id=agent.id)
        with contextlib.suppress(grpc.aio.AioRpcError):
            await self._rpc(
                agent.site,
                lambda ch, md: agent_pb2_grpc.AgentServiceStub(ch).Logout(logout, metadata=md, timeout=RPC_TIMEOUT_S),
                token=self.endpoints.agent_tokens[agent.id],
            )
