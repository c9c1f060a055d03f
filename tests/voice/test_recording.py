"""A queue that records its calls (``record_calls``): the bridged conversation is stored encrypted, as a stereo WAV
with the caller on the left and the agent on the right, each channel carrying that party's voice."""

from __future__ import annotations

import asyncio
import io
import wave

import pytest
from ccp_acd.domain.models import QueueConfig
from ccp_acd.recordings import RecordingStore
from ccp_acd.state.store import TrunkConfig
from ccpapi.v1 import common_pb2

from tests.voice import media
from tests.voice.conftest import AGENT_HZ, CALLER_HZ, Peers, Voice
from tests.voice.sipp import free_udp_port
from tests.voice.test_calls import ended

pytestmark = pytest.mark.etcd

NUMBER = "+15550001000"
TRUNK = TrunkConfig(name="main", numbers=(NUMBER,), default_queue="sales", allowed_sources=("127.0.0.0/8",))


def _channels(wav_bytes: bytes) -> tuple[float, list[int], list[int]]:
    with wave.open(io.BytesIO(wav_bytes)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        frames = wav.readframes(wav.getnframes())
    samples = memoryview(frames).cast("h")
    return len(samples) / 2 / 8000, list(samples[0::2]), list(samples[1::2])


async def test_a_recorded_queues_call_is_stored_encrypted_caller_left_agent_right(voice: Voice, peers: Peers):
    carrier = free_udp_port()
    tenant, adapter = await voice.tenant(queues=[QueueConfig(name="sales", record_calls=True)], trunks=[TRUNK],
                                         carrier_port=carrier)
    caller_ear, phone_ear = peers.tap(), peers.tap()
    phone = peers.phone("uas_answers_hangs_up.xml", rtp_port=phone_ear.port, hold_ms=4000)
    alice = await tenant.agent("alice", sip_uri=f"sip:alice@127.0.0.1:{phone.port}")
    call = peers.start_call("uac_call_waits_for_bye.xml", to=adapter.address("main"), number=NUMBER, caller="+15550100",
                            rtp_port=caller_ear.port, port=carrier, talk_s=20, timeout_s=45)
    offer = await alice.next_offer(timeout_s=25)
    await alice.accept(offer.interaction.id)
    assert (await asyncio.to_thread(phone.wait)).events("hung-up")
    assert (await asyncio.to_thread(call.wait)).events("bye-received")
    record = await ended(tenant, offer.interaction.id, common_pb2.INTERACTION_STATE_COMPLETED)

    store = RecordingStore(adapter.recordings_dir, adapter.keys)
    [stored] = list((adapter.recordings_dir / tenant.name).glob("call-*.rec"))
    assert b"RIFF" not in stored.read_bytes()  # encrypted at rest
    seconds, left, right = _channels(store.read_all(tenant=tenant.name, recording_id=stored.stem))
    assert 2.5 <= seconds <= 15, seconds  # the 4 s talk
    assert media.linear_tone_power(left, CALLER_HZ) > 10 * media.linear_tone_power(left, AGENT_HZ)
    assert media.linear_tone_power(right, AGENT_HZ) > 10 * media.linear_tone_power(right, CALLER_HZ)
    assert record.recording_id == stored.stem  # attached to the call's record by the Hangup
