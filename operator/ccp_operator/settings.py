"""Operator settings, from ``CCP_*`` environment variables (the chart sets them)."""

from __future__ import annotations

import ipaddress
import os

from ccp_acd.tls import ChannelSecurity, etcd_security
from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ccp_operator.children import TELEMETRY_ENV, AcdTemplate
from ccp_operator.tls_secrets import Issuer


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CCP_", frozen=True, extra="ignore")

    # host:port of the etcd the ACD nodes share; the operator writes routing config there.
    etcd_endpoint: str = "127.0.0.1:2379"
    # The operator's etcd client TLS, as on the nodes: the CA that verifies etcd (required for TLS), and a client
    # certificate for etcd's --client-cert-auth; or etcd_plaintext=true (development only). Neither, or both: the
    # operator refuses to start (ccp_acd.tls.etcd_security, the nodes' rule).
    etcd_ca_file: str = ""
    etcd_cert_file: str = ""
    etcd_key_file: str = ""
    etcd_plaintext: bool = False

    @model_validator(mode="after")
    def _etcd_transport_chosen(self) -> OperatorSettings:
        self.etcd_security()
        return self

    def etcd_security(self) -> ChannelSecurity:
        return etcd_security(ca_file=self.etcd_ca_file, cert_file=self.etcd_cert_file, key_file=self.etcd_key_file,
                             plaintext=self.etcd_plaintext)

    # Image of the ACD nodes the operator creates for each tenant.
    acd_image: str = AcdTemplate.image
    # etcd as the ACD pods reach it (a Service name in the cluster); defaults to etcd_endpoint.
    acd_etcd_endpoint: str = ""
    # Secrets the ACD pods mount, in the Tenant's namespace (the chart sets the names of its own): the nodes'
    # kubernetes.io/tls certificate, or acd_plaintext=true (development only); the etcd client certificate
    # ("" when etcd speaks plaintext). Neither a TLS Secret nor plaintext: the nodes refuse to start. Without an
    # etcd client Secret the nodes reach etcd in plaintext only if the operator itself does (etcd_plaintext).
    acd_tls_secret: str = ""
    acd_plaintext: bool = False
    acd_etcd_tls_secret: str = ""
    # For Tenants in other namespaces (ccp_operator.tls_secrets): the operator's own namespace (the chart sets it
    # from the downward API; "" : every Tenant mounts the Secrets above from its own namespace, as they are), the
    # cluster CA's Secret there (ca.crt, ca.key; the chart's <release>-acd-ca; "" : no node certificate is
    # issued), the issued certificates' validity and renewal, and the cluster DNS domain they name (as the chart's
    # tls.validityDays, tls.renewBeforeDays, clusterDomain).
    operator_namespace: str = ""
    acd_ca_secret: str = ""
    acd_tls_validity_days: int = Field(default=365, ge=2)
    acd_tls_renew_before_days: int = Field(default=30, ge=1)
    cluster_domain: str = "cluster.local"

    @model_validator(mode="after")
    def _ca_secret_has_a_namespace(self) -> OperatorSettings:
        if self.acd_ca_secret and not self.operator_namespace:
            raise ValueError("CCP_ACD_CA_SECRET needs CCP_OPERATOR_NAMESPACE (the namespace the CA Secret is in)")
        if self.acd_tls_renew_before_days >= self.acd_tls_validity_days:
            raise ValueError("CCP_ACD_TLS_RENEW_BEFORE_DAYS must be below CCP_ACD_TLS_VALIDITY_DAYS")
        return self

    # The SIP adapters the operator runs per tenant and site (ccp_operator.sip_adapters, docs/voice.md "In
    # Kubernetes"): their image ("" : acd_image, which has `ccp sip`); the UDP port range for RTP on the node each
    # runs on (host network: open it to the carriers and the agents' phones; 20000-29999, the adapter's own
    # default, 10,000 ports for 500 ports a trunk and 10 an agent phone); the size of each adapter's voicemail
    # volume (a Kubernetes quantity; 10Gi is ~200 hours of 8 kHz 8-bit WAV); the labels of the nodes they may
    # run on ("key=value,...": the nodes whose addresses the carriers were given; "" : any node).
    sip_adapter_image: str = ""
    sip_adapter_rtp_port_low: int = Field(default=20000, ge=1024, le=65535)
    sip_adapter_rtp_port_high: int = Field(default=29999, ge=1024, le=65535)
    sip_adapter_recordings_size: str = Field(default="10Gi", pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|M|G|T|P|E)?$")
    sip_adapter_node_selector: str = ""
    # CIDRs of the cluster nodes' addresses, comma-separated: a SIP adapter (host network) reaches its ACD nodes
    # from its node's address, which the tenant's NetworkPolicy admits on gRPC only through these on network
    # plugins that do not match host-network pods by label ("" : none admitted by address).
    node_cidrs: str = ""

    @field_validator("sip_adapter_node_selector")
    @classmethod
    def _selector(cls, value: str) -> str:
        _pairs(value)
        return value

    @field_validator("node_cidrs")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        for cidr in _items(value):
            ipaddress.ip_network(cidr)  # ValueError names it (host bits set, not an address)
        return value

    @model_validator(mode="after")
    def _rtp_range(self) -> OperatorSettings:
        if self.sip_adapter_rtp_port_low >= self.sip_adapter_rtp_port_high:
            raise ValueError("CCP_SIP_ADAPTER_RTP_PORT_LOW must be below CCP_SIP_ADAPTER_RTP_PORT_HIGH")
        return self

    def tls_issuer(self) -> Issuer:
        return Issuer(namespace=self.operator_namespace, ca_secret=self.acd_ca_secret,
                      validity_days=self.acd_tls_validity_days, renew_before_days=self.acd_tls_renew_before_days,
                      cluster_domain=self.cluster_domain)

    def acd_template(self) -> AcdTemplate:
        return AcdTemplate(
            image=self.acd_image,
            etcd_endpoint=self.acd_etcd_endpoint or self.etcd_endpoint,
            telemetry_env=tuple((name, os.environ[name]) for name in TELEMETRY_ENV if os.environ.get(name)),
            tls_secret=self.acd_tls_secret,
            plaintext=self.acd_plaintext,
            etcd_tls_secret=self.acd_etcd_tls_secret,
            etcd_plaintext=self.etcd_plaintext,
            sip_image=self.sip_adapter_image,
            sip_rtp_port_low=self.sip_adapter_rtp_port_low,
            sip_rtp_port_high=self.sip_adapter_rtp_port_high,
            sip_recordings_size=self.sip_adapter_recordings_size,
            sip_node_selector=tuple(_pairs(self.sip_adapter_node_selector).items()),
            node_cidrs=tuple(_items(self.node_cidrs)),
        )


def _items(text: str) -> list[str]:
    return [item.strip() for item in text.split(",") if item.strip()]


def _pairs(text: str) -> dict[str, str]:
    pairs = {}
    for item in _items(text):
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"expected key=value, got {item!r}")
        pairs[name.strip()] = value.strip()
    return pairs
