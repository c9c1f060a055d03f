"""The Kubernetes objects a tenant's contact center runs on, built from its Tenant (pure).

Per site the tenant uses (home and failover sites): a StatefulSet of ACD nodes
dedicated to the tenant (``CCP_TENANTS``; two replicas: one routes, one is a
hot standby, both share state through etcd), a headless Service for the
StatefulSet and a Service for gRPC (agent desktops, admins, the tenant's SIP
adapters) and the wallboard. Nothing on the ACD pods speaks SIP: the SIP
adapter is a process of its own (``ccp_operator.sip_adapters``), on the
nodes' network. A NetworkPolicy lets only the tenant's own pods (and the
cluster nodes' addresses, when configured: the SIP adapters run with
``hostNetwork``) reach its gRPC port. The API credentials live in a Secret the
operator fills once. The handler adopts every object (owner reference to the
Tenant), so deleting the Tenant deletes them.

TLS: the StatefulSets mount the node certificate and the etcd client
certificate from the Secrets the operator is configured with (the chart names
its own), exactly as the chart's shared ACD pool does. Secrets cannot be
mounted across namespaces: outside the operator's namespace the template
names the Secrets ``ccp_operator.tls_secrets`` wrote into the Tenant's
namespace (docs/security.md, "TLS in Kubernetes"). With neither a TLS Secret
nor explicit plaintext the nodes get no TLS setting and refuse to start; the
same for etcd, whose plaintext the nodes get only from a plaintext operator.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from ccp_acd.state.store import TenantConfig

GRPC_PORT = 50051
PEER_PORT = 50052  # node to node, mTLS (CCP_PEER_LISTEN): only with a TLS Secret
METRICS_PORT = 9464
WALLBOARD_PORT = 8090
# OpenTelemetry settings the operator passes on from its own environment to the nodes it creates.
TELEMETRY_ENV = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG")
TENANT_LABEL = "ccp.dev/tenant"
SITE_LABEL = "ccp.dev/site"
TLS_REVISION_ANNOTATION = "ccp.dev/tls-revision"
COMPONENT_LABEL = "app.kubernetes.io/component"
TLS_DIR = "/etc/ccp/tls"
ETCD_TLS_DIR = "/etc/ccp/etcd-tls"
# The readiness probe with TLS, the chart's (templates/_helpers.tpl, ccp.acdProbes) byte for byte: Kubernetes'
# native grpc probe speaks plaintext only, so it asks grpc.health.v1 over TLS itself, verifying the node with the
# CA (the certificate must name localhost) and presenting the node's certificate.
TLS_PROBE_SCRIPT = """\
import os, grpc
from grpc_health.v1 import health_pb2 as h, health_pb2_grpc as g
def read(name): return open(os.environ[name], "rb").read()
creds = grpc.ssl_channel_credentials(read("CCP_TLS_CA_FILE"), read("CCP_TLS_KEY_FILE"), read("CCP_TLS_CERT_FILE"))
port = os.environ["CCP_GRPC_LISTEN"].rpartition(":")[2]
with grpc.secure_channel("localhost:" + port, creds) as channel:
    reply = g.HealthStub(channel).Check(h.HealthCheckRequest(service="ccpapi.v1.AgentService"), timeout=4)
