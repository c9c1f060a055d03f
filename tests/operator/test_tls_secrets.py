"""TLS Secrets for Tenants outside the operator's namespace, handler level: the Tenant handlers called directly
(as kopf documents them) with a real etcd and a real API server (kube-lite), the chart's own CA and etcd client
Secret (rendered by Helm) in the "operator's" namespace and the Tenant in another one."""

from __future__ import annotations

import base64
import json
import logging
import secrets
import subprocess
from collections.abc import Iterator

import kopf
import kubernetes
import pytest
import yaml
from ccp_acd.state.store import TenantConfig
from ccp_operator import children, tls_secrets
from ccp_operator import conditions as c
from ccp_operator.children import AcdTemplate
from ccp_operator.handlers import tenant_changed, tls_renewal
from ccp_operator.kube import Kube as KubeApi
from cryptography import x509

from tests.kube.conftest import Kube, crds_installed, kube, kubeconfig  # noqa: F401 (fixtures)
from tests.kube.test_chart import _render

pytestmark = [pytest.mark.etcd, pytest.mark.slow]

log = logging.getLogger(__name__)
TEMPLATE = AcdTemplate(tls_secret="ccp-acd-tls", etcd_tls_secret="ccp-etcd-client-tls")


@pytest.fixture(scope="module")
def chart_secrets() -> dict[str, dict]:
    """The Secrets the chart generates (its CA is Helm's genCA: RSA)."""
    return {d["metadata"]["name"]: d for d in _render() if d["kind"] == "Secret"}


@pytest.fixture
def operator_ns(kube, chart_secrets) -> Kube:  # noqa: F811
    """The operator's namespace, with the chart's CA and etcd client Secrets in it."""
    wanted = [chart_secrets[name] for name in ("ccp-acd-ca", "ccp-etcd-client-tls")]
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(wanted))
    return kube


@pytest.fixture
def tenant_ns(crds_installed) -> Iterator[Kube]:  # noqa: F811
    namespace = f"ccp-tenant-{secrets.token_hex(3)}"
    base = ["kubectl", "--kubeconfig", crds_installed]
    subprocess.run([*base, "create", "namespace", namespace], check=True, capture_output=True, timeout=60)
    yield Kube(crds_installed, namespace)
    subprocess.run([*base, "delete", "namespace", namespace, "--wait=false"], capture_output=True, timeout=60)


@pytest.fixture
def memo(operator_ns, store) -> Iterator[kopf.Memo]:
    api = KubeApi(kubernetes.config.new_client_from_config(config_file=operator_ns.kubeconfig))
    issuer = tls_secrets.Issuer(namespace=operator_ns.namespace, ca_secret="ccp-acd-ca")
    yield kopf.Memo(store=store, kube=api, acd=TEMPLATE, tls=issuer)
    api.close()


def apply_tenant(where: Kube, name: str, failover: list[str] | None = None) -> kopf.Body:
    tenant = {"apiVersion": "ccp.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": name},
              "spec": {"homeSite": "site-a", **({"failoverSites": failover} if failover else {})}}
    where.kubectl("apply", "-f", "-", input=yaml.safe_dump(tenant))
    return kopf.Body(where.get("tenant", name))


async def reconcile(where: Kube, memo: kopf.Memo, body: kopf.Body) -> kopf.Patch:
    patch = kopf.Patch()
    await tenant_changed(body=body, namespace=where.namespace, patch=patch, status=dict(body.status), memo=memo)
    return patch


def certificates_ready(patch: kopf.Patch) -> dict | None:
    return next((x for x in patch["status"]["conditions"] if x["type"] == c.CERTIFICATES_READY), None)


def mounted(where: Kube, tenant: str, site: str = "site-a") -> tuple[dict[str, str], str | None]:
    """The StatefulSet's Secret volumes, and its pod template's TLS revision."""
    template = where.get("statefulset", children.acd_name(tenant, site))["spec"]["template"]
    volumes = {v["name"]: v["secret"]["secretName"] for v in template["spec"].get("volumes", [])}
    return volumes, template["metadata"].get("annotations", {}).get(children.TLS_REVISION_ANNOTATION)


def node_certificate(where: Kube, tenant: str) -> tuple[x509.Certificate, set[str]]:
    data = where.get("secret", tls_secrets.node_secret_name(tenant))["data"]
    cert = x509.load_pem_x509_certificate(base64.b64decode(data["tls.crt"]))
    sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return cert, set(sans.get_values_for_type(x509.DNSName))


