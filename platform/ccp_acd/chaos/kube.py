"""Kubernetes fault injection for the chaos drills: kill ACD nodes, whole sites or etcd members.

``KubeInjector`` deletes pods through the Kubernetes API with
``grace_period_seconds=0``, like ``kubectl delete pod --grace-period=0 --force``:
the pod is removed from the API at once and the kubelet kills its containers
without waiting, so the node goes away as it would in a node failure. Its etcd
lease then expires, its queues fail over to the standby, and the StatefulSet
controller creates a new pod of the same name (the same node id).

Which pods are ACD nodes is read from the labels the operator puts on the pod
template of each site's StatefulSet (``operator/ccp_operator/children.py``,
``_labels()``), which the Helm chart's ``acd.yaml`` sets as well::

    COMPONENT_LABEL = "app.kubernetes.io/component"   # value "acd"
    SITE_LABEL = "ccp.dev/site"                       # the site name
    TENANT_LABEL = "ccp.dev/tenant"                   # the tenant (operator only)

so a site's nodes are ``app.kubernetes.io/component=acd,ccp.dev/site=<site>``
(narrowed with ``ccp.dev/tenant=<tenant>`` when the injector is given a tenant,
for namespaces that hold several tenants' StatefulSets). The node id is the pod
name (``CCP_NODE_ID`` comes from ``metadata.name``): ``acd-<tenant>-<site>-<n>``
for the operator, ``<release>-acd-<site>-<n>`` for the chart.

etcd members are the pods of the chart's etcd StatefulSet
(``charts/contact-center/templates/etcd.yaml``): label
``app.kubernetes.io/component=etcd`` (and ``app.kubernetes.io/instance=<release>``
when the injector is given a release), named ``<release>-etcd-<ordinal>``.

The label values are restated here, not imported: the platform package does
not depend on the operator (the test checks that both agree).

Limits:

- Only pod deletion. ``partition()`` and ``set_latency()`` raise
  ``NotImplementedError``: cutting or slowing a site's network on a real
  cluster needs something in the data path, e.g. a Chaos Mesh ``NetworkChaos``
  (``action: partition`` / ``action: delay``) or a NetworkPolicy denying the
  site's pods egress to etcd; in-process drills use ``ccp_acd.chaos.proxy.FaultProxy``.
- ``restart_site()`` and ``heal()`` do nothing (return ``[]``/``None``): the
  StatefulSet controller recreates deleted pods by itself, and there is no
  network fault of this injector's to undo. Waiting for the new pods to be
  Ready is the drill's job (it watches the nodes in etcd, not the pods).
- A killed pod's containers die when the kubelet notices, not at the instant
  the API call returns; a kubelet cut off from the API server keeps them
  running (a real node failure would not). Pods on a node that is itself down
  are only removed from the API.
- Requires ``delete`` and ``list`` on ``pods`` in the namespace.
"""

from __future__ import annotations

import asyncio
import os
import re

import kubernetes
from kubernetes.client import CoreV1Api, V1DeleteOptions, V1Pod
from kubernetes.client.exceptions import ApiException

COMPONENT_LABEL = "app.kubernetes.io/component"
INSTANCE_LABEL = "app.kubernetes.io/instance"
SITE_LABEL = "ccp.dev/site"
TENANT_LABEL = "ccp.dev/tenant"
ACD_COMPONENT = "acd"
ETCD_COMPONENT = "etcd"

_NETWORK_FAULTS = (
    "use a Chaos Mesh NetworkChaos (action: partition or delay) selecting the site's pods "
    f"({COMPONENT_LABEL}={ACD_COMPONENT},{SITE_LABEL}=<site>), or FaultProxy (ccp_acd.chaos.proxy) in-process"
)


def _api_client(kubeconfig: str | None) -> kubernetes.client.ApiClient:
    """The given kubeconfig; else in a pod the service account; else $KUBECONFIG or ~/.kube/config."""
    configuration = kubernetes.client.Configuration()
    if kubeconfig is None:
        try:
            kubernetes.config.load_incluster_config(client_configuration=configuration)
            return kubernetes.client.ApiClient(configuration)
        except kubernetes.config.ConfigException:
            kubeconfig = os.environ.get("KUBECONFIG")
    kubernetes.config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)
    return kubernetes.client.ApiClient(configuration)


