"""The SIP adapters the operator runs per tenant and site (ccp_operator.sip_adapters): the StatefulSet's process,
settings, mounts and host network, the key ring Secret; and the ACD objects no longer pretend to speak SIP."""

from __future__ import annotations

import base64
import json
import os

import pytest
from ccp_acd.recordings import KeyRing
from ccp_acd.sip.settings import SipSettings
from ccp_acd.state.store import TenantConfig
from ccp_operator import children, sip_adapters
from ccp_operator import conditions as c
from ccp_operator.settings import OperatorSettings
from pydantic import ValidationError

TENANT = TenantConfig(name="acme", home_site="site-a", failover_sites=("site-b",))
TLS = children.AcdTemplate(tls_secret="acd-acme-tls", etcd_tls_secret="acd-acme-etcd-tls", tls_revision="abc123")


def _pod(statefulset: dict) -> dict:
    return statefulset["spec"]["template"]["spec"]


def _env(statefulset: dict) -> dict[str, str]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in _pod(statefulset)["containers"][0]["env"]}


def _mounted_files(statefulset: dict) -> dict[str, tuple[str, str]]:
    """Path in the container -> (Secret, key) for every Secret file the adapter gets."""
    pod = _pod(statefulset)
    volumes = {v["name"]: v for v in pod["volumes"]}
    files = {}
    for mount in pod["containers"][0]["volumeMounts"]:
        secret = volumes.get(mount["name"], {}).get("secret")
        for item in (secret or {}).get("items", []):
            files[f"{mount['mountPath']}/{item['path']}"] = (secret["secretName"], item["key"])
    return files


def test_one_adapter_per_site_of_the_tenant_running_ccp_sip_for_that_tenant_and_site():
    adapters = sip_adapters.statefulsets(TENANT, TLS, namespace="tenants")
    assert [a["metadata"]["name"] for a in adapters] == ["sip-acme-site-a", "sip-acme-site-b"]
    site_b = adapters[1]
    spec = site_b["spec"]
    assert (spec["replicas"], spec["podManagementPolicy"], spec["updateStrategy"]) == (
        1, "Parallel", {"type": "RollingUpdate"})
    container = _pod(site_b)["containers"][0]
    assert container["args"] == ["sip"] and container["image"] == TLS.image
    env = _env(site_b)
    assert (env["CCP_SIP_TENANT"], env["CCP_SIP_SITE"]) == ("acme", "site-b")
    assert env["CCP_SIP_NODES"] == f"acd-acme-site-b.tenants.svc:{children.GRPC_PORT}"
    assert env["CCP_SIP_ETCD_ENDPOINT"] == TLS.etcd_endpoint
    assert env["CCP_SIP_BIND"] == {"fieldRef": {"fieldPath": "status.podIP"}}
    # The labels select the adapter's pods and nothing of the ACD's (whose Services would send gRPC there).
    labels = spec["selector"]["matchLabels"]
    assert labels[children.COMPONENT_LABEL] == "sip" and labels[children.SITE_LABEL] == "site-b"
    assert labels != children.statefulset(TENANT, "site-b", TLS)["spec"]["selector"]["matchLabels"]


def test_the_adapter_gets_the_interaction_token_the_key_ring_and_only_the_ca_of_the_nodes_certificate():
    adapter = sip_adapters.statefulset(TENANT, "site-a", TLS, namespace="tenants")
    env, files = _env(adapter), _mounted_files(adapter)
    assert files[env["CCP_SIP_TOKEN_FILE"]] == ("acme-api-credentials", "interaction")
    assert files[env["CCP_RECORDINGS_KEY_FILE"]] == ("acme-recordings-key", "keyring.json")
    assert files[env["CCP_TLS_CA_FILE"]] == ("acd-acme-tls", "ca.crt")
    assert "CCP_TLS_CERT_FILE" not in env and "CCP_TLS_KEY_FILE" not in env  # a client, not a node
    assert not [path for path, (secret, key) in files.items() if secret == "acd-acme-tls" and key != "ca.crt"]
    # etcd exactly as the nodes reach it.
    node = children.statefulset(TENANT, "site-a", TLS)
    etcd = {k: v for k, v in _env(node).items() if k.startswith("CCP_ETCD_") and k != "CCP_ETCD_ENDPOINT"}
    assert etcd and {k: env[k] for k in etcd} == etcd
    assert {files[etcd[k]] for k in etcd} == {("acd-acme-etcd-tls", f) for f in ("ca.crt", "tls.crt", "tls.key")}


