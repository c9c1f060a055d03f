"""The node's wallboard listener: the page, the event stream's figures, and who may read it."""

from __future__ import annotations

import asyncio
import json
import socket

import aiohttp
import pytest
from ccp_acd.api.auth import Authenticator, issue_token
from ccp_acd.domain.models import QueueConfig
from ccp_acd.state.intervals import IntervalViews
from ccp_acd.state.store import Credential
from ccp_acd.wallboard.web import start_wallboard

from tests.helpers import scaled
from tests.wallboard.conftest import make_tenant

pytestmark = [pytest.mark.etcd]


async def read_event(response: aiohttp.ClientResponse) -> tuple[str, dict]:
    """The next server-sent event: (type, parsed JSON data)."""
    kind, data = "message", []
    async with asyncio.timeout(scaled(10)):
        while True:
            line = (await response.content.readline()).decode()
            if not line:
                raise EOFError("the stream ended")
            line = line.rstrip("\r\n")
            if not line:
                if data:
                    return kind, json.loads("\n".join(data))
                continue
            field, _, value = line.partition(":")
            if field == "data":
                data.append(value.removeprefix(" "))
            elif field == "event":
                kind = value.strip()


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


# The board's live figures (conftest): what a snapshot shows once the node's watch-fed view has applied its writes.
BOARD_WAITING = {"sales": 2, "support": 1}
BOARD_AGENTS = {"logged_in": 1, "available": 0, "busy": 0, "wrap_up": 0, "on_break": 1}


def _live_figures(snapshot: dict) -> tuple[dict, dict]:
    return {q["name"]: q["waiting"] for q in snapshot["queues"]}, snapshot["totals"]["agents"]


async def read_caught_up_event(response: aiohttp.ClientResponse, *, timeout_s: float = 20) -> tuple[str, dict]:
    """The first event whose snapshot shows the board's waiting calls and agents (or the first non-message event).

    The node's live view is fed by an etcd watch and may not have applied the board's last writes when the
    stream opens (a loaded CI machine once sent a first event with 0 waiting): events come every
    ``INTERVAL_S``, so read them until the view has caught up, within a bound; a view that never shows the
    figures fails here, with the last ones seen.
    """
    last = None
    try:
        async with asyncio.timeout(scaled(timeout_s)):
            while True:
                kind, snapshot = await read_event(response)
                if kind != "message" or _live_figures(snapshot) == (BOARD_WAITING, BOARD_AGENTS):
                    return kind, snapshot
                last = _live_figures(snapshot)
    except TimeoutError:
        raise AssertionError(
            f"no event showed {(BOARD_WAITING, BOARD_AGENTS)} within {scaled(timeout_s):g} s; last: {last}"
        ) from None


async def test_the_event_stream_reports_the_tenants_queues(base_url, board):
    async with aiohttp.ClientSession() as http, http.get(f"{base_url}/wallboard/events", headers=auth(board.admin)) as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/event-stream")
        kind, snapshot = await read_caught_up_event(r)
        # a second event comes on its own: the stream is live, not one answer
        kind_2, _ = await read_event(r)
    assert (kind, kind_2) == ("message", "message")
    assert snapshot["tenant"] == board.tenant
    sales, support = snapshot["queues"]
    assert (sales["name"], sales["waiting"], sales["offered"], sales["answered"]) == ("sales", 2, 1, 1)
    assert (sales["service_level"], sales["sl_status"]) == (0.0, "missed")
    assert 30 <= sales["longest_wait_s"] < 30 + scaled(60)
    assert (support["name"], support["waiting"], support["service_level"], support["sl_status"]) == (
        "support", 1, 1.0, "met")
    assert snapshot["totals"]["waiting"] == 3
    assert snapshot["totals"]["agents"] == {"logged_in": 1, "available": 0, "busy": 0, "wrap_up": 0, "on_break": 1}
    assert sum(p["offered"] for p in sales["series"]) == 1 and sales["series"][-1]["start"] <= snapshot["generated_at"]


