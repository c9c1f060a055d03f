"""Node settings, read once from ``CCP_*`` environment variables and validated at start-up.

Frozen: nothing changes a setting after start. Each field says its unit and
why its default is what it is.
"""

from __future__ import annotations

import socket
from typing import Literal

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
    # Seconds. The node's session lease: its registration, its queue ownerships
    # and every offer it makes live on it, so a dead node's queues are taken
    # over and its offers return within TTL + etcd's 0.5 s expiry sweep.
    # Keepalives go every ttl/4, so a stall up to 3/4 TTL costs nothing. etcd
    # raises a TTL below ceil(1.5 x its election timeout) to that floor: 2 s
    # (the default) with etcd's default 1 s election timeout, 1 s with
    # --election-timeout=600 as the embedded platform runs it. See
    # docs/geo-redundancy.md for the numbers.
    lease_ttl_s: int = Field(default=2, ge=1, le=60)
    # Seconds. The planner re-runs at least this often even without etcd events,
    # because skill rings, max-wait and offer timeouts are driven by time alone.
    dispatch_interval_s: float = Field(default=0.5, gt=0.0, le=10.0)
    # Seconds an etcd request may take before it fails as StateUnavailable.
    etcd_timeout_s: float = Field(default=5.0, gt=0.0)
    # host:port of the Prometheus scrape endpoint (/metrics); empty disables it.
    metrics_listen: str = ""
    # host:port of the wallboard web page (/wallboard, docs/wallboard.md); empty disables it. Port 0 picks one.
    wallboard_listen: str = ""
    # Seconds between the wallboard's snapshots: fresh enough for a screen, and each costs three etcd reads.
    wallboard_interval_s: float = Field(default=2.0, ge=0.1, le=60.0)
    # Comma-separated tenants this node routes (a tenant's dedicated ACD StatefulSet,
    # created by the operator); empty: every tenant in etcd (a shared pool).
    tenants: str = Field(default="", pattern=r"^([a-z0-9-]+(,[a-z0-9-]+)*)?$")
    # Seconds a site this node has seen alive may have no live node before it is
    # declared down and its waiting calls are adopted (longer than a lease TTL,
    # so one node's restart is not a disaster).
    site_lost_after_s: float = Field(default=3.0, gt=0.0)
    # Failing back to a site that returns: "manual" (an SRE runs `ccp site up`)
    # or "auto" (after it has had live nodes for failback_after_s).
    failback: Literal["manual", "auto"] = "manual"
    failback_after_s: float = Field(default=30.0, gt=0.0)
    # Shared secret for the node-to-node SiteService. Empty disables that service.
    cluster_token: SecretStr = SecretStr("")

    def routes(self, tenant: str) -> bool:
        return not self.tenants or tenant in self.tenants.split(",")
