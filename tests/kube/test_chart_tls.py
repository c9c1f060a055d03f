"""TLS in the Helm chart, rendered by Helm's own engine: the Secrets, mounts and CCP_* TLS variables of every
ACD, etcd and operator container; the generated CA and certificates (parsed and verified with ``cryptography``);
existing Secrets replacing them; explicit plaintext; the TLS readiness probe against a real gRPC server on
loopback; and `lookup` keeping the certificates across upgrades against a real API server."""

from __future__ import annotations

import asyncio
import base64
import os
import sys
from pathlib import Path

import grpc
import grpc.aio
import helm_python as helm
import pytest
import yaml
from ccp_operator.settings import OperatorSettings
from ccp_operator.tls_secrets import Issuer
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_health.v1._async import HealthServicer

from tests.kube.test_chart import CHART, _render

NAMESPACE = "ccp-system"
GENERATED = {"ccp-acd-ca", "ccp-acd-tls", "ccp-etcd-ca", "ccp-etcd-server-tls", "ccp-etcd-client-tls"}
AGENT_SERVICE = "ccpapi.v1.AgentService"


def _secrets(documents: list[dict]) -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in documents if d["kind"] == "Secret"}


def _pem(documents: list[dict], secret: str, key: str) -> bytes:
    return base64.b64decode(_secrets(documents)[secret]["data"][key])


def _cert(documents: list[dict], secret: str, key: str = "tls.crt") -> x509.Certificate:
    return x509.load_pem_x509_certificate(_pem(documents, secret, key))


def _names(cert: x509.Certificate) -> tuple[set[str], set[str]]:
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return set(sans.get_values_for_type(x509.DNSName)), {str(ip) for ip in sans.get_values_for_type(x509.IPAddress)}


def _workloads(documents: list[dict]) -> list[tuple[str, dict, dict]]:
    """(name, pod spec, first container) of every StatefulSet and Deployment."""
    return [(d["metadata"]["name"], d["spec"]["template"]["spec"], d["spec"]["template"]["spec"]["containers"][0])
            for d in documents if d["kind"] in ("StatefulSet", "Deployment")]


def _env(container: dict) -> dict[str, str | None]:
    return {e["name"]: e.get("value") for e in container.get("env", [])}


def _volumes(pod: dict) -> dict[str, str]:
    return {v["name"]: v["secret"]["secretName"] for v in pod.get("volumes", [])}


