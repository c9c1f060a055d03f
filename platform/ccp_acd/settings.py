"""Node settings, read once from ``CCP_*`` environment variables and validated at start-up.

Frozen: nothing changes a setting after start. Each field says its unit and
why its default is what it is.
"""

from __future__ import annotations

import socket
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ccp_acd.tls import ChannelSecurity, etcd_security

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
    # Offer on arrival: an Enqueue for a queue this node owns is planned at once (the calls waiting first) and,
    # when the plan offers it, created already offered, in one transaction (routing.Router.enqueue).
    # Off: every call is created queued and offered by the router's next dispatch (one more transaction).
    offer_on_arrival: bool = True
    # Seconds a thread may hold the GIL while another waits for it (sys.setswitchinterval; Python's default is
    # 5 ms). gRPC's completion-queue poller is a second thread of the node: at the default, the event loop could
    # wait up to 5 ms for it at every hand-over. 0.5 ms took ~1 ms off the median enqueue -> offer and lowered the
    # node's CPU (docs/performance.md).
    gil_switch_interval_s: float = Field(default=0.0005, gt=0.0, le=0.1)
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
    # Overload protection (api/overload.py, docs/security.md). Defaults of the per-tenant limits a Tenant's
    # spec.limits overrides, per tenant per node. Enqueues/s (0: unlimited): above what one node routes
    # (~170-240 calls/s on 2 cores, BENCHMARKS.md), so only a flood trips it; set a tenant's own rate below its share.
    tenant_enqueue_rate: float = Field(default=400.0, ge=0.0)
    # Enqueues a tenant may send at once above its rate (the token bucket's depth).
    tenant_enqueue_burst: int = Field(default=800, ge=1)
    # Calls a tenant may have waiting (0: no cap): far above any real queue, it bounds what a flood can park.
    tenant_max_waiting: int = Field(default=20_000, ge=0)
    # Load shedding of new work (Enqueue, Login, reports): new-work handlers in progress at once (0 sheds all:
    # drills and tests). Each takes milliseconds, so 256 at once means the node is far behind.
    shed_max_in_flight: int = Field(default=256, ge=0)
    # Seconds the event loop may run late before new work is shed: past it, every RPC and dispatch is late too.
    shed_max_loop_lag_s: float = Field(default=0.5, gt=0.0)
    # Seconds a unary handler may run before it is cancelled (DEADLINE_EXCEEDED): longer than any report and
    # than a few etcd timeouts, so only a stuck handler hits it.
    max_handler_s: float = Field(default=30.0, gt=0.0, le=600.0)
    # Bytes of one request message: no ccpapi request needs more than a few KiB.
    grpc_max_receive_bytes: int = Field(default=1024 * 1024, ge=4096)
    # RPCs at once on one client connection (HTTP/2 streams, offer streams included).
    grpc_max_concurrent_streams: int = Field(default=1024, ge=1)
    # Shared secret for the node-to-node SiteService. Empty disables that service.
    cluster_token: SecretStr = SecretStr("")
    # Level of the node's log (DEBUG: every store and routing detail). Logs are redacted whatever the level:
    # caller numbers, tokens and the cluster token are masked (ccp_acd.redaction, docs/security.md).
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Seconds between retention passes (state/retention.py): records are kept for days, so an hour late is
    # nothing, and each pass costs a few range reads per routed tenant.
    retention_interval_s: float = Field(default=3600.0, ge=1.0, le=86400.0)
    # TLS (docs/security.md). PEM certificate chain and key the node serves gRPC with and presents to peers.
    # No default: a node serves TLS unless plaintext=true is asked for explicitly.
    tls_cert_file: str = ""
    tls_key_file: str = ""
    # PEM CA bundle that signs node certificates: the peer port requires client certificates it verifies.
    tls_ca_file: str = ""
    # true: gRPC without TLS, for local development only; never the default, never a fallback.
    plaintext: bool = False
    # host:port of the node-to-node port: the same services, but the TLS handshake requires a client
    # certificate from tls_ca_file, and only there does SiteService answer (gRPC Python cannot ask for an
    # optional client certificate on the clients' port). Empty: no peer port. Port 0 picks one (tests).
    peer_listen: str = ""
    # etcd client TLS: the CA that verifies etcd (required for TLS), and a client certificate for etcd's
    # --client-cert-auth. No default: without a CA the node needs etcd_plaintext=true (tls.etcd_security).
    etcd_ca_file: str = ""
    etcd_cert_file: str = ""
    etcd_key_file: str = ""
    # true: plaintext etcd, for local development only; never the default, never together with the files above.
    etcd_plaintext: bool = False

    @model_validator(mode="after")
    def _transport_chosen(self) -> NodeSettings:
        has_cert = bool(self.tls_cert_file or self.tls_key_file)
        if not has_cert and not self.plaintext:
            raise ValueError(
                "no TLS certificate: set CCP_TLS_CERT_FILE and CCP_TLS_KEY_FILE, "
                "or CCP_PLAINTEXT=true for plaintext gRPC (local development only)"
            )
        if has_cert and self.plaintext:
            raise ValueError("CCP_PLAINTEXT=true together with CCP_TLS_CERT_FILE/CCP_TLS_KEY_FILE: choose one")
        if has_cert and not (self.tls_cert_file and self.tls_key_file):
            raise ValueError("TLS needs both CCP_TLS_CERT_FILE and CCP_TLS_KEY_FILE")
        if has_cert and self.peer_listen and not self.tls_ca_file:
            raise ValueError("CCP_PEER_LISTEN with TLS needs CCP_TLS_CA_FILE, the CA that signs peer certificates")
        self.etcd_security()  # neither CCP_ETCD_CA_FILE nor CCP_ETCD_PLAINTEXT=true (or both) fails here, at start-up
        return self

    def etcd_security(self) -> ChannelSecurity:
        """How the node reaches etcd: TLS with CCP_ETCD_CA_FILE, or the plaintext CCP_ETCD_PLAINTEXT=true asks for."""
        return etcd_security(ca_file=self.etcd_ca_file, cert_file=self.etcd_cert_file, key_file=self.etcd_key_file,
                             plaintext=self.etcd_plaintext)

    def peer_security(self) -> ChannelSecurity:
        """How this node reaches other nodes: their CA, and its own certificate as the client certificate."""
        if self.plaintext:
            return ChannelSecurity(plaintext=True)
        return ChannelSecurity(ca_file=self.tls_ca_file, cert_file=self.tls_cert_file, key_file=self.tls_key_file)

    def routes(self, tenant: str) -> bool:
        return not self.tenants or tenant in self.tenants.split(",")
