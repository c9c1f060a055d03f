"""A streaming RPC's background feed: a store watch pumped into the queue the stream reads.

The stream (StreamOffers for tenants this node does not route, WatchInteraction) awaits its queue; a task runs
``pump``, which puts each item there, then an ``end`` exception when the watch stops without an error, or the
error itself. The stream raises what it reads, and ``api.status.grpc_errors`` maps it to a status (a watch that
ended or broke: UNAVAILABLE, and the client reopens the stream).

Not for: what the items are or how the stream filters them (``api.offers``, ``api.watch``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any


async def pump(items: AsyncIterator[Any], queue: asyncio.Queue, *, end: BaseException) -> None:
    """Put every item of ``items`` into ``queue``; then ``end`` when they stop, or the error that stopped them."""
    try:
        async for item in items:
            queue.put_nowait(item)
        queue.put_nowait(end)
    except asyncio.CancelledError:
        raise
    except Exception as e:  # noqa: BLE001 - handed to the stream, which maps it to a status
        queue.put_nowait(e)