def test_every_acd_etcd_and_operator_container_mounts_its_tls_secret_and_gets_the_tls_variables():
    documents = _render()
    secrets = _secrets(documents)
    assert GENERATED <= set(secrets)
    for name in GENERATED - {"ccp-acd-ca", "ccp-etcd-ca"}:
        assert secrets[name]["type"] == "kubernetes.io/tls"
        assert set(secrets[name]["data"]) == {"tls.crt", "tls.key", "ca.crt"}
    seen = []
    for name, pod, container in _workloads(documents):
        seen.append(name)
        mounts = {m["name"]: m["mountPath"] for m in container.get("volumeMounts", [])}
        if name == "ccp-etcd":
            args = container["args"][0]
            assert _volumes(pod) == {"tls": "ccp-etcd-server-tls"} and mounts["tls"] == "/etc/etcd/tls"
            for flag in ("--listen-client-urls https://", "--listen-peer-urls https://", "--cert-file /etc/etcd/tls/tls.crt",
                         "--key-file /etc/etcd/tls/tls.key", "--trusted-ca-file /etc/etcd/tls/ca.crt", "--client-cert-auth",
                         "--peer-cert-file /etc/etcd/tls/tls.crt", "--peer-trusted-ca-file /etc/etcd/tls/ca.crt",
                         "--peer-client-cert-auth"):
                assert flag in args, flag
            assert "http://" not in args
            continue
        env = _env(container)
        files = {n: v for n, v in env.items() if n.endswith("_FILE")}
        assert {str(Path(f).parent) for f in files.values()} <= set(mounts.values()), (name, files, mounts)
        assert (env["CCP_ETCD_CA_FILE"], env["CCP_ETCD_CERT_FILE"], env["CCP_ETCD_KEY_FILE"]) == (
            "/etc/ccp/etcd-tls/ca.crt", "/etc/ccp/etcd-tls/tls.crt", "/etc/ccp/etcd-tls/tls.key")
        assert _volumes(pod)["etcd-tls"] == "ccp-etcd-client-tls"
        assert "CCP_PLAINTEXT" not in env and "CCP_ETCD_PLAINTEXT" not in env
        if name == "ccp-operator":
            assert (env["CCP_ACD_TLS_SECRET"], env["CCP_ACD_ETCD_TLS_SECRET"]) == ("ccp-acd-tls", "ccp-etcd-client-tls")
            assert "CCP_ACD_PLAINTEXT" not in env
            continue
        assert (env["CCP_TLS_CERT_FILE"], env["CCP_TLS_KEY_FILE"], env["CCP_TLS_CA_FILE"]) == (
            "/etc/ccp/tls/tls.crt", "/etc/ccp/tls/tls.key", "/etc/ccp/tls/ca.crt")
        assert _volumes(pod)["tls"] == "ccp-acd-tls"
        assert env["CCP_PEER_LISTEN"] == "0.0.0.0:50052"
        assert {"name": "peer", "containerPort": 50052, "protocol": "TCP"} in container["ports"]
        # Kubernetes' grpc probe cannot speak TLS: none may be left on a TLS node.
        assert "grpc" not in container["readinessProbe"] and "grpc" not in container["livenessProbe"]
    assert sorted(seen) == ["ccp-acd-site-a", "ccp-acd-site-b", "ccp-etcd", "ccp-operator"]
    # The node-to-node port: on each site's headless Service (pod by pod), reachable from ccp's own pods only.
    headless = [d for d in documents if d["kind"] == "Service" and d["metadata"]["name"].endswith("-headless")
                and "acd" in d["metadata"]["name"]]
    assert [[p["port"] for p in d["spec"]["ports"]] for d in headless] == [[50051, 50052]] * 2
    policy = next(d for d in documents if d["kind"] == "NetworkPolicy" and d["metadata"]["name"] == "ccp-acd")
    peer_rules = [r for r in policy["spec"]["ingress"] if {"port": 50052, "protocol": "TCP"} in r["ports"]]
    assert [r["from"] for r in peer_rules] == [[{"podSelector": {"matchLabels": {"app.kubernetes.io/name": "ccp"}},
                                                  "namespaceSelector": {}}]]


def test_the_generated_node_certificate_names_every_acd_service_and_is_signed_by_the_generated_ca():
    documents = _render()
    ca, cert = _cert(documents, "ccp-acd-tls", "ca.crt"), _cert(documents, "ccp-acd-tls")
    cert.verify_directly_issued_by(ca)
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert _pem(documents, "ccp-acd-ca", "ca.crt") == _pem(documents, "ccp-acd-tls", "ca.crt")
    key = serialization.load_pem_private_key(_pem(documents, "ccp-acd-tls", "tls.key"), password=None)
    assert key.public_key() == cert.public_key()
    # The node's certificate is also its client certificate to other nodes.
    usages = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(usages)
    dns, ips = _names(cert)
    services = [d for d in documents if d["kind"] == "Service" and d["metadata"]["name"].startswith("ccp-acd-")]
    assert len(services) == 4
    for service in services:
        name = service["metadata"]["name"]
        fqdn = f"{name}.{NAMESPACE}.svc.cluster.local"
        if service["spec"].get("clusterIP") == "None":
            assert f"*.{fqdn}" in dns and f"*.{name}.{NAMESPACE}.svc" in dns  # each pod: <pod>.<headless service>
        else:
            assert {name, f"{name}.{NAMESPACE}", f"{name}.{NAMESPACE}.svc", fqdn} <= dns
    # The operator's per-tenant Services in the release namespace, and the readiness probe's localhost.
    assert {f"*.{NAMESPACE}.svc", f"*.{NAMESPACE}.svc.cluster.local", "localhost"} <= dns
    assert ips == {"127.0.0.1"}
    extra = _names(_cert(_render(values={"tls": {"extraDnsNames": ["acd.example.com"]}}), "ccp-acd-tls"))[0]
    assert "acd.example.com" in extra