def test_the_settings_the_operator_gives_the_adapter_validate_as_ccp_sip_reads_them(monkeypatch):
    for name in [n for n in os.environ if n.startswith("CCP_SIP_")]:
        monkeypatch.delenv(name)
    adapter = sip_adapters.statefulset(TENANT, "site-a", TLS, namespace="tenants")
    for name, value in _env(adapter).items():
        monkeypatch.setenv(name, value if isinstance(value, str) else "10.0.0.7")  # the downward API's pod IP
    settings = SipSettings()  # type: ignore[call-arg]  # from the environment, as `ccp sip` reads it
    assert settings.node_addresses() == [f"acd-acme-site-a.tenants.svc:{children.GRPC_PORT}"]
    assert (settings.tenant, settings.site, settings.bind) == ("acme", "site-a", "10.0.0.7")
    assert (settings.rtp_port_low, settings.rtp_port_high) == (20000, 29999)
    assert str(settings.recordings_dir) == sip_adapters.RECORDINGS_DIR
    assert str(settings.token_file) == f"{sip_adapters.TOKEN_DIR}/interaction"


def test_plaintext_nodes_and_etcd_are_told_to_the_adapter_explicitly_and_nothing_tls_is_mounted():
    template = children.AcdTemplate(plaintext=True, etcd_plaintext=True)
    adapter = sip_adapters.statefulset(TENANT, "site-a", template)
    env = _env(adapter)
    assert (env["CCP_PLAINTEXT"], env["CCP_ETCD_PLAINTEXT"]) == ("true", "true")
    assert "CCP_TLS_CA_FILE" not in env
    assert {secret for secret, _ in _mounted_files(adapter).values()} == {"acme-api-credentials", "acme-recordings-key"}
    assert env["CCP_SIP_NODES"] == f"acd-acme-site-a:{children.GRPC_PORT}"  # no namespace known: the short name


def test_the_adapter_runs_on_the_host_network_alone_on_its_node_and_resolves_cluster_names():
    pod = _pod(sip_adapters.statefulset(TENANT, "site-a", TLS))
    assert pod["hostNetwork"] is True and pod["dnsPolicy"] == "ClusterFirstWithHostNet"
    [rule] = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert rule["labelSelector"] == {"matchLabels": {children.COMPONENT_LABEL: "sip"}}  # any tenant's adapter
    assert rule["namespaceSelector"] == {} and rule["topologyKey"] == "kubernetes.io/hostname"
    assert "ports" not in pod["containers"][0]  # no host ports reserved: they come from the Trunks
    assert "nodeSelector" not in pod


def test_operator_settings_choose_the_image_rtp_range_volume_size_nodes_and_node_cidrs(monkeypatch):
    monkeypatch.setenv("CCP_ACD_IMAGE", "registry.example/ccp:2")
    monkeypatch.setenv("CCP_SIP_ADAPTER_RTP_PORT_LOW", "30000")
    monkeypatch.setenv("CCP_SIP_ADAPTER_RTP_PORT_HIGH", "31999")
    monkeypatch.setenv("CCP_SIP_ADAPTER_RECORDINGS_SIZE", "50Gi")
    monkeypatch.setenv("CCP_SIP_ADAPTER_NODE_SELECTOR", "ccp.dev/sip=true, zone=a")
    monkeypatch.setenv("CCP_NODE_CIDRS", "10.0.0.0/24,10.0.1.0/24")
    template = OperatorSettings().acd_template()
    adapter = sip_adapters.statefulset(TENANT, "site-a", template)
    pod, env = _pod(adapter), _env(adapter)
    assert pod["containers"][0]["image"] == "registry.example/ccp:2"  # the nodes' image by default
    assert (env["CCP_SIP_RTP_PORT_LOW"], env["CCP_SIP_RTP_PORT_HIGH"]) == ("30000", "31999")
    [claim] = adapter["spec"]["volumeClaimTemplates"]
    assert claim["spec"]["resources"]["requests"]["storage"] == "50Gi"
    recordings = [m for m in pod["containers"][0]["volumeMounts"] if m["name"] == claim["metadata"]["name"]]
    assert recordings == [{"name": "recordings", "mountPath": env["CCP_SIP_RECORDINGS_DIR"]}]
    assert pod["nodeSelector"] == {"ccp.dev/sip": "true", "zone": "a"}
    ingress = children.network_policy(TENANT, node_cidrs=template.node_cidrs)["spec"]["ingress"]
    by_address = [rule for rule in ingress if any("ipBlock" in f for f in rule.get("from", []))]
    assert by_address == [{"from": [{"ipBlock": {"cidr": "10.0.0.0/24"}}, {"ipBlock": {"cidr": "10.0.1.0/24"}}],
                           "ports": [{"port": children.GRPC_PORT, "protocol": "TCP"}]}]
    monkeypatch.setenv("CCP_SIP_ADAPTER_IMAGE", "registry.example/sip:1")
    assert _pod(sip_adapters.statefulset(TENANT, "site-a", OperatorSettings().acd_template()))["containers"][0][
        "image"] == "registry.example/sip:1"


