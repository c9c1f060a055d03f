"""Fixtures of the adapter tests: a real node, a tenant with a trunk, the adapter on it, and sipp as the carrier.

Everything on loopback with fresh ports; every sipp run is bounded (``-m 1``, ``-timeout``, ``-timeout_error``).
The adapter runs in the test's event loop (its node client and etcd reads), its SIP and RTP in pyVoIP's threads.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from ccp_acd.api.auth import issue_token
from ccp_acd.domain.models import QueueConfig
from ccp_acd.embedded.sipp_peers import free_udp_port
from ccp_acd.recordings import KeyRing, RecordingStore
from ccp_acd.server import Node, start_node
from ccp_acd.settings import NodeSettings
from ccp_acd.sip.adapter import Adapter
from ccp_acd.sip.nodes import NodeClient
from ccp_acd.sip.settings import SipSettings
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.state.store import TenantConfig, TrunkConfig, TrunkSip
from ccp_acd.tls import ChannelSecurity
from pydantic import SecretStr

from tests import ports
from tests.helpers import eventually, scaled

SITE = "site-a"
NUMBER = "+15550100"
SIPP = "/usr/bin/sipp"


@pytest.fixture
async def sip_node(etcd_server) -> AsyncIterator[Node]:
    settings = NodeSettings(
        site=SITE, node_id=f"sip-{secrets.token_hex(3)}", grpc_listen="127.0.0.1:0",
        etcd_endpoint=etcd_server.endpoint, lease_ttl_s=2, dispatch_interval_s=0.1,
        cluster_token=SecretStr("cluster-secret-for-tests"),
    )
    node = await start_node(settings)
    yield node
    await node.stop(grace_s=0.5)


@dataclass
class Running:
    tenant: str
    port: int
    adapter: Adapter
    node: Node
    store: EtcdStore
    recordings: RecordingStore
    settings: SipSettings
    # Where the trunk's carrier is (callbacks are dialled there).
    carrier_port: int


@pytest.fixture
def queue_config() -> QueueConfig:
    """The ``support`` queue of ``running``'s tenant; a test module overrides this fixture for other policies."""
    return QueueConfig(name="support")


@pytest.fixture
async def running(sip_node: Node, store: EtcdStore, etcd_server, tmp_path: Path,
                  queue_config: QueueConfig) -> AsyncIterator[Running]:
    """A tenant with queue ``support`` and trunk ``main`` (NUMBER, from 127.0.0.1 only), and the adapter serving it
    (voicemail recordings under ``tmp_path/recordings`` with a fresh key ring: ``Running.recordings``)."""
    tenant = f"t-{secrets.token_hex(4)}"
    await store.put_tenant_config(TenantConfig(name=tenant, home_site=SITE))
    await store.put_queue_config(tenant, queue_config)
    port, carrier_port = free_udp_port(), free_udp_port()
    await store.put_trunk_config(tenant, TrunkConfig(
        name="main", numbers=(NUMBER,), default_queue="support", home_site=SITE, allowed_sources=("127.0.0.1/32",),
        sip=TrunkSip(port=port, carrier_host="127.0.0.1", carrier_port=carrier_port),
    ))
    token_file = tmp_path / "token"
    token_file.write_text(await issue_token(store, tenant=tenant, role="interaction"))
    rtp_low, rtp_high = ports.rtp_range("sip")
    settings = SipSettings(
        tenant=tenant, site=SITE, nodes=sip_node.address, token_file=token_file, etcd_endpoint=etcd_server.endpoint,
        recordings_dir=tmp_path / "recordings",
        rtp_port_low=rtp_low, rtp_port_high=rtp_high, trunk_rtp_ports=200, agent_rtp_ports=10,
        agent_port_low=ports.agent_port_low("sip"), config_refresh_s=0.5,
    )
    nodes = NodeClient(settings.node_addresses(), security=ChannelSecurity(plaintext=True), token=settings.token(),
                       timeout_s=5.0)
    key_id = "test-1"
    recordings = RecordingStore(settings.recordings_dir, KeyRing.parse(json.dumps(
        {"active": key_id, "keys": {key_id: KeyRing.new_key()}})))
    adapter = Adapter(settings, store=store, nodes=nodes, recordings=recordings)
    stop = asyncio.Event()
    task = asyncio.create_task(adapter.run(stop))

    async def listening() -> bool:
        return "main" in adapter.trunks

    await eventually(listening, what="the trunk's phone")
    yield Running(tenant=tenant, port=port, adapter=adapter, node=sip_node, store=store, recordings=recordings,
                  settings=settings, carrier_port=carrier_port)
    stop.set()
    await asyncio.wait_for(task, scaled(20))
    await nodes.close()


