"""An asyncio TCP fault proxy for the chaos drills, in the spirit of Shopify's toxiproxy.

Put it between a client and etcd to cut a site off (``partition()``/``heal()``)
or to slow it down (``set_latency()``). Each accepted connection goes to the
first upstream that accepts a TCP connection, tried in order, so one proxy in
front of a 3-member etcd cluster lets a client with a single endpoint survive a
member's death once it reconnects (like ``etcd gateway``).

Limits: bytes are forwarded as read, with no idea of HTTP/2 or gRPC, so a
partition is a reset of every connection and the client's own backoff decides
when it comes back after ``heal()``. Latency applies per chunk read, at the
value set when the chunk arrived; there is no bandwidth, loss or slicing toxic.
An upstream is picked when a connection opens and never re-checked: a member
that accepts TCP but has no quorum is still used. There is no TCP half-close:
when either side closes, the link closes once that side's data is delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence

CHUNK_BYTES = 64 * 1024
QUEUED_CHUNKS = 64  # per direction: a slow reader back-pressures the other side
CONNECT_TIMEOUT_S = 1.0


class FaultProxy:
    def __init__(self, listen_host: str = "127.0.0.1", upstreams: Sequence[tuple[str, int]] = ()):
        if not upstreams:
            raise ValueError("FaultProxy needs at least one upstream")
        self.listen_host = listen_host
        self.upstreams = list(upstreams)
        self.latency_s = 0.0
        self.partitioned = False
        self.connections_accepted = 0
        self.bytes_up = 0  # client -> upstream
        self.bytes_down = 0  # upstream -> client
        self.last_upstream: tuple[str, int] | None = None  # where the newest connection went
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._links: set[asyncio.Task] = set()

    @property
    def address(self) -> str:
        if self._server is None:
            raise RuntimeError("FaultProxy not started")
        host, port = self._server.sockets[0].getsockname()[:2]
        return f"{host}:{port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._link, self.listen_host, 0)

    def partition(self) -> None:
        """Abort every open connection and drop new ones until ``heal()``."""
        self.partitioned = True
        for writer in list(self._writers):
            writer.transport.abort()

    def heal(self) -> None:
        self.partitioned = False

    def set_latency(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("latency must be >= 0")
        self.latency_s = seconds

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        self.partition()  # every link then ends by itself (cancelling one is logged as an error on 3.11)
        if self._links:
            _, stuck = await asyncio.wait(set(self._links), timeout=CONNECT_TIMEOUT_S + 1)
            for link in stuck:
                link.cancel()
        if self._server is not None:
            await self._server.wait_closed()

    async def _dial(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        for host, port in self.upstreams:
            try:
                opened = await asyncio.wait_for(asyncio.open_connection(host, port), CONNECT_TIMEOUT_S)
            except OSError:  # refused, unreachable or timed out: try the next one
                continue
            self.last_upstream = (host, port)
            return opened
        return None

    async def _link(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        self.connections_accepted += 1
        self._links.add(task := asyncio.current_task())
        writers = [client_w]
        self._writers.add(client_w)
        try:
            upstream = None if self.partitioned else await self._dial()
            if upstream is None:
                return
            writers.append(upstream[1])
            self._writers.add(upstream[1])
            if self.partitioned:  # partitioned while dialling
                return
            pipes = {
                asyncio.create_task(self._pipe(client_r, upstream[1], "bytes_up")),
                asyncio.create_task(self._pipe(upstream[0], client_w, "bytes_down")),
            }
            try:
                await asyncio.wait(pipes, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for pipe in pipes:
                    pipe.cancel()
                await asyncio.gather(*pipes, return_exceptions=True)
        finally:
            for writer in writers:
                self._writers.discard(writer)
                if self.partitioned:
                    writer.transport.abort()
                else:
                    writer.close()
            self._links.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, counter: str) -> None:
        """Copy ``reader`` to ``writer``; each chunk is written ``latency_s`` after it was read, in order."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes] | None] = asyncio.Queue(QUEUED_CHUNKS)

        async def send() -> None:
            while (item := await queue.get()) is not None:
                due, data = item
                if (wait := due - loop.time()) > 0:
                    await asyncio.sleep(wait)
                if writer.is_closing():  # aborted by partition(), or the other side is gone
                    return
                writer.write(data)
                await writer.drain()

        sender = asyncio.create_task(send())
        try:
            with contextlib.suppress(OSError):
                while data := await reader.read(CHUNK_BYTES):
                    setattr(self, counter, getattr(self, counter) + len(data))
                    await queue.put((loop.time() + self.latency_s, data))
            await queue.put(None)
            await sender
        finally:
            sender.cancel()
            await asyncio.gather(sender, return_exceptions=True)
