"""The Kubernetes objects a tenant's contact center runs on, built from its Tenant (pure).

Per site the tenant uses (home and failover sites): a StatefulSet of ACD nodes
dedicated to the tenant (``CCP_TENANTS``; two replicas: one routes, one is a
hot standby, both share state through etcd), a headless Service for the
StatefulSet and a Service for gRPC (agent desktops, admins) and SIP (the
tenant's trunks). A NetworkPolicy lets only the tenant's own pods reach its
gRPC port; SIP is open to carriers. The API credentials live in a Secret the
operator fills once. The handler adopts every object (owner reference to the
Tenant), so deleting the Tenant deletes them.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from ccp_acd.state.store import TenantConfig

GRPC_PORT = 50051
SIP_PORT = 5060
METRICS_PORT = 9464
WALLBOARD_PORT = 8090
# OpenTelemetry settings the operator passes on from its own environment to the nodes it creates.
TELEMETRY_ENV = ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_TRACES_SAMPLER", "OTEL_TRACES_SAMPLER_ARG")
TENANT_LABEL = "ccp.dev/tenant"
SITE_LABEL = "ccp.dev/site"
COMPONENT_LABEL = "app.kubernetes.io/component"


@dataclass(frozen=True)
class AcdTemplate:
    """What the operator is configured with (environment of its Deployment)."""

    image: str = "ghcr.io/ccp-dev/ccp:0.1.0"
    etcd_endpoint: str = "etcd:2379"
    replicas: int = 2
    lease_ttl_s: int = 3
    # (name, value) of the TELEMETRY_ENV variables set for the operator.
    telemetry_env: tuple[tuple[str, str], ...] = ()


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
    ]
    probe = {"grpc": {"port": GRPC_PORT, "service": "ccpapi.v1.AgentService"}, "periodSeconds": 5}
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
                    "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": str(METRICS_PORT)},
                },
                "spec": {
                    "containers": [
                        {
                            "name": "acd",
                            "image": template.image,
                            "args": ["node"],
                            "env": env,
                            "ports": [
                                {"name": "grpc", "containerPort": GRPC_PORT, "protocol": "TCP"},
                                {"name": "sip", "containerPort": SIP_PORT, "protocol": "UDP"},
                                {"name": "metrics", "containerPort": METRICS_PORT, "protocol": "TCP"},
                                {"name": "wallboard", "containerPort": WALLBOARD_PORT, "protocol": "TCP"},
                            ],
                            "readinessProbe": probe,
                            "livenessProbe": {**probe, "failureThreshold": 6},
                            "resources": {"requests": {"cpu": "250m", "memory": "256Mi"}, "limits": {"memory": "512Mi"}},
                            "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False,
                                                "readOnlyRootFilesystem": True},
                        }
                    ],
                    "terminationGracePeriodSeconds": 15,
                },
            },
        },
    }


def services(tenant: TenantConfig, site: str) -> list[dict[str, Any]]:
    name = acd_name(tenant.name, site)
    ports = [
        {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
        {"name": "sip", "port": SIP_PORT, "targetPort": "sip", "protocol": "UDP"},
        {"name": "wallboard", "port": WALLBOARD_PORT, "targetPort": "wallboard", "protocol": "TCP"},
    ]
    selector = _labels(tenant.name, site)
    return [
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": f"{name}-headless", "labels": selector},
            "spec": {"clusterIP": "None", "selector": selector, "ports": ports, "publishNotReadyAddresses": True},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "labels": selector},
            "spec": {"selector": selector, "ports": ports},
        },
    ]


def network_policy(tenant: TenantConfig) -> dict[str, Any]:
    own = {"podSelector": {"matchLabels": {TENANT_LABEL: tenant.name}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": f"acd-{tenant.name}-isolation", "labels": _labels(tenant.name)},
        "spec": {
            "podSelector": {"matchLabels": {TENANT_LABEL: tenant.name, COMPONENT_LABEL: "acd"}},
            "policyTypes": ["Ingress"],
            "ingress": [
                {"from": [own], "ports": [{"port": GRPC_PORT, "protocol": "TCP"},
                                          {"port": WALLBOARD_PORT, "protocol": "TCP"}]},
                # Prometheus, wherever it runs in the cluster; metrics carry no caller data.
                {"from": [{"namespaceSelector": {}}], "ports": [{"port": METRICS_PORT, "protocol": "TCP"}]},
                {"ports": [{"port": SIP_PORT, "protocol": "UDP"}]},
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
    objects: list[dict[str, Any]] = [network_policy(tenant)]
    for site in sites(tenant):
        objects += services(tenant, site)
        objects.append(statefulset(tenant, site, template))
    return objects
