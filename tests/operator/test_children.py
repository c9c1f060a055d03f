"""The per-tenant ACD StatefulSets the operator creates carry the telemetry settings and endpoints."""

from __future__ import annotations

from ccp_acd.state.store import TenantConfig
from ccp_operator import children
from ccp_operator.settings import OperatorSettings

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
    assert by_port[children.METRICS_PORT] == [{"namespaceSelector": {}}]