# The SDP of every scenario here: PCMU and RFC 4733 events at sipp's media address.
SDP = """\
v=0
o=user1 53655765 2353687637 IN IP[local_ip_type] [local_ip]
s=-
c=IN IP[media_ip_type] [media_ip]
t=0 0
m=audio [media_port] RTP/AVP 0 101
a=rtpmap:0 PCMU/8000
a=rtpmap:101 telephone-event/8000
"""

INVITE = """\
INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Test Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>
Call-ID: [call_id]
CSeq: 1 INVITE
Contact: <sip:sipp@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Type: application/sdp
Content-Length: [len]

""" + SDP

REQUEST_TAIL = """\
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From: "Test Caller" <sip:{caller}@[local_ip]:[local_port]>;tag=[pid]SIPpTag00[call_number]
To: <sip:[service]@[remote_ip]:[remote_port]>[peer_tag_param]
Call-ID: [call_id]
CSeq: {cseq}
Contact: <sip:sipp@[local_ip]:[local_port]>
Max-Forwards: 70
Content-Length: 0
"""


def rejected_scenario(caller: str, status: int) -> str:
    """The carrier's INVITE refused with ``status`` (after an optional 180), ACKed."""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="rejected">
  <send retrans="500"><![CDATA[
{INVITE.format(caller=caller)}
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="{status}"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
{REQUEST_TAIL.format(caller=caller, cseq="1 ACK")}
  ]]></send>
</scenario>
"""


def _answered(caller: str) -> str:
    """The carrier's INVITE, answered (200) and ACKed: how the answered scenarios begin."""
    return f"""  <send retrans="500"><![CDATA[
{INVITE.format(caller=caller)}
  ]]></send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="200" rrs="true"/>
  <send><![CDATA[
ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
{REQUEST_TAIL.format(caller=caller, cseq="1 ACK")}
  ]]></send>
"""


def answered_scenario(caller: str, *, hold_ms: int) -> str:
    """The carrier's INVITE answered and ACKed; the caller holds ``hold_ms`` then hangs up."""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="answered">
{_answered(caller)}  <pause milliseconds="{hold_ms}"/>
  <send retrans="500"><![CDATA[
BYE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
{REQUEST_TAIL.format(caller=caller, cseq="2 BYE")}
  ]]></send>
  <recv response="200"/>
</scenario>
"""


@dataclass
class SippRun:
    process: asyncio.subprocess.Process
    log: Path

    async def wait(self, timeout_s: float = 40.0) -> int:
        try:
            return await asyncio.wait_for(self.process.wait(), scaled(timeout_s))
        except TimeoutError:
            self.process.kill()
            await self.process.wait()
            raise

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


async def start_sipp(scenario: str, *, port: int, tmp_path: Path, service: str = NUMBER, local_ip: str = "127.0.0.1",
                     timeout_s: int = 30) -> SippRun:
    name = secrets.token_hex(3)
    xml = tmp_path / f"scenario-{name}.xml"
    xml.write_text(scenario)
    log = tmp_path / f"sipp-{name}.log"
    with log.open("wb") as out:  # the child keeps its own copy of the descriptor
        process = await asyncio.create_subprocess_exec(
            SIPP, f"127.0.0.1:{port}", "-sf", str(xml), "-s", service, "-m", "1", "-l", "1",
            "-i", local_ip, "-p", str(free_udp_port()), "-mi", local_ip, "-mp", str(free_udp_port(even=True)), "-rtp_echo",
            "-timeout", f"{timeout_s}s", "-timeout_error", "-recv_timeout", "15000", "-nostdin",
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
        )
    return SippRun(process=process, log=log)


UAS_ANSWERS_UNTIL_BYE = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="agent phone">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 180 Ringing
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:agent@[local_ip]:[local_port]>
Content-Length: 0
  ]]></send>
  <send retrans="500"><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Contact: <sip:agent@[local_ip]:[local_port]>
Content-Type: application/sdp
Content-Length: [len]

""" + SDP + """  ]]></send>
  <recv request="ACK" crlf="true"/>
  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
  ]]></send>
</scenario>
"""


