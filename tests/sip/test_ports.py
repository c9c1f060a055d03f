"""RTP ports of a phone: handed out in rotation, never two live legs on one port, freed once per call."""

from __future__ import annotations

import pytest
from ccp_acd.sip.phones import AdapterPhone
from ccp_acd.sip.pools import RtpSlices
from pyVoIP.VoIP import NoPortsAvailableError


class Leg:
    """What release_ports reads of a pyVoIP call: its RTP clients' ports and its assigned (dialled) ports."""

    def __init__(self, *ports: int):
        self.RTPClients = [type("Client", (), {"inPort": p})() for p in ports]
        self.assignedPorts: dict = {}


def phone(low: int = 40000, high: int = 40003) -> AdapterPhone:
    return AdapterPhone(server="127.0.0.1", port=5060, bind="127.0.0.1", sip_port=0, rtp_ports=(low, high))


def test_ports_rotate_and_a_released_one_comes_back_last():
    p = phone()
    first = [p.request_port() for _ in range(3)]
    assert first == [40000, 40001, 40002]
    p.release_ports(Leg(40000))
    assert p.request_port() == 40003
    assert p.request_port() == 40000  # free again, after the others


def test_a_full_range_refuses_rather_than_sharing_a_live_port():
    p = phone(40000, 40001)
    p.request_port(), p.request_port()
    with pytest.raises(NoPortsAvailableError):
        p.request_port()
    p.release_ports(None)  # pyVoIP's bulk release of "unused" ports frees nothing here
    with pytest.raises(NoPortsAvailableError):
        p.request_port()


def test_a_call_frees_its_ports_once_even_when_released_again_after_reuse():
    p = phone(40000, 40001)
    old = Leg(p.request_port())
    p.release_ports(old)
    taken = [p.request_port(), p.request_port()]  # 40001, then 40000 again for a new leg
    assert sorted(taken) == [40000, 40001]
    p.release_ports(old)  # pyVoIP's VoIPCall.__del__ releases again: the new leg's port stays taken
    with pytest.raises(NoPortsAvailableError):
        p.request_port()


def test_rtp_slices_are_disjoint_and_bounded():
    slices = RtpSlices(20000, 20029)
    assert [slices.take(10), slices.take(15)] == [(20000, 20009), (20010, 20024)]
    with pytest.raises(RuntimeError, match="RTP port range exhausted"):
        slices.take(10)
