"""Drive one in-process ACD node under load and print the hot-path figures of docs/performance.md.

Usage (from the repo root; starts its own etcd in a temporary directory)::

    .venv/bin/python scripts/profile_routing.py [--waiting 1000,10000] [--agents 1000] [--seconds 10]
    .venv/bin/py-spy record -o /tmp/ccp.speedscope --format speedscope -- .venv/bin/python scripts/profile_routing.py

Figures (wall clock on whatever machine runs it; they are noisy on a shared 2-core box):

- ``dispatch``: one ``Router.dispatch`` of a tenant with W waiting calls and A agents, all busy (every
  agent holds a connected call, so nothing can be offered: the cost is reading the view and planning);
- ``enqueue``: Enqueue over gRPC into that tenant (its reply reports position and expected wait);
- ``calls/s``: a closed loop on a second tenant (``--loop-agents`` agents, ``--callers`` callers):
  Enqueue over gRPC, the node offers, an agent accepts and completes through gRPC, the caller enqueues again.

Not a test and not the benchmark suite (``bench/``): a repeatable load for profiling the node.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import secrets
import statistics
import tempfile
import time
from pathlib import Path

from ccp_acd.api.auth import issue_token
from ccp_acd.domain.models import Agent, Call, CallState, Channel, Presence, QueueConfig
from ccp_acd.embedded.processes import start_etcd
from ccp_acd.server import start_node
from ccp_acd.settings import NodeSettings
from ccp_acd.state import keys
from ccp_acd.state.codec import encode
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import TenantConfig
from ccp_acd.tls import ChannelSecurity, open_channel
from ccpapi.v1 import agent_pb2, agent_pb2_grpc, common_pb2, interaction_pb2, interaction_pb2_grpc

SITE = "site-a"
BATCH = 100  # puts per seeding transaction (etcd's default limit is 128 operations)


def bearer(token: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {token}"),)


async def put_many(store: EtcdStore, records: list[tuple[str, object]]) -> None:
    client = store.client
    for start in range(0, len(records), BATCH):
        ops = [client.transactions.put(key.encode(), encode(value)) for key, value in records[start:start + BATCH]]
        await client.transaction(compare=[], success=ops, failure=[])


async def seed_busy_tenant(store: EtcdStore, tenant: str, *, agents: int, waiting: int) -> None:
    """``agents`` available agents each on a connected call, and ``waiting`` queued calls, written directly."""
    now = time.time()
    await store.put_tenant_config(TenantConfig(name=tenant, home_site=SITE))
    await store.put_queue_config(tenant, QueueConfig(name="support"))
    records: list[tuple[str, object]] = []
    for i in range(agents):
        agent_id = f"a{i:05d}"
        records.append((keys.agent(tenant, agent_id), Agent(
            id=agent_id, site=SITE, presence=Presence.AVAILABLE, presence_since=now, idle_since=now,
            capacity={Channel.VOICE: 1},
        )))
        call_id = f"{time.time_ns():020d}-c{i:05d}"
        records.append((keys.call(tenant, call_id), Call(
            id=call_id, queue="support", site=SITE, state=CallState.CONNECTED, agent_id=agent_id,
            enqueued_at=now - 60, queued_since=now - 60, answered_at=now - 30,
        )))
    for i in range(waiting):
        call_id = f"{time.time_ns():020d}-w{i:05d}"
        records.append((keys.call(tenant, call_id), Call(
            id=call_id, queue="support", site=SITE, enqueued_at=now - waiting + i, queued_since=now - waiting + i,
        )))
    await put_many(store, records)


def summary(samples: list[float]) -> str:
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    return f"p50 {statistics.median(ms):7.2f} ms  p99 {p99:7.2f} ms  (n={len(ms)})"


async def measure_dispatch(node, store: EtcdStore, tenant: str, *, repeats: int) -> list[float]:
    queues = await store.get_queue_configs(tenant)
    config = await store.get_tenant_config(tenant)
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        await node.router.dispatch(tenant, queues, config)
        samples.append(time.perf_counter() - start)
    return samples


async def measure_enqueue(stub, token: str, *, repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        request = interaction_pb2.EnqueueRequest(
            queue="support", channel=common_pb2.CHANNEL_VOICE, caller=common_pb2.Caller(address="+15550100"),
        )
        start = time.perf_counter()
        reply = await stub.Enqueue(request, metadata=bearer(token))
        samples.append(time.perf_counter() - start)
        assert reply.position > 0, reply
    return samples


async def closed_loop(node, store: EtcdStore, channel, *, agents: int, callers: int, seconds: float) -> tuple[int, float]:
    """Calls completed in ``seconds`` of a closed loop (module doc)."""
    tenant = f"loop-{secrets.token_hex(3)}"
    await store.put_tenant_config(TenantConfig(name=tenant, home_site=SITE))
    await store.put_queue_config(tenant, QueueConfig(name="support", wrap_up_s=0))
    now = time.time()
    await put_many(store, [
        (keys.agent(tenant, f"a{i:04d}"), Agent(id=f"a{i:04d}", site=SITE, presence=Presence.AVAILABLE,
                                               presence_since=now, idle_since=now))
        for i in range(agents)
    ])
    admin = bearer(await issue_token(store, tenant=tenant, role="admin"))
    interaction = bearer(await issue_token(store, tenant=tenant, role="interaction"))
    calls = interaction_pb2_grpc.InteractionServiceStub(channel)
    agent_stub = agent_pb2_grpc.AgentServiceStub(channel)
    await asyncio.sleep(3)  # the router discovers tenants every 2 s
    done = 0
    stop_at = time.monotonic() + seconds
    offers: asyncio.Queue = asyncio.Queue()

    async def follow() -> None:
        async for event in store.watch_prefix(keys.reservations_prefix(tenant)):
            if event.kind == "put" and event.value is not None:
                from ccp_acd.domain.models import Reservation
                from ccp_acd.state.codec import decode
                offers.put_nowait(decode(Reservation, event.value))

    async def agent_worker() -> None:
        nonlocal done
        while True:
            offer = await offers.get()
            await agent_stub.AcceptOffer(
                agent_pb2.AcceptOfferRequest(agent_id=offer.agent_id, interaction_id=offer.call_id), metadata=admin
            )
            await agent_stub.Complete(
                agent_pb2.CompleteRequest(agent_id=offer.agent_id, interaction_id=offer.call_id), metadata=admin
            )
            done += 1

    async def caller() -> None:
        while time.monotonic() < stop_at:
            reply = await calls.Enqueue(interaction_pb2.EnqueueRequest(
                queue="support", channel=common_pb2.CHANNEL_VOICE, caller=common_pb2.Caller(address="+15550101"),
            ), metadata=interaction)
            while time.monotonic() < stop_at:  # wait for this call to end before the next one
                got = await calls.GetInteraction(
                    interaction_pb2.GetInteractionRequest(interaction_id=reply.id), metadata=interaction
                )
                if got.state == common_pb2.INTERACTION_STATE_COMPLETED:
                    break
                await asyncio.sleep(0.01)

    follower = asyncio.create_task(follow())
    workers = [asyncio.create_task(agent_worker()) for _ in range(agents)]
    start = time.monotonic()
    await asyncio.gather(*(caller() for _ in range(callers)))
    elapsed = time.monotonic() - start
    for task in (follower, *workers):
        task.cancel()
    await asyncio.gather(follower, *workers, return_exceptions=True)
    return done, elapsed


async def main(args: argparse.Namespace) -> None:
    etcd = start_etcd(Path(tempfile.mkdtemp(prefix="ccp-profile-")))
    try:
        store = await EtcdStore.connect(etcd.endpoint)
        settings = NodeSettings(
            site=SITE, node_id="profile", grpc_listen="127.0.0.1:0", etcd_endpoint=etcd.endpoint,
            lease_ttl_s=60, dispatch_interval_s=0.5, plaintext=True, etcd_plaintext=True,  # the routing path, not TLS
        )
        node = await start_node(settings)
        try:
            async with open_channel(node.address, ChannelSecurity(plaintext=True)) as channel:
                stub = interaction_pb2_grpc.InteractionServiceStub(channel)
                for waiting in args.waiting:
                    tenant = f"busy-{waiting}-{secrets.token_hex(2)}"
                    await seed_busy_tenant(store, tenant, agents=args.agents, waiting=waiting)
                    token = await issue_token(store, tenant=tenant, role="interaction")
                    await asyncio.sleep(3)  # discovered by the router, its view loaded
                    dispatch = await measure_dispatch(node, store, tenant, repeats=args.repeats)
                    print(f"dispatch  {waiting:6d} waiting, {args.agents} agents: {summary(dispatch)}", flush=True)
                    enqueue = await measure_enqueue(stub, token, repeats=args.repeats)
                    print(f"enqueue   {waiting:6d} waiting, {args.agents} agents: {summary(enqueue)}", flush=True)
                    await store.client.delete_prefix(keys.tenant_prefix(tenant).encode())
                if args.seconds > 0:
                    done, elapsed = await closed_loop(
                        node, store, channel, agents=args.loop_agents, callers=args.callers, seconds=args.seconds
                    )
                    print(f"closed loop: {done} calls in {elapsed:.1f} s = {done / elapsed:.1f} calls/s "
                          f"({args.loop_agents} agents, {args.callers} callers)", flush=True)
        finally:
            await node.stop(grace_s=0.5)
            await store.close()
    finally:
        etcd.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--waiting", type=lambda s: [int(x) for x in s.split(",")], default=[1000, 10000])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--loop-agents", type=int, default=20)
    parser.add_argument("--callers", type=int, default=20)
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(main(parser.parse_args()))
