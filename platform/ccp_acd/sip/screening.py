"""Whether an incoming INVITE may become a call: source address, dialled number, blocklist.

Pure: runs in pyVoIP's receive thread on an immutable snapshot (``TrunkView``) the adapter swaps in when etcd
changes, so a rejection costs no I/O and happens before anything is answered. The order is the cheapest and most
telling first: a foreign source learns nothing about numbers (403 before 404), and a blocked caller on an unknown
number gets 404.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass

from ccp_acd.state.store import BlockedCaller, TrunkConfig


@dataclass(frozen=True)
class Rejection:
    status: int
    # For logs and metrics; never the caller's number.
    why: str


FOREIGN_SOURCE = Rejection(403, "source not in the trunk's allowedSources")
UNKNOWN_NUMBER = Rejection(404, "dialled number is not one of the trunk's numbers")
BLOCKED = Rejection(603, "caller is blocklisted")


def normalise(number: str) -> str:
    """A number as compared: visual separators dropped (RFC 3966), the leading + kept."""
    return "".join(ch for ch in number if ch.isalnum() or ch in "+*#")


@dataclass(frozen=True)
class TrunkView:
    """What screening needs of a trunk and its tenant's blocklist, as of one etcd read."""

    trunk: TrunkConfig
    networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]
    numbers: frozenset[str]
    blocked: tuple[BlockedCaller, ...]

    @classmethod
    def of(cls, trunk: TrunkConfig, blocked: Iterable[BlockedCaller]) -> TrunkView:
        return cls(
            trunk=trunk,
            networks=tuple(ipaddress.ip_network(cidr, strict=False) for cidr in trunk.allowed_sources),
            numbers=frozenset(normalise(n) for n in trunk.numbers),
            blocked=tuple(blocked),
        )

    def source_allowed(self, host: str) -> bool:
        """An empty allowedSources admits nobody: a trunk is open only to the carriers it names (toll fraud)."""
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def screen(self, *, source_host: str, dialled: str, caller: str) -> Rejection | None:
        if not self.source_allowed(source_host):
            return FOREIGN_SOURCE
        if normalise(dialled) not in self.numbers:
            return UNKNOWN_NUMBER
        number = normalise(caller)
        if any(entry.matches(number) or entry.matches(caller) for entry in self.blocked):
            return BLOCKED
        return None
