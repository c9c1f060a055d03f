"""Node settings, read once from ``CCP_*`` environment variables and validated at start-up.

Frozen: nothing changes a setting after start. Each field says its unit and
why its default is what it is.
"""

from __future__ import annotations

import socket

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

ID_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"


class NodeSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CCP_", frozen=True, extra="ignore")

    # The site this node routes for; agents and calls carry a site too.
    site: str = Field(default="site-a", pattern=ID_PATTERN)
    # Unique within the site; defaults to the host name (the pod name under Kubernetes).
    node_id: str = Field(default_factory=lambda: socket.gethostname().split(".")[0].lower())
    # host:port of the gRPC server. Loopback by default: exposing it is a deployment decision.
    grpc_listen: str = "127.0.0.1:50051"
    # host:port of an etcd member (v3 gRPC API).
    etcd_endpoint: str = "127.0.0.1:2379"
    # Seconds. The node's session lease: its registration and every offer it
    # makes live on it, so a dead node's offers return to the queue within this
    # time. 3 s keeps hand-back quick while tolerating a ~2 s stall (keepalive
    # is sent every ttl/3).
    lease_ttl_s: int = Field(default=3, ge=2, le=60)
    # Seconds. The planner re-runs at least this often even without etcd events,
    # because skill rings, max-wait and offer timeouts are driven by time alone.
    dispatch_interval_s: float = Field(default=0.5, gt=0.0, le=10.0)
    # Seconds an etcd request may take before it fails as StateUnavailable.
    etcd_timeout_s: float = Field(default=5.0, gt=0.0)
    # host:port of the Prometheus scrape endpoint (/metrics); empty disables it.
    metrics_listen: str = ""
    # Comma-separated tenants this node routes (a tenant's dedicated ACD StatefulSet,
    # created by the operator); empty: every tenant in etcd (a shared pool).
    tenants: str = Field(default="", pattern=r"^([a-z0-9-]+(,[a-z0-9-]+)*)?$")
    # Shared secret for the node-to-node SiteService. Empty disables that service.
    cluster_token: SecretStr = SecretStr("")

    def routes(self, tenant: str) -> bool:
        return not self.tenants or tenant in self.tenants.split(",")
