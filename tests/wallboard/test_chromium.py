"""The wallboard page in headless Chromium against a live node: the DOM it builds and a screenshot of it.

Skipped when Chromium is not installed, except in CI (env CI set), where a
missing browser fails: scripts/setup.sh installs Debian's ``chromium``.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
from pathlib import Path

import pytest
from PIL import Image

from tests.helpers import scaled

pytestmark = [pytest.mark.etcd]

CHROMIUM = os.environ.get("CCP_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
WIDTH, HEIGHT = 1280, 800
# wallboard.css: .sl-missed and .sl-met backgrounds (#c62828, #2e7d32).
RED = (0xC6, 0x28, 0x28)
GREEN = (0x2E, 0x7D, 0x32)
# Pixels of one colour that only a filled SL tile (about 330 x 90 px at this size, minus its text) reaches.
TILE_PIXELS = 5000


@pytest.fixture
def chromium() -> str:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"Chromium not found at {CHROMIUM}: CI must run the wallboard screenshot test (scripts/setup.sh)")
        pytest.skip(f"Chromium not found at {CHROMIUM} (apt-get install chromium, or set CCP_CHROMIUM)")
    return CHROMIUM


async def run_chromium(binary: str, url: str, tmp_path: Path, *args: str) -> bytes:
    """Headless Chromium on ``url``; its stdout. Bounded: a hung browser is killed and fails the test."""
    process = await asyncio.create_subprocess_exec(
        binary, "--headless=new", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--no-first-run",
        "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", f"--window-size={WIDTH},{HEIGHT}",
        "--virtual-time-budget=8000", *args, url,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(scaled(60)):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        pytest.fail(f"chromium did not finish on {url.split('#')[0]}")
    assert process.returncode == 0, err.decode(errors="replace")[-2000:]
    return out


# Headless Chromium runs the page on virtual time, which rushes ahead while the page only waits for the network:
# on a loaded machine (the whole suite on two cores) the budget can run out before the node's first event arrives,
# and the page is dumped empty. A page that shows nothing is loaded again, up to this many times in all.
ATTEMPTS = 4


async def until(attempt, shown):
    """``await attempt()`` until ``shown(result)``, at most ``ATTEMPTS`` times; the last result either way."""
    for _ in range(ATTEMPTS - 1):
        result = await attempt()
        if shown(result):
            return result
    return await attempt()


def waiting_shown(dom: str, queue: str) -> str:
    card = re.search(rf'data-queue="{queue}">(.*?)</article>', dom, re.S)
    assert card, f"no card for queue {queue} in the DOM"
    waiting = re.search(r'class="tile waiting"><span class="label">waiting</span><span class="value">(\d+)<', card[1])
    assert waiting, card[1]
    return waiting[1]


async def test_the_page_shows_each_queue_and_colours_the_missed_service_level_red(chromium, base_url, board, tmp_path):
    url = f"{base_url}/wallboard#token={board.admin}"

    async def dump() -> str:
        return (await run_chromium(chromium, url, tmp_path, "--dump-dom")).decode()

    dom = await until(dump, lambda dom: board.tenant in dom)
    assert board.tenant in dom, dom[-3000:]
    assert (waiting_shown(dom, "sales"), waiting_shown(dom, "support")) == ("2", "1")
    assert 'id="total-waiting" class="value">3<' in dom and 'id="total-connected" class="value">0<' in dom
    assert "sl-missed" in re.search(r'data-queue="sales">(.*?)</article>', dom, re.S)[1]
    assert "<polyline" in dom or "<circle" in dom, "the chart drew no service-level point"

    shot = tmp_path / "wb.png"

    async def screenshot() -> dict:
        await run_chromium(chromium, url, tmp_path, f"--screenshot={shot}")
        with Image.open(shot) as image:
            assert image.size == (WIDTH, HEIGHT)
            return dict((rgb, n) for n, rgb in image.convert("RGB").getcolors(maxcolors=WIDTH * HEIGHT))

    colours = await until(screenshot, lambda colours: colours.get(RED, 0) > TILE_PIXELS)
    assert len(colours) > 50, "the screenshot is (nearly) blank"
    assert colours.get(RED, 0) > TILE_PIXELS, f"no red SL tile: {colours.get(RED, 0)} red pixels"
    assert colours.get(GREEN, 0) > TILE_PIXELS, f"no green SL tile: {colours.get(GREEN, 0)} green pixels"


async def test_the_page_says_so_when_the_token_is_refused(chromium, base_url, board, tmp_path):
    dom = (await run_chromium(chromium, f"{base_url}/wallboard#token={board.agent}", tmp_path, "--dump-dom")).decode()
    assert "refused this token (403)" in dom
    assert 'data-queue="' not in dom
