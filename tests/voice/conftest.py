"""Fixtures of the voice suite: sipp peers (carrier and phones) and RTP taps, all stopped after each test.

``peers.call(...)`` runs a carrier-side scenario to its end; ``peers.phone(...)`` starts a phone (agent or the
carrier's callback leg) that waits for calls; ``peers.tap()`` opens an RTP tap. Each sipp gets its own directory
under the test's tmp_path, so its logs and statistics are the test's evidence (tests/voice/sipp.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.voice import media, rtp, sipp

CALLER_HZ = 440.0  # the caller's voice (media.caller_packets)
AGENT_HZ = 1000.0  # the agent's voice: what phones play once answered


def agent_voice(seconds: float = 8.0) -> list[tuple[float, bytes]]:
    audio = media.tone_ulaw(seconds=seconds, hz=AGENT_HZ)
    size = media.SAMPLES_PER_FRAME
    return [(n * media.FRAME_MS / 1000,
             media.rtp_packet(payload_type=media.PCMU, seq=n, timestamp=n * size, payload=audio[n * size:(n + 1) * size],
                              ssrc=0xA6E7))
            for n in range(len(audio) // size)]


@dataclass
class Peers:
    root: Path
    started: list[sipp.Sipp] = field(default_factory=list)
    taps: list[rtp.RtpTap] = field(default_factory=list)
    _names: Iterator[int] = field(default_factory=itertools.count)

    def _dir(self, scenario: str) -> Path:
        return self.root / f"{next(self._names):02d}-{Path(scenario).stem}"

    def tap(self) -> rtp.RtpTap:
        tap = rtp.open_tap()
        self.taps.append(tap)
        return tap

    def phone(self, scenario: str = "uas_answers.xml", *, calls: int = 1, timeout_s: float = 60.0,
              hold_ms: int | None = None, rtp_port: int | None = None, rtp_echo: bool = False,
              seconds: float = 8.0) -> sipp.Sipp:
        """A phone waiting for ``calls`` calls on its own port (``.port``); it speaks AGENT_HZ once answered."""
        peer = sipp.start(scenario, self._dir(scenario), calls=calls, timeout_s=timeout_s, rtp_port=rtp_port,
                          rtp_echo=rtp_echo, variables={"hold_ms": hold_ms} if hold_ms is not None else None,
                          media_packets=agent_voice(seconds))
        self.started.append(peer)
        return peer

    def start_call(self, scenario: str, *, to: str, number: str, caller: str, timeout_s: float = 30.0,
                   digits: str = "", talk_ms: int | None = None, cancel_ms: int | None = None,
                   rtp_port: int | None = None, talk_s: float = 6.0, recv_timeout_ms: int | None = None,
                   extra: list[str] | None = None) -> sipp.Sipp:
        """A carrier call to ``number`` at ``to`` ("127.0.0.1:port") from ``caller``, pressing ``digits``."""
        variables = {k: v for k, v in (("talk_ms", talk_ms), ("cancel_ms", cancel_ms)) if v is not None}
        peer = sipp.start(scenario, self._dir(scenario), remote=to, service=number, keys={"caller": caller},
                          timeout_s=timeout_s, variables=variables, rtp_port=rtp_port, recv_timeout_ms=recv_timeout_ms,
                          media_packets=media.caller_packets(digits=digits, talk_s=talk_s), extra=extra)
        self.started.append(peer)
        return peer

    def call(self, scenario: str, **kwargs) -> sipp.Outcome:
        """``start_call`` and wait for its end."""
        return self.start_call(scenario, **kwargs).wait()

    def close(self) -> None:
        for peer in self.started:
            if peer.process is not None and peer.process.stdout is not None and not peer.process.stdout.closed:
                peer.stop()
        for tap in self.taps:
            tap.close()


@pytest.fixture
def peers(tmp_path: Path) -> Iterator[Peers]:
    made = Peers(root=tmp_path / "sipp")
    yield made
    made.close()