async def test_another_tenants_admin_sees_only_its_own_queues(base_url, board, store):
    other = await make_tenant(store, QueueConfig(name="billing"))
    token = await issue_token(store, tenant=other, role="admin")
    async with aiohttp.ClientSession() as http, http.get(f"{base_url}/wallboard/events", headers=auth(token)) as r:
        _, snapshot = await read_event(r)
    assert snapshot["tenant"] == other
    assert [q["name"] for q in snapshot["queues"]] == ["billing"]
    assert snapshot["totals"]["waiting"] == 0


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Basic dXNlcjpwdw=="}, {"Authorization": "Bearer not-a-token"}],
    ids=["no-token", "not-bearer", "bad-token"],
)
async def test_without_a_valid_token_the_stream_is_refused_with_401(base_url, board, headers):
    async with aiohttp.ClientSession() as http, http.get(f"{base_url}/wallboard/events", headers=headers) as r:
        assert r.status == 401
        assert r.headers["WWW-Authenticate"].startswith("Bearer")
        body = await r.json()
    assert body["error"] == "unauthenticated" and body["message"]


async def test_a_forged_secret_is_refused_with_401(base_url, board):
    forged = board.admin[:-4] + ("AAAA" if not board.admin.endswith("AAAA") else "BBBB")
    async with aiohttp.ClientSession() as http, http.get(f"{base_url}/wallboard/events", headers=auth(forged)) as r:
        assert r.status == 401


async def test_an_agent_token_is_refused_with_403(base_url, board):
    async with aiohttp.ClientSession() as http, http.get(f"{base_url}/wallboard/events", headers=auth(board.agent)) as r:
        assert r.status == 403
        body = await r.json()
    assert body["error"] == "permission_denied" and "admin" in body["message"]


async def test_the_page_and_its_assets_are_served_without_a_token_and_nothing_else_is(base_url):
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{base_url}/wallboard") as page:
            assert page.status == 200 and page.content_type == "text/html"
            assert "script-src 'self'" in page.headers["Content-Security-Policy"]
            html = await page.text()
        for asset, kind in (("wallboard.js", "text/javascript"), ("wallboard.css", "text/css")):
            assert f"wallboard/static/{asset}" in html
            async with http.get(f"{base_url}/wallboard/static/{asset}") as r:
                assert (r.status, r.content_type) == (200, kind)
        for missing in ("/wallboard/static/index.html", "/wallboard/static/secrets.txt", "/metrics"):
            async with http.get(f"{base_url}{missing}") as r:
                assert r.status == 404, missing


async def test_stopping_the_node_ends_open_streams(node, base_url, board):
    async with aiohttp.ClientSession() as http, http.get(f"{base_url}/wallboard/events", headers=auth(board.admin)) as r:
        await read_event(r)
        await node.wallboard.stop()
        with pytest.raises((EOFError, aiohttp.ClientPayloadError)):
            while True:
                await read_event(r)


async def test_a_revoked_token_ends_its_open_stream_with_an_error_event(base_url, board, store):
    async with aiohttp.ClientSession() as http, http.get(f"{base_url}/wallboard/events", headers=auth(board.admin)) as r:
        assert (await read_event(r))[0] == "message"
        tenant, key_id, _ = board.admin.split(".")
        # a new secret for the key id: the old token no longer verifies (after the node's 5 s credential cache)
        await store.put_credential(tenant, key_id, Credential(sha256="0" * 64, role="admin"))
        kind, body = await read_event(r)
        while kind == "message":
            kind, body = await read_event(r)
        assert (kind, body["error"]) == ("error", "unauthenticated")
        with pytest.raises(EOFError):
            await read_event(r)


async def test_the_listener_is_off_by_default_and_a_taken_port_fails_loudly(store):
    auth = Authenticator(store)
    assert await start_wallboard("", store, auth, interval_s=1, intervals=IntervalViews(store)) is None
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        with pytest.raises(OSError):
            await start_wallboard(
                f"127.0.0.1:{taken.getsockname()[1]}", store, auth, interval_s=1, intervals=IntervalViews(store)
            )
