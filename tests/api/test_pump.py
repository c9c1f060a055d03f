"""``api.pump``: what a stream's queue receives from the watch feeding it (pure asyncio, no store needed)."""

from __future__ import annotations

import asyncio

import pytest
from ccp_acd.api.pump import pump
from ccp_acd.errors import StateUnavailable


async def _drain(queue: asyncio.Queue) -> list:
    return [queue.get_nowait() for _ in range(queue.qsize())]


async def test_every_item_then_the_end():
    async def items():
        for n in range(3):
            yield n

    queue: asyncio.Queue = asyncio.Queue()
    end = StateUnavailable("the watch ended")
    await pump(items(), queue, end=end)
    assert await _drain(queue) == [0, 1, 2, end]


async def test_an_error_is_handed_over_instead_of_the_end():
    broken = StateUnavailable("etcd: connection refused")

    async def items():
        yield "a"
        raise broken

    queue: asyncio.Queue = asyncio.Queue()
    await pump(items(), queue, end=StateUnavailable("the watch ended"))
    assert await _drain(queue) == ["a", broken]


async def test_a_cancelled_pump_hands_over_nothing_more_and_stops_its_watch():
    stopped = asyncio.Event()

    async def items():
        try:
            yield "a"
            await asyncio.Event().wait()  # a watch with nothing more to say
            yield "never"
        finally:
            stopped.set()

    queue: asyncio.Queue = asyncio.Queue()
    task = asyncio.create_task(pump(items(), queue, end=StateUnavailable("the watch ended")))
    while queue.empty():
        await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert stopped.is_set(), "the watch's own clean-up ran"
    assert await _drain(queue) == ["a"]
