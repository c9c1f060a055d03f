"""KubeInjector against a real API server (kube-lite, or the cluster of an explicit KUBECONFIG).

No kubelet runs under kube-lite, so the pods are API objects only: nothing is
scheduled or started, and a pod deleted with grace 0 leaves the API at once.
The pods are created directly (no StatefulSet controller runs either), with
the labels and names the operator's StatefulSet template gives ACD pods
(children.statefulset) and the chart gives etcd pods: two sites of two nodes,
three etcd members, in a fresh namespace.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import kubernetes
import pytest
from ccp_acd.chaos import kube as chaos_kube
from ccp_acd.chaos.kube import KubeInjector
from ccp_acd.state.store import TenantConfig
from ccp_operator import children

from tests.helpers import eventually

TENANT = TenantConfig("acme", home_site="site-a", failover_sites=("site-b",))
SITES = ("site-a", "site-b")


def _node_names(site: str) -> list[str]:
    return [f"{children.acd_name(TENANT.name, site)}-{ordinal}" for ordinal in range(2)]


def _pod(name: str, labels: dict[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {"containers": [{"name": "main", "image": "registry.invalid/none:0"}]},
    }


@pytest.fixture
async def core(kube) -> AsyncIterator[kubernetes.client.CoreV1Api]:
    client = kubernetes.config.new_client_from_config(config_file=kube.kubeconfig)
    api = kubernetes.client.CoreV1Api(client)
    for site in SITES:
        labels = children.statefulset(TENANT, site, children.AcdTemplate())["spec"]["template"]["metadata"]["labels"]
        for name in _node_names(site):
            await asyncio.to_thread(api.create_namespaced_pod, kube.namespace, _pod(name, labels))
    etcd_labels = {"app.kubernetes.io/name": "ccp", "app.kubernetes.io/instance": "ccp",
                   "app.kubernetes.io/component": "etcd"}  # as the chart's etcd StatefulSet, release "ccp"
    for ordinal in range(3):
        await asyncio.to_thread(api.create_namespaced_pod, kube.namespace, _pod(f"ccp-etcd-{ordinal}", etcd_labels))
    try:
        yield api
    finally:
        client.close()


async def _remaining(api: kubernetes.client.CoreV1Api, namespace: str) -> set[str]:
    listed = await asyncio.to_thread(api.list_namespaced_pod, namespace)
    return {pod.metadata.name for pod in listed.items}


async def _wait_gone(api, namespace: str, expected: set[str]) -> None:
    """Bounded poll: a real cluster may keep a force-deleted pod listed for a moment."""

    async def settled() -> bool:
        return await _remaining(api, namespace) == expected

    await eventually(settled, timeout_s=10, what=f"pods in {namespace} to be {sorted(expected)}")


def test_the_selected_labels_are_the_ones_the_operator_sets():
    assert (chaos_kube.COMPONENT_LABEL, chaos_kube.SITE_LABEL, chaos_kube.TENANT_LABEL) == (
        children.COMPONENT_LABEL, children.SITE_LABEL, children.TENANT_LABEL,
    )
    labels = children.statefulset(TENANT, "site-a", children.AcdTemplate())["spec"]["template"]["metadata"]["labels"]
    selector = KubeInjector("ns", api=kubernetes.client.CoreV1Api(), tenant=TENANT.name).site_selector("site-a")
    assert dict(pair.split("=") for pair in selector.split(",")).items() <= labels.items()


async def test_kill_node_kill_site_and_etcd_member_delete_exactly_the_selected_pods(kube, core):
    injector = KubeInjector(kube.namespace, api=core)
    a0, a1 = _node_names("site-a")
    b0, b1 = _node_names("site-b")
    alive = {a0, a1, b0, b1, "ccp-etcd-0", "ccp-etcd-1", "ccp-etcd-2"}
    await _wait_gone(core, kube.namespace, alive)

    assert await injector.kill_node("site-a", a1) == [a1]
    alive.discard(a1)
    await _wait_gone(core, kube.namespace, alive)

    assert await injector.kill_node("site-b") == [b0]  # the first by name
    alive.discard(b0)
    await _wait_gone(core, kube.namespace, alive)

    assert await injector.kill_site("site-a") == [a0]
    alive.discard(a0)
    await _wait_gone(core, kube.namespace, alive)
    assert b1 in alive

    assert await injector.kill_etcd_member(1) == ["ccp-etcd-1"]
    alive.discard("ccp-etcd-1")
    await _wait_gone(core, kube.namespace, alive)
    assert alive == {b1, "ccp-etcd-0", "ccp-etcd-2"}


async def test_kill_site_takes_every_node_of_the_site_and_none_of_the_other(kube, core):
    async with KubeInjector(kube.namespace, kubeconfig=kube.kubeconfig, tenant=TENANT.name) as injector:
        assert await injector.kill_site("site-a") == _node_names("site-a")
    await _wait_gone(core, kube.namespace, {*_node_names("site-b"), "ccp-etcd-0", "ccp-etcd-1", "ccp-etcd-2"})


async def test_a_site_or_node_without_pods_is_a_lookup_error_naming_the_selector(kube, core):
    injector = KubeInjector(kube.namespace, api=core)
    with pytest.raises(LookupError, match=r"ccp\.dev/site=site-z"):
        await injector.kill_node("site-z")
    with pytest.raises(LookupError, match=r"ccp\.dev/site=site-z"):
        await injector.kill_site("site-z")
    with pytest.raises(LookupError, match=r"'acd-acme-site-a-7'.*ccp\.dev/site=site-a"):
        await injector.kill_node("site-a", "acd-acme-site-a-7")
    with pytest.raises(LookupError, match=r"etcd-5"):
        await injector.kill_etcd_member(5)
    with pytest.raises(LookupError, match=r"ccp\.dev/tenant=other"):
        await KubeInjector(kube.namespace, api=core, tenant="other").kill_node("site-a")
    assert len(await _remaining(core, kube.namespace)) == 7, "nothing was deleted"


async def test_network_faults_are_not_supported_and_restart_and_heal_are_no_ops(kube, core):
    injector = KubeInjector(kube.namespace, api=core)
    with pytest.raises(NotImplementedError, match="NetworkChaos"):
        await injector.partition("site-a")
    with pytest.raises(NotImplementedError, match="NetworkChaos"):
        await injector.set_latency("site-a", 0.2)
    assert await injector.restart_site("site-a") == []
    assert await injector.heal("site-a") is None
    assert len(await _remaining(core, kube.namespace)) == 7
