"""The tenant's SIP trunk adapters (``ccp sip``, docs/voice.md) in Kubernetes: one StatefulSet per site, and the
voicemail key ring they share.

Per site the tenant uses (the sites of its ACD StatefulSets) a StatefulSet ``sip-<tenant>-<site>`` of one
replica: the calls live in the adapter process, a second replica would answer nothing more (a trunk's SIP port is
bound once per address) and the adapter has no hand-over of calls. ``podManagementPolicy: Parallel`` and
``RollingUpdate``: the one pod is replaced on every change without waiting on an ordinal.

**Host network.** The pod runs with ``hostNetwork: true`` (``dnsPolicy: ClusterFirstWithHostNet``, so it
still resolves the tenant's ACD Service and etcd by their cluster names), binds SIP and RTP to the node's
address (``CCP_SIP_BIND`` from ``status.podIP``, which is the node's) and announces it in SDP. SIP and RTP
cannot go through a Service: RTP uses a range of ports chosen per call and announced inside the SDP body, which
neither kube-proxy nor a LoadBalancer rewrites, and the far end sends media to exactly the address announced.
This is how SIP workloads (Kamailio, rtpengine, Asterisk) are usually run on Kubernetes. Consequences:

- The ports are the node's: each trunk's ``sip.port``, the agent-leg phones' ports from
  ``CCP_SIP_AGENT_PORT_LOW`` (5200, up to 200) and the RTP range (operator settings) must be free on the node
  and open to the carriers and agents' phones. Two adapters on one node would clash on them, so the pods
  refuse to share a node with another tenant's adapter (required pod anti-affinity on the component label,
  every namespace). None is declared as a container port: with the host network a declared port is a host
  port the scheduler reserves, and the SIP ports come from Trunk resources that change without the pod.
- The Tenant's namespace must admit host-network pods (Pod Security ``privileged`` level).
- A NetworkPolicy's podSelector may not match traffic from the node's address (it depends on the network
  plugin): the ACD isolation policy admits the nodes' CIDRs (``CCP_NODE_CIDRS``) on gRPC.

**What the pod gets.** ``CCP_SIP_TENANT``/``_SITE``; ``CCP_SIP_NODES`` the site's ACD Service
(``acd-<tenant>-<site>.<namespace>.svc``, a name the node certificate carries); the ``interaction`` token from
the tenant's credentials Secret as a file; the nodes' CA (``ca.crt`` of the node TLS Secret, nothing else of it:
the adapter is a client) or ``CCP_PLAINTEXT=true`` as the nodes; etcd as the nodes (``CCP_ETCD_*``); a
``recordings`` volume (volumeClaimTemplates) for voicemail, encrypted with the key ring of the Secret
``<tenant>-recordings-key`` (``CCP_RECORDINGS_KEY_FILE``).

**The key ring Secret** is created once, with one fresh AES-256 key (``ccp_acd.recordings.KeyRing``'s JSON, key
id the creation date), and never written again: replacing it would make every stored voicemail unreadable. It
is created with a POST, not an apply, so a concurrent writer's ring is never overwritten either. One that does
not parse is reported (``SipReady`` False, ``RecordingsKeyInvalid``) and left as it is; rotating keys is a
person's job (add a key, make it active, keep the old ones: ``ccp_acd.recordings``).

**Rolling.** The pod template carries the certificates' revision (as the nodes) and the credentials rotation:
the adapter reads its token at start only, and a rotated-out token stops working after the grace period, so a
rotation restarts the adapter. A restart drops the calls it carries (the adapter's shutdown releases queued
callers with an apology and hangs up bridged calls; docs/voice.md).

**Probes.** The adapter serves ``/healthz`` and ``/metrics`` on ``HEALTH_PORT`` of the pod's (node's) address
(``CCP_SIP_HEALTH_LISTEN``, ``ccp_acd.sip.health``): the liveness probe restarts an adapter whose RTP engine or
a trunk's SIP receive thread died. No readiness probe: no Service routes to the pod, so it would gate nothing.

**Deletion.** Everything here is owned by the Tenant. The recordings volumes go with the StatefulSet
(``persistentVolumeClaimRetentionPolicy.whenDeleted: Delete``): the key ring goes with the Tenant, and files
no key opens are no use to anyone.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass
from typing import Any

import kopf
import kubernetes
from ccp_acd.recordings import KEY_FILE_ENV, KeyRing, RecordingError
from ccp_acd.state.store import TenantConfig

from ccp_operator import children
from ccp_operator import conditions as c
from ccp_operator.kube import Kube

COMPONENT = "sip"
KEY_RING_FILE = "keyring.json"
KEY_RING_DIR = "/etc/ccp/recordings-key"
TOKEN_DIR = "/etc/ccp/sip-token"
TOKEN_KEY = "interaction"  # the credentials Secret's key of the token the adapter uses (handlers.ISSUED_ROLES)
RECORDINGS_DIR = "/var/lib/ccp/recordings"
CREDENTIALS_ROTATION_ANNOTATION = "ccp.dev/credentials-rotation"
# The adapter's shutdown takes up to 5 s (ccp_acd.sip.adapter.SHUTDOWN_GRACE_S), then closes its clients.
TERMINATION_GRACE_S = 15
HEALTH_PORT = 9465  # /healthz and /metrics of ccp sip (ccp_acd.sip.health), on the node's address
# Any group: the kubelet makes the recordings volume writable by it and adds it to the process's groups, so the
# image's (non-root) user needs no particular id.
RECORDINGS_GROUP = 10001


def adapter_name(tenant: str, site: str) -> str:
    return f"sip-{tenant}-{site}"


def key_ring_secret_name(tenant: str) -> str:
    return f"{tenant}-recordings-key"


def _labels(tenant: str, site: str | None = None) -> dict[str, str]:
    labels = {"app.kubernetes.io/name": "ccp", children.COMPONENT_LABEL: COMPONENT, children.TENANT_LABEL: tenant}
    if site:
        labels[children.SITE_LABEL] = site
    return labels


def node_address(tenant: str, site: str, *, namespace: str) -> str:
    """The site's ACD gRPC Service as the adapter dials it (a name the nodes' certificate carries)."""
    service = children.acd_name(tenant, site)
    return f"{service}.{namespace}.svc:{children.GRPC_PORT}" if namespace else f"{service}:{children.GRPC_PORT}"


def _env(tenant: TenantConfig, site: str, template: children.AcdTemplate, *, namespace: str) -> list[dict[str, Any]]:
    if template.tls_secret:
        nodes_tls = [{"name": "CCP_TLS_CA_FILE", "value": f"{children.TLS_DIR}/ca.crt"}]
    elif template.plaintext:
        nodes_tls = [{"name": "CCP_PLAINTEXT", "value": "true"}]
    else:
        nodes_tls = []  # as the nodes, which refuse to start: nothing to talk to
    return [
        {"name": "CCP_SIP_TENANT", "value": tenant.name},
        {"name": "CCP_SIP_SITE", "value": site},
        {"name": "CCP_SIP_NODES", "value": node_address(tenant.name, site, namespace=namespace)},
        {"name": "CCP_SIP_TOKEN_FILE", "value": f"{TOKEN_DIR}/{TOKEN_KEY}"},
        {"name": "CCP_SIP_ETCD_ENDPOINT", "value": template.etcd_endpoint},
        {"name": "CCP_SIP_BIND", "valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}},
        {"name": "CCP_SIP_HEALTH_LISTEN", "value": f"$(CCP_SIP_BIND):{HEALTH_PORT}"},  # expanded by the kubelet
        {"name": "CCP_SIP_RTP_PORT_LOW", "value": str(template.sip_rtp_port_low)},
        {"name": "CCP_SIP_RTP_PORT_HIGH", "value": str(template.sip_rtp_port_high)},
        {"name": "CCP_SIP_RECORDINGS_DIR", "value": RECORDINGS_DIR},
        {"name": KEY_FILE_ENV, "value": f"{KEY_RING_DIR}/{KEY_RING_FILE}"},
        *nodes_tls,
        *children.etcd_env(template),
    ]


def _volumes(tenant: TenantConfig, template: children.AcdTemplate) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(volumes, volumeMounts): each Secret mounted with only the keys the adapter reads."""
    secrets = [
        ("token", children.credentials_secret_name(tenant.name), [TOKEN_KEY], TOKEN_DIR),
        ("recordings-key", key_ring_secret_name(tenant.name), [KEY_RING_FILE], KEY_RING_DIR),
    ]
    if template.tls_secret:
        secrets.append(("tls", template.tls_secret, ["ca.crt"], children.TLS_DIR))
    if template.etcd_tls_secret:
        secrets.append(("etcd-tls", template.etcd_tls_secret, ["ca.crt", "tls.crt", "tls.key"], children.ETCD_TLS_DIR))
    volumes = [{"name": name, "secret": {"secretName": secret, "items": [{"key": k, "path": k} for k in keys]}}
               for name, secret, keys, _ in secrets]
    mounts = [{"name": name, "mountPath": path, "readOnly": True} for name, _, _, path in secrets]
    return volumes, [*mounts, {"name": "recordings", "mountPath": RECORDINGS_DIR}]


