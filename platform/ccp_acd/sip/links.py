"""A call thread's link to the nodes: blocking requests and a watch feeding ``calls`` events, both run on the
adapter's asyncio loop (which owns the gRPC client) and handed back across threads.

Not for decisions (``calls``) nor for retrying across nodes (``nodes.NodeClient`` does that).
"""

from __future__ import annotations

import asyncio
import logging
import queue
from concurrent.futures import Future

import grpc.aio
from ccpapi.v1 import common_pb2

from ccp_acd.sip import calls
from ccp_acd.sip.nodes import NodeClient, NodesUnavailable
from ccp_acd.state.voice import CALLBACK_NUMBER

log = logging.getLogger(__name__)

REFUSALS = (grpc.aio.AioRpcError, NodesUnavailable, TimeoutError)


def refusal_code(error: Exception) -> str:
    return error.code().name if isinstance(error, grpc.aio.AioRpcError) else "UNAVAILABLE"


def update(interaction: common_pb2.Interaction) -> calls.Update:
    wait = interaction.expected_wait.ToNanoseconds() / 1e9 if interaction.HasField("expected_wait") else None
    return calls.Update(
        state=common_pb2.InteractionState.Name(interaction.state), channel=common_pb2.Channel.Name(interaction.channel),
        agent_sip_uri=interaction.agent_sip_uri, position=interaction.position, expected_wait_s=wait,
        interaction_id=interaction.id, connection=connection(interaction),
    )


def connection(interaction: common_pb2.Interaction) -> str:
    """Which acceptance a CONNECTED interaction is: its agent and answer time ("" otherwise)."""
    if interaction.state != common_pb2.INTERACTION_STATE_CONNECTED:
        return ""
    return f"{interaction.agent_id}@{interaction.answered_at.ToNanoseconds()}"


class NodeLink:
    def __init__(self, nodes: NodeClient, loop: asyncio.AbstractEventLoop, *, timeout_s: float, call_id: str):
        self._nodes = nodes
        self._loop = loop
        self._timeout_s = timeout_s
        self._call_id = call_id
        self._watch: Future | None = None
        # Where a callback goes: RequestCallback's number (caller data "callback_number"); "": the caller's own.
        self.callback_number = ""

    def request(self, method: str, request, *, quiet: bool = False):
        """``method`` on a node, from the call's thread; ``quiet``: a refusal is logged and None returned (the
        call is ending anyway), else raised (one of ``REFUSALS``)."""
        future = asyncio.run_coroutine_threadsafe(self._nodes.call(method, request), self._loop)
        try:
            return future.result(self._timeout_s)
        except REFUSALS as e:
            if isinstance(e, TimeoutError):
                future.cancel()
            if not quiet:
                raise
            log.warning("call %s: %s refused: %s", self._call_id, method, refusal_code(e))
            return None

    def watch(self, interaction_id: str, events: queue.Queue) -> None:
        """Follow the interaction into ``events`` (Update; Failed when the watch is lost for good)."""
        self.stop()

        async def follow() -> None:
            try:
                async for interaction in self._nodes.watch(interaction_id):
                    self.callback_number = interaction.caller.data.get(CALLBACK_NUMBER, "")
                    events.put(update(interaction))
            except asyncio.CancelledError:
                raise
            except Exception as e:  # noqa: BLE001 - a lost watch ends the call rather than leaving it deaf
                log.warning("call %s: watch lost: %s", self._call_id, type(e).__name__)
                events.put(calls.Failed("watch lost"))

        self._watch = asyncio.run_coroutine_threadsafe(follow(), self._loop)

    def stop(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            self._watch = None
