"""The adapter's settings and its node client's failover."""

from __future__ import annotations

import grpc
import pytest
from ccp_acd.sip.nodes import NodeClient
from ccp_acd.sip.settings import SipSettings
from ccp_acd.tls import ChannelSecurity
from ccpapi.v1 import interaction_pb2
from pydantic import ValidationError

from tests.sip.conftest import Running


def test_settings_read_nodes_ports_and_carriers(tmp_path):
    token = tmp_path / "token"
    token.write_text("secret\n")
    settings = SipSettings(tenant="acme", token_file=token, nodes=" 10.0.0.1:50051 ,10.0.0.2:50051,",
                           trunk_ports="main=5070", trunk_carriers="main=10.1.1.1:5080")
    assert settings.node_addresses() == ["10.0.0.1:50051", "10.0.0.2:50051"]
    assert settings.port_of("main") == 5070 and settings.port_of("other") is None
    assert settings.carrier_of("main") == ("10.1.1.1", 5080) and settings.carrier_of("other") == ("127.0.0.1", 5060)
    assert settings.token() == "secret"


@pytest.mark.parametrize(("changes", "message"), [
    ({"nodes": " , "}, "CCP_SIP_NODES names no node address"),
    ({"trunk_ports": "main"}, "expected name=value"),
    ({"tenant": "Not_A_Label"}, "tenant"),
])
def test_bad_settings_are_refused_with_the_field_named(tmp_path, changes, message):
    with pytest.raises(ValidationError, match=message):
        SipSettings(**{"tenant": "acme", "token_file": tmp_path / "token", **changes})


def test_an_empty_or_missing_token_file_is_refused(tmp_path):
    settings = SipSettings(tenant="acme", token_file=tmp_path / "missing")
    with pytest.raises(ValueError, match="cannot read CCP_SIP_TOKEN_FILE"):
        settings.token()
    (tmp_path / "empty").write_text("\n")
    with pytest.raises(ValueError, match="is empty"):
        SipSettings(tenant="acme", token_file=tmp_path / "empty").token()


@pytest.mark.etcd
async def test_node_client_moves_on_from_an_unreachable_node(running: Running, tmp_path):
    token = (tmp_path / "token").read_text()
    client = NodeClient(["127.0.0.1:1", running.node.address], security=ChannelSecurity(plaintext=True),
                        token=token, timeout_s=5.0)
    try:
        with pytest.raises(grpc.aio.AioRpcError) as refused:
            await client.call("GetInteraction", interaction_pb2.GetInteractionRequest(interaction_id="nope"))
        assert refused.value.code() == grpc.StatusCode.NOT_FOUND  # the answer of the second, live node
    finally:
        await client.close()


def test_ccp_sip_refuses_to_start_without_its_settings(monkeypatch):
    from ccp_acd.cli import main
    from click.testing import CliRunner

    for name in ("CCP_SIP_TENANT", "CCP_SIP_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    result = CliRunner().invoke(main, ["sip"])
    assert result.exit_code == 1
    assert "tenant" in result.output and "token_file" in result.output
