"""A gRPC server that routes calls and keeps nothing: ``python -m bench.floor_server PORT`` (for ``bench floor``).

It serves the four RPCs of a routed call with the platform's own messages:
Enqueue hands the interaction to the next agent stream in turn (an offer on its
StreamOffers), AcceptOffer and Complete answer at once. No etcd, no state, no
auth, no interceptors: what is left is what Python gRPC itself costs per call.
It runs with the node's GIL switch interval, as ``ccp node`` does.
"""

from __future__ import annotations

import asyncio
import itertools
import sys

import grpc
from ccp_acd.settings import NodeSettings
from ccpapi.v1 import agent_pb2, agent_pb2_grpc, common_pb2, interaction_pb2_grpc


class Floor(interaction_pb2_grpc.InteractionServiceServicer, agent_pb2_grpc.AgentServiceServicer):
    def __init__(self):
        self._streams: dict[str, asyncio.Queue] = {}
        self._turns = itertools.count()
        self._ids = itertools.count()

    async def Enqueue(self, request, context):
        interaction = common_pb2.Interaction(
            id=f"f{next(self._ids)}", queue=request.queue, channel=request.channel, caller=request.caller
        )
        agents = list(self._streams.values())
        if not agents:
            await context.abort(grpc.StatusCode.UNAVAILABLE, "no agent stream open")
        agents[next(self._turns) % len(agents)].put_nowait(agent_pb2.OfferEvent(
            offer=agent_pb2.Offer(interaction=interaction)))
        return interaction

    async def StreamOffers(self, request, context):
        offers = self._streams[request.agent_id] = asyncio.Queue()
        try:
            while True:
                yield await offers.get()
        finally:
            self._streams.pop(request.agent_id, None)

    async def AcceptOffer(self, request, context):
        return common_pb2.Interaction(id=request.interaction_id, agent_id=request.agent_id)

    async def Complete(self, request, context):
        return agent_pb2.AgentStatus(agent_id=request.agent_id)


async def serve(port: int) -> None:
    server = grpc.aio.server()
    floor = Floor()
    interaction_pb2_grpc.add_InteractionServiceServicer_to_server(floor, server)
    agent_pb2_grpc.add_AgentServiceServicer_to_server(floor, server)
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    print("serving", flush=True)
    await server.wait_for_termination()


if __name__ == "__main__":
    sys.setswitchinterval(NodeSettings.model_fields["gil_switch_interval_s"].default)
    asyncio.run(serve(int(sys.argv[1])))