async def start_phone(
    scenario: str, *, tmp_path: Path, timeout_s: int = 40, echo: bool = True
) -> tuple[SippRun, int]:
    """A sipp UAS (an agent's phone) on its own port, echoing the RTP it gets unless not ``echo``; (the run, its
    port)."""
    name = secrets.token_hex(3)
    xml = tmp_path / f"phone-{name}.xml"
    xml.write_text(scenario)
    log = tmp_path / f"phone-{name}.log"
    port = free_udp_port()
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            SIPP, "-sf", str(xml), "-m", "1", "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1",
            "-mp", str(free_udp_port(even=True)), *(["-rtp_echo"] if echo else []), "-timeout", f"{timeout_s}s",
            "-timeout_error", "-nostdin", stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
        )
    return SippRun(process=process, log=log), port


UAS_BUSY = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="busy agent phone">
  <recv request="INVITE" crlf="true"/>
  <send><![CDATA[
SIP/2.0 486 Busy Here
[last_Via:]
[last_From:]
[last_To:];tag=[pid]SIPpTag01[call_number]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
  ]]></send>
  <recv request="ACK"/>
</scenario>
"""


def released_scenario(caller: str) -> str:
    """The carrier's INVITE answered; the caller stays until the platform hangs up (BYE) and answers it 200."""
    return f"""<?xml version="1.0" encoding="ISO-8859-1" ?>
<scenario name="released">
{_answered(caller)}  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
  ]]></send>
</scenario>
"""


UAS_ANSWERS_THEN_HANGS_UP = UAS_ANSWERS_UNTIL_BYE.replace('<recv request="INVITE" crlf="true"/>', """\
<recv request="INVITE" crlf="true" rrs="true">
    <action>
      <ereg regexp=".*" search_in="hdr" header="From:" check_it="true" assign_to="peer_from"/>
      <ereg regexp=".*" search_in="hdr" header="To:" check_it="true" assign_to="peer_to"/>
    </action>
  </recv>""").replace("""  <recv request="BYE"/>
  <send><![CDATA[
SIP/2.0 200 OK
[last_Via:]
[last_From:]
[last_To:]
[last_Call-ID:]
[last_CSeq:]
Content-Length: 0
  ]]></send>""", """  <pause milliseconds="2000"/>
  <send retrans="500"><![CDATA[
BYE [next_url] SIP/2.0
Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch]
From:[$peer_to];tag=[pid]SIPpTag01[call_number]
To:[$peer_from]
Call-ID: [call_id]
CSeq: 1 BYE
Max-Forwards: 70
Content-Length: 0
  ]]></send>
  <recv response="200"/>""")


async def start_phone_on(scenario: str, *, port: int, tmp_path: Path, timeout_s: int = 60) -> SippRun:
    """A sipp UAS on a given port (the carrier's, for callbacks)."""
    name = secrets.token_hex(3)
    xml = tmp_path / f"uas-{name}.xml"
    xml.write_text(scenario)
    log = tmp_path / f"uas-{name}.log"
    with log.open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            SIPP, "-sf", str(xml), "-m", "1", "-i", "127.0.0.1", "-p", str(port), "-mi", "127.0.0.1",
            "-mp", str(free_udp_port(even=True)), "-rtp_echo", "-timeout", f"{timeout_s}s", "-timeout_error", "-nostdin",
            stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path,
        )
    return SippRun(process=process, log=log)


def dtmf_scenario(caller: str, digit: str, *, hold_ms: int) -> str:
    """The carrier's call answered; the caller presses ``digit`` (RFC 2833, sipp's pcap), holds, hangs up."""
    return answered_scenario(caller, hold_ms=hold_ms).replace(
        f'<pause milliseconds="{hold_ms}"/>',
        f'<nop><action><exec play_pcap_audio="/usr/share/sip-tester/dtmf_2833_{digit}.pcap"/></action></nop>\n'
        f'  <pause milliseconds="{hold_ms}"/>')