raise SystemExit(0 if reply.status == h.HealthCheckResponse.SERVING else 1)
"""


@dataclass(frozen=True)
class AcdTemplate:
    """What the operator is configured with (environment of its Deployment)."""

    image: str = "ghcr.io/ccp-dev/ccp:0.1.0"
    etcd_endpoint: str = "etcd:2379"
    replicas: int = 2
    lease_ttl_s: int = 3
    # (name, value) of the TELEMETRY_ENV variables set for the operator.
    telemetry_env: tuple[tuple[str, str], ...] = ()
    # kubernetes.io/tls Secret (tls.crt, tls.key, ca.crt) with the nodes' certificate; "" for none.
    tls_secret: str = ""
    # Nodes serve plaintext gRPC (CCP_PLAINTEXT=true): development only, never together with tls_secret.
    plaintext: bool = False
    # kubernetes.io/tls Secret with the etcd client certificate and etcd's CA; "" when etcd speaks plaintext.
    etcd_tls_secret: str = ""
    # A digest of the certificates in those Secrets when the operator wrote them (ccp_operator.tls_secrets), as a
    # pod-template annotation: a re-issued certificate rolls the StatefulSet (nodes read certificates at start).
    tls_revision: str = ""
    # Nodes reach etcd in plaintext (CCP_ETCD_PLAINTEXT=true): what the operator itself was told, never inferred
    # from a missing Secret; never together with etcd_tls_secret.
    etcd_plaintext: bool = False
    # The SIP adapters (ccp_operator.sip_adapters): their image ("" : the nodes' image), the UDP port range
    # for RTP on the node they run on, the size of each adapter's voicemail volume, the labels of the nodes
    # they may run on (none: any node).
    sip_image: str = ""
    sip_rtp_port_low: int = 20000
    sip_rtp_port_high: int = 29999
    sip_recordings_size: str = "10Gi"
    sip_node_selector: tuple[tuple[str, str], ...] = ()
    # CIDRs of the cluster nodes' addresses: a SIP adapter's traffic comes from its node's address (hostNetwork),
    # which a NetworkPolicy's podSelector does not match on every network plugin; these may reach gRPC too.
    node_cidrs: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.tls_secret and self.plaintext:
            raise ValueError("ACD nodes: a TLS Secret and plaintext were both configured; choose one")
        if self.etcd_tls_secret and self.etcd_plaintext:
            raise ValueError("ACD nodes: an etcd client TLS Secret (CCP_ACD_ETCD_TLS_SECRET) and plaintext etcd "
                             "(CCP_ETCD_PLAINTEXT=true) were both configured; choose one")
        if not 1024 <= self.sip_rtp_port_low < self.sip_rtp_port_high <= 65535:
            raise ValueError(f"SIP adapters: the RTP port range {self.sip_rtp_port_low}-{self.sip_rtp_port_high} "
                             "must be low < high within 1024..65535")


def credentials_secret_name(tenant: str) -> str:
    return f"{tenant}-api-credentials"


def acd_name(tenant: str, site: str) -> str:
    return f"acd-{tenant}-{site}"


def _labels(tenant: str, site: str | None = None) -> dict[str, str]:
    labels = {"app.kubernetes.io/name": "ccp", COMPONENT_LABEL: "acd", TENANT_LABEL: tenant}
    if site:
        labels[SITE_LABEL] = site
    return labels


def sites(tenant: TenantConfig) -> list[str]:
    return [tenant.home_site, *[s for s in tenant.failover_sites if s != tenant.home_site]]


def _tls_env(template: AcdTemplate) -> list[dict[str, str]]:
    """The variables ccp_acd.tls reads, pointing into the mounted Secrets (as the chart's ccp.acdTlsEnv)."""
    env = []
    if template.tls_secret:
        env += [{"name": f"CCP_TLS_{kind}_FILE", "value": f"{TLS_DIR}/{file}"}
                for kind, file in (("CERT", "tls.crt"), ("KEY", "tls.key"), ("CA", "ca.crt"))]
        env.append({"name": "CCP_PEER_LISTEN", "value": f"0.0.0.0:{PEER_PORT}"})
    elif template.plaintext:
        env.append({"name": "CCP_PLAINTEXT", "value": "true"})
    return env + etcd_env(template)


def etcd_env(template: AcdTemplate) -> list[dict[str, str]]:
    """The etcd client TLS variables (or explicit plaintext) of every pod that reads etcd."""
    if template.etcd_tls_secret:
        return [{"name": f"CCP_ETCD_{kind}_FILE", "value": f"{ETCD_TLS_DIR}/{file}"}
                for kind, file in (("CA", "ca.crt"), ("CERT", "tls.crt"), ("KEY", "tls.key"))]
    if template.etcd_plaintext:
        return [{"name": "CCP_ETCD_PLAINTEXT", "value": "true"}]
    return []


def _tls_volumes(template: AcdTemplate) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, volumeMounts) of the TLS Secrets."""
    secrets = [("tls", template.tls_secret, TLS_DIR), ("etcd-tls", template.etcd_tls_secret, ETCD_TLS_DIR)]
    volumes = [{"name": name, "secret": {"secretName": secret}} for name, secret, _ in secrets if secret]
    mounts = [{"name": name, "mountPath": path, "readOnly": True} for name, secret, path in secrets if secret]
    return volumes, mounts


def _probes(template: AcdTemplate) -> dict[str, Any]:
    if not template.tls_secret:
        probe = {"grpc": {"port": GRPC_PORT, "service": "ccpapi.v1.AgentService"}, "periodSeconds": 5}
        return {"readinessProbe": probe, "livenessProbe": {**probe, "failureThreshold": 6}}
    # Liveness only asks whether the process accepts connections (cheap, every 5 s); readiness asks health over TLS.
    return {
        "readinessProbe": {"exec": {"command": ["python", "-c", TLS_PROBE_SCRIPT]}, "periodSeconds": 10,
                           "timeoutSeconds": 5},
        "livenessProbe": {"tcpSocket": {"port": "grpc"}, "periodSeconds": 5, "failureThreshold": 6},
    }


def statefulset(tenant: TenantConfig, site: str, template: AcdTemplate) -> dict[str, Any]:
    name = acd_name(tenant.name, site)
    env = [
        {"name": "CCP_SITE", "value": site},
        {"name": "CCP_TENANTS", "value": tenant.name},
        {"name": "CCP_NODE_ID", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
        {"name": "CCP_GRPC_LISTEN", "value": f"0.0.0.0:{GRPC_PORT}"},
        {"name": "CCP_ETCD_ENDPOINT", "value": template.etcd_endpoint},
        {"name": "CCP_LEASE_TTL_S", "value": str(template.lease_ttl_s)},
        {"name": "CCP_METRICS_LISTEN", "value": f"0.0.0.0:{METRICS_PORT}"},
        {"name": "CCP_WALLBOARD_LISTEN", "value": f"0.0.0.0:{WALLBOARD_PORT}"},
        {"name": "OTEL_SERVICE_NAME", "value": "ccp-acd"},
        *({"name": n, "value": v} for n, v in template.telemetry_env),
        *_tls_env(template),
    ]
    volumes, mounts = _tls_volumes(template)
    container: dict[str, Any] = {
        "name": "acd",
        "image": template.image,
        "args": ["node"],
        "env": env,
        "ports": [
            {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
            *([{"name": "peer", "containerPort": PEER_PORT, "protocol": "TCP"}] if template.tls_secret else []),
            {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
            {"name": "wallboard", "containerPort": WALLBOARD_PORT, "protocol": "TCP"},
        ],
        **_probes(template),
        "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True},
    }
    pod: dict[str, Any] = {"containers": [container], "terminationGracePeriodSeconds": 15}
    if volumes:
        container["volumeMounts"] = mounts
        pod["volumes"] = volumes
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name, "labels": _labels(tenant.name, site)},
        "spec": {
            "serviceName": f"{name}-headless",
            "replicas": template.replicas,
            "selector": {"matchLabels": _labels(tenant.name, site)},
            "template": {
                "metadata": {
                    "labels": _labels(tenant.name, site),
                    "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(METRICS_PORT),
                                    **({TLS_REVISION_ANNOTATION: template.tls_revision} if template.tls_revision else {})},
                },
                "spec": pod,
            },
        },
    }


def services(tenant: TenantConfig, site: str) -> list[dict[str, Any]]:
    name = acd_name(tenant.name, site)
    ports = [
        {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
        {"name": "wallboard", "port": WALLBOARD_PORT, "targetPort": "wallboard", "protocol": "TCP"},
    ]
    selector = _labels(tenant.name, site)
    # Nodes reach each other's peer port pod by pod (<pod>.<headless service>); nothing listens without TLS.
    peer = {"name": "peer", "port": PEER_PORT, "targetPort": PEER_PORT, "protocol": "TCP"}
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"{name}-headless", "labels": selector},
            "spec": {"clusterIP": "None", "selector": selector, "ports": [*ports, peer], "publishNotReadyAddresses": True},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "labels": selector},
            "spec": {"selector": selector, "ports": ports},
        },
    ]


def network_policy(tenant: TenantConfig, *, node_cidrs: tuple[str, ...] = ()) -> dict[str, Any]:
    own = {"podSelector": {"matchLabels": {TENANT_LABEL: tenant.name}}}
    # The tenant's SIP adapters (hostNetwork) reach gRPC from their node's address; only gRPC, not the rest.
    nodes = [{"from": [{"ipBlock": {"cidr": cidr}} for cidr in node_cidrs],
              "ports": [{"port": GRPC_PORT, "protocol": "TCP"}]}] if node_cidrs else []
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"acd-{tenant.name}-isolation", "labels": _labels(tenant.name)},
        "spec": {
            "podSelector": {"matchLabels": {TENANT_LABEL: tenant.name, COMPONENT_LABEL: "acd"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [own], "ports": [{"port": GRPC_PORT, "protocol": "TCP"},
                                          {"port": PEER_PORT, "protocol": "TCP"},
                                          {"port": WALLBOARD_PORT, "protocol": "TCP"}]},
                # Prometheus, wherever it runs in the cluster; metrics carry no caller data.
                {"from": [{"namespaceSelector": {}}], "ports": [{"port": METRICS_PORT, "protocol": "TCP"}]},
                *nodes,
            ],
        },
    }


def credentials_secret(tenant: TenantConfig, tokens: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": credentials_secret_name(tenant.name), "labels": _labels(tenant.name)},
        "type": "Opaque",
        "data": {key: base64.b64encode(value.encode()).decode() for key, value in tokens.items()},
    }


def children(tenant: TenantConfig, template: AcdTemplate) -> list[dict[str, Any]]:
    """Everything but the Secret (which needs tokens issued in etcd first), in apply order."""
    objects: list[dict[str, Any]] = [network_policy(tenant, node_cidrs=template.node_cidrs)]
    for site in sites(tenant):
        objects += services(tenant, site)
        objects.append(statefulset(tenant, site, template))
    return objects