async def test_a_tenant_in_another_namespace_gets_a_node_certificate_for_its_services_and_the_etcd_client_copy(
    operator_ns, tenant_ns, memo, chart_secrets
):
    tenant = f"tls-{secrets.token_hex(3)}"
    body = apply_tenant(tenant_ns, tenant)
    patch = await reconcile(tenant_ns, memo, body)
    ready = certificates_ready(patch)
    assert (ready["status"], ready["reason"]) == ("True", c.ISSUED)

    node_name, etcd_name = tls_secrets.node_secret_name(tenant), tls_secrets.etcd_secret_name(tenant)
    node, etcd = tenant_ns.get("secret", node_name), tenant_ns.get("secret", etcd_name)
    assert node["type"] == etcd["type"] == "kubernetes.io/tls"
    for secret in (node, etcd):  # garbage-collected with the Tenant
        assert [r["uid"] for r in secret["metadata"]["ownerReferences"]] == [body["metadata"]["uid"]]
    ca_data = chart_secrets["ccp-acd-ca"]["data"]
    assert node["data"]["ca.crt"] == ca_data["ca.crt"]
    cert, dns = node_certificate(tenant_ns, tenant)
    cert.verify_directly_issued_by(x509.load_pem_x509_certificate(base64.b64decode(ca_data["ca.crt"])))
    service, ns = children.acd_name(tenant, "site-a"), tenant_ns.namespace
    assert {service, f"{service}.{ns}.svc", f"{service}.{ns}.svc.cluster.local", f"*.{service}-headless.{ns}.svc",
            "localhost"} <= dns
    assert not [name for name in dns if operator_ns.namespace in name]
    assert etcd["data"] == chart_secrets["ccp-etcd-client-tls"]["data"]

    volumes, revision = mounted(tenant_ns, tenant)
    assert volumes == {"tls": node_name, "etcd-tls": etcd_name} and revision

    again = await reconcile(tenant_ns, memo, kopf.Body(tenant_ns.get("tenant", tenant)))  # a resume: nothing issued
    assert certificates_ready(again)["reason"] == c.UP_TO_DATE
    assert tenant_ns.get("secret", node_name)["data"] == node["data"] and mounted(tenant_ns, tenant)[1] == revision


async def test_new_names_or_a_due_renewal_re_issue_the_certificate_and_roll_the_statefulsets(tenant_ns, memo):
    tenant = f"tls-{secrets.token_hex(3)}"
    await reconcile(tenant_ns, memo, apply_tenant(tenant_ns, tenant))
    first, first_revision = node_certificate(tenant_ns, tenant)[0], mounted(tenant_ns, tenant)[1]

    await reconcile(tenant_ns, memo, apply_tenant(tenant_ns, tenant, failover=["site-b"]))  # a site added
    second, dns = node_certificate(tenant_ns, tenant)
    assert second.serial_number != first.serial_number
    assert f"{children.acd_name(tenant, 'site-b')}.{tenant_ns.namespace}.svc" in dns
    second_revision = mounted(tenant_ns, tenant)[1]
    assert second_revision != first_revision and mounted(tenant_ns, tenant, "site-b")[1] == second_revision

    # Between reconciles, the renewal timer: nothing due, nothing changes; renew-after passed, re-issued and rolled.
    body = kopf.Body(tenant_ns.get("tenant", tenant))
    quiet = kopf.Patch()
    await tls_renewal(body=body, namespace=tenant_ns.namespace, status={}, memo=memo, patch=quiet, logger=log)
    assert node_certificate(tenant_ns, tenant)[0].serial_number == second.serial_number
    assert certificates_ready(quiet)["reason"] == c.UP_TO_DATE
    tenant_ns.kubectl("annotate", "secret", tls_secrets.node_secret_name(tenant),
                      f"{tls_secrets.RENEW_AFTER_ANNOTATION}=1", "--overwrite")
    renewed = kopf.Patch()
    await tls_renewal(body=body, namespace=tenant_ns.namespace, status={}, memo=memo, patch=renewed, logger=log)
    assert certificates_ready(renewed)["reason"] == c.ISSUED
    assert node_certificate(tenant_ns, tenant)[0].serial_number != second.serial_number
    assert mounted(tenant_ns, tenant)[1] not in (first_revision, second_revision)


