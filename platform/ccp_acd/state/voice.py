"""The voice transitions of the store: a caller leaves a voicemail, or asks to be called back.

A mixin of ``state.etcd.EtcdStore`` (it uses its guarded-transaction plumbing);
each transition is one etcd transaction, like every other (``state.etcd``):

- ``leave_voicemail``: the voice call ends VOICEMAIL (live record deleted,
  final record filed with the recording id) and its CHANNEL_VOICEMAIL work item
  is created, with the request key that makes a retry return the same item,
  all at once: there is no moment where the caller's message exists without a
  queued item or the other way round. A call the queue policy already routed to
  voicemail (ended VOICEMAIL, no recording yet) takes the recording on its
  final record in the same way. The item keeps the call's arrival time
  (``enqueued_at``), so it is served in the call's place and not penalised for
  the time the caller spent recording.
- ``request_callback``: a queued voice call becomes CHANNEL_CALLBACK, keeping
  ``enqueued_at`` and ``queued_since`` (its place and its skill rings); an offer
  pending for it is withdrawn (the agent was rung for a caller who is now
  hanging up; the callback is offered again at the next dispatch). The number to
  call is put in the caller data under ``CALLBACK_NUMBER`` when it differs from
  the caller's address: it is what the agent's desktop and the SIP gateway
  read. It is never logged.

Not for: validation (``api.validate``) or building the work item's fields the
API decides (``api.interactions``).
"""

from __future__ import annotations

from dataclasses import replace

from ccp_acd.domain import timeline
from ccp_acd.domain.models import Call, CallState, Channel
from ccp_acd.errors import FailedPrecondition, NotFound
from ccp_acd.state import keys
from ccp_acd.state.codec import decode

# Caller-data key of the number a callback goes to (RequestCallback's ``number``).
CALLBACK_NUMBER = "callback_number"


def _voice_only(call: Call) -> None:
    if call.channel is not Channel.VOICE:
        raise FailedPrecondition(f"interaction {call.id!r} is a {call.channel} item; only a voice call can do this")


def voicemail_item(call: Call, item: Call, *, request_id: str, now: float) -> Call:
    """The queued CHANNEL_VOICEMAIL item of ``call``: ``item``'s id and recording, the call's place and caller."""
    queued = replace(
        item,
        queue=call.queue,
        channel=Channel.VOICEMAIL,
        priority=call.priority,
        caller=call.caller,
        site=call.site,
        state=CallState.QUEUED,
        enqueued_at=call.enqueued_at,
        queued_since=now,
        route_history=call.route_history,
        request_id=request_id,
        trunk=call.trunk,
        arrived_at=call.arrived_at,
        trace_parent=call.trace_parent,
        reason=f"voicemail left in {call.id}",
        timeline=(),
    )
    return timeline.note(queued, timeline.Kind.QUEUED, now, detail=f"voicemail from {call.id} in {call.queue}")


class VoiceTransitions:
    """``EtcdStore``'s voice transitions (module doc)."""

    async def leave_voicemail(self, tenant: str, call_id: str, *, item: Call, request_id: str, now: float) -> Call:
        request_key = keys.request(tenant, request_id)
        call_key, history_key = keys.call(tenant, call_id), keys.history(tenant, call_id)
        item_key = keys.call(tenant, item.id)

        async def attempt() -> Call | None:
            seen = await self._get(request_key)
            if seen is not None:
                return await self.get_call(tenant, seen.value.decode())  # a retry: the item made the first time
            live = await self._call_record(tenant, call_id)
            if live is not None:
                call, rev = live
                _voice_only(call)
                if call.state is not CallState.QUEUED:
                    raise FailedPrecondition(
                        f"interaction {call_id!r} is {call.state} with agent {call.agent_id!r}; "
                        "only a waiting caller leaves a voicemail"
                    )
                guard, ended_ops = self._mod(call_key) == rev, [self._delete(call_key)]
                ended_ops.append(self._delete(keys.reservation(tenant, call_id)))  # a pending offer is withdrawn
                ended = replace(call, state=CallState.VOICEMAIL, ended_at=now, reason="the caller left a voicemail")
            else:
                record = await self._get(history_key)
                if record is None:
                    raise NotFound(f"interaction {call_id!r} not found")
                call = decode(Call, record.value)
                _voice_only(call)
                if call.state is not CallState.VOICEMAIL:
                    raise FailedPrecondition(f"interaction {call_id!r} ended {call.state}; it takes no voicemail")
                if call.recording_id:
                    raise FailedPrecondition(f"interaction {call_id!r} already has its voicemail")
                guard, ended_ops, ended = self._mod(history_key) == record.mod_revision, [], call
            queued = voicemail_item(call, item, request_id=request_id, now=now)
            ended = timeline.note(
                replace(ended, recording_id=item.recording_id), timeline.Kind.VOICEMAIL, now,
                detail=f"voicemail left: work item {item.id}",
            )
            ok, _ = await self._txn(
                [guard, self._create(request_key) == 0, self._create(item_key) == 0],
                [
                    *ended_ops,
                    *(self._file(tenant, ended) if live is not None else [self._put(history_key, ended)]),
                    self._put(item_key, queued),
                    self.client.transactions.put(request_key.encode(), item.id.encode()),
                ],
            )
            return queued if ok else None

        return await self._retrying(f"leave voicemail {call_id}", attempt)

    async def request_callback(self, tenant: str, call_id: str, *, number: str, now: float) -> Call:
        call_key = keys.call(tenant, call_id)

        async def attempt() -> Call | None:
            live = await self._call_record(tenant, call_id)
            if live is None:
                ended = await self.get_call(tenant, call_id)  # NotFound if it never existed
                raise FailedPrecondition(f"interaction {call_id!r} ended {ended.state}; it cannot be called back")
            call, rev = live
            if call.channel is Channel.CALLBACK:
                return call  # asked before (or by queue policy): it keeps its place
            _voice_only(call)
            if call.state is not CallState.QUEUED:
                raise FailedPrecondition(
                    f"interaction {call_id!r} is {call.state} with agent {call.agent_id!r}; only a waiting caller "
                    "asks for a callback"
                )
            caller = call.caller
            if number and number != caller.address:
                caller = replace(caller, data={**caller.data, CALLBACK_NUMBER: number})
            callback = replace(call, channel=Channel.CALLBACK, caller=caller, reason="the caller asked for a callback")
            callback = timeline.note(callback, timeline.Kind.CALLBACK_REQUESTED, now, detail=callback.reason)
            ok, _ = await self._txn(
                [self._mod(call_key) == rev],
                [self._put(call_key, callback), self._delete(keys.reservation(tenant, call_id))],
            )
            return callback if ok else None

        return await self._retrying(f"request callback {call_id}", attempt)
