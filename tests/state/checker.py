"""A Jepsen-style checker over etcd's own history of one tenant's live state.

It replays every event under ``live/`` in revision order (a watch from the
first revision) and checks the safety invariants after each complete revision:
no agent holds more work than its capacity allows, no phone agent holds two
things, and no call is ever connected to two agents or connected twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from ccp_acd.domain.models import Agent, Call, CallState, Channel, Reservation
from ccp_acd.domain.routing import capacity_channel
from ccp_acd.state import keys
from ccp_acd.state.codec import decode
from ccp_acd.state.store import WatchEvent


@dataclass
class LiveReplica:
    tenant: str
    agents: dict[str, Agent] = field(default_factory=dict)
    calls: dict[str, Call] = field(default_factory=dict)
    reservations: dict[str, Reservation] = field(default_factory=dict)
    revision: int = 0
    revisions_checked: int = 0
    violations: list[str] = field(default_factory=list)
    connected_to: dict[str, set[str]] = field(default_factory=dict)

    def feed(self, event: WatchEvent) -> None:
        if event.revision != self.revision:
            self.check()
            self.revision = event.revision
        prefix, name = event.key.rsplit("/", 1)
        table = {
            keys.agents_prefix(self.tenant).rstrip("/"): (self.agents, Agent),
            keys.calls_prefix(self.tenant).rstrip("/"): (self.calls, Call),
            keys.reservations_prefix(self.tenant).rstrip("/"): (self.reservations, Reservation),
        }[prefix]
        records, kind = table
        if event.kind == "delete":
            records.pop(name, None)
            return
        record = decode(kind, event.value)
        records[name] = record
        if kind is Call and record.state is CallState.CONNECTED:
            self.connected_to.setdefault(record.id, set()).add(record.agent_id)

    def check(self) -> None:
        if not self.revision:
            return
        self.revisions_checked += 1
        held: dict[str, Counter] = {}
        for call in self.calls.values():
            if call.state is CallState.CONNECTED:
                held.setdefault(call.agent_id, Counter())[capacity_channel(call.channel)] += 1
        for reservation in self.reservations.values():
            call = self.calls.get(reservation.call_id)
            if call is None:
                continue
            if call.state is CallState.CONNECTED:
                self.violations.append(f"rev {self.revision}: {call.id} connected and still offered")
            held.setdefault(reservation.agent_id, Counter())[capacity_channel(call.channel)] += 1
        for agent_id, counts in held.items():
            agent = self.agents.get(agent_id)
            if agent is None:
                continue
            for channel, n in counts.items():
                if n > agent.capacity.get(channel, 0):
                    self.violations.append(f"rev {self.revision}: {agent_id} holds {n} {channel}")
            if counts[Channel.VOICE] and sum(counts.values()) > 1:
                self.violations.append(f"rev {self.revision}: {agent_id} on the phone holds {dict(counts)}")
        for call_id, agents in self.connected_to.items():
            if len(agents) > 1:
                self.violations.append(f"{call_id} connected to several agents: {sorted(agents)}")
