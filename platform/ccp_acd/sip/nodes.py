"""The adapter's client of the site's ACD nodes: the InteractionService with the tenant's ``interaction`` token,
over TLS per the nodes' rules (``tls.open_channel``), failing over between the nodes in ``CCP_SIP_NODES``.

A request that finds its node unreachable (UNAVAILABLE) or too slow (DEADLINE_EXCEEDED) is sent to the next
node; every request the adapter makes is safe to repeat (Enqueue and LeaveVoicemail carry request ids, Cancel
and Hangup are idempotent once done, the watch starts with the interaction's current state). Other statuses are
the node's answer and are raised as they are (``grpc.aio.AioRpcError``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence

import grpc
import grpc.aio
from ccpapi.v1 import common_pb2, interaction_pb2, interaction_pb2_grpc

from ccp_acd.tls import ChannelSecurity, open_channel

log = logging.getLogger(__name__)

RETRYABLE = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
TERMINAL = {
    common_pb2.INTERACTION_STATE_COMPLETED, common_pb2.INTERACTION_STATE_ABANDONED,
    common_pb2.INTERACTION_STATE_VOICEMAIL,
}
# Seconds between GetInteraction polls when a node does not implement WatchInteraction (an older node).
POLL_S = 0.5


class NodesUnavailable(Exception):
    """No node of CCP_SIP_NODES answered."""


class NodeClient:
    def __init__(self, addresses: Sequence[str], *, security: ChannelSecurity, token: str, timeout_s: float):
        if not addresses:
            raise ValueError("no node address")
        self._addresses = list(addresses)
        self._security = security
        self._metadata = (("authorization", f"Bearer {token}"),)
        self._timeout_s = timeout_s
        self._channels: dict[str, grpc.aio.Channel] = {}
        self._current = 0

    def _stub(self, index: int) -> interaction_pb2_grpc.InteractionServiceStub:
        address = self._addresses[index % len(self._addresses)]
        if address not in self._channels:
            self._channels[address] = open_channel(address, self._security)
        return interaction_pb2_grpc.InteractionServiceStub(self._channels[address])

    async def call(self, method: str, request):
        """Unary ``method`` of the InteractionService, on the current node, then each other node in turn."""
        last: grpc.aio.AioRpcError | None = None
        for attempt in range(len(self._addresses)):
            index = self._current + attempt
            try:
                response = await getattr(self._stub(index), method)(
                    request, metadata=self._metadata, timeout=self._timeout_s
                )
            except grpc.aio.AioRpcError as e:
                if e.code() not in RETRYABLE:
                    raise
                log.warning("node %s: %s %s; trying the next node", self._addresses[index % len(self._addresses)],
                            method, e.code().name)
                last = e
                continue
            self._current = index % len(self._addresses)
            return response
        raise NodesUnavailable(f"{method}: no node answered ({last.code().name if last else 'none'})")

    async def watch(self, interaction_id: str) -> AsyncIterator[common_pb2.Interaction]:
        """The interaction now and at every change until terminal; resumes on another node when one goes away."""
        request = interaction_pb2.WatchInteractionRequest(interaction_id=interaction_id)
        failures = 0
        while True:
            index = self._current
            try:
                stream = self._stub(index).WatchInteraction(request, metadata=self._metadata)
                async for interaction in stream:
                    failures = 0
                    yield interaction
                    if interaction.state in TERMINAL:
                        return
                return
            except grpc.aio.AioRpcError as e:
                if e.code() == grpc.StatusCode.UNIMPLEMENTED:
                    async for interaction in self._poll(interaction_id):
                        yield interaction
                    return
                if e.code() not in RETRYABLE and e.code() != grpc.StatusCode.CANCELLED:
                    raise
                failures += 1
                if failures > 2 * len(self._addresses):
                    raise NodesUnavailable(f"WatchInteraction: no node answered ({e.code().name})") from e
                self._current = (index + 1) % len(self._addresses)
                await asyncio.sleep(min(0.1 * failures, 1.0))

    async def _poll(self, interaction_id: str) -> AsyncIterator[common_pb2.Interaction]:
        request = interaction_pb2.GetInteractionRequest(interaction_id=interaction_id)
        last = None
        while True:
            interaction = await self.call("GetInteraction", request)
            if interaction != last:
                yield interaction
                last = interaction
            if interaction.state in TERMINAL:
                return
            await asyncio.sleep(POLL_S)

    async def close(self) -> None:
        for channel in self._channels.values():
            await channel.close()
        self._channels.clear()
