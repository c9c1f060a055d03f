"""The Helm chart, rendered by Helm's own engine (Helm v4's Go SDK via helm-python-sdk; no helm
binary is installable here): it lints, its values schema refuses bad values, every manifest
validates against the Kubernetes schemas, and a real API server accepts them all."""

from __future__ import annotations

import helm_python as helm
import kubernetes_validate
import pytest
import yaml

from tests.kube.conftest import ROOT

CHART = ROOT / "charts" / "contact-center"
KUBERNETES_VERSION = "1.33.0"


def _render(namespace: str = "ccp-system", values: dict | None = None) -> list[dict]:
    rendered = helm.Chart.load(str(CHART)).render(values, name="ccp", namespace=namespace)
    documents = []
    for name, text in sorted(rendered.items()):
        if name.endswith(".yaml"):
            documents += [d for d in yaml.safe_load_all(text) if d]
    return documents


def test_the_chart_lints_without_errors():
    report = helm.lint(str(CHART))
    assert report["errors"] == [] and not [m for m in report["messages"] if m["severity"] > 1], report


def test_the_chart_renders_everything_a_deployment_needs():
    kinds = {}
    for document in _render():
        kinds.setdefault(document["kind"], []).append(document["metadata"]["name"])
    assert kinds["StatefulSet"] == ["ccp-acd-site-a", "ccp-acd-site-b", "ccp-etcd"]
    assert kinds["Deployment"] == ["ccp-operator"]
    assert {"ServiceAccount", "ClusterRole", "ClusterRoleBinding", "NetworkPolicy", "PodDisruptionBudget",
            "ClusterKopfPeering"} <= set(kinds)
    external = _render(values={"etcd": {"enabled": False, "endpoints": "etcd.example:2379",
                                        "tls": {"existingClientSecret": "etcd-client"}}})
    assert not [d for d in external if "etcd" in d["metadata"]["name"] and d["kind"] != "Deployment"]
    operator = next(d for d in external if d["kind"] == "Deployment")
    env = {e["name"]: e.get("value") for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["CCP_ETCD_ENDPOINT"] == "etcd.example:2379"
    assert env["CCP_ETCD_CA_FILE"] == "/etc/ccp/etcd-tls/ca.crt" and "CCP_ETCD_PLAINTEXT" not in env
    assert operator["spec"]["template"]["spec"]["volumes"] == [{"name": "etcd-tls", "secret": {"secretName": "etcd-client"}}]
    plaintext = _render(values={"etcd": {"enabled": False, "endpoints": "etcd.example:2379", "tls": {"enabled": False}}})
    for workload in (d for d in plaintext if d["kind"] in ("StatefulSet", "Deployment")):
        env = {e["name"]: e.get("value") for e in workload["spec"]["template"]["spec"]["containers"][0]["env"]}
        assert env["CCP_ETCD_PLAINTEXT"] == "true" and "CCP_ETCD_CA_FILE" not in env, workload["metadata"]["name"]


def test_nodes_and_operator_get_the_otel_variables_and_nodes_are_scraped():
    documents = _render(values={"observability": {"otlpEndpoint": "http://otel:4318", "tracesSampleRatio": 0.25}})
    workloads = [d for d in documents if d["kind"] in ("StatefulSet", "Deployment") and "etcd" not in d["metadata"]["name"]]
    assert len(workloads) == 3
    for workload in workloads:
        pod = workload["spec"]["template"]
        env = {e["name"]: e.get("value") for e in pod["spec"]["containers"][0]["env"]}
        assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel:4318"
        assert (env["OTEL_TRACES_SAMPLER"], env["OTEL_TRACES_SAMPLER_ARG"]) == ("parentbased_traceidratio", "0.25")
        if workload["kind"] == "StatefulSet":
            assert env["CCP_WALLBOARD_LISTEN"] == "0.0.0.0:8090"
            assert pod["metadata"]["annotations"]["prometheus.io/port"] == "9464"
    quiet = _render(values={"wallboard": {"enabled": False}})
    acd = next(d for d in quiet if d["kind"] == "StatefulSet")
    env = {e["name"] for e in acd["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert "CCP_WALLBOARD_LISTEN" not in env and "OTEL_EXPORTER_OTLP_ENDPOINT" not in env


@pytest.mark.parametrize(
    "values",
    [
        {"sites": ["Site_A"]},
        {"sites": []},
        {"acd": {"replicasPerSite": 0}},
        {"etcd": {"enabled": False}},
        {"etcd": {"replicas": 2}},
        {"image": {"pullPolicy": "Sometimes"}},
        {"observability": {"otlpEndpoint": "otel:4318"}},
        {"observability": {"tracesSampleRatio": 2}},
        {"tls": {"enabled": "yes"}},
        {"tls": {"existingSecret": ["acd-tls"]}},
        {"tls": {"validityDays": 30}},
        {"tls": {"extraDnsNames": "acd.example.com"}},
        {"etcd": {"tls": {"enabled": "false"}}},
        {"etcd": {"enabled": False, "endpoints": "etcd.example:2379"}},
    ],
    ids=["site-not-dns-label", "no-sites", "no-acd-replicas", "external-etcd-without-endpoints", "even-etcd", "pull",
         "otlp-without-scheme", "sample-ratio-above-1", "tls-enabled-not-boolean", "tls-secret-not-string",
         "cert-validity-too-short", "extra-names-not-a-list", "etcd-tls-enabled-not-boolean",
         "external-etcd-tls-without-client-secret"],
)
def test_the_values_schema_refuses_bad_values(values):
    with pytest.raises(helm.HelmError):
        helm.Chart.load(str(CHART)).render(values, name="ccp", namespace="ccp-system")


def test_every_manifest_validates_against_the_kubernetes_schemas():
    checked = 0
    for document in _render():
        if document["apiVersion"].startswith(("ccp.dev", "kopf.dev")):
            continue  # custom resources: validated by their CRDs on the API server
        kubernetes_validate.validate(document, KUBERNETES_VERSION, strict=True)
        checked += 1
    assert checked >= 12


def test_a_real_api_server_accepts_the_rendered_chart(kube):
    documents = _render(namespace=kube.namespace)
    applied = kube.kubectl("apply", "-f", "-", input=yaml.safe_dump_all(documents)).stdout
    assert applied.count("created") + applied.count("configured") + applied.count("unchanged") == len(documents), applied
    operator = kube.get("deployment", "ccp-operator")
    assert operator["spec"]["template"]["spec"]["serviceAccountName"] == "ccp-operator"


def test_the_sip_adapter_values_reach_the_operator_and_its_settings_accept_them():
    from ccp_operator.settings import OperatorSettings

    values = {"sipAdapter": {"image": "registry.example/ccp:1", "rtpPorts": {"low": 30000, "high": 30999},
                             "recordingsSize": "50Gi", "nodeSelector": "ccp.dev/sip=true", "nodeCidrs": "10.0.0.0/16"}}
    operator = next(d for d in _render(values=values) if d["kind"] == "Deployment")
    env = {e["name"]: e.get("value") for e in operator["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert (env["CCP_SIP_ADAPTER_IMAGE"], env["CCP_SIP_ADAPTER_RTP_PORT_LOW"], env["CCP_SIP_ADAPTER_RTP_PORT_HIGH"],
            env["CCP_SIP_ADAPTER_RECORDINGS_SIZE"], env["CCP_SIP_ADAPTER_NODE_SELECTOR"], env["CCP_NODE_CIDRS"]) == (
        "registry.example/ccp:1", "30000", "30999", "50Gi", "ccp.dev/sip=true", "10.0.0.0/16")
    sip_env = {k: v for k, v in env.items() if k.startswith(("CCP_SIP_ADAPTER_", "CCP_NODE_CIDRS"))}
    settings = OperatorSettings(**{k.removeprefix("CCP_").lower(): v for k, v in sip_env.items()})
    assert (settings.sip_adapter_rtp_port_low, settings.sip_adapter_node_selector) == (30000, "ccp.dev/sip=true")