def test_the_etcd_member_and_client_certificates_share_one_ca_and_name_the_members():
    documents = _render()
    ca = _cert(documents, "ccp-etcd-server-tls", "ca.crt")
    assert _pem(documents, "ccp-etcd-client-tls", "ca.crt") == _pem(documents, "ccp-etcd-server-tls", "ca.crt")
    assert ca != _cert(documents, "ccp-acd-tls", "ca.crt")  # a node certificate is no etcd client certificate
    server, client = _cert(documents, "ccp-etcd-server-tls"), _cert(documents, "ccp-etcd-client-tls")
    for cert in (server, client):
        cert.verify_directly_issued_by(ca)
    # The member certificate is also each member's client certificate to its peers (--peer-client-cert-auth).
    usages = server.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert {ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH} <= set(usages)
    assert ExtendedKeyUsageOID.CLIENT_AUTH in client.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    dns, ips = _names(server)
    # Clients dial ccp-etcd:2379; members advertise <pod>.ccp-etcd-peers:2379 and :2380.
    assert {"ccp-etcd", f"ccp-etcd.{NAMESPACE}.svc.cluster.local", "*.ccp-etcd-peers",
            f"*.ccp-etcd-peers.{NAMESPACE}.svc.cluster.local"} <= dns
    assert "127.0.0.1" in ips


def test_existing_secrets_replace_the_generated_ones():
    documents = _render(values={"tls": {"existingSecret": "acd-from-cert-manager"},
                                "etcd": {"tls": {"existingSecret": "etcd-members", "existingClientSecret": "etcd-client"}}})
    assert not set(_secrets(documents)) & GENERATED
    for name, pod, container in _workloads(documents):
        volumes = _volumes(pod)
        if name == "ccp-etcd":
            assert volumes == {"tls": "etcd-members"}
        elif name == "ccp-operator":
            assert volumes == {"etcd-tls": "etcd-client"}
            assert _env(container)["CCP_ACD_TLS_SECRET"] == "acd-from-cert-manager"
            assert _env(container)["CCP_ACD_ETCD_TLS_SECRET"] == "etcd-client"
        else:
            assert volumes == {"tls": "acd-from-cert-manager", "etcd-tls": "etcd-client"}
    # One etcd Secret of two cannot work: members trust one CA, clients' certificates come from another.
    with pytest.raises(helm.HelmError, match="existingClientSecret"):
        _render(values={"etcd": {"tls": {"existingSecret": "etcd-members"}}})


def test_without_tls_the_nodes_are_told_plaintext_explicitly_and_probed_with_grpc():
    documents = _render(values={"tls": {"enabled": False}, "etcd": {"tls": {"enabled": False}}})
    assert not set(_secrets(documents)) & GENERATED
    for name, pod, container in _workloads(documents):
        assert _volumes(pod) == {} and {m["name"] for m in container.get("volumeMounts", [])} <= {"data"}, name
        env = _env(container)
        assert not [n for n in env if n.startswith(("CCP_TLS_", "CCP_ETCD_CA", "CCP_ETCD_CERT", "CCP_ETCD_KEY"))]
        if name == "ccp-etcd":
            assert "https://" not in container["args"][0] and "--client-cert-auth" not in container["args"][0]
            continue
        # Nodes and operator are told plaintext etcd explicitly (without it they refuse to start); the operator's
        # own choice is what its tenants' nodes get (ccp_operator.children).
        assert env["CCP_ETCD_PLAINTEXT"] == "true", name
        if name == "ccp-operator":
            assert env["CCP_ACD_PLAINTEXT"] == "true" and "CCP_ACD_TLS_SECRET" not in env
            assert "CCP_ACD_ETCD_TLS_SECRET" not in env
        else:
            assert env["CCP_PLAINTEXT"] == "true" and "CCP_PEER_LISTEN" not in env
            assert container["readinessProbe"]["grpc"] == {"port": 50051, "service": AGENT_SERVICE}
    notes = helm.Chart.load(str(CHART)).render({"tls": {"enabled": False}}, name="ccp", namespace=NAMESPACE)
    assert "development only" in next(text for name, text in notes.items() if name.endswith("NOTES.txt"))