async def test_a_missing_or_unusable_ca_secret_is_reported_and_the_rest_of_the_tenant_is_still_reconciled(
    operator_ns, tenant_ns, memo
):
    tenant = f"noca-{secrets.token_hex(3)}"
    memo.tls = tls_secrets.Issuer(namespace=operator_ns.namespace, ca_secret="no-such-ca")
    body = apply_tenant(tenant_ns, tenant)
    patch = kopf.Patch()
    with pytest.raises(kopf.TemporaryError, match="does not exist"):
        await tenant_changed(body=body, namespace=tenant_ns.namespace, patch=patch, status={}, memo=memo)
    ready = certificates_ready(patch)
    assert (ready["status"], ready["reason"]) == ("False", c.CA_SECRET_MISSING)
    assert f"Secret {operator_ns.namespace}/no-such-ca does not exist" in ready["message"]
    # Everything else is in place: the pods wait for their Secret, and start once a retry has issued it.
    assert mounted(tenant_ns, tenant)[0] == {"tls": tls_secrets.node_secret_name(tenant),
                                             "etcd-tls": tls_secrets.etcd_secret_name(tenant)}
    tenant_ns.get("secret", tls_secrets.etcd_secret_name(tenant))
    tenant_ns.get("secret", children.credentials_secret_name(tenant))
    assert tenant_ns.kubectl("get", "secret", tls_secrets.node_secret_name(tenant), check=False).returncode != 0

    not_a_ca = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "broken-ca"},
                "data": {"ca.crt": base64.b64encode(b"not a certificate").decode()}}
    operator_ns.kubectl("apply", "-f", "-", input=yaml.safe_dump(not_a_ca))
    memo.tls = tls_secrets.Issuer(namespace=operator_ns.namespace, ca_secret="broken-ca")
    patch = kopf.Patch()
    with pytest.raises(kopf.TemporaryError, match="unusable"):
        await tenant_changed(body=body, namespace=tenant_ns.namespace, patch=patch, status={}, memo=memo)
    ready = certificates_ready(patch)
    assert (ready["status"], ready["reason"]) == ("False", c.CA_SECRET_INVALID)
    assert f"Secret {operator_ns.namespace}/broken-ca is unusable: needs base64 ca.crt and ca.key" in ready["message"]

    memo.tls = tls_secrets.Issuer(namespace=operator_ns.namespace, ca_secret="ccp-acd-ca")  # the CA appears
    assert certificates_ready(await reconcile(tenant_ns, memo, body))["reason"] == c.ISSUED


def store_status(where: Kube, tenant: str, patch: kopf.Patch) -> dict[str, dict]:
    """Write the handler's status to the Tenant (as kopf does); its conditions as the API server now has them."""
    where.kubectl("patch", "tenant", tenant, "--subresource=status", "--type=merge",
                  "-p", json.dumps({"status": dict(patch["status"])}))
    return {x["type"]: x for x in where.get("tenant", tenant)["status"]["conditions"]}


