"""The voice suite's own instruments, checked against each other (sipp calling sipp): a scenario that cannot
complete, or a tap that cannot hear, would make the platform tests prove nothing."""

from __future__ import annotations

from tests.voice.conftest import AGENT_HZ, CALLER_HZ, Peers


def test_a_carrier_call_and_a_phone_hear_each_other_through_the_taps(peers: Peers):
    caller_ear, phone_ear = peers.tap(), peers.tap()
    phone = peers.phone("uas_answers.xml", rtp_port=phone_ear.port)
    call = peers.call("uac_call_hangs_up.xml", to=f"127.0.0.1:{phone.port}", number="1000", caller="carrier",
                      talk_ms=1500, rtp_port=caller_ear.port, talk_s=1.0, timeout_s=20)
    answered = phone.wait()
    assert call.returncode == 0 and call.events("answered") and call.events("hung-up"), call.describe()
    assert answered.events("bye-received") == call.events("hung-up"), answered.describe()
    assert phone_ear.hears(CALLER_HZ) and not phone_ear.hears(AGENT_HZ)
    assert caller_ear.hears(AGENT_HZ) and not caller_ear.hears(CALLER_HZ)


def test_refusals_and_a_cancel_are_read_from_the_scenarios_logs(peers: Peers):
    busy, declines, silent = (peers.phone(s) for s in ("uas_busy.xml", "uas_declines.xml", "uas_never_answers.xml"))
    finals = [peers.call("uac_rejected.xml", to=f"127.0.0.1:{p.port}", number="1000", caller="c", timeout_s=10).finals()
              for p in (busy, declines)]
    assert finals == [[486], [603]]
    cancelled = peers.call("uac_cancels.xml", to=f"127.0.0.1:{silent.port}", number="1000", caller="c", cancel_ms=300,
                           timeout_s=10)
    assert cancelled.returncode == 0 and cancelled.events("cancelled"), cancelled.describe()
    assert silent.wait().events("cancelled") == cancelled.events("cancelled")


def test_the_phone_that_hangs_up_ends_the_call_the_carrier_waits_on(peers: Peers):
    phone = peers.phone("uas_answers_hangs_up.xml", hold_ms=800)
    call = peers.call("uac_call_waits_for_bye.xml", to=f"127.0.0.1:{phone.port}", number="1000", caller="c",
                      timeout_s=15)
    assert call.returncode == 0 and call.events("bye-received"), call.describe()
    assert phone.wait().events("hung-up") == call.events("bye-received")
