"""TLS on real parts: a node serving gRPC over TLS (clients' port and the mTLS peer port), etcd with
--client-cert-auth, and the start-up refusal of a node that has neither a certificate nor plaintext, and of
one that has neither an etcd CA nor plaintext etcd.

The test session runs plaintext gRPC and etcd (tests/conftest.py); every node here asks for TLS explicitly
(plaintext=False, etcd_plaintext=False).
"""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import grpc.aio
import pytest
from ccp_acd.api.auth import issue_token
from ccp_acd.embedded.processes import EtcdProcess, start_etcd
from ccp_acd.errors import StateUnavailable
from ccp_acd.server import Node, start_node
from ccp_acd.settings import NodeSettings
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import TenantConfig
from ccp_acd.tls import ChannelSecurity, GeneratedCerts, generate, open_channel
from ccpapi.v1 import admin_pb2, admin_pb2_grpc, site_pb2, site_pb2_grpc
from cryptography import x509
from pydantic import SecretStr, ValidationError

from tests.helpers import bearer

CLUSTER_TOKEN = "cluster-secret-for-tls-tests"
RPC_TIMEOUT_S = 5.0


@pytest.fixture(scope="module")
def certs(tmp_path_factory: pytest.TempPathFactory) -> GeneratedCerts:
    return generate(tmp_path_factory.mktemp("cluster-ca"))


@pytest.fixture(scope="module")
def other_certs(tmp_path_factory: pytest.TempPathFactory) -> GeneratedCerts:
    """Same names (127.0.0.1, localhost), another CA: what an impostor or a misconfigured client has."""
    return generate(tmp_path_factory.mktemp("other-ca"), ca_name="some other CA")


@pytest.fixture(scope="module")
def tls_etcd(tmp_path_factory: pytest.TempPathFactory, certs: GeneratedCerts) -> Iterator[EtcdProcess]:
    etcd = start_etcd(tmp_path_factory.mktemp("tls-etcd"), tls=certs)
    yield etcd
    etcd.stop()


@pytest.fixture
async def tls_node(tls_etcd: EtcdProcess, certs: GeneratedCerts) -> AsyncIterator[Node]:
    """A node serving TLS on its clients' port and mTLS on its peer port, on an etcd that requires client certs."""
    settings = NodeSettings(
        site="site-a",
        node_id=f"tls-{secrets.token_hex(3)}",
        grpc_listen="127.0.0.1:0",
        peer_listen="127.0.0.1:0",
        etcd_endpoint=tls_etcd.endpoint,
        lease_ttl_s=2,
        dispatch_interval_s=0.1,
        cluster_token=SecretStr(CLUSTER_TOKEN),
        plaintext=False,
        tls_cert_file=str(certs.cert_file),
        tls_key_file=str(certs.key_file),
        tls_ca_file=str(certs.ca_file),
        etcd_ca_file=str(certs.ca_file),
        etcd_cert_file=str(certs.cert_file),
        etcd_key_file=str(certs.key_file),
        etcd_plaintext=False,
    )
    node = await start_node(settings)
    yield node
    await node.stop(grace_s=0.5)


@pytest.fixture
async def admin_token(tls_etcd: EtcdProcess) -> str:
    store = await EtcdStore.connect(tls_etcd.endpoint, security=tls_etcd.security)
    try:
        tenant = f"tls-{secrets.token_hex(4)}"
        await store.put_tenant_config(TenantConfig(name=tenant, home_site="site-a"))
        return await issue_token(store, tenant=tenant, role="admin")
    finally:
        await store.close()


async def _list_queue_stats(address: str, security: ChannelSecurity, token: str) -> admin_pb2.ListQueueStatsResponse:
    async with open_channel(address, security) as channel:
        stub = admin_pb2_grpc.AdminServiceStub(channel)
        return await stub.ListQueueStats(admin_pb2.ListQueueStatsRequest(), metadata=bearer(token), timeout=RPC_TIMEOUT_S)


async def _snapshot(address: str, security: ChannelSecurity, token: str = CLUSTER_TOKEN) -> site_pb2.SiteSnapshot:
    async with open_channel(address, security) as channel:
        stub = site_pb2_grpc.SiteServiceStub(channel)
        return await stub.GetSnapshot(site_pb2.GetSnapshotRequest(), metadata=bearer(token), timeout=RPC_TIMEOUT_S)


# -- certificates ---------------------------------------------------------------------------------------------


