"""Queue policy voicemail: the caller hears the prompt and the beep, is recorded until hanging up, and the
recording is stored encrypted and queued as a CHANNEL_VOICEMAIL work item in the caller's place."""

from __future__ import annotations

import io
import wave

import pytest
from ccp_acd.domain.models import Action, ActionKind, CallState, Channel, QueueConfig
from ccp_acd.domain.voice_settings import VoicemailSettings

from tests.helpers import eventually
from tests.sip.conftest import Running, answered_scenario, start_sipp

pytestmark = pytest.mark.etcd


@pytest.fixture
def queue_config() -> QueueConfig:
    # No agents at all: the router sends the call to voicemail at once. A short tone prompt keeps the test short.
    return QueueConfig(name="support", on_no_agents=Action(kind=ActionKind.VOICEMAIL),
                       voicemail=VoicemailSettings(max_s=30, prompt="tone:440:300"))


async def test_voicemail_is_recorded_encrypted_and_queued_as_a_work_item(running: Running, tmp_path):
    caller = "+15557770020"
    sipp = await start_sipp(answered_scenario(caller, hold_ms=5000), port=running.port, tmp_path=tmp_path)
    assert await sipp.wait() == 0, sipp.output()

    async def voicemail_item():
        view = await running.store.load_live(running.tenant)
        return [c for c in view.calls.values() if c.channel is Channel.VOICEMAIL and c.caller.address == caller]

    [item] = await eventually(voicemail_item, timeout_s=15, what="the voicemail work item")
    assert item.state is CallState.QUEUED and item.recording_id and item.trunk == "main"
    audio = b"".join(running.recordings.read(tenant=running.tenant, recording_id=item.recording_id))
    with wave.open(io.BytesIO(audio)) as wav:
        assert (wav.getframerate(), wav.getsampwidth(), wav.getnchannels()) == (8000, 1, 1)
        assert 1.0 < wav.getnframes() / 8000 < 6.0  # the caller's seconds after the beep, up to the BYE
