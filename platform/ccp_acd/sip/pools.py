"""Phones dialling agents, one per agent endpoint, and the RTP port range cut into one slice per phone.

pyVoIP sends everything of a phone to one peer, so each distinct agent endpoint gets its own phone (own SIP port);
pyVoIP picks RTP ports per phone, so phones get disjoint slices of ``CCP_SIP_RTP_PORT_LOW``..``HIGH``.
"""

from __future__ import annotations

import threading

from ccp_acd.sip.phones import AdapterPhone
from ccp_acd.sip.rtp import RtpEngine


class AgentPhones:
    """One phone per distinct agent endpoint (host, port), each on its own SIP port from ``first_port``, started
    on first use and kept: pyVoIP sends everything of a phone to one peer, so a phone cannot serve two."""

    def __init__(self, *, bind: str, first_port: int, rtp_ports: RtpSlices, ports_each: int, limit: int = 200,
                 engine: RtpEngine | None = None):
        self._engine = engine
        self._ports_each = ports_each
        self._bind = bind
        self._first_port = first_port
        self._rtp_ports = rtp_ports
        self._limit = limit
        self._phones: dict[tuple[str, int], AdapterPhone] = {}
        self._lock = threading.Lock()

    def get(self, host: str, port: int) -> AdapterPhone:
        with self._lock:
            phone = self._phones.get((host, port))
            if phone is None:
                if len(self._phones) >= self._limit:
                    raise RuntimeError(f"more than {self._limit} agent endpoints")
                phone = AdapterPhone(server=host, port=port, bind=self._bind, sip_port=self._first_port + len(self._phones),
                                     rtp_ports=self._rtp_ports.take(self._ports_each), engine=self._engine)
                phone.start()
                self._phones[(host, port)] = phone
            return phone

    def stop(self) -> None:
        with self._lock:
            for phone in self._phones.values():
                phone.stop()
            self._phones.clear()


class RtpSlices:
    """Disjoint RTP port ranges, one per phone: pyVoIP picks ports per phone, two phones on one range collide."""

    def __init__(self, low: int, high: int):
        self._next, self._high = low, high
        self._lock = threading.Lock()

    def take(self, size: int) -> tuple[int, int]:
        with self._lock:
            if self._next + size - 1 > self._high:
                raise RuntimeError("RTP port range exhausted (CCP_SIP_RTP_PORT_LOW/HIGH, CCP_SIP_*_RTP_PORTS)")
            low = self._next
            self._next += size
            return low, low + size - 1
