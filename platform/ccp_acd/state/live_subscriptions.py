"""Subscriber fan-out of a tenant's live cache: offer streams and interaction watches fed from its one watch.

``LiveSubscriptions`` is the part of ``state.live.LiveCache`` that keeps the
subscribers and hands them changes; the cache calls it as it applies watch
events and installs range reads (``LiveCache.apply``, ``LiveCache.install``).

Offer subscriptions (``LiveCache.subscribe_offers``): the agent API's offer streams
of a routed tenant are fed from this one watch instead of one etcd watch per
stream. Each reservation change is handed only to the queues of the agent it
concerns (``OfferChange``: put, or delete with the record as it was), already
decoded; so an offer costs one decode, not one per connected agent. A range
read installed over the cache (a resync after a broken watch, or a fallback
read's fast-forward) hides the events in between: the subscribers are then
given the difference instead, puts for the offers that appeared or changed and
deletes for those that vanished, tagged with the read's revision. A stream
skips changes at or below the revision of the view it sent its initial offers
from and ignores an offer it already sent (``api.offers``), so nothing is lost
or sent twice. When the node stops routing the tenant, every subscriber is
handed ``StateUnavailable`` (the stream ends UNAVAILABLE and the client
reopens it).

Call subscriptions (``LiveCache.subscribe_call``): the same for one call, for
the interaction watches of ``api.watch`` (WatchInteraction): each put or
delete of the call's record or of its reservation is handed over as a
``CallChange`` carrying the decoded record (None: deleted) and its revision;
a range read installed over the cache hands over the records that differ.
Ended subscriptions get ``StateUnavailable`` like offer streams.

Not for: keeping the state or following the watch (``state.live``), or what a
stream sends its client (``api.offers``, ``api.watch``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from ccp_acd.domain.models import Call, Reservation


@dataclass(frozen=True)
class CallChange:
    """A call record (``kind`` "call") or its reservation ("offer") as of ``revision``; None: deleted."""

    kind: Literal["call", "offer"]
    record: Call | Reservation | None
    revision: int


@dataclass(frozen=True)
class OfferChange:
    """A reservation put, or deleted (``reservation`` as it was), at ``revision`` (module doc: offer subscriptions)."""

    kind: Literal["put", "delete"]
    reservation: Reservation
    revision: int


class LiveSubscriptions:
    """The subscriber side of ``LiveCache`` (module doc), mixed into it."""

    # The cache's reservations by call id (``LiveCache``): what a range read's difference is taken against.
    _reservations: dict[str, Reservation]

    def __init__(self) -> None:
        # Offer streams of this node by agent id (module doc: offer subscriptions).
        self._offer_subscribers: dict[str, set[asyncio.Queue]] = {}
        # Interaction watches of this node by call id (module doc: call subscriptions).
        self._call_subscribers: dict[str, set[asyncio.Queue]] = {}

    def subscribe_offers(self, agent_id: str) -> asyncio.Queue:
        """A queue that receives ``OfferChange``s of ``agent_id``'s reservations (or an exception: the end)."""
        return _subscribe(self._offer_subscribers, agent_id)

    def unsubscribe_offers(self, agent_id: str, queue: asyncio.Queue) -> None:
        _unsubscribe(self._offer_subscribers, agent_id, queue)

    def subscribe_call(self, call_id: str) -> asyncio.Queue:
        """A queue that receives ``CallChange``s of ``call_id`` (or an exception: the end)."""
        return _subscribe(self._call_subscribers, call_id)

    def unsubscribe_call(self, call_id: str, queue: asyncio.Queue) -> None:
        _unsubscribe(self._call_subscribers, call_id, queue)

    def call_subscribers(self) -> int:
        return sum(len(queues) for queues in self._call_subscribers.values())

    def _call_changed(self, kind: Literal["call", "offer"], call_id: str, record, revision: int) -> None:
        for queue in self._call_subscribers.get(call_id, ()):
            queue.put_nowait(CallChange(kind, record, revision))

    def offer_subscribers(self) -> int:
        return sum(len(queues) for queues in self._offer_subscribers.values())

    def end_subscriptions(self, error: BaseException) -> None:
        """Hand ``error`` to every subscriber (the node stops routing the tenant)."""
        for subscribers in (self._offer_subscribers, self._call_subscribers):
            for queues in subscribers.values():
                for queue in queues:
                    queue.put_nowait(error)
            subscribers.clear()

    def _offer_changed(self, kind: Literal["put", "delete"], reservation: Reservation, revision: int) -> None:
        for queue in self._offer_subscribers.get(reservation.agent_id, ()):
            queue.put_nowait(OfferChange(kind, reservation, revision))

    def _offers_replaced(self, before: Mapping[str, Reservation], revision: int) -> None:
        """Subscribers' share of a range read installed over ``before`` (module doc)."""
        after = self._reservations
        for call_id, old in before.items():
            new = after.get(call_id)
            if new is None or new.agent_id != old.agent_id:
                self._offer_changed("delete", old, revision)
        for call_id, new in after.items():
            if before.get(call_id) != new:
                self._offer_changed("put", new, revision)


def _subscribe(subscribers: dict[str, set[asyncio.Queue]], key: str) -> asyncio.Queue:
    queue: asyncio.Queue = asyncio.Queue()
    subscribers.setdefault(key, set()).add(queue)
    return queue


def _unsubscribe(subscribers: dict[str, set[asyncio.Queue]], key: str, queue: asyncio.Queue) -> None:
    """Drop ``queue``; a key left without subscribers is removed (nothing is handed to it any more)."""
    queues = subscribers.get(key)
    if queues is not None:
        queues.discard(queue)
        if not queues:
            del subscribers[key]