async def test_a_tenant_is_not_ready_while_its_certificates_are_not_and_ready_once_the_certificate_appears(
    operator_ns, tenant_ns, memo, chart_secrets
):
    tenant = f"wait-{secrets.token_hex(3)}"
    ca_secret = f"ca-{secrets.token_hex(3)}"  # not there yet
    memo.tls = tls_secrets.Issuer(namespace=operator_ns.namespace, ca_secret=ca_secret)
    patch = kopf.Patch()
    with pytest.raises(kopf.TemporaryError, match="does not exist"):
        await tenant_changed(body=apply_tenant(tenant_ns, tenant), namespace=tenant_ns.namespace, patch=patch,
                             status={}, memo=memo)
    stored = store_status(tenant_ns, tenant, patch)
    assert (stored[c.RECONCILED]["status"], stored[c.CERTIFICATES_READY]["status"]) == ("True", "False")
    ready = stored[c.READY]
    assert (ready["status"], ready["reason"]) == ("False", c.CERTIFICATES_NOT_READY)
    assert f"Secret {operator_ns.namespace}/{ca_secret} does not exist" in ready["message"]
    assert c.CERTIFICATE_FIXES[c.CA_SECRET_MISSING] in ready["message"]
    column = '{.status.conditions[?(@.type=="Ready")].status}'  # what `kubectl get tenants` shows as READY
    assert tenant_ns.kubectl("get", "tenant", tenant, "-o", f"jsonpath={column}").stdout == "False"
    assert tenant_ns.kubectl("get", "secret", tls_secrets.node_secret_name(tenant), check=False).returncode != 0

    ca = {**chart_secrets["ccp-acd-ca"], "metadata": {"name": ca_secret}}  # the CA appears
    operator_ns.kubectl("apply", "-f", "-", input=yaml.safe_dump(ca))
    # Between reconciles (the renewal timer), from the status as stored: the certificate is issued, Ready True.
    body = kopf.Body(tenant_ns.get("tenant", tenant))
    timer = kopf.Patch()
    await tls_renewal(body=body, namespace=tenant_ns.namespace, status=dict(body.status), memo=memo, patch=timer,
                      logger=log)
    assert {x["type"]: x["status"] for x in timer["status"]["conditions"]}[c.READY] == "True"
    tenant_ns.get("secret", tls_secrets.node_secret_name(tenant))
    # kopf's retry of the reconcile, from the status as stored (still the failed one): Ready True, as Reconciled.
    stored = store_status(tenant_ns, tenant, await reconcile(tenant_ns, memo, body))
    assert stored[c.CERTIFICATES_READY]["status"] == "True"
    ready = stored[c.READY]
    assert (ready["status"], ready["reason"], ready["message"]) == (
        "True", c.APPLIED, stored[c.RECONCILED]["message"])


async def test_a_tenant_in_the_operators_namespace_mounts_the_charts_secrets_and_gets_no_certificate(
    operator_ns, memo
):
    tenant = f"home-{secrets.token_hex(3)}"
    patch = await reconcile(operator_ns, memo, apply_tenant(operator_ns, tenant))
    assert certificates_ready(patch) is None
    assert mounted(operator_ns, tenant) == ({"tls": "ccp-acd-tls", "etcd-tls": "ccp-etcd-client-tls"}, None)
    assert operator_ns.kubectl("get", "secret", tls_secrets.node_secret_name(tenant), check=False).returncode != 0


def test_a_node_certificate_is_due_when_missing_renamed_signed_by_another_ca_or_past_renew_after():
    tenant = TenantConfig(name="acme", home_site="site-a", failover_sites=("site-b",))
    hosts = tls_secrets.node_hosts(tenant, namespace="shop", cluster_domain="cluster.local")
    # Every Service the operator creates for the tenant, by every name a client in the cluster may dial.
    for service in (s["metadata"]["name"] for site in ("site-a", "site-b") for s in children.services(tenant, site)):
        if service.endswith("-headless"):
            assert f"*.{service}.shop.svc" in hosts
        else:
            assert {service, f"{service}.shop", f"{service}.shop.svc", f"{service}.shop.svc.cluster.local"} <= set(hosts)
    names = ",".join(hosts)
    current = {"metadata": {"annotations": {tls_secrets.NAMES_ANNOTATION: names, tls_secrets.RENEW_AFTER_ANNOTATION: "100"}},
               "data": {"tls.crt": "x", "tls.key": "y", "ca.crt": "ca"}}
    assert not tls_secrets.due(current, ca_crt="ca", names=names, now=99)
    assert tls_secrets.due(None, ca_crt="ca", names=names, now=99)
    assert tls_secrets.due(current, ca_crt="other ca", names=names, now=99)
    assert tls_secrets.due(current, ca_crt="ca", names=names + ",more", now=99)
    assert tls_secrets.due(current, ca_crt="ca", names=names, now=100)


async def test_a_certificates_ready_left_from_before_is_dropped_once_the_operator_no_longer_writes_the_secrets(
    operator_ns, memo
):
    """E.g. an operator reconfigured without a CA: the old False condition would otherwise hold Ready False."""
    tenant = f"was-{secrets.token_hex(3)}"
    stale = c.condition(c.CERTIFICATES_READY, False, c.CA_SECRET_MISSING, "Secret x/y does not exist", 1)
    patch = kopf.Patch()
    await tenant_changed(body=apply_tenant(operator_ns, tenant), namespace=operator_ns.namespace, patch=patch,
                         status={"conditions": [stale]}, memo=memo)
    found = {x["type"]: x for x in patch["status"]["conditions"]}
    assert c.CERTIFICATES_READY not in found and (found[c.READY]["status"], found[c.READY]["reason"]) == ("True", c.APPLIED)
