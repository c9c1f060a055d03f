"""Settings of the SIP trunk adapter, read once from ``CCP_SIP_*`` environment variables and validated at start-up.

Frozen: nothing changes a setting after start. The nodes' TLS comes from the nodes' client rule
(``ChannelSecurity.from_env``: CCP_TLS_CA_FILE or CCP_PLAINTEXT=true), etcd's from ``CCP_ETCD_*`` as every etcd
client here; those are not repeated here.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ID_PATTERN = r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$"
HOST_PORT = r"^[A-Za-z0-9.\-\[\]:]+:\d{1,5}$"


def _pairs(text: str) -> dict[str, str]:
    pairs = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, sep, value = item.partition("=")
        if not sep or not name or not value:
            raise ValueError(f"expected name=value, got {item!r}")
        pairs[name.strip()] = value.strip()
    return pairs


class SipSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CCP_SIP_", frozen=True, extra="ignore")

    # The tenant whose trunks this adapter serves (one adapter per tenant and site).
    tenant: str = Field(pattern=ID_PATTERN)
    # The site it runs in: it serves the trunks whose home site this is (all of them when the trunk names none).
    site: str = Field(default="site-a", pattern=ID_PATTERN)
    # Comma-separated host:port of the site's ACD nodes, tried in turn when one is unreachable.
    nodes: str = "127.0.0.1:50051"
    # File holding the tenant's ``interaction`` token (a mounted Secret); read at start.
    token_file: Path
    # host:port of an etcd member: trunk configs, blocklist and queue configs are read from it, never written.
    etcd_endpoint: str = Field(default="127.0.0.1:2379", pattern=HOST_PORT)
    # Address the SIP and RTP sockets bind to and announce in SDP. Loopback by default: exposing the trunk is a
    # deployment decision.
    bind: str = "127.0.0.1"
    # SIP port per trunk, "trunk=port,...", for trunks whose resource has no ``sip`` (development); a Trunk's
    # ``sip.port`` wins.
    trunk_ports: str = ""
    # The carrier's host:port per trunk, "trunk=host:port,...", for trunks without ``sip`` (a Trunk's
    # ``sip.carrier`` wins): callbacks are dialled and in-dialog requests sent there. A trunk not listed uses
    # ``carrier``.
    trunk_carriers: str = ""
    carrier: str = Field(default="127.0.0.1:5060", pattern=HOST_PORT)
    # UDP ports for RTP, one per call leg, cut into one slice per phone: ``trunk_rtp_ports`` for each trunk (its
    # caller legs), ``agent_rtp_ports`` for each agent endpoint. One process carries ~150 calls a core
    # (docs/voice.md), so 500 legs a trunk is ample; an agent phone has a call or two at once.
    rtp_port_low: int = Field(default=20000, ge=1024, le=65535)
    rtp_port_high: int = Field(default=29999, ge=1024, le=65535)
    trunk_rtp_ports: int = Field(default=500, ge=10, le=20000)
    agent_rtp_ports: int = Field(default=10, ge=2, le=1000)
    # First SIP port of the agent-leg phones (one per distinct agent endpoint, pooled); up to 200 endpoints.
    agent_port_low: int = Field(default=5200, ge=1024, le=65335)
    # Seconds an agent's phone may take to answer before the agent leg counts as failed (the caller is requeued).
    agent_answer_timeout_s: float = Field(default=20.0, gt=0, le=120)
    # Seconds a callback's caller may take to answer before the callback ends (Hangup CALLER, logged).
    callback_answer_timeout_s: float = Field(default=30.0, gt=0, le=300)
    # Seconds a bridged leg may send no RTP before its party counts as gone (a phone or carrier that vanished
    # without a BYE): that leg gets a BYE and the call ends as its hang-up. 0: never (silence-suppressing phones).
    rtp_timeout_s: float = Field(default=60.0, ge=0, le=3600)
    # host:port of the health (/healthz) and Prometheus (/metrics) listener; empty: none (sip/health.py).
    health_listen: str = ""
    # Seconds one node request may take before the next node is tried.
    node_timeout_s: float = Field(default=5.0, gt=0, le=60)
    # Folder of the encrypted voicemail recordings (key ring from CCP_RECORDINGS_KEY_FILE).
    recordings_dir: Path = Path("recordings")
    # Seconds of voicemail recorded at most: the recording ends there as if the caller hung up.
    voicemail_max_s: float = Field(default=120.0, gt=0, le=600)
    # Seconds between two "please hold" announcements while queued (0: none).
    announce_every_s: float = Field(default=30.0, ge=0)
    # Seconds between two reads of the trunk configs and blocklist from etcd (changes apply to new calls).
    config_refresh_s: float = Field(default=2.0, gt=0, le=300)

    @field_validator("nodes")
    @classmethod
    def _nodes(cls, value: str) -> str:
        addresses = [a.strip() for a in value.split(",") if a.strip()]
        if not addresses:
            raise ValueError("CCP_SIP_NODES names no node address")
        return ",".join(addresses)

    @field_validator("trunk_ports", "trunk_carriers")
    @classmethod
    def _mapping(cls, value: str) -> str:
        _pairs(value)
        return value

    def node_addresses(self) -> list[str]:
        return self.nodes.split(",")

    def port_of(self, trunk: str) -> int | None:
        port = _pairs(self.trunk_ports).get(trunk)
        return int(port) if port else None

    def carrier_of(self, trunk: str) -> tuple[str, int]:
        host, _, port = _pairs(self.trunk_carriers).get(trunk, self.carrier).rpartition(":")
        return host, int(port)

    def token(self) -> str:
        try:
            token = self.token_file.read_text().strip()
        except OSError as e:
            raise ValueError(f"cannot read CCP_SIP_TOKEN_FILE {self.token_file}: {e.strerror}") from e
        if not token:
            raise ValueError(f"CCP_SIP_TOKEN_FILE {self.token_file} is empty")
        return token
