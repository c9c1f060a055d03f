"""The agent records of the store: an agent is created, read, updated, deleted, and changes presence.

A mixin of ``state.etcd.EtcdStore`` (it uses its guarded-transaction plumbing), like ``state.voice``;
each write is one etcd transaction comparing the agent record's mod_revision:

- ``create_agent``: the record is created with ``create_revision == 0``; a second create of the same id
  loses the compare (AlreadyExists).
- ``update_agent``: the profile (name, skills, capacity, site, SIP URI) is rewritten; presence, work
  and counters are kept.
- ``delete_agent``: refused while the agent holds work (``work_of``: a connected call or a pending offer);
  the presence interval the agent leaves is logged in the same transaction. Every offer rewrites the
  agent record (``EtcdStore.commit``), so an offer made meanwhile makes the delete lose its compare.
- ``set_presence``: logging out is refused while the agent is on a call; any presence but AVAILABLE
  withdraws the agent's pending offers in the same transaction (the calls go back to their queues now
  instead of when the offer times out); the interval left is logged.

``delete_agent`` and ``set_presence`` decide on one range read of the tenant's ``live/`` (``load_live``).
Not for: validation (``api.validate``), which agent gets work (``domain.routing``) or the wrap-up a
call's end starts (``complete`` in ``state.interactions``).
"""

from __future__ import annotations

import time
from dataclasses import replace

from ccp_acd.domain.models import Agent, CallState, LiveView, Presence
from ccp_acd.errors import AlreadyExists, FailedPrecondition, NotFound
from ccp_acd.state import keys
from ccp_acd.state.codec import decode
from ccp_acd.state.store import AgentProfile


def work_of(view: LiveView, agent_id: str) -> list[str]:
    """Ids of the calls an agent holds: connected, or offered and pending."""
    held = [c.id for c in view.calls.values() if c.agent_id == agent_id and c.state is CallState.CONNECTED]
    held += [r.call_id for r in view.reservations.values() if r.agent_id == agent_id]
    return held


class AgentRecords:
    """``EtcdStore``'s agent records (module doc)."""

    async def create_agent(self, tenant: str, agent_id: str, profile: AgentProfile, *, now: float) -> Agent:
        agent = Agent(
            id=agent_id,
            display_name=profile.display_name,
            skills=dict(profile.skills),
            capacity=dict(profile.capacity),
            site=profile.site,
            presence_since=now,
            sip_uri=profile.sip_uri,
        )
        key = keys.agent(tenant, agent_id)
        ok, _ = await self._txn([self._create(key) == 0], [self._put(key, agent)])
        if not ok:
            raise AlreadyExists(f"agent {agent_id!r} already exists")
        return agent

    async def _agent_record(self, tenant: str, agent_id: str) -> tuple[Agent, int]:
        record = await self._get(keys.agent(tenant, agent_id))
        if record is None:
            raise NotFound(f"agent {agent_id!r} not found")
        return decode(Agent, record.value), record.mod_revision

    async def get_agent(self, tenant: str, agent_id: str) -> Agent:
        return (await self._agent_record(tenant, agent_id))[0]

    async def list_agents(self, tenant: str) -> list[Agent]:
        return [decode(Agent, kv.value) for kv in await self._prefix(keys.agents_prefix(tenant))]

    async def update_agent(self, tenant: str, agent_id: str, profile: AgentProfile) -> Agent:
        key = keys.agent(tenant, agent_id)

        async def attempt() -> Agent | None:
            agent, rev = await self._agent_record(tenant, agent_id)
            updated = replace(
                agent,
                display_name=profile.display_name,
                skills=dict(profile.skills),
                capacity=dict(profile.capacity),
                site=profile.site,
                sip_uri=profile.sip_uri,
            )
            ok, _ = await self._txn([self._mod(key) == rev], [self._put(key, updated)])
            return updated if ok else None

        return await self._retrying(f"update agent {agent_id}", attempt)

    async def delete_agent(self, tenant: str, agent_id: str, *, now: float | None = None) -> None:
        key = keys.agent(tenant, agent_id)
        at = time.time() if now is None else now

        async def attempt() -> bool | None:
            view = await self.load_live(tenant)
            agent = view.agents.get(agent_id)
            if agent is None:
                raise NotFound(f"agent {agent_id!r} not found")
            if work_of(view, agent_id):
                raise FailedPrecondition(f"agent {agent_id!r} holds work; complete it first")
            ok, _ = await self._txn(
                [self._mod(key) == view.versions[key]], [self._delete(key), *self._log_presence(tenant, agent, at)]
            )
            return True if ok else None

        await self._retrying(f"delete agent {agent_id}", attempt)

    async def set_presence(
        self, tenant: str, agent_id: str, presence: Presence, *, reason_code: str, now: float
    ) -> Agent:
        key = keys.agent(tenant, agent_id)

        async def attempt() -> Agent | None:
            view = await self.load_live(tenant)
            agent = view.agents.get(agent_id)
            if agent is None:
                raise NotFound(f"agent {agent_id!r} not found")
            connected = [c.id for c in view.calls.values() if c.agent_id == agent_id]
            if presence is Presence.LOGGED_OUT and connected:
                raise FailedPrecondition(
                    f"agent {agent_id!r} is handling {', '.join(connected)}; complete before logging out"
                )
            was_ready = agent.ready(now)
            updated = replace(
                agent,
                presence=presence,
                reason_code=reason_code,
                presence_since=now,
                idle_since=now if presence is Presence.AVAILABLE and not was_ready else agent.idle_since,
                wrap_up_call="",
            )
            compare = [self._mod(key) == view.versions[key]]
            success = [self._put(key, updated), *self._log_presence(tenant, agent, now)]
            if presence is not Presence.AVAILABLE:
                # A pending offer goes back to the queue now rather than timing out.
                for reservation in view.reservations.values():
                    if reservation.agent_id == agent_id:
                        res_key = keys.reservation(tenant, reservation.call_id)
                        compare.append(self._mod(res_key) == view.versions[res_key])
                        success.append(self._delete(res_key))
            ok, _ = await self._txn(compare, success)
            return updated if ok else None

        return await self._retrying(f"set presence of {agent_id}", attempt)
