"""The wallboard's web listener (``CCP_WALLBOARD_LISTEN``): a static page and a server-sent-event stream.

- ``GET /wallboard``: the page (``static/``; no CDN, works offline). The admin
  token goes in the URL fragment (``#token=...``), which browsers never send,
  so it is in no access log; the page sends it as ``Authorization: Bearer``.
- ``GET /wallboard/events``: ``text/event-stream``; one ``data:`` event with a
  ``snapshot.build_snapshot`` JSON every ``interval_s`` for the token's tenant.
  401 without or with a bad token, 403 for roles other than admin, 503 when
  etcd cannot be read to check the token; errors are JSON
  (``{"error": ..., "message": ...}``). While streaming, a failed etcd read
  sends ``event: error`` and the stream goes on; the token is checked again
  before each event (a revoked token's stream ends within the
  authenticator's cache TTL plus one interval, with ``event: error``).

Cost: a snapshot is two etcd range reads (queue configs, the hour's call
records) and the live view, which is the node's watch-fed one for tenants it
routes (``state.live``) and a third range read otherwise; it is shared by every stream of the tenant for half an
interval, so ten screens cost what one does.

Not for: the KPI definitions (``domain.kpis``) or the snapshot's shape (``snapshot``).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from importlib import resources
from typing import Any

from aiohttp import web

from ccp_acd.api.auth import Authenticator, Principal
from ccp_acd.errors import CcpError, PermissionDenied, Unauthenticated
from ccp_acd.state.intervals import IntervalViews
from ccp_acd.state.live import LiveViews
from ccp_acd.state.store import Store
from ccp_acd.wallboard.snapshot import WINDOW_S, build_snapshot

log = logging.getLogger(__name__)

# The roles that may watch the wallboard: it shows what GetTenantStats shows (api.roles: admin, supervisor).
ROLES = ("admin", "supervisor")
# Page and assets, read once at start; the only files the listener serves.
STATIC = {
    "index.html": "text/html",
    "wallboard.js": "text/javascript",
    "wallboard.css": "text/css",
}
_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'"
    ),
}
_BEARER = "bearer "


def _error(status: int, error: str, message: str) -> web.Response:
    headers = {"WWW-Authenticate": 'Bearer realm="ccp-wallboard"'} if status == 401 else {}
    return web.json_response({"error": error, "message": message}, status=status, headers=headers)


def _token(request: web.Request) -> str:
    value = request.headers.get("Authorization", "")
    if not value.lower().startswith(_BEARER) or not value[len(_BEARER) :].strip():
        raise Unauthenticated("missing 'Authorization: Bearer <token>' header")
    return value[len(_BEARER) :].strip()


def _event(data: Any, *, event: str = "") -> bytes:
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class Snapshots:
    """The last snapshot per tenant, reused while younger than ``max_age_s`` (one load at a time per tenant)."""

    def __init__(
        self, store: Store, *, intervals: IntervalViews, max_age_s: float, clock: Callable[[], float] = time.time,
        views: LiveViews | None = None,
    ):
        self._store = store
        self._intervals = intervals
        self._views = views or LiveViews(store)
        self._max_age_s = max_age_s
        self._clock = clock
        self._last: dict[str, tuple[float, dict[str, Any]]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, tenant: str) -> dict[str, Any]:
        async with self._locks.setdefault(tenant, asyncio.Lock()):
            last = self._last.get(tenant)
            if last is not None and self._clock() - last[0] < self._max_age_s:
                return last[1]
            now = self._clock()
            queues = await self._store.get_queue_configs(tenant)
            view = await self._views.read(tenant)
            window = await self._intervals.window(tenant, queues, now - WINDOW_S, now=now)
            snapshot = build_snapshot(tenant=tenant, queues=queues.values(), view=view, window=window, now=now)
            self._last[tenant] = (now, snapshot)
            return snapshot


class Wallboard:
    """The listener; ``start`` binds (port 0 picks a free one, see ``port``), ``stop`` ends every stream."""

    def __init__(
        self, store: Store, auth: Authenticator, *, intervals: IntervalViews, interval_s: float,
        clock: Callable[[], float] = time.time, views: LiveViews | None = None,
    ):
        self._auth = auth
        self._interval_s = interval_s
        self._snapshots = Snapshots(store, intervals=intervals, max_age_s=interval_s / 2, clock=clock, views=views)
        self._closing = asyncio.Event()
        package = resources.files("ccp_acd.wallboard") / "static"
        self._static = {name: (package / name).read_bytes() for name in STATIC}
        app = web.Application()
        app.router.add_get("/wallboard", self._page)
        app.router.add_get("/wallboard/static/{name}", self._asset)
        app.router.add_get("/wallboard/events", self._events)
        # Streams end on _closing, so a short grace is enough for them to say goodbye.
        self._runner = web.AppRunner(app, shutdown_timeout=1.0)
        self.port = 0

    async def start(self, listen: str) -> int:
        host, _, port = listen.rpartition(":")
        await self._runner.setup()
        try:
            await web.TCPSite(self._runner, host or "127.0.0.1", int(port)).start()
        except BaseException:
            await self._runner.cleanup()
            raise
        self.port = self._runner.addresses[0][1]
        log.info("wallboard on http://%s:%d/wallboard", host or "127.0.0.1", self.port)
        return self.port

    async def stop(self) -> None:
        self._closing.set()
        await self._runner.cleanup()

    # -- handlers -------------------------------------------------------------

    def _file(self, name: str) -> web.Response:
        return web.Response(body=self._static[name], content_type=STATIC[name], charset="utf-8", headers=_HEADERS)

    async def _page(self, request: web.Request) -> web.Response:
        return self._file("index.html")

    async def _asset(self, request: web.Request) -> web.Response:
        name = request.match_info["name"]
        if name == "index.html" or name not in STATIC:
            return _error(404, "not_found", f"no asset {name!r}")
        return self._file(name)

    async def _principal(self, token: str) -> Principal:
        principal = await self._auth.verify(token)
        if principal.role not in ROLES:
            raise PermissionDenied(f"role {principal.role!r} may not see the wallboard (needs admin or supervisor)")
        return principal

    async def _events(self, request: web.Request) -> web.StreamResponse:
        try:
            token = _token(request)
            principal = await self._principal(token)
            # The first snapshot before the headers: a screen that cannot be served gets a status, not
            # an empty stream, and the headers come with data (headless browsers stop waiting on headers).
            first = await self._snapshots.get(principal.tenant)
        except Unauthenticated as e:
            return _error(401, "unauthenticated", str(e))
        except PermissionDenied as e:
            return _error(403, "permission_denied", str(e))
        except CcpError as e:  # etcd unreachable: the client retries
            return _error(503, "unavailable", str(e))
        response = web.StreamResponse(
            headers={"Content-Type": "text/event-stream", "Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        )
        await response.prepare(request)
        try:
            await self._stream(response, token=token, tenant=principal.tenant, event=_event(first))
        except ConnectionError:
            log.debug("a wallboard of %s went away", principal.tenant)
        return response

    async def _stream(self, response: web.StreamResponse, *, token: str, tenant: str, event: bytes) -> None:
        while True:
            await response.write(event)
            try:
                async with asyncio.timeout(self._interval_s):
                    await self._closing.wait()
                return
            except TimeoutError:
                pass
            try:
                await self._principal(token)
            except Unauthenticated as e:
                await response.write(_event({"error": "unauthenticated", "message": str(e)}, event="error"))
                return
            except PermissionDenied as e:
                await response.write(_event({"error": "permission_denied", "message": str(e)}, event="error"))
                return
            except CcpError:  # cannot check the token right now: the snapshot read below reports it
                pass
            try:
                event = _event(await self._snapshots.get(tenant))
            except CcpError as e:  # etcd unavailable for a moment: say so and keep the screen's stream
                log.warning("wallboard snapshot of %s failed: %s", tenant, e)
                event = _event({"error": "unavailable", "message": str(e)}, event="error")


async def start_wallboard(
    listen: str, store: Store, auth: Authenticator, *, intervals: IntervalViews, interval_s: float,
    views: LiveViews | None = None,
) -> Wallboard | None:
    """The node's wallboard, or None when ``listen`` is empty (the default)."""
    if not listen:
        return None
    wallboard = Wallboard(store, auth, intervals=intervals, interval_s=interval_s, views=views)
    await wallboard.start(listen)
    return wallboard
