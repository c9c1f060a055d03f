"""The operator (kopf) end to end against a real API server (kube-lite) and a TLS etcd: a Tenant in a namespace
other than the operator's gets a node certificate for its Services and a copy of the etcd client certificate
there, its StatefulSets mount them; a missing CA Secret is reported in a condition and retried until it appears.
The chart's own CA and etcd client Secrets (rendered by Helm) stand in the operator's namespace."""

from __future__ import annotations

import base64
import secrets
import subprocess
from collections.abc import Iterator

import pytest
import yaml
from ccp_acd.embedded.processes import EtcdProcess, start_etcd
from ccp_acd.tls import GeneratedCerts, generate
from ccp_operator import children, handlers, tls_secrets
from ccp_operator import conditions as c
from cryptography import x509

from tests.helpers import eventually
from tests.kube.conftest import Kube
from tests.kube.test_chart import _render
from tests.kube.test_operator import _condition, run_operator

pytestmark = [pytest.mark.etcd, pytest.mark.slow]


@pytest.fixture(scope="module")
def etcd_certs(tmp_path_factory) -> GeneratedCerts:
    return generate(tmp_path_factory.mktemp("etcd-ca"))


@pytest.fixture(scope="module")
def tls_etcd(tmp_path_factory, etcd_certs) -> Iterator[EtcdProcess]:
    """The operator reaches etcd over TLS here: an operator with an etcd client Secret for its nodes must."""
    etcd = start_etcd(tmp_path_factory.mktemp("tls-etcd"), tls=etcd_certs)
    yield etcd
    etcd.stop()


@pytest.fixture(scope="module")
def chart_secrets() -> dict[str, dict]:
    return {d["metadata"]["name"]: d for d in _render() if d["kind"] == "Secret"}


@pytest.fixture
def tenant_ns(crds_installed) -> Iterator[Kube]:
    namespace = f"ccp-tenant-{secrets.token_hex(3)}"
    base = ["kubectl", "--kubeconfig", crds_installed]
    subprocess.run([*base, "create", "namespace", namespace], check=True, capture_output=True, timeout=60)
    yield Kube(crds_installed, namespace)
    subprocess.run([*base, "delete", "namespace", namespace, "--wait=false"], capture_output=True, timeout=60)


@pytest.fixture
def operator(kube, tenant_ns, tls_etcd, etcd_certs, chart_secrets, monkeypatch):
    """The operator in ``kube``'s namespace (with the chart's Secrets), watching it and the tenant's."""
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all([chart_secrets["ccp-acd-ca"],
                                                                chart_secrets["ccp-etcd-client-tls"]]))
    for name, value in {
        "KUBECONFIG": kube.kubeconfig, "CCP_ETCD_ENDPOINT": tls_etcd.endpoint, "CCP_ETCD_PLAINTEXT": "false",
        "CCP_ETCD_CA_FILE": str(etcd_certs.ca_file), "CCP_ETCD_CERT_FILE": str(etcd_certs.cert_file),
        "CCP_ETCD_KEY_FILE": str(etcd_certs.key_file), "CCP_OPERATOR_NAMESPACE": kube.namespace,
        "CCP_ACD_CA_SECRET": "ccp-acd-ca", "CCP_ACD_TLS_SECRET": "ccp-acd-tls",
        "CCP_ACD_ETCD_TLS_SECRET": "ccp-etcd-client-tls", "CCP_PLAINTEXT": "false",
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(handlers, "TLS_RETRY_S", 1)  # the operator runs in this process (KopfRunner's thread)
    with run_operator(kube, namespaces=[tenant_ns.namespace]) as runner:
        yield runner
    assert runner.exception is None, runner.output
    assert runner.exit_code == 0, runner.output


def apply_tenant(where: Kube, name: str) -> None:
    tenant = {"apiVersion": "ccp.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": name},
              "spec": {"homeSite": "site-a", "failoverSites": ["site-b"]}}
    where.kubectl("apply", "-f", "-", input=yaml.safe_dump(tenant))


def secret_data(where: Kube, name: str) -> dict | None:
    found = where.kubectl("get", "secret", name, "-o", "yaml", check=False)
    return yaml.safe_load(found.stdout)["data"] if found.returncode == 0 else None


async def test_a_tenant_in_another_namespace_gets_both_tls_secrets_there_and_its_statefulsets_mount_them(
    kube, tenant_ns, operator, chart_secrets
):
    tenant = f"tls-{secrets.token_hex(3)}"
    apply_tenant(tenant_ns, tenant)

    async def ready():
        found = _condition(tenant_ns, "tenant", tenant, c.CERTIFICATES_READY)
        return found if found and found["status"] == "True" else None

    condition = await eventually(ready, timeout_s=30, what="CertificatesReady")
    assert condition["reason"] in (c.ISSUED, c.UP_TO_DATE)
    node = secret_data(tenant_ns, tls_secrets.node_secret_name(tenant))
    assert secret_data(tenant_ns, tls_secrets.etcd_secret_name(tenant)) == chart_secrets["ccp-etcd-client-tls"]["data"]
    ca = x509.load_pem_x509_certificate(base64.b64decode(chart_secrets["ccp-acd-ca"]["data"]["ca.crt"]))
    cert = x509.load_pem_x509_certificate(base64.b64decode(node["tls.crt"]))
    cert.verify_directly_issued_by(ca)
    dns = set(cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value.get_values_for_type(x509.DNSName))
    for site in ("site-a", "site-b"):
        service = children.acd_name(tenant, site)
        assert {f"{service}.{tenant_ns.namespace}.svc", f"*.{service}-headless.{tenant_ns.namespace}.svc"} <= dns
        pod = tenant_ns.get("statefulset", service)["spec"]["template"]["spec"]
        assert {v["name"]: v["secret"]["secretName"] for v in pod["volumes"]} == {
            "tls": tls_secrets.node_secret_name(tenant), "etcd-tls": tls_secrets.etcd_secret_name(tenant)}
    assert kube.kubectl("get", "secret", tls_secrets.node_secret_name(tenant), check=False).returncode != 0


async def test_a_missing_ca_secret_is_reported_the_rest_is_reconciled_and_the_retry_issues_once_it_appears(
    kube, tenant_ns, operator, chart_secrets
):
    kube.kubectl("delete", "secret", "ccp-acd-ca")
    tenant = f"noca-{secrets.token_hex(3)}"
    apply_tenant(tenant_ns, tenant)

    async def missing():
        found = _condition(tenant_ns, "tenant", tenant, c.CERTIFICATES_READY)
        return found if found and found["reason"] == c.CA_SECRET_MISSING else None

    condition = await eventually(missing, timeout_s=30, what="CASecretMissing")
    assert condition["status"] == "False"
    assert f"Secret {kube.namespace}/ccp-acd-ca does not exist" in condition["message"]
    tenant_ns.get("statefulset", children.acd_name(tenant, "site-a"))
    tenant_ns.get("secret", children.credentials_secret_name(tenant))
    assert secret_data(tenant_ns, tls_secrets.etcd_secret_name(tenant))

    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(chart_secrets["ccp-acd-ca"]))

    async def issued():
        found = _condition(tenant_ns, "tenant", tenant, c.CERTIFICATES_READY)
        return found if found and found["status"] == "True" else None

    await eventually(issued, timeout_s=30, what="the certificate issued on a retry")
    assert secret_data(tenant_ns, tls_secrets.node_secret_name(tenant))
