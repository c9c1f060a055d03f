"""Requeue: a connected interaction goes back to its queue, the same call, in its old place.

A mixin of ``state.etcd.EtcdStore`` (it uses its guarded-transaction plumbing), like ``state.voice``.
What a channel gateway asks for when the agent accepted on the desktop but the agent's leg never came up
(the SIP adapter: the agent's phone was busy, refused or never answered). In one etcd transaction, comparing
the call record's and the agent record's mod_revisions:

- the call is QUEUED again in its queue with the same id; ``enqueued_at``, ``arrived_at`` and
  ``queued_since`` are kept, so it keeps its place by age (the router serves by priority with aging from
  ``enqueued_at``, then arrival) and its skill rings and max wait go on counting; ``agent_id`` and
  ``answered_at`` are cleared, so the record never shows the failed attempt as an answer: when the call
  ends, it is answered (or not) once, by whoever really talked;
- the agent is released from it (work is derived from the live calls: no counter to undo) and put on break
  with reason ``no-answer`` (``REASON_NO_ANSWER``, as the router's redirect on no answer does), so the next
  dispatch does not give the call straight back to a phone that does not answer; never on wrap-up, and the
  agent's handled count and talk time are untouched (no talk happened). An agent already on break or
  logged out keeps that presence and reason. The presence interval the agent leaves is logged;
- the timeline gets a ``requeued`` event (detail: the reason, a reason code, never free text);
- the request id, when given, is added to ``Call.requeue_requests``: a retry with the same id finds it
  on the record (live or ended) and is answered with the call as it is now, whatever happened since.

Refused: an unknown interaction (NotFound); any state but CONNECTED, e.g. a queued or ended one, unless it
is a retry (FailedPrecondition). Not for: validation (``api.validate_voice``).
"""

from __future__ import annotations

from dataclasses import replace

from ccp_acd.domain import timeline
from ccp_acd.domain.models import REASON_NO_ANSWER, Agent, Call, CallState, Presence
from ccp_acd.errors import FailedPrecondition
from ccp_acd.state import keys
from ccp_acd.state.codec import decode

# Requeue request ids a record keeps (the latest): retries come within seconds of the first request.
MAX_REQUEUE_REQUESTS = 32


def requeued(call: Call, *, reason: str, request_id: str, now: float) -> Call:
    """``call`` back in its queue (module doc)."""
    requests = (*call.requeue_requests, request_id)[-MAX_REQUEUE_REQUESTS:] if request_id else call.requeue_requests
    back = replace(
        call, state=CallState.QUEUED, agent_id="", answered_at=None, reason=reason, requeue_requests=requests,
    )
    return timeline.note(back, timeline.Kind.REQUEUED, now, detail=reason, agent_id=call.agent_id)


def released(agent: Agent, *, now: float) -> Agent:
    """The agent whose leg failed: on a no-answer break, unless already on break or logged out."""
    if agent.presence in (Presence.BREAK, Presence.LOGGED_OUT):
        return agent
    return replace(agent, presence=Presence.BREAK, reason_code=REASON_NO_ANSWER, presence_since=now, wrap_up_call="")


class RequeueTransitions:
    """``EtcdStore``'s Requeue (module doc)."""

    async def requeue(self, tenant: str, call_id: str, *, reason: str, request_id: str, now: float) -> Call:
        call_key = keys.call(tenant, call_id)

        async def attempt() -> Call | None:
            live = await self._call_record(tenant, call_id)
            if live is None:
                ended = await self.get_call(tenant, call_id)  # NotFound if it never existed
                if request_id and request_id in ended.requeue_requests:
                    return ended
                raise FailedPrecondition(f"interaction {call_id!r} ended {ended.state}; it cannot be requeued")
            call, rev = live
            if request_id and request_id in call.requeue_requests:
                return call  # a retry: answered with the call as it is now
            if call.state is not CallState.CONNECTED:
                raise FailedPrecondition(
                    f"interaction {call_id!r} is {call.state}; only a connected interaction is requeued"
                )
            back = requeued(call, reason=reason, request_id=request_id, now=now)
            compare, success = [self._mod(call_key) == rev], [self._put(call_key, back)]
            agent_key = keys.agent(tenant, call.agent_id)
            record = await self._get(agent_key) if call.agent_id else None
            if record is not None:  # an agent deleted meanwhile (it cannot be, holding work) leaves no record
                agent = decode(Agent, record.value)
                after = released(agent, now=now)
                compare.append(self._mod(agent_key) == record.mod_revision)
                if after != agent:
                    success += [self._put(agent_key, after), *self._log_presence(tenant, agent, now)]
            ok, _ = await self._txn(compare, success)
            return back if ok else None

        return await self._retrying(f"requeue {call_id}", attempt)