def statefulset(tenant: TenantConfig, site: str, template: children.AcdTemplate, *, namespace: str = "",
                credentials_rotation: int = 0) -> dict[str, Any]:
    """The adapter of ``tenant`` at ``site`` (pure)."""
    labels = _labels(tenant.name, site)
    volumes, mounts = _volumes(tenant, template)
    container = {
        "name": "sip",
        "image": template.sip_image or template.image,
        "args": ["sip"],
        "env": _env(tenant, site, template, namespace=namespace),
        "volumeMounts": mounts,
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": HEALTH_PORT}, "periodSeconds": 10,
                          "timeoutSeconds": 5, "failureThreshold": 3},
        # ~150 calls a core (docs/voice.md); memory grows with live calls' buffers.
        "resources": {"requests": {"cpu": "500m", "memory": "256Mi"}, "limits": {"memory": "1Gi"}},
        "securityContext": {"runAsNonRoot": True, "allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True},
    }
    annotations = {CREDENTIALS_ROTATION_ANNOTATION: str(credentials_rotation)}
    if template.tls_revision:
        annotations[children.TLS_REVISION_ANNOTATION] = template.tls_revision
    # Another adapter on the node (any tenant's) would bind the same RTP range.
    alone = {"labelSelector": {"matchLabels": {children.COMPONENT_LABEL: COMPONENT}}, "namespaceSelector": {},
             "topologyKey": "kubernetes.io/hostname"}
    pod: dict[str, Any] = {
        "hostNetwork": True,
        "dnsPolicy": "ClusterFirstWithHostNet",
        "containers": [container],
        "volumes": volumes,
        "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [alone]}},
        "securityContext": {"fsGroup": RECORDINGS_GROUP, "fsGroupChangePolicy": "OnRootMismatch"},
        "terminationGracePeriodSeconds": TERMINATION_GRACE_S,
    }
    if template.sip_node_selector:
        pod["nodeSelector"] = dict(template.sip_node_selector)
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": adapter_name(tenant.name, site), "labels": labels},
        "spec": {
            "replicas": 1,
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "RollingUpdate"},
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels, "annotations": annotations}, "spec": pod},
            "volumeClaimTemplates": [{
                "metadata": {"name": "recordings", "labels": labels},
                "spec": {"accessModes": ["ReadWriteOnce"],
                         "resources": {"requests": {"storage": template.sip_recordings_size}}},
            }],
            "persistentVolumeClaimRetentionPolicy": {"whenDeleted": "Delete", "whenScaled": "Retain"},
        },
    }