def test_plaintext_etcd_alone_is_told_explicitly_while_the_nodes_keep_serving_tls():
    documents = _render(values={"etcd": {"tls": {"enabled": False}}})
    assert not {"ccp-etcd-ca", "ccp-etcd-server-tls", "ccp-etcd-client-tls"} & set(_secrets(documents))
    clients = [(name, pod, container) for name, pod, container in _workloads(documents) if name != "ccp-etcd"]
    assert len(clients) == 3
    for name, pod, container in clients:
        env = _env(container)
        assert env["CCP_ETCD_PLAINTEXT"] == "true", name
        assert not [n for n in env if n.startswith(("CCP_ETCD_CA", "CCP_ETCD_CERT", "CCP_ETCD_KEY"))], name
        assert "etcd-tls" not in _volumes(pod)
        if name == "ccp-operator":
            assert env["CCP_ACD_TLS_SECRET"] == "ccp-acd-tls" and "CCP_ACD_ETCD_TLS_SECRET" not in env
        else:
            assert env["CCP_TLS_CERT_FILE"] == "/etc/ccp/tls/tls.crt" and "CCP_PLAINTEXT" not in env


def _operator_settings(documents: list[dict], monkeypatch) -> OperatorSettings:
    """The operator's settings as its rendered Deployment sets them (the downward API's namespace filled in)."""
    container = next(c for name, _, c in _workloads(documents) if name == "ccp-operator")
    for variable in [v for v in os.environ if v.startswith("CCP_")]:
        monkeypatch.delenv(variable)
    for e in container["env"]:
        if e["name"].startswith("CCP_"):
            value = e.get("value")
            if value is None:
                assert e["valueFrom"] == {"fieldRef": {"fieldPath": "metadata.namespace"}}, e
                value = NAMESPACE
            monkeypatch.setenv(e["name"], value)
    return OperatorSettings()


def test_the_operator_gets_the_ca_secret_and_rules_to_issue_tenants_certificates_in_their_namespaces(monkeypatch):
    documents = _render(values={"tls": {"validityDays": 90, "renewBeforeDays": 10}, "clusterDomain": "corp.example"})
    issuer = _operator_settings(documents, monkeypatch).tls_issuer()
    assert issuer == Issuer(namespace=NAMESPACE, ca_secret="ccp-acd-ca", validity_days=90, renew_before_days=10,
                            cluster_domain="corp.example")
    assert set(_secrets(documents)["ccp-acd-ca"]["data"]) == {"ca.crt", "ca.key"}
    # RBAC: a ClusterRole bound to the operator's service account: it reads the CA Secret in its namespace and
    # creates and updates (server-side apply: patch) Secrets in any Tenant's namespace.
    role = next(d for d in documents if d["kind"] == "ClusterRole" and d["metadata"]["name"] == "ccp-operator")
    verbs = {verb for rule in role["rules"] if "" in rule["apiGroups"] and "secrets" in rule["resources"]
             for verb in rule["verbs"]}
    assert {"get", "create", "patch"} <= verbs
    binding = next(d for d in documents if d["kind"] == "ClusterRoleBinding" and d["metadata"]["name"] == "ccp-operator")
    assert binding["roleRef"] == {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "ccp-operator"}
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "ccp-operator", "namespace": NAMESPACE}]
    # With the node certificate from elsewhere (cert-manager) there is no CA to issue from: the operator is told none.
    existing = _operator_settings(_render(values={"tls": {"existingSecret": "acd-from-cert-manager"}}), monkeypatch)
    assert existing.tls_issuer().ca_secret == "" and existing.operator_namespace == NAMESPACE


def _write_pems(documents: list[dict], directory: Path) -> dict[str, str]:
    directory.mkdir()
    env = {}
    for variable, key in (("CCP_TLS_CERT_FILE", "tls.crt"), ("CCP_TLS_KEY_FILE", "tls.key"), ("CCP_TLS_CA_FILE", "ca.crt")):
        (directory / key).write_bytes(_pem(documents, "ccp-acd-tls", key))
        env[variable] = str(directory / key)
    return env


