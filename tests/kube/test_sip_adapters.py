"""The SIP adapters end to end against a real API server (kube-lite) and a real etcd: a Tenant applied with kubectl
gets a SIP adapter StatefulSet per site and a recordings key ring Secret, owned by the Tenant; reconciling again
(a credentials rotation) rolls the adapter and leaves the key ring as it was; a key ring Secret that is no key ring
is reported and never overwritten. (No pods run on kube-lite: the objects are what is checked.)"""

from __future__ import annotations

import base64
import secrets

import pytest
import yaml
from ccp_acd.recordings import KeyRing
from ccp_operator import conditions as c
from ccp_operator import sip_adapters

from tests.helpers import eventually
from tests.kube.test_operator import _condition, operator_env, run_operator  # noqa: F401 (fixture)

pytestmark = [pytest.mark.etcd, pytest.mark.slow, pytest.mark.usefixtures("plaintext_operator")]


@pytest.fixture
def plaintext_operator(kube, operator_env, monkeypatch):  # noqa: F811 (operator_env: the imported fixture)
    """The operator, its nodes told to serve plaintext gRPC (as its etcd is): the adapters must be told too."""
    monkeypatch.setenv("CCP_ACD_PLAINTEXT", "true")
    with run_operator(kube) as runner:
        yield runner
    assert runner.exception is None, runner.output


def tenant_resource(name: str, rotation: int) -> str:
    return yaml.safe_dump({
        "apiVersion": "ccp.dev/v1alpha1", "kind": "Tenant", "metadata": {"name": name},
        "spec": {"homeSite": "site-a", "failoverSites": ["site-b"], "credentials": {"rotation": rotation}},
    })


def _get(kube, kind: str, name: str) -> dict | None:
    found = kube.kubectl("get", kind, name, "-o", "json", check=False)
    return yaml.safe_load(found.stdout) if found.returncode == 0 else None


def _sip_ready(kube, tenant: str, status: str, generation: int = 1):
    async def check():
        found = _condition(kube, "tenant", tenant, c.SIP_READY)
        return found if found and found["status"] == status and found["observedGeneration"] == generation else None

    return check


async def test_a_tenant_gets_an_adapter_per_site_and_a_key_ring_that_reconciling_never_rewrites(kube):
    tenant = f"voice-{secrets.token_hex(3)}"
    kube.kubectl("apply", "-f", "-", input=tenant_resource(tenant, rotation=0))
    ready = await eventually(_sip_ready(kube, tenant, "True"), timeout_s=30, what="SipReady True")
    assert ready["reason"] == c.APPLIED and f"{tenant}-recordings-key created" in ready["message"]

    owner = kube.get("tenant", tenant)["metadata"]["uid"]
    key_ring = kube.get("secret", f"{tenant}-recordings-key")
    for child in (kube.get("statefulset", f"sip-{tenant}-site-a"), kube.get("statefulset", f"sip-{tenant}-site-b"),
                  key_ring):
        assert [r["uid"] for r in child["metadata"]["ownerReferences"]] == [owner], child["metadata"]["name"]
        assert child["metadata"]["labels"]["ccp.dev/tenant"] == tenant
    ring = KeyRing.parse(base64.b64decode(key_ring["data"]["keyring.json"]).decode())
    assert len(ring.keys) == 1 and len(ring.keys[ring.active]) == 32

    adapter = kube.get("statefulset", f"sip-{tenant}-site-b")
    pod = adapter["spec"]["template"]["spec"]
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    [container] = pod["containers"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert container["args"] == ["sip"]
    assert (env["CCP_SIP_TENANT"], env["CCP_SIP_SITE"]) == (tenant, "site-b")
    assert env["CCP_SIP_NODES"] == f"acd-{tenant}-site-b.{kube.namespace}.svc:50051"
    assert env["CCP_PLAINTEXT"] == env["CCP_ETCD_PLAINTEXT"] == "true"  # as the nodes are told
    secrets_mounted = {v["name"]: (v["secret"]["secretName"], [i["key"] for i in v["secret"]["items"]])
                       for v in pod["volumes"]}
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert env["CCP_SIP_TOKEN_FILE"] == f"{mounts['token']}/interaction"
    assert secrets_mounted["token"] == (f"{tenant}-api-credentials", ["interaction"])
    assert env["CCP_RECORDINGS_KEY_FILE"] == f"{mounts['recordings-key']}/keyring.json"
    assert secrets_mounted["recordings-key"] == (f"{tenant}-recordings-key", ["keyring.json"])
    assert mounts["recordings"] == env["CCP_SIP_RECORDINGS_DIR"]
    assert [t["metadata"]["name"] for t in adapter["spec"]["volumeClaimTemplates"]] == ["recordings"]
    annotations = adapter["spec"]["template"]["metadata"]["annotations"]
    assert annotations[sip_adapters.CREDENTIALS_ROTATION_ANNOTATION] == "0"

    # A new generation is reconciled: the credentials rotate, the adapters roll onto the new token, the key ring
    # Secret is not written at all (same content, same resourceVersion).
    kube.kubectl("apply", "-f", "-", input=tenant_resource(tenant, rotation=1))
    again = await eventually(_sip_ready(kube, tenant, "True", generation=2), timeout_s=30, what="SipReady gen 2")
    assert f"{tenant}-recordings-key in place" in again["message"]
    rolled = kube.get("statefulset", f"sip-{tenant}-site-a")["spec"]["template"]["metadata"]["annotations"]
    assert rolled[sip_adapters.CREDENTIALS_ROTATION_ANNOTATION] == "1"
    after = kube.get("secret", f"{tenant}-recordings-key")
    assert after["data"] == key_ring["data"]
    assert after["metadata"]["resourceVersion"] == key_ring["metadata"]["resourceVersion"]


async def test_a_key_ring_secret_that_is_no_key_ring_is_reported_and_left_as_it_is(kube):
    tenant = f"badkey-{secrets.token_hex(3)}"
    foreign = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"{tenant}-recordings-key"},
               "data": {"keyring.json": base64.b64encode(b"not json").decode()}}
    kube.kubectl("apply", "-f", "-", input=yaml.safe_dump(foreign))
    kube.kubectl("apply", "-f", "-", input=tenant_resource(tenant, rotation=0))
    found = await eventually(_sip_ready(kube, tenant, "False"), timeout_s=30, what="SipReady False")
    assert found["reason"] == c.RECORDINGS_KEY_INVALID and f"{tenant}-recordings-key" in found["message"]
    assert _get(kube, "secret", f"{tenant}-recordings-key")["data"] == foreign["data"]
    # Everything else is still in place: the ACD nodes and the adapters (which run without storing voicemail).
    assert _get(kube, "statefulset", f"sip-{tenant}-site-a") and _get(kube, "statefulset", f"acd-{tenant}-site-a")
    assert _condition(kube, "tenant", tenant, c.READY)["status"] == "True"
