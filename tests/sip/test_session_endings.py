"""How a call ends when two end at once: pyVoIP's dead-call cleanup raced between session threads (KeyError),
and the exception skipped the rest of the call's ending, its Hangup included: the benchmark's calls left live
with their agents busy at 25 calls/s. Both halves are checked here without a network."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from ccp_acd.sip import calls
from ccp_acd.sip.calls import Phase
from ccp_acd.sip.phones import AdapterPhone
from pyVoIP.VoIP import CallState

from tests.sip.bare import bare_session
from tests.sip.conftest import free_udp_port


def _phone() -> AdapterPhone:
    low = free_udp_port()
    return AdapterPhone(server="127.0.0.1", port=9, bind="127.0.0.1", sip_port=free_udp_port(), rtp_ports=(low, low))


def _ended_thread() -> threading.Thread:
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()
    return thread


def test_dead_call_cleanup_tolerates_a_call_another_thread_already_forgot():
    phone = _phone()
    gone, alive = _ended_thread(), threading.Thread(target=threading.Event().wait, args=(5,), daemon=True)
    alive.start()
    orphan = _ended_thread()  # in the thread list, its lookup removed by a concurrent cleanup (pyVoIP: KeyError)
    phone.threads += [gone, alive, orphan]
    phone.threadLookup.update({gone: "c-gone", alive: "c-alive"})
    phone.calls.update({"c-gone": object(), "c-alive": object()})
    phone.release_ports(None)
    assert phone.threads == [alive] and set(phone.threadLookup) == {alive} and set(phone.calls) == {"c-alive"}


def test_dead_call_cleanup_from_many_threads_at_once_raises_nothing():
    phone = _phone()
    dead = [_ended_thread() for _ in range(300)]
    phone.threads += dead
    phone.threadLookup.update({t: f"c-{n}" for n, t in enumerate(dead)})
    errors: list[BaseException] = []
    start = threading.Barrier(8)

    def clean() -> None:
        start.wait()
        try:
            for _ in range(50):
                phone.release_ports(None)
        except BaseException as e:  # noqa: BLE001 - collected for the assertion
            errors.append(e)

    workers = [threading.Thread(target=clean) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == [] and phone.threads == [] and phone.threadLookup == {}


class _BrokenPhone:
    def release(self, leg) -> None:
        raise KeyError("pyVoIP's cleanup lost a race")


def test_a_leg_release_that_fails_does_not_skip_the_interactions_hangup():
    sent: list[tuple[str, object]] = []
    session = bare_session(
        phase=Phase.BRIDGED, ctx=SimpleNamespace(phone=_BrokenPhone()),
        caller=SimpleNamespace(call_id="c-1", state=CallState.ANSWERED),
    )
    session.link = SimpleNamespace(request=lambda method, request, quiet=False: sent.append((method, request)))
    session.handle(calls.AgentHungUp())  # actions: BYE to the caller (fails here), then Hangup AGENT
    assert session.machine.phase is Phase.ENDED
    assert [method for method, _ in sent] == ["Hangup"] and sent[0][1].interaction_id == "i-1"
