"""TLS Secrets in a Tenant's own namespace: the operator issues the node certificate and copies etcd's.

A pod mounts Secrets of its own namespace only. The chart's Secrets (node certificate ``ccp-acd-tls``, etcd
client certificate ``ccp-etcd-client-tls``) live in the operator's namespace, and the node certificate names
that namespace's Services only. So for a Tenant in any other namespace the operator writes, into the Tenant's
namespace and owned by the Tenant (deleted with it):

- ``acd-<tenant>-tls`` (kubernetes.io/tls: tls.crt, tls.key, ca.crt): a node certificate signed by the
  cluster CA (the chart's ``<release>-acd-ca``, ``CCP_ACD_CA_SECRET``), naming the tenant's Services there
  (``children.services``: each site's Service, ``*.<headless>`` pod by pod) and localhost for the probe;
  server and client auth (the node-to-node port). Re-issued when its names or the CA changed, or after its
  ``ccp.dev/renew-after`` (validity minus renew-before, the chart's rule).
- ``acd-<tenant>-etcd-tls``: a copy of the etcd client certificate Secret. Copied, not issued: it works the
  same with an external etcd whose CA the chart never holds, the operator needs no etcd CA key, and etcd here
  authorises no client by name (no etcd RBAC), so a per-tenant identity would buy nothing. Re-copied when the
  chart's changes.

The pod template carries ``ccp.dev/tls-revision`` (a digest of both certificates), so a re-issued or
re-copied certificate rolls the StatefulSet: the nodes read their certificates at start only.

Tenants in the operator's namespace mount the chart's Secrets as before. Without ``CCP_ACD_CA_SECRET`` (the
chart's ``tls.existingSecret``, cert-manager) no node certificate is issued: the configured Secret name is
mounted from the Tenant's namespace, where it must be provided. A missing or unusable CA Secret is reported
(``CertificatesReady`` False, and so ``Ready`` False: ``conditions.ready``) and everything else is still
reconciled; the pods wait for the Secret.

Not for: CA rotation (replace the CA as docs/security.md says; certificates follow on the next reconcile),
revocation.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import datetime
import hashlib
import logging
from dataclasses import dataclass
from typing import Any

import kopf
import kubernetes
from ccp_acd import tls
from ccp_acd.state.store import TenantConfig

from ccp_operator import children
from ccp_operator import conditions as c
from ccp_operator.kube import Kube

log = logging.getLogger(__name__)

NAMES_ANNOTATION = "ccp.dev/names"  # the chart's annotations, same meaning
RENEW_AFTER_ANNOTATION = "ccp.dev/renew-after"
SOURCE_ANNOTATION = "ccp.dev/copied-from"


@dataclass(frozen=True)
class Issuer:
    """Where the chart's Secrets are and how the operator issues (operator settings, set by the chart)."""

    namespace: str = ""  # the operator's own namespace ("" : every Tenant mounts the configured Secrets as is)
    ca_secret: str = ""  # Opaque Secret there with ca.crt and ca.key ("" : no node certificate is issued)
    validity_days: int = 365  # as the chart's tls.validityDays
    renew_before_days: int = 30  # as the chart's tls.renewBeforeDays
    cluster_domain: str = "cluster.local"


@dataclass(frozen=True)
class Outcome:
    """What the tenant's pods mount, and how the Secrets stand (``problems`` empty: all in place)."""

    template: children.AcdTemplate
    managed: bool = False  # the operator wrote Secrets for this tenant (it is outside the operator's namespace)
    issued: bool = False  # a node certificate was issued or re-copied just now
    problems: tuple[tuple[str, str], ...] = ()  # (reason, message)


def node_secret_name(tenant: str) -> str:
    return f"acd-{tenant}-tls"


def etcd_secret_name(tenant: str) -> str:
    return f"acd-{tenant}-etcd-tls"


def node_hosts(tenant: TenantConfig, *, namespace: str, cluster_domain: str) -> list[str]:
    """The names a node certificate of ``tenant`` in ``namespace`` must carry (as the chart's ccp.acdDnsNames)."""
    hosts = []
    for site in children.sites(tenant):
        service = children.acd_name(tenant.name, site)
        hosts += [service, f"{service}.{namespace}", f"{service}.{namespace}.svc",
                  f"{service}.{namespace}.svc.{cluster_domain}",
                  f"*.{service}-headless.{namespace}.svc", f"*.{service}-headless.{namespace}.svc.{cluster_domain}"]
    return [*hosts, "localhost", "127.0.0.1"]