@pytest.mark.parametrize("env", [{"CCP_SIP_ADAPTER_RTP_PORT_LOW": "30000", "CCP_SIP_ADAPTER_RTP_PORT_HIGH": "30000"},
                                 {"CCP_SIP_ADAPTER_RECORDINGS_SIZE": "ten gigs"},
                                 {"CCP_SIP_ADAPTER_NODE_SELECTOR": "sip"},
                                 {"CCP_NODE_CIDRS": "10.0.0.1/24"}])
def test_unusable_sip_adapter_settings_stop_the_operator_at_start(monkeypatch, env):
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        OperatorSettings()


def test_a_credentials_rotation_or_a_new_certificate_rolls_the_adapter():
    def annotations(template, rotation):
        return sip_adapters.statefulset(TENANT, "site-a", template, credentials_rotation=rotation)["spec"]["template"][
            "metadata"]["annotations"]

    assert annotations(TLS, 0) != annotations(TLS, 1)
    assert annotations(TLS, 1) != annotations(children.AcdTemplate(**{**TLS.__dict__, "tls_revision": "def456"}), 1)


def test_deleting_the_adapter_deletes_its_recordings_with_the_key_ring_that_opens_them():
    spec = sip_adapters.statefulset(TENANT, "site-a", TLS)["spec"]
    assert spec["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"


def test_the_key_ring_secret_holds_a_fresh_key_ring_the_recordings_module_reads():
    first, second = (sip_adapters.key_ring_secret(TENANT, now=1_795_000_000) for _ in range(2))
    assert first["metadata"]["name"] == "acme-recordings-key"
    rings = [KeyRing.parse(base64.b64decode(s["data"]["keyring.json"]).decode()) for s in (first, second)]
    assert rings[0].active == "20261118" and len(rings[0].keys[rings[0].active]) == 32
    assert rings[0].keys != rings[1].keys  # a fresh key each time it is made
    document = json.loads(base64.b64decode(first["data"]["keyring.json"]))
    assert set(document) == {"active", "keys"}


def test_nothing_on_the_acd_pods_services_or_policy_claims_sip_any_more():
    objects = children.children(TENANT, TLS)
    ports = [p for o in objects if o["kind"] == "StatefulSet" for p in _pod(o)["containers"][0]["ports"]]
    ports += [p for o in objects if o["kind"] == "Service" for p in o["spec"]["ports"]]
    ports += [p for o in objects if o["kind"] == "NetworkPolicy" for r in o["spec"]["ingress"] for p in r["ports"]]
    assert ports and not [p for p in ports if p.get("protocol") == "UDP" or p.get("name") == "sip"]
    # Without node CIDRs every ingress rule names who may come: nothing is open to everyone.
    policy = children.network_policy(TENANT)
    assert all(rule.get("from") for rule in policy["spec"]["ingress"])


def test_sip_ready_names_the_adapters_or_what_went_wrong():
    ok = sip_adapters.condition(sip_adapters.Outcome(adapters=("sip-acme-site-a",), key_created=True), tenant="acme",
                                generation=3)
    assert (ok["type"], ok["status"], ok["reason"], ok["observedGeneration"]) == (c.SIP_READY, "True", c.APPLIED, 3)
    assert "sip-acme-site-a" in ok["message"] and "acme-recordings-key created" in ok["message"]
    problem = (c.RECORDINGS_KEY_INVALID, "Secret acme-recordings-key is no recordings key ring (not JSON)")
    bad = sip_adapters.condition(sip_adapters.Outcome(problems=(problem,)), tenant="acme", generation=3)
    assert (bad["status"], bad["reason"], bad["message"]) == ("False", c.RECORDINGS_KEY_INVALID, problem[1])


def test_the_adapter_serves_health_on_its_address_and_the_kubelet_probes_it():
    container = _pod(sip_adapters.statefulset(TENANT, "site-a", TLS))["containers"][0]
    env = {e["name"]: e for e in container["env"]}
    names = [e["name"] for e in container["env"]]
    assert env["CCP_SIP_HEALTH_LISTEN"]["value"] == f"$(CCP_SIP_BIND):{sip_adapters.HEALTH_PORT}"
    assert names.index("CCP_SIP_BIND") < names.index("CCP_SIP_HEALTH_LISTEN")  # the kubelet expands earlier vars only
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": sip_adapters.HEALTH_PORT}