def statefulsets(tenant: TenantConfig, template: children.AcdTemplate, *, namespace: str = "",
                 credentials_rotation: int = 0) -> list[dict[str, Any]]:
    return [statefulset(tenant, site, template, namespace=namespace, credentials_rotation=credentials_rotation)
            for site in children.sites(tenant)]


def key_ring_secret(tenant: TenantConfig, *, now: float) -> dict[str, Any]:
    """A Secret with a new key ring of one fresh key (pure but for the key)."""
    key_id = time.strftime("%Y%m%d", time.gmtime(now))
    ring = json.dumps({"active": key_id, "keys": {key_id: KeyRing.new_key()}})
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": key_ring_secret_name(tenant.name), "labels": _labels(tenant.name)},
        "type": "Opaque",
        "data": {KEY_RING_FILE: base64.b64encode(ring.encode()).decode()},
    }


@dataclass(frozen=True)
class Outcome:
    """What the reconcile did about the tenant's SIP adapters (``problems`` empty: all in place)."""

    adapters: tuple[str, ...] = ()
    key_created: bool = False
    problems: tuple[tuple[str, str], ...] = ()  # (reason, message)


def _key_ring_problem(secret: dict[str, Any]) -> str | None:
    """Why an existing key ring Secret is no usable key ring, or None. Never names a key."""
    encoded = (secret.get("data") or {}).get(KEY_RING_FILE)
    if not encoded:
        return f"has no {KEY_RING_FILE}"
    try:
        KeyRing.parse(base64.b64decode(encoded).decode())
    except (RecordingError, ValueError) as e:
        return str(e)
    return None


