"""The per-tenant ACD StatefulSets the operator creates carry the telemetry settings, endpoints and TLS Secrets
(compared with the chart's own ACD StatefulSet, rendered by Helm)."""

from __future__ import annotations

import helm_python as helm
import pytest
import yaml
from ccp_acd.state.store import TenantConfig
from ccp_operator import children
from ccp_operator.settings import OperatorSettings
from pydantic import ValidationError

from tests.helpers import ROOT

TENANT = TenantConfig(name="acme", home_site="site-a", failover_sites=("site-b",))


def _env(statefulset: dict) -> dict[str, str]:
    return {e["name"]: e.get("value") for e in statefulset["spec"]["template"]["spec"]["containers"][0]["env"]}


def test_the_operator_passes_its_otlp_settings_on_to_the_nodes_it_creates(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://otel:4318")
    monkeypatch.setenv("OTEL_TRACES_SAMPLER_ARG", "0.1")
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    statefulset = children.statefulset(TENANT, "site-a", OperatorSettings().acd_template())
    env = _env(statefulset)
    assert env["OTEL_EXPORTER_OTLP_ENDPOINT"] == "http://otel:4318"
    assert env["OTEL_TRACES_SAMPLER_ARG"] == "0.1"
    assert "OTEL_TRACES_SAMPLER" not in env
    assert env["OTEL_SERVICE_NAME"] == "ccp-acd"
    assert env["CCP_WALLBOARD_LISTEN"] == f"0.0.0.0:{children.WALLBOARD_PORT}"
    annotations = statefulset["spec"]["template"]["metadata"]["annotations"]
    assert annotations == {"prometheus.io/scrape": "true", "prometheus.io/port": str(children.METRICS_PORT)}


def test_without_an_otlp_endpoint_nodes_export_nothing_over_otlp(monkeypatch):
    for name in children.TELEMETRY_ENV:
        monkeypatch.delenv(name, raising=False)
    env = _env(children.statefulset(TENANT, "site-b", OperatorSettings().acd_template()))
    assert not [name for name in env if name.startswith("OTEL_EXPORTER")]


def test_only_the_tenants_own_pods_reach_grpc_and_the_wallboard_while_prometheus_scrapes_from_anywhere():
    ingress = children.network_policy(TENANT)["spec"]["ingress"]
    by_port = {p["port"]: rule.get("from") for rule in ingress for p in rule["ports"]}
    own = [{"podSelector": {"matchLabels": {children.TENANT_LABEL: "acme"}}}]
    assert by_port[children.GRPC_PORT] == own and by_port[children.WALLBOARD_PORT] == own
    assert by_port[children.PEER_PORT] == own
    assert by_port[children.METRICS_PORT] == [{"namespaceSelector": {}}]


def _chart_acd(values: dict | None = None) -> dict:
    """The chart's own ACD StatefulSet of site-a, rendered by Helm."""
    rendered = helm.Chart.load(str(ROOT / "charts" / "contact-center")).render(values, name="ccp", namespace="ccp-system")
    documents = yaml.safe_load_all(rendered["contact-center/templates/acd.yaml"])
    return next(d for d in documents if d and d["kind"] == "StatefulSet")


def _tls_parts(statefulset: dict) -> tuple[list, list, list, dict, dict, list]:
    """What TLS changes in a pod: the TLS variables, mounts, volumes, probes and the node-to-node port."""
    pod = statefulset["spec"]["template"]["spec"]
    container = pod["containers"][0]
    tls_env = [e for e in container["env"] if e["name"].startswith(("CCP_TLS_", "CCP_ETCD_", "CCP_PLAINTEXT", "CCP_PEER"))
               and e["name"] != "CCP_ETCD_ENDPOINT"]
    peer = [p for p in container["ports"] if p["name"] == "peer"]
    return (tls_env, container.get("volumeMounts", []), pod.get("volumes", []), container["readinessProbe"],
            container["livenessProbe"], peer)


def _tls_operator(monkeypatch) -> None:
    """The operator's own etcd connection over TLS, as the chart's Deployment sets it (files not read here)."""
    monkeypatch.delenv("CCP_ETCD_PLAINTEXT", raising=False)
    for kind, file in (("CA", "ca.crt"), ("CERT", "tls.crt"), ("KEY", "tls.key")):
        monkeypatch.setenv(f"CCP_ETCD_{kind}_FILE", f"/etc/ccp/etcd-tls/{file}")


def test_tenant_nodes_mount_the_configured_tls_secrets_exactly_as_the_charts_own_nodes(monkeypatch):
    # The chart's operator Deployment sets these (tests/kube/test_chart_tls.py checks it does).
    _tls_operator(monkeypatch)
    monkeypatch.setenv("CCP_ACD_TLS_SECRET", "ccp-acd-tls")
    monkeypatch.setenv("CCP_ACD_ETCD_TLS_SECRET", "ccp-etcd-client-tls")
    statefulset = children.statefulset(TENANT, "site-a", OperatorSettings().acd_template())
    tls_env, mounts, volumes, readiness, liveness, peer = _tls_parts(statefulset)
    assert {e["name"]: e["value"] for e in tls_env} == {
        "CCP_TLS_CERT_FILE": "/etc/ccp/tls/tls.crt", "CCP_TLS_KEY_FILE": "/etc/ccp/tls/tls.key",
        "CCP_TLS_CA_FILE": "/etc/ccp/tls/ca.crt", "CCP_PEER_LISTEN": f"0.0.0.0:{children.PEER_PORT}",
        "CCP_ETCD_CA_FILE": "/etc/ccp/etcd-tls/ca.crt",
        "CCP_ETCD_CERT_FILE": "/etc/ccp/etcd-tls/tls.crt", "CCP_ETCD_KEY_FILE": "/etc/ccp/etcd-tls/tls.key",
    }
    secrets = {v["name"]: v["secret"]["secretName"] for v in volumes}
    assert secrets == {"tls": "ccp-acd-tls", "etcd-tls": "ccp-etcd-client-tls"}
    assert readiness["exec"]["command"] == ["python", "-c", children.TLS_PROBE_SCRIPT] and "tcpSocket" in liveness
    assert peer == [{"name": "peer", "containerPort": children.PEER_PORT, "protocol": "TCP"}]
    assert _tls_parts(statefulset) == _tls_parts(_chart_acd())


def test_plaintext_tenant_nodes_are_told_so_explicitly_exactly_as_the_charts_own_nodes(monkeypatch):
    monkeypatch.setenv("CCP_ACD_PLAINTEXT", "true")
    monkeypatch.setenv("CCP_ETCD_PLAINTEXT", "true")  # the operator's own etcd: its nodes' follows it
    for name in ("CCP_ACD_TLS_SECRET", "CCP_ACD_ETCD_TLS_SECRET"):
        monkeypatch.delenv(name, raising=False)
    statefulset = children.statefulset(TENANT, "site-a", OperatorSettings().acd_template())
    tls_env, mounts, volumes, readiness, _, peer = _tls_parts(statefulset)
    assert tls_env == [{"name": "CCP_PLAINTEXT", "value": "true"}, {"name": "CCP_ETCD_PLAINTEXT", "value": "true"}]
    assert mounts == volumes == peer == []
    assert readiness["grpc"] == {"port": children.GRPC_PORT, "service": "ccpapi.v1.AgentService"}
    plaintext = {"tls": {"enabled": False}, "etcd": {"tls": {"enabled": False}}}
    assert _tls_parts(statefulset) == _tls_parts(_chart_acd(plaintext))


def test_unconfigured_tenant_nodes_get_no_tls_setting_at_all_so_they_refuse_to_start():
    tls_env, mounts, volumes, _, _, _ = _tls_parts(children.statefulset(TENANT, "site-a", children.AcdTemplate()))
    assert tls_env == [] and mounts == volumes == []


def test_nodes_of_a_tls_operator_without_an_etcd_secret_get_no_etcd_setting_so_they_refuse_to_start(monkeypatch):
    _tls_operator(monkeypatch)
    monkeypatch.setenv("CCP_ACD_TLS_SECRET", "ccp-acd-tls")
    monkeypatch.delenv("CCP_ACD_ETCD_TLS_SECRET", raising=False)
    tls_env, *_ = _tls_parts(children.statefulset(TENANT, "site-a", OperatorSettings().acd_template()))
    assert not [e for e in tls_env if e["name"].startswith("CCP_ETCD_")]


@pytest.mark.parametrize("etcd_env", [{}, {"CCP_ETCD_PLAINTEXT": "false"}, {"CCP_ETCD_CERT_FILE": "/etc/c.crt",
                                                                                 "CCP_ETCD_KEY_FILE": "/etc/c.key"}])
def test_an_operator_without_an_etcd_ca_or_etcd_plaintext_refuses_to_start_naming_both(monkeypatch, etcd_env):
    for name in ("CCP_ETCD_PLAINTEXT", "CCP_ETCD_CA_FILE", "CCP_ETCD_CERT_FILE", "CCP_ETCD_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name, value in etcd_env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError) as refused:
        OperatorSettings()
    message = str(refused.value)
    assert "no etcd TLS: set CCP_ETCD_CA_FILE" in message and "or CCP_ETCD_PLAINTEXT=true" in message


def test_an_operator_with_etcd_plaintext_and_an_etcd_ca_is_refused(monkeypatch):
    _tls_operator(monkeypatch)
    monkeypatch.setenv("CCP_ETCD_PLAINTEXT", "true")
    with pytest.raises(ValidationError, match="CCP_ETCD_PLAINTEXT=true together with .*: choose one"):
        OperatorSettings()


def test_a_plaintext_etcd_operator_told_to_mount_an_etcd_secret_on_its_nodes_is_refused(monkeypatch):
    monkeypatch.setenv("CCP_ETCD_PLAINTEXT", "true")
    monkeypatch.setenv("CCP_ACD_ETCD_TLS_SECRET", "ccp-etcd-client-tls")
    with pytest.raises(ValueError, match="etcd client TLS Secret .* and plaintext etcd .* choose one"):
        OperatorSettings().acd_template()


def test_a_tls_secret_together_with_plaintext_is_refused(monkeypatch):
    monkeypatch.setenv("CCP_ACD_TLS_SECRET", "ccp-acd-tls")
    monkeypatch.setenv("CCP_ACD_PLAINTEXT", "true")
    with pytest.raises(ValueError, match="choose one"):
        OperatorSettings().acd_template()
