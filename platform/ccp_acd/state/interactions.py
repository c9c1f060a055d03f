"""The interaction transitions of the store: a call is queued, answered or declined, ends, or moves while waiting.

A mixin of ``state.etcd.EtcdStore`` (it uses its guarded-transaction plumbing), like ``state.voice``;
each transition is one etcd transaction (why each guarantee holds: ``state.etcd``):

- ``enqueue``: the call record is created with ``create_revision == 0`` and, with a request id, the
  request key that makes a retry return the call made the first time (``(call, False)``), all at once.
  ``enqueue_offered``: the same with the router's offer of the call in the same transaction (offer on
  arrival, ``routing.Router.enqueue``).
- ``get_call``: the live record, else the final one (``history/``).
- ``cancel``: a queued call ends ABANDONED: live record and any offer deleted, final record filed.
  Cancelling an ended call returns it; a connected one is the agent's to complete (FailedPrecondition).
- ``accept``: compares the offer (reservation) and the call record and deletes the offer while
  connecting the call, so a call is answered once. ``reject``: the offer is withdrawn and the agent
  added to ``declined_by``; the call stays queued.
- ``complete``: the agent's Complete or a party's Hangup: the call is filed and the agent's handled
  count and talk time grow; an agent holding no other work gets the queue's wrap-up.
- ``hand_over`` and ``move_queued``: a waiting call is adopted into another site or moved to another
  queue, keeping its place in line; refused while an offer of it is pending.

``accept`` and ``complete`` may decide on the node's live view (``view=``) instead of reading etcd:
the transaction compares the revisions the view saw, so a view that is behind costs a lost compare and
a retry on a fresh read, never a wrong commit.

Not for: routing decisions or offers (``domain.routing``, committed by ``EtcdStore.commit``), validation
(``api.validate``), the voice transitions (``state.voice``) or Requeue (``state.requeue``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace

from ccp_acd.domain import timeline
from ccp_acd.domain.models import (
    Action,
    ActionKind,
    Agent,
    Call,
    CallState,
    LiveView,
    Presence,
    QueueConfig,
    RerouteDecision,
    Reservation,
)
from ccp_acd.domain.routing import apply_reroute
from ccp_acd.errors import AlreadyExists, FailedPrecondition, NotFound
from ccp_acd.state import keys
from ccp_acd.state.agents import work_of
from ccp_acd.state.codec import decode
from ccp_acd.state.store import ArrivalOffer


class InteractionTransitions:
    """``EtcdStore``'s interaction transitions (module doc)."""

    async def enqueue(self, tenant: str, call: Call) -> tuple[Call, bool]:
        result = await self._create_call(tenant, call)
        if result is None:
            raise AlreadyExists(f"interaction {call.id!r} already exists")
        return result

    async def enqueue_offered(self, tenant: str, call: Call, offer: ArrivalOffer) -> tuple[Call, bool] | None:
        """``enqueue`` with ``offer`` in the same transaction: the call is created already offered.

        None when nothing was written because the offer's view was stale (its agent or the fence
        changed): the caller enqueues plainly and leaves the call to the router.
        """
        compare, success, offered = self.offer_ops(
            tenant, offer.view, offer.decision, call, node_id=offer.node_id, now=offer.now,
            lease_id=offer.lease_id, fence=offer.fence,
        )
        return await self._create_call(tenant, offered, compare=compare, writes=success)

    async def _create_call(
        self, tenant: str, call: Call, *, compare: Sequence = (), writes: Sequence | None = None
    ) -> tuple[Call, bool] | None:
        """Create ``call`` and its request key in one transaction, with more ``compare``s; ``writes``
        replace the call's own put (they write the call themselves).

        (call, True) when created; (the call of the same request, False) for a request id seen
        before; None when another compare failed.
        """
        call_key = keys.call(tenant, call.id)
        compare = [self._create(call_key) == 0, *compare]
        success = [self._put(call_key, call)] if writes is None else [*writes]
        failure = []
        if call.request_id:
            request_key = keys.request(tenant, call.request_id)
            compare.append(self._create(request_key) == 0)
            success.append(self.client.transactions.put(request_key.encode(), call.id.encode()))
            failure.append(self.client.transactions.get(request_key.encode()))
        ok, responses = await self._txn(compare, success, failure)
        if ok:
            return call, True
        if call.request_id and responses and responses[0]:
            existing_id = responses[0][0][0].decode()
            return await self.get_call(tenant, existing_id), False
        return None

    async def _call_record(self, tenant: str, call_id: str) -> tuple[Call, int] | None:
        record = await self._get(keys.call(tenant, call_id))
        return None if record is None else (decode(Call, record.value), record.mod_revision)

    async def get_call(self, tenant: str, call_id: str) -> Call:
        live = await self._call_record(tenant, call_id)
        if live is not None:
            return live[0]
        record = await self._get(keys.history(tenant, call_id))
        if record is None:
            raise NotFound(f"interaction {call_id!r} not found")
        return decode(Call, record.value)

    async def cancel(self, tenant: str, call_id: str, *, reason: str, now: float) -> Call:
        call_key = keys.call(tenant, call_id)
        res_key = keys.reservation(tenant, call_id)

        async def attempt() -> Call | None:
            live = await self._call_record(tenant, call_id)
            if live is None:
                return await self.get_call(tenant, call_id)  # already ended: cancelling again is a no-op
            call, rev = live
            if call.state is not CallState.QUEUED:
                raise FailedPrecondition(
                    f"interaction {call_id!r} is {call.state} with agent {call.agent_id!r}; the agent completes it"
                )
            ended = replace(call, state=CallState.ABANDONED, ended_at=now, reason=reason or "abandoned")
            # No detail: the reason is the client's free text (the record keeps it); a timeline never risks a number.
            ended = timeline.note(ended, timeline.Kind.ABANDONED, now)
            ok, _ = await self._txn(
                [self._mod(call_key) == rev],
                [self._delete(call_key), self._delete(res_key), *self._file(tenant, ended)],
            )
            return ended if ok else None

        return await self._retrying(f"cancel {call_id}", attempt)

    async def _offer_of(
        self, tenant: str, agent_id: str, call_id: str, view: LiveView | None = None
    ) -> tuple[Reservation, int, Call, int]:
        """The pending offer of ``call_id`` to ``agent_id`` and the call, with their mod_revisions.

        From ``view`` (the node's live view) when it shows that offer: no etcd read; the transaction
        compares both revisions, so a view that is behind costs a lost compare, never a wrong answer.
        Else (and for errors) from etcd.
        """
        if view is not None:
            res_key, call_key = keys.reservation(tenant, call_id), keys.call(tenant, call_id)
            reservation, call = view.reservations.get(call_id), view.calls.get(call_id)
            if (
                reservation is not None and call is not None and reservation.agent_id == agent_id
                and res_key in view.versions and call_key in view.versions
            ):
                return reservation, view.versions[res_key], call, view.versions[call_key]
        res = await self._get(keys.reservation(tenant, call_id))
        live = await self._call_record(tenant, call_id)
        if res is None or live is None:
            raise FailedPrecondition(f"no offer of interaction {call_id!r} is pending (it expired or was withdrawn)")
        reservation = decode(Reservation, res.value)
        if reservation.agent_id != agent_id:
            raise FailedPrecondition(f"interaction {call_id!r} is not offered to agent {agent_id!r}")
        return reservation, res.mod_revision, live[0], live[1]

    async def accept(
        self, tenant: str, agent_id: str, call_id: str, *, now: float, view: LiveView | None = None
    ) -> Call:
        """Connect the call offered to the agent. ``view``: the node's live view of the tenant, read by the
        first attempt instead of etcd (``_offer_of``); an attempt after a lost compare reads etcd."""
        call_key = keys.call(tenant, call_id)
        res_key = keys.reservation(tenant, call_id)
        first = [view]

        async def attempt() -> Call | None:
            _, res_rev, call, call_rev = await self._offer_of(tenant, agent_id, call_id, first.pop() if first else None)
            connected = replace(call, state=CallState.CONNECTED, agent_id=agent_id, answered_at=now)
            connected = timeline.note(connected, timeline.Kind.ACCEPTED, now, agent_id=agent_id)
            ok, _ = await self._txn(
                [self._mod(res_key) == res_rev, self._mod(call_key) == call_rev],
                [self._put(call_key, connected), self._delete(res_key)],
            )
            return connected if ok else None

        return await self._retrying(f"accept {call_id}", attempt)

    async def reject(self, tenant: str, agent_id: str, call_id: str, *, reason: str, now: float) -> Agent:
        call_key = keys.call(tenant, call_id)
        res_key = keys.reservation(tenant, call_id)

        async def attempt() -> Agent | None:
            _, res_rev, call, call_rev = await self._offer_of(tenant, agent_id, call_id)
            declined = replace(call, declined_by=(*call.declined_by, agent_id))
            declined = timeline.note(declined, timeline.Kind.REJECTED, now, agent_id=agent_id)  # reason: free text
            ok, _ = await self._txn(
                [self._mod(res_key) == res_rev, self._mod(call_key) == call_rev],
                [self._put(call_key, declined), self._delete(res_key)],
            )
            return True if ok else None

        await self._retrying(f"reject {call_id}", attempt)
        return await self.get_agent(tenant, agent_id)

    async def complete(
        self, tenant: str, agent_id: str, call_id: str, *, disposition: str, wrap_up_s: float | None, now: float,
        hung_up: str = "", recording_id: str = "",
        view: LiveView | None = None,
        queues: Callable[[str], Awaitable[Mapping[str, QueueConfig]]] | None = None,
    ) -> Agent:
        """The talk ends: the agent's Complete, or (``hung_up``: the reason) a party hanging up (Hangup), which may
        attach the conversation's ``recording_id``.

        ``view``: the node's live view of the tenant, which the first attempt decides on when it shows the
        call connected to the agent (no range read of the tenant's live/ prefix, whose size grows with the
        waiting calls); otherwise, and after a lost compare, a fresh ``load_live``. The transaction compares
        the call and agent records as the view saw them, so a view that is behind costs a retry, never a
        wrong commit. ``queues``: where the queue's wrap-up comes from (the node's config cache), else etcd.
        """
        call_key = keys.call(tenant, call_id)
        agent_key = keys.agent(tenant, agent_id)
        first = [view]

        def usable(seen: LiveView | None) -> bool:
            call = seen.calls.get(call_id) if seen is not None else None
            return (
                call is not None and call.state is CallState.CONNECTED and call.agent_id == agent_id
                and agent_id in seen.agents and call_key in seen.versions and agent_key in seen.versions
            )

        async def attempt() -> Agent | None:
            cached = first.pop() if first else None
            view = cached if usable(cached) else await self.load_live(tenant)
            call = view.calls.get(call_id)
            if call is None or call.state is not CallState.CONNECTED or call.agent_id != agent_id:
                raise FailedPrecondition(f"interaction {call_id!r} is not connected to agent {agent_id!r}")
            agent = view.agents.get(agent_id)
            if agent is None:
                raise NotFound(f"agent {agent_id!r} not found")
            if wrap_up_s is None:
                configs = await queues(tenant) if queues is not None else await self.get_queue_configs(tenant)
                queue = configs.get(call.queue)
                wrap = queue.wrap_up_s if queue else 0.0
            else:
                wrap = wrap_up_s
            ended = replace(call, state=CallState.COMPLETED, ended_at=now, disposition=disposition,
                            recording_id=recording_id or call.recording_id)
            if hung_up:
                ended = timeline.note(replace(ended, reason=hung_up), timeline.Kind.HUNG_UP, now, detail=hung_up,
                                      agent_id=agent_id)
            else:
                ended = timeline.note(ended, timeline.Kind.COMPLETED, now, detail=disposition, agent_id=agent_id)
            still_busy = any(w != call_id for w in work_of(view, agent_id))
            updated = replace(
                agent,
                calls_handled=agent.calls_handled + 1,
                talk_time_s=agent.talk_time_s + (now - (call.answered_at or now)),
            )
            logged = []
            if not still_busy:
                updated = replace(updated, idle_since=now + wrap)
                # ready: available, or in a wrap-up that has run out (then the agent has been
                # available since, and this call gets its own wrap-up).
                if wrap > 0 and agent.ready(now):
                    updated = replace(
                        updated, presence=Presence.WRAP_UP, presence_since=now, wrap_up_until=now + wrap,
                        wrap_up_call=call_id,
                    )
                    logged = self._log_presence(tenant, agent, now)
            ok, _ = await self._txn(
                [self._mod(call_key) == view.versions[call_key], self._mod(agent_key) == view.versions[agent_key]],
                [self._delete(call_key), *self._file(tenant, ended), self._put(agent_key, updated), *logged],
            )
            return updated if ok else None

        return await self._retrying(f"complete {call_id}", attempt)

    async def hand_over(self, tenant: str, call_id: str, *, to_site: str, now: float) -> Call:
        """Adopt a queued call into ``to_site``; it keeps its arrival time and place in line."""

        def adopt(call: Call) -> Call:
            if call.site == to_site:
                return call
            moved = replace(
                call,
                site=to_site,
                visited_sites=(*call.visited_sites, call.site),
                reason=f"handed over from {call.site} to {to_site}",
            )
            return timeline.note(moved, timeline.Kind.SITE_MOVED, now, detail=moved.reason)

        return await self._move_waiting(tenant, call_id, "hand over", adopt)

    async def move_queued(self, tenant: str, call_id: str, *, to_queue: str, reason: str, now: float) -> Call:
        """Move a waiting call to another queue (a queue being drained); it keeps its place in line."""
        decision = RerouteDecision(call_id, Action(ActionKind.QUEUE, to_queue), reason)
        return await self._move_waiting(tenant, call_id, "move", lambda call: apply_reroute(call, decision, now=now))

    async def _move_waiting(self, tenant: str, call_id: str, what: str, change: Callable[[Call], Call]) -> Call:
        """One guarded rewrite of a waiting call. NotFound if it is not live; FailedPrecondition if it
        is not queued or an offer of it is pending (the offer is answered or expires first, so an agent
        never holds a call that moved under them)."""
        call_key = keys.call(tenant, call_id)
        res_key = keys.reservation(tenant, call_id)

        async def attempt() -> Call | None:
            live = await self._call_record(tenant, call_id)
            if live is None:
                raise NotFound(f"interaction {call_id!r} is not live")
            call, rev = live
            if call.state is not CallState.QUEUED:
                raise FailedPrecondition(f"interaction {call_id!r} is {call.state}, only queued calls move")
            if await self._get(res_key) is not None:
                raise FailedPrecondition(f"interaction {call_id!r} has an offer pending")
            moved = change(call)
            if moved == call:
                return call
            ok, _ = await self._txn([self._mod(call_key) == rev, self._create(res_key) == 0], [self._put(call_key, moved)])
            return moved if ok else None

        return await self._retrying(f"{what} {call_id}", attempt)