def _refused(e: kubernetes.client.ApiException) -> bool:
    """Kubernetes refused the object itself (forbidden, invalid): retrying soon will not help by itself. Other
    statuses (5xx, 409 on an apply, 429) mean the API server is unwell: the whole reconcile is retried."""
    return e.status in (400, 403, 404, 422)


def _problem(what: str, e: kubernetes.client.ApiException) -> tuple[str, str]:
    return c.SIP_REFUSED, f"{what}: Kubernetes refused it ({e.status} {e.reason})"


async def _ensure_key_ring(kube: Kube, tenant: TenantConfig, *, namespace: str, owner: Any,
                           now: float) -> tuple[bool, tuple[str, str] | None]:
    """(created now, problem). An existing Secret is never written, whatever it holds."""
    name = key_ring_secret_name(tenant.name)
    existing = await kube.get("v1", "Secret", name, namespace)
    if existing is None:
        secret = key_ring_secret(tenant, now=now)
        secret["metadata"]["namespace"] = namespace
        kopf.adopt(secret, owner=owner)
        try:
            if await kube.create(secret):
                return True, None
        except kubernetes.client.ApiException as e:
            if _refused(e):
                return False, _problem(f"Secret {name}", e)
            raise
        existing = await kube.get("v1", "Secret", name, namespace)  # created meanwhile by someone else
        if existing is None:
            raise kubernetes.client.ApiException(status=409, reason=f"Secret {name} appeared and vanished")
    problem = _key_ring_problem(existing)
    if problem:
        return False, (c.RECORDINGS_KEY_INVALID, f"Secret {name} is no recordings key ring ({problem}); left as it "
                       "is (replacing it would lose the stored voicemails): fix it or delete it to get a new one")
    return False, None


async def ensure(kube: Kube, tenant: TenantConfig, template: children.AcdTemplate, *, namespace: str, owner: Any,
                 credentials_rotation: int, now: float) -> Outcome:
    """The key ring Secret (once) and the adapters' StatefulSets; problems are reported, not raised."""
    created, problem = await _ensure_key_ring(kube, tenant, namespace=namespace, owner=owner, now=now)
    problems = [problem] if problem else []
    applied = []
    for obj in statefulsets(tenant, template, namespace=namespace, credentials_rotation=credentials_rotation):
        obj["metadata"]["namespace"] = namespace
        kopf.adopt(obj, owner=owner)
        try:
            await kube.apply(obj)
        except kubernetes.client.ApiException as e:
            if not _refused(e):
                raise
            problems.append(_problem(f"StatefulSet {obj['metadata']['name']}", e))
            continue
        applied.append(obj["metadata"]["name"])
    return Outcome(adapters=tuple(applied), key_created=created, problems=tuple(problems))


def condition(outcome: Outcome, *, tenant: str, generation: int) -> dict[str, Any]:
    """The ``SipReady`` condition (pure): the adapters' objects are in place (not: their pods run)."""
    if outcome.problems:
        message = "; ".join(message for _, message in outcome.problems)
        return c.condition(c.SIP_READY, False, outcome.problems[0][0], message, generation)
    key = "created" if outcome.key_created else "in place"
    message = f"SIP adapters {', '.join(outcome.adapters)} applied; recordings key {key_ring_secret_name(tenant)} {key}"
    return c.condition(c.SIP_READY, True, c.APPLIED, message, generation)
