"""Status mapping of unexpected failures, and the offer stream's heartbeat, on a bare grpc.aio server."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator

import grpc
import grpc.aio
import pytest
from ccp_acd.api.agents import AgentServicer
from ccp_acd.api.auth import Authenticator, issue_token
from ccp_acd.api.status import INTERNAL_MESSAGE, grpc_errors
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import AgentProfile, TenantConfig
from ccpapi.v1 import agent_pb2, agent_pb2_grpc, common_pb2

from tests.api.conftest import bearer

pytestmark = pytest.mark.etcd


class BrokenLogin(AgentServicer):
    """An AgentService whose Login has a bug."""

    @grpc_errors
    async def Login(self, request, context):
        raise KeyError("a bug with internal details: /ccp/v1/tenants/secret")


@pytest.fixture
async def bare(store: EtcdStore) -> AsyncIterator[tuple[agent_pb2_grpc.AgentServiceStub, tuple]]:
    tenant = f"t-{secrets.token_hex(4)}"
    await store.put_tenant_config(TenantConfig(name=tenant))
    await store.create_agent(tenant, "alice", AgentProfile(), now=0.0)
    token = bearer(await issue_token(store, tenant=tenant, role="admin"))
    server = grpc.aio.server()
    agent_pb2_grpc.add_AgentServiceServicer_to_server(
        BrokenLogin(store, Authenticator(store), heartbeat_interval_s=0.2), server
    )
    port = server.add_insecure_port("127.0.0.1:0")
    await server.start()
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        yield agent_pb2_grpc.AgentServiceStub(channel), token
    await server.stop(None)


async def test_an_unexpected_error_is_internal_with_a_generic_message_and_the_node_keeps_serving(
    bare, caplog
):
    stub, token = bare
    with caplog.at_level(logging.ERROR, logger="ccp_acd.api.status"):
        with pytest.raises(grpc.aio.AioRpcError) as raised:
            await stub.Login(agent_pb2.LoginRequest(agent_id="alice"), metadata=token)
    assert raised.value.code() is grpc.StatusCode.INTERNAL
    assert raised.value.details() == INTERNAL_MESSAGE
    assert "KeyError" in caplog.text  # the traceback is in the node's log, not in the answer
    status = await stub.GetStatus(agent_pb2.GetStatusRequest(agent_id="alice"), metadata=token)
    assert status.agent_id == "alice"


async def test_offer_stream_sends_heartbeats_while_idle_and_ends_on_client_cancel(bare):
    stub, token = bare
    stream = stub.StreamOffers(agent_pb2.StreamOffersRequest(agent_id="alice"), metadata=token)
    beats = [await asyncio.wait_for(stream.read(), timeout=5) for _ in range(3)]
    assert all(b.HasField("heartbeat") for b in beats)
    assert beats[0].heartbeat.at.ToNanoseconds() < beats[2].heartbeat.at.ToNanoseconds()
    stream.cancel()
    assert stream.cancelled()
    # The server is still fine after the cancelled stream.
    status = await stub.GetStatus(agent_pb2.GetStatusRequest(agent_id="alice"), metadata=token)
    assert status.state == common_pb2.AGENT_STATE_LOGGED_OUT