def due(existing: dict[str, Any] | None, *, ca_crt: str, names: str, now: float) -> bool:
    """Whether the node certificate Secret must be (re-)issued: missing, other names or CA, or renew-after passed."""
    if existing is None:
        return True
    data = existing.get("data") or {}
    annotations = existing["metadata"].get("annotations") or {}
    try:
        renew_after = int(annotations.get(RENEW_AFTER_ANNOTATION) or 0)
    except ValueError:
        renew_after = 0
    return not (data.get("tls.crt") and data.get("tls.key") and data.get("ca.crt") == ca_crt
                and annotations.get(NAMES_ANNOTATION) == names and now < renew_after)


def revision(*secrets: dict[str, Any] | None) -> str:
    """A digest of the certificates the pods mount: it changes when one is re-issued."""
    digest = hashlib.sha256()
    for secret in secrets:
        digest.update(((secret or {}).get("data") or {}).get("tls.crt", "").encode() + b";")
    return digest.hexdigest()[:16]


def _labels(tenant: str) -> dict[str, str]:
    return {"app.kubernetes.io/name": "ccp", children.COMPONENT_LABEL: "acd", children.TENANT_LABEL: tenant}


def _tls_secret(name: str, tenant: str, data: dict[str, str], annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "type": "kubernetes.io/tls",
        "metadata": {"name": name, "labels": _labels(tenant), "annotations": annotations},
        "data": data,
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def issue_node_secret(tenant: TenantConfig, *, ca: dict[str, str], issuer: Issuer, namespace: str,
                      now: float) -> dict[str, Any]:
    """The node certificate Secret (pure but for the key it generates). ValueError: the CA data is unusable."""
    try:
        ca_crt, ca_key = base64.b64decode(ca["ca.crt"], validate=True), base64.b64decode(ca["ca.key"], validate=True)
    except (KeyError, binascii.Error) as e:
        raise ValueError(f"needs base64 ca.crt and ca.key ({e})") from None
    hosts = node_hosts(tenant, namespace=namespace, cluster_domain=issuer.cluster_domain)
    when = datetime.datetime.fromtimestamp(now, datetime.UTC)
    issued = tls.issue(ca_cert_pem=ca_crt, ca_key_pem=ca_key, common_name=f"ccp-acd-{tenant.name}", hosts=hosts,
                       valid_days=issuer.validity_days, now=when)
    # The chart's rule (validity minus renew-before); at least a day ahead, so a CA that itself ends within
    # renew-before (replace it: docs/security.md) does not re-issue, and restart the nodes, on every reconcile.
    renew_after = max(issued.not_after.timestamp() - issuer.renew_before_days * 86400, now + 86400)
    annotations = {NAMES_ANNOTATION: ",".join(hosts), RENEW_AFTER_ANNOTATION: str(int(renew_after))}
    data = {"tls.crt": _b64(issued.cert_pem), "tls.key": _b64(issued.key_pem), "ca.crt": ca["ca.crt"]}
    return _tls_secret(node_secret_name(tenant.name), tenant.name, data, annotations)


async def _read(kube: Kube, name: str, namespace: str) -> tuple[dict[str, Any] | None, tuple[str, str] | None]:
    """(Secret, None), or (None, (reason, message)) when it is missing or the operator may not read it."""
    try:
        secret = await kube.get("v1", "Secret", name, namespace)
    except kubernetes.client.ApiException as e:
        if e.status != 403:
            raise  # the API server is unwell: the whole reconcile is retried
        return None, (c.CA_SECRET_UNREADABLE, f"Secret {namespace}/{name}: the operator may not read it (403)")
    if secret is None:
        return None, (c.CA_SECRET_MISSING, f"Secret {namespace}/{name} does not exist")
    return secret, None


async def _ensure_node(kube: Kube, issuer: Issuer, tenant: TenantConfig, *, namespace: str, owner: Any,
                       now: float) -> tuple[dict[str, Any] | None, bool, tuple[str, str] | None]:
    """(the Secret the pods mount or None, whether it was issued now, problem)."""
    ca, problem = await _read(kube, issuer.ca_secret, issuer.namespace)
    existing = await kube.get("v1", "Secret", node_secret_name(tenant.name), namespace)
    if problem:
        return existing, False, (problem[0], f"the cluster CA: {problem[1]}; node certificate not issued")
    ca_data = (ca or {}).get("data") or {}
    names = ",".join(node_hosts(tenant, namespace=namespace, cluster_domain=issuer.cluster_domain))
    if not due(existing, ca_crt=ca_data.get("ca.crt", ""), names=names, now=now):
        return existing, False, None
    try:
        secret = issue_node_secret(tenant, ca=ca_data, issuer=issuer, namespace=namespace, now=now)
    except ValueError as e:
        where = f"{issuer.namespace}/{issuer.ca_secret}"
        message = f"the cluster CA: Secret {where} is unusable: {e}; node certificate not issued"
        return existing, False, (c.CA_SECRET_INVALID, message)
    await _apply(kube, secret, namespace=namespace, owner=owner)
    log.info("tenant %s: node certificate issued into %s/%s", tenant.name, namespace, secret["metadata"]["name"])
    return secret, True, None


async def _ensure_etcd(kube: Kube, issuer: Issuer, tenant: TenantConfig, *, source: str, namespace: str,
                       owner: Any) -> tuple[dict[str, Any] | None, bool, tuple[str, str] | None]:
    found = await kube.get("v1", "Secret", source, issuer.namespace)
    existing = await kube.get("v1", "Secret", etcd_secret_name(tenant.name), namespace)
    if found is None:
        message = f"Secret {issuer.namespace}/{source} (the etcd client certificate) does not exist; not copied"
        return existing, False, (c.ETCD_CLIENT_SECRET_MISSING, message)
    data = {k: v for k, v in (found.get("data") or {}).items() if k in ("tls.crt", "tls.key", "ca.crt")}
    if existing is not None and (existing.get("data") or {}) == data:
        return existing, False, None
    copy = _tls_secret(etcd_secret_name(tenant.name), tenant.name, data,
                       {SOURCE_ANNOTATION: f"{issuer.namespace}/{source}"})
    await _apply(kube, copy, namespace=namespace, owner=owner)
    return copy, True, None


async def _apply(kube: Kube, secret: dict[str, Any], *, namespace: str, owner: Any) -> None:
    secret["metadata"]["namespace"] = namespace
    kopf.adopt(secret, owner=owner)
    await kube.apply(secret)


async def ensure(kube: Kube, issuer: Issuer, template: children.AcdTemplate, *, tenant: TenantConfig,
                 namespace: str, owner: Any, now: float) -> Outcome:
    """Write the tenant's TLS Secrets into its namespace when it is not the operator's; what its pods mount."""
    if not issuer.namespace or namespace == issuer.namespace or not (template.tls_secret or template.etcd_tls_secret):
        return Outcome(template=template)
    problems, issued, mounted = [], False, []
    replace: dict[str, Any] = {}
    if template.tls_secret and issuer.ca_secret:
        secret, changed, problem = await _ensure_node(kube, issuer, tenant, namespace=namespace, owner=owner, now=now)
        replace["tls_secret"] = node_secret_name(tenant.name)
        problems.append(problem)
        issued |= changed
        mounted.append(secret)
    if template.etcd_tls_secret:
        secret, changed, problem = await _ensure_etcd(kube, issuer, tenant, source=template.etcd_tls_secret,
                                                      namespace=namespace, owner=owner)
        replace["etcd_tls_secret"] = etcd_secret_name(tenant.name)
        problems.append(problem)
        issued |= changed
        mounted.append(secret)
    replace["tls_revision"] = revision(*mounted)
    return Outcome(template=dataclasses.replace(template, **replace), managed=True, issued=issued,
                   problems=tuple(p for p in problems if p))


def condition(outcome: Outcome, *, generation: int) -> dict[str, Any]:
    """The ``CertificatesReady`` condition (pure); only for tenants whose Secrets the operator writes."""
    if outcome.problems:
        message = "; ".join(message for _, message in outcome.problems)
        return c.condition(c.CERTIFICATES_READY, False, outcome.problems[0][0], message, generation)
    secrets = [s for s in (outcome.template.tls_secret, outcome.template.etcd_tls_secret) if s]
    reason = c.ISSUED if outcome.issued else c.UP_TO_DATE
    verb = "issued" if outcome.issued else "in place"
    return c.condition(c.CERTIFICATES_READY, True, reason, f"TLS Secrets {', '.join(secrets)} {verb}", generation)