async def _probe(command: list[str], env: dict[str, str]) -> int:
    assert command[:2] == ["python", "-c"]  # the image's python; here the venv's
    process = await asyncio.create_subprocess_exec(
        sys.executable, *command[1:], env={**os.environ, **env},
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    return await asyncio.wait_for(process.wait(), timeout=60)


async def test_the_tls_readiness_probe_passes_only_for_a_serving_node_whose_certificate_the_ca_signed(tmp_path):
    documents = _render()
    container = _workloads(documents)[0][2]
    command = container["readinessProbe"]["exec"]["command"]
    env = _write_pems(documents, tmp_path / "node")
    pair = (_pem(documents, "ccp-acd-tls", "tls.key"), _pem(documents, "ccp-acd-tls", "tls.crt"))
    # Like the node-to-node port: the server demands a client certificate from the CA; the probe presents the node's.
    ca = _pem(documents, "ccp-acd-tls", "ca.crt")
    credentials = grpc.ssl_server_credentials([pair], root_certificates=ca, require_client_auth=True)
    server = grpc.aio.server()
    health = HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health, server)
    port = server.add_secure_port("127.0.0.1:0", credentials)
    await server.start()
    try:
        env["CCP_GRPC_LISTEN"] = f"0.0.0.0:{port}"
        await health.set(AGENT_SERVICE, health_pb2.HealthCheckResponse.SERVING)
        assert await _probe(command, env) == 0
        await health.set(AGENT_SERVICE, health_pb2.HealthCheckResponse.NOT_SERVING)
        assert await _probe(command, env) == 1
        await health.set(AGENT_SERVICE, health_pb2.HealthCheckResponse.SERVING)
        stranger = _write_pems(_render(), tmp_path / "other-release")  # another CA: the node is not trusted
        assert await _probe(command, {**stranger, "CCP_GRPC_LISTEN": env["CCP_GRPC_LISTEN"]}) != 0
    finally:
        await server.stop(None)


def test_upgrades_keep_the_generated_certificates_and_re_sign_them_with_the_same_ca_when_names_change(kube):
    documents = _render(namespace=kube.namespace)
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([d for d in documents if d["kind"] == "Secret"]))
    installed = {name: s["data"] for name, s in _secrets(documents).items()}
    config = helm.Config(kubeconfig_path=kube.kubeconfig, namespace=kube.namespace)
    chart = helm.Chart.load(str(CHART))

    def upgrade(values: dict | None = None) -> list[dict]:
        rendered = config.render(chart, values, name="ccp", namespace=kube.namespace, is_upgrade=True)
        return [d for name, text in rendered.items() if name.endswith(".yaml") for d in yaml.safe_load_all(text) if d]

    try:
        assert {name: s["data"] for name, s in _secrets(upgrade()).items()} == installed
        grown = upgrade({"sites": ["site-a", "site-b", "site-c"]})
        regrown = {name: s["data"] for name, s in _secrets(grown).items()}
        assert regrown["ccp-acd-ca"] == installed["ccp-acd-ca"]
        assert regrown["ccp-acd-tls"]["tls.crt"] != installed["ccp-acd-tls"]["tls.crt"]
        _cert(grown, "ccp-acd-tls").verify_directly_issued_by(_cert(documents, "ccp-acd-ca", "ca.crt"))
        assert "ccp-acd-site-c" in _names(_cert(grown, "ccp-acd-tls"))[0]
        assert all(regrown[name] == installed[name] for name in ("ccp-etcd-server-tls", "ccp-etcd-client-tls"))
        # Near expiry (renew-after passed), an upgrade re-signs with the same CA.
        kube.kubectl("annotate", "secret", "ccp-etcd-client-tls", "ccp.dev/renew-after=1", "--overwrite")
        renewed = upgrade()
        assert _pem(renewed, "ccp-etcd-client-tls", "tls.crt") != _pem(documents, "ccp-etcd-client-tls", "tls.crt")
        _cert(renewed, "ccp-etcd-client-tls").verify_directly_issued_by(_cert(documents, "ccp-etcd-ca", "ca.crt"))
        assert _secrets(renewed)["ccp-etcd-server-tls"]["data"] == installed["ccp-etcd-server-tls"]
    finally:
        config.close()