def test_generated_certificate_names_loopback_by_ip_and_dns_and_files_are_private(certs: GeneratedCerts):
    cert = x509.load_pem_x509_certificate(certs.cert_file.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert [str(ip) for ip in names.get_values_for_type(x509.IPAddress)] == ["127.0.0.1"]
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    ca = x509.load_pem_x509_certificate(certs.ca_file.read_bytes())
    cert.verify_directly_issued_by(ca)
    for path in (certs.ca_file, certs.cert_file, certs.key_file):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


# -- clients' port ----------------------------------------------------------------------------------------------


async def test_client_with_the_ca_completes_an_rpc_over_tls(tls_node: Node, certs: GeneratedCerts, admin_token: str):
    answer = await _list_queue_stats(tls_node.address, certs.client(with_cert=False), admin_token)
    assert list(answer.queues) == []


async def test_plaintext_client_cannot_talk_to_a_tls_node(tls_node: Node, admin_token: str):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _list_queue_stats(tls_node.address, ChannelSecurity(plaintext=True), admin_token)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_client_trusting_another_ca_refuses_the_node(
    tls_node: Node, other_certs: GeneratedCerts, admin_token: str
):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _list_queue_stats(tls_node.address, other_certs.client(with_cert=False), admin_token)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "handshake" in (refused.value.details() or "").lower() or "ssl" in (refused.value.details() or "").lower()


# -- node-to-node: SiteService over mTLS ------------------------------------------------------------------------


async def test_peer_with_a_cluster_certificate_and_the_token_gets_a_snapshot(tls_node: Node, certs: GeneratedCerts):
    snapshot = await _snapshot(tls_node.peer_address, certs.client(with_cert=True))
    assert snapshot.site == "site-a"


async def test_peer_with_the_right_certificate_but_a_wrong_token_is_unauthenticated(
    tls_node: Node, certs: GeneratedCerts
):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _snapshot(tls_node.peer_address, certs.client(with_cert=True), token="not-the-cluster-token")
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert refused.value.details() == "invalid cluster token"


async def test_site_service_without_a_client_certificate_is_unauthenticated(tls_node: Node, certs: GeneratedCerts):
    """TLS with the right CA and the right token, but no client certificate: the clients' port never asks for one."""
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _snapshot(tls_node.address, certs.client(with_cert=False))
    assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "client certificate from the cluster CA" in (refused.value.details() or "")
    # Presenting one on the clients' port does not help either: it is not asked for, so never verified.
    with pytest.raises(grpc.aio.AioRpcError) as ignored:
        await _snapshot(tls_node.address, certs.client(with_cert=True))
    assert ignored.value.code() == grpc.StatusCode.UNAUTHENTICATED


async def test_peer_port_refuses_a_handshake_without_a_client_certificate(tls_node: Node, certs: GeneratedCerts):
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _snapshot(tls_node.peer_address, certs.client(with_cert=False))
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


async def test_peer_port_refuses_a_certificate_from_another_ca(
    tls_node: Node, certs: GeneratedCerts, other_certs: GeneratedCerts
):
    impostor = ChannelSecurity(
        ca_file=str(certs.ca_file), cert_file=str(other_certs.cert_file), key_file=str(other_certs.key_file)
    )
    with pytest.raises(grpc.aio.AioRpcError) as refused:
        await _snapshot(tls_node.peer_address, impostor)
    assert refused.value.code() == grpc.StatusCode.UNAVAILABLE


# -- start-up without a transport -------------------------------------------------------------------------------


def test_settings_without_certificate_or_plaintext_name_both_options():
    with pytest.raises(ValidationError) as refused:
        NodeSettings(plaintext=False)
    message = str(refused.value)
    assert "CCP_TLS_CERT_FILE" in message and "CCP_TLS_KEY_FILE" in message and "CCP_PLAINTEXT=true" in message


def test_settings_refuse_plaintext_together_with_a_certificate(certs: GeneratedCerts):
    with pytest.raises(ValidationError, match="choose one"):
        NodeSettings(plaintext=True, tls_cert_file=str(certs.cert_file), tls_key_file=str(certs.key_file))


NO_ETCD_CHOICE = "no etcd TLS: set CCP_ETCD_CA_FILE"


def test_settings_without_etcd_ca_or_etcd_plaintext_name_both_options(certs: GeneratedCerts):
    with pytest.raises(ValidationError) as refused:
        NodeSettings(plaintext=True, etcd_plaintext=False)
    message = str(refused.value)
    assert NO_ETCD_CHOICE in message and "CCP_ETCD_PLAINTEXT=true" in message
    # A client certificate alone is no choice either: TLS to etcd needs the CA that verifies it.
    with pytest.raises(ValidationError, match=NO_ETCD_CHOICE):
        NodeSettings(plaintext=True, etcd_plaintext=False, etcd_cert_file=str(certs.cert_file),
                     etcd_key_file=str(certs.key_file))


def test_settings_refuse_etcd_plaintext_together_with_an_etcd_ca(certs: GeneratedCerts):
    with pytest.raises(ValidationError, match="CCP_ETCD_PLAINTEXT=true together with .*: choose one"):
        NodeSettings(plaintext=True, etcd_plaintext=True, etcd_ca_file=str(certs.ca_file))


def test_settings_refuse_an_etcd_client_certificate_without_its_key(certs: GeneratedCerts):
    with pytest.raises(ValidationError, match="needs both CCP_ETCD_CERT_FILE and CCP_ETCD_KEY_FILE"):
        NodeSettings(
            plaintext=True, etcd_plaintext=False, etcd_ca_file=str(certs.ca_file), etcd_cert_file=str(certs.cert_file)
        )


def test_settings_with_an_etcd_ca_or_etcd_plaintext_say_how_the_node_reaches_etcd(certs: GeneratedCerts):
    tls = NodeSettings(plaintext=True, etcd_plaintext=False, etcd_ca_file=str(certs.ca_file),
                       etcd_cert_file=str(certs.cert_file), etcd_key_file=str(certs.key_file))
    assert tls.etcd_security() == certs.client(with_cert=True)
    assert NodeSettings(plaintext=True, etcd_plaintext=True).etcd_security() == ChannelSecurity(plaintext=True)


def _node_process(tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """``python -m ccp_acd.server`` with none of the caller's CCP_* variables, only ``env``; it must exit."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CCP_")}
    clean.update(CCP_GRPC_LISTEN="127.0.0.1:0", **env)
    return subprocess.run(
        [sys.executable, "-m", "ccp_acd.server"], env=clean, capture_output=True, text=True, timeout=60, cwd=tmp_path
    )


def test_node_process_without_certificate_or_plaintext_refuses_to_start(tmp_path: Path):
    done = _node_process(tmp_path, CCP_ETCD_PLAINTEXT="true")
    assert done.returncode != 0
    assert "no TLS certificate: set CCP_TLS_CERT_FILE and CCP_TLS_KEY_FILE, or CCP_PLAINTEXT=true" in done.stderr


@pytest.mark.parametrize("etcd_env", [{}, {"CCP_ETCD_PLAINTEXT": "false"}])
def test_node_process_without_etcd_ca_or_etcd_plaintext_refuses_to_start(tmp_path: Path, etcd_env: dict[str, str]):
    done = _node_process(tmp_path, CCP_PLAINTEXT="true", **etcd_env)
    assert done.returncode != 0
    assert (
        "no etcd TLS: set CCP_ETCD_CA_FILE (and CCP_ETCD_CERT_FILE, CCP_ETCD_KEY_FILE for a client certificate), "
        "or CCP_ETCD_PLAINTEXT=true" in done.stderr
    )


def test_node_process_with_etcd_plaintext_and_an_etcd_ca_refuses_to_start(tmp_path: Path, certs: GeneratedCerts):
    done = _node_process(tmp_path, CCP_PLAINTEXT="true", CCP_ETCD_PLAINTEXT="true", CCP_ETCD_CA_FILE=str(certs.ca_file))
    assert done.returncode != 0
    assert "CCP_ETCD_PLAINTEXT=true together with CCP_ETCD_CA_FILE" in done.stderr and "choose one" in done.stderr


# -- etcd client TLS ---------------------------------------------------------------------------------------------


async def test_store_with_ca_and_client_certificate_reads_and_writes_tls_etcd(
    tls_etcd: EtcdProcess, certs: GeneratedCerts
):
    store = await EtcdStore.connect(tls_etcd.endpoint, security=certs.client(with_cert=True))
    try:
        tenant = f"tls-{secrets.token_hex(4)}"
        await store.put_tenant_config(TenantConfig(name=tenant, home_site="site-b"))
        got = await store.get_tenant_config(tenant)
        assert got is not None and got.home_site == "site-b"
    finally:
        await store.close()


@pytest.mark.parametrize("which", ["no client certificate", "plaintext", "another CA"])
async def test_store_without_an_accepted_client_is_unavailable_on_tls_etcd(
    tls_etcd: EtcdProcess, certs: GeneratedCerts, other_certs: GeneratedCerts, which: str
):
    security = {
        "no client certificate": certs.client(with_cert=False),
        "plaintext": None,
        "another CA": other_certs.client(with_cert=True),
    }[which]
    store = await EtcdStore.connect(tls_etcd.endpoint, timeout_s=RPC_TIMEOUT_S, security=security)
    try:
        with pytest.raises(StateUnavailable, match="etcd"):
            await store.get_tenant_config("anyone")
    finally:
        await store.close()
