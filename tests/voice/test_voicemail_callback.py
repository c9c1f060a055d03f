"""No one answers: voicemail (queue policy with no agents logged in: the prompt, the caller's message recorded and
stored encrypted, a CHANNEL_VOICEMAIL work item offered to the agent who logs in later, the recording decrypts
to the caller's voice) and callback (the caller chooses it in the IVR and is released; when an agent accepts the
callback the adapter calls the agent's phone and the carrier's callback leg, and both talk)."""

from __future__ import annotations

import asyncio
import io
import time
import wave

import pytest
from ccp_acd.domain.ivr import IvrConfig, IvrMenu, IvrOption, IvrTarget, TargetKind
from ccp_acd.domain.models import Action, ActionKind, QueueConfig
from ccp_acd.domain.voice_settings import VoicemailSettings
from ccp_acd.recordings import RecordingStore
from ccp_acd.state.store import TrunkConfig
from ccpapi.v1 import admin_pb2, common_pb2

from tests.helpers import eventually
from tests.voice import media
from tests.voice.conftest import AGENT_HZ, CALLER_HZ, Peers, Voice
from tests.voice.sipp import free_udp_port
from tests.voice.test_calls import ended, kinds

pytestmark = pytest.mark.etcd

NUMBER = "+15550001000"
CALLER = "+15550100"
MENU = IvrMenu(name="main", prompt="tone:600:200", timeout_s=3.0, retries=0, options=(
    IvrOption(digits="1", target=IvrTarget(kind=TargetKind.QUEUE, name="sales")),
    IvrOption(digits="2", target=IvrTarget(kind=TargetKind.CALLBACK, name="sales")),
))
TRUNK = TrunkConfig(name="main", numbers=(NUMBER,), default_queue="sales", allowed_sources=("127.0.0.0/8",),
                    ivr=IvrConfig(entry="main", menus=(MENU,)))


async def _past_call(tenant, state: int):
    async def found():
        history = await tenant.admin.GetCallerHistory(admin_pb2.GetCallerHistoryRequest(address=CALLER),
                                                      metadata=tenant.admin_md)
        return [c for c in history.calls if c.state == state]

    [past] = await eventually(found, timeout_s=20, what=f"a call in state {state} in the caller's history")
    return past


def _voice_power(wav_bytes: bytes, hz: float) -> tuple[float, float]:
    """(seconds, power of ``hz``) of an 8-bit unsigned WAV, pyVoIP's own format."""
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 1, 8000)
        frames = wav.readframes(wav.getnframes())
    return len(frames) / 8000, media.linear_tone_power([(b - 128) * 256 for b in frames], hz)


async def test_voicemail_by_queue_policy_is_recorded_encrypted_and_offered_to_an_agent_who_logs_in(
        voice: Voice, peers: Peers):
    carrier = free_udp_port()
    sales = QueueConfig(name="sales", on_no_agents=Action(kind=ActionKind.VOICEMAIL),
                        voicemail=VoicemailSettings(max_s=30.0, prompt="tone:500:200"))
    tenant, adapter = await voice.tenant(queues=[sales], trunks=[TRUNK], carrier_port=carrier)
    call = await asyncio.to_thread(peers.call, "uac_call_hangs_up.xml", to=adapter.address("main"), number=NUMBER,
                                   caller=CALLER, digits="1", talk_ms=6000, talk_s=7, port=carrier, timeout_s=30)
    assert call.events("hung-up"), call.describe()
    voicemailed = await _past_call(tenant, common_pb2.INTERACTION_STATE_VOICEMAIL)
    assert "voicemail" in kinds(await tenant.record(voicemailed.id))

    alice = await tenant.agent("alice", sip_uri="sip:alice@127.0.0.1:9")  # logs in after the message was left
    offer = await alice.next_offer(timeout_s=20)
    item = offer.interaction
    assert (item.channel, item.queue, item.caller.address) == (common_pb2.CHANNEL_VOICEMAIL, "sales", CALLER)
    assert item.recording_id
    # the work item keeps the caller's arrival: it is not younger than the call it came from
    assert item.enqueued_at.ToNanoseconds() <= voicemailed.arrived.ToNanoseconds() + 1_000_000_000
    await alice.accept(item.id)
    record = await tenant.record(item.id)
    assert record.recording_id == item.recording_id

    recordings = RecordingStore(adapter.recordings_dir, adapter.keys)
    on_disk = recordings.path(tenant=tenant.name, recording_id=item.recording_id).read_bytes()
    assert on_disk.startswith(b"CCPR") and b"RIFF" not in on_disk and b"WAVE" not in on_disk  # encrypted at rest
    seconds, power = _voice_power(recordings.read_all(tenant=tenant.name, recording_id=item.recording_id), CALLER_HZ)
    assert seconds >= 2.0 and power > 1e5, (seconds, power)  # the caller's tone, not silence


async def test_a_callback_chosen_in_the_ivr_calls_the_caller_back_when_an_agent_accepts_and_both_talk(
        voice: Voice, peers: Peers):
    carrier = free_udp_port()
    tenant, adapter = await voice.tenant(queues=[QueueConfig(name="sales")], trunks=[TRUNK], carrier_port=carrier)
    released = await asyncio.to_thread(peers.call, "uac_call_waits_for_bye.xml", to=adapter.address("main"),
                                       number=NUMBER, caller=CALLER, digits="2", talk_s=20, port=carrier, timeout_s=40)
    assert released.events("bye-received"), released.describe()  # told, then hung up by the platform

    # The carrier's side of the callback: the caller's phone, reached through the trunk's carrier address.
    caller_ear, agent_ear = peers.tap(), peers.tap()
    caller_phone = peers.phone("uas_answers.xml", port=carrier, rtp_port=caller_ear.port, hz=CALLER_HZ)
    agent_phone = peers.phone("uas_answers_hangs_up.xml", rtp_port=agent_ear.port, hold_ms=3000)
    alice = await tenant.agent("alice", sip_uri=f"sip:alice@127.0.0.1:{agent_phone.port}")
    offer = await alice.next_offer(timeout_s=20)
    assert (offer.interaction.channel, offer.interaction.queue) == (common_pb2.CHANNEL_CALLBACK, "sales")
    accepted_at = time.monotonic()
    await alice.accept(offer.interaction.id)

    heard_by_agent = await asyncio.to_thread(agent_phone.wait)
    heard_by_caller = await asyncio.to_thread(caller_phone.wait)
    assert heard_by_agent.events("answered") and heard_by_agent.events("hung-up"), heard_by_agent.describe()
    assert heard_by_caller.events("answered") and heard_by_caller.events("bye-received"), heard_by_caller.describe()
    assert agent_ear.hears(CALLER_HZ, since=accepted_at) and caller_ear.hears(AGENT_HZ, since=accepted_at)

    record = await ended(tenant, offer.interaction.id, common_pb2.INTERACTION_STATE_COMPLETED)
    assert (record.channel, record.agent_id, record.trunk) == (common_pb2.CHANNEL_CALLBACK, "alice", "main")
    steps = kinds(record)
    assert steps.index("queued") < steps.index("callback-requested") < steps.index("accepted"), steps