class KubeInjector:
    """Deletes ACD and etcd pods in one namespace (see the module docstring)."""

    def __init__(
        self,
        namespace: str,
        *,
        api: CoreV1Api | None = None,
        kubeconfig: str | None = None,
        tenant: str | None = None,
        release: str | None = None,
    ):
        if api is not None and kubeconfig is not None:
            raise ValueError("KubeInjector takes api or kubeconfig, not both")
        self.namespace = namespace
        self.tenant = tenant
        self.release = release
        self._owned: kubernetes.client.ApiClient | None = None
        if api is None:
            self._owned = _api_client(kubeconfig)
            api = CoreV1Api(self._owned)
        self.api = api

    def close(self) -> None:
        """Close the API client if this injector created it (not one passed as ``api``)."""
        if self._owned is not None:
            self._owned.close()
            self._owned = None

    async def __aenter__(self) -> KubeInjector:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.close()

    def site_selector(self, site: str) -> str:
        """The label selector of a site's ACD pods."""
        labels = {COMPONENT_LABEL: ACD_COMPONENT, SITE_LABEL: site}
        if self.tenant:
            labels[TENANT_LABEL] = self.tenant
        return ",".join(f"{key}={value}" for key, value in labels.items())

    def etcd_selector(self) -> str:
        labels = {COMPONENT_LABEL: ETCD_COMPONENT}
        if self.release:
            labels[INSTANCE_LABEL] = self.release
        return ",".join(f"{key}={value}" for key, value in labels.items())

    async def kill_node(self, site: str, node: str | None = None) -> list[str]:
        """Delete one ACD pod of the site: the one named ``node``, or the first by name. Returns its name."""
        selector = self.site_selector(site)
        pods = await self._pods(selector)
        if node is not None:
            pods = [pod for pod in pods if pod.metadata.name == node]
            what = f"ACD pod {node!r}"
        else:
            # one already being deleted is no new failure: prefer a live one
            pods = [pod for pod in pods if pod.metadata.deletion_timestamp is None] or pods
            what = "ACD pod"
        if not pods:
            raise LookupError(f"no {what} matches selector {selector!r} in namespace {self.namespace!r}")
        deleted = await self._delete(pods[:1])
        if not deleted:
            raise LookupError(f"{pods[0].metadata.name!r} ({selector!r}) was gone before it could be deleted")
        return deleted

    async def kill_site(self, site: str) -> list[str]:
        """Delete every ACD pod of the site (all at once, as in a site outage). Returns their names."""
        selector = self.site_selector(site)
        pods = await self._pods(selector)
        if not pods:
            raise LookupError(f"no ACD pod matches selector {selector!r} in namespace {self.namespace!r}")
        return await self._delete(pods)

    async def kill_etcd_member(self, index: int) -> list[str]:
        """Delete the etcd pod of that StatefulSet ordinal (``<release>-etcd-<index>``). Returns its name."""
        if index < 0:
            raise ValueError(f"etcd member index must be >= 0, not {index}")
        selector = self.etcd_selector()
        suffix = re.compile(rf"-etcd-{index}$")
        pods = [pod for pod in await self._pods(selector) if suffix.search(pod.metadata.name)]
        if not pods:
            raise LookupError(
                f"no etcd pod named *-etcd-{index} matches selector {selector!r} in namespace {self.namespace!r}"
            )
        if len(pods) > 1:
            names = [pod.metadata.name for pod in pods]
            raise LookupError(f"several etcd pods match member {index} ({names}): give KubeInjector(release=...)")
        deleted = await self._delete(pods)
        if not deleted:
            raise LookupError(f"{pods[0].metadata.name!r} ({selector!r}) was gone before it could be deleted")
        return deleted

    async def restart_site(self, site: str) -> list[str]:
        """Nothing to do: the StatefulSet controller recreates the pods ``kill_site`` deleted."""
        return []

    async def heal(self, site: str) -> None:
        """Nothing to undo: this injector applies no network fault (``partition`` is not supported)."""

    async def partition(self, site: str) -> None:
        raise NotImplementedError(f"KubeInjector cannot partition site {site!r} on a real cluster: {_NETWORK_FAULTS}")

    async def set_latency(self, site: str, seconds: float) -> None:
        raise NotImplementedError(f"KubeInjector cannot add latency to site {site!r} on a real cluster: {_NETWORK_FAULTS}")

    async def _pods(self, selector: str) -> list[V1Pod]:
        listed = await asyncio.to_thread(self.api.list_namespaced_pod, self.namespace, label_selector=selector)
        return sorted(listed.items, key=lambda pod: pod.metadata.name)

    async def _delete(self, pods: list[V1Pod]) -> list[str]:
        """Force-delete the pods concurrently; the names of those that were there to delete."""
        names = [pod.metadata.name for pod in pods]
        results = await asyncio.gather(*(asyncio.to_thread(self._delete_one, name) for name in names))
        return [name for name, existed in zip(names, results, strict=True) if existed]

    def _delete_one(self, name: str) -> bool:
        try:
            # The body is not decoded: an API server answers a pod removed at once with the Pod or with a
            # Status (kube-lite does), and the client would fail to read a Status as a V1Pod.
            response = self.api.delete_namespaced_pod(
                name, self.namespace, grace_period_seconds=0, body=V1DeleteOptions(grace_period_seconds=0),
                _preload_content=False,
            )
            response.read()
            response.release_conn()
        except ApiException as error:
            if error.status == 404:
                return False
            raise
        return True
