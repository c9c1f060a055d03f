"""`ccp wallboard --once` against a real node, and its pure parts (the trend column)."""

from __future__ import annotations

import asyncio

import pytest
from ccp_acd.cli import main
from ccp_acd.wallboard.terminal import Frame, Trend
from ccpapi.v1 import admin_pb2
from click.testing import CliRunner

pytestmark = [pytest.mark.etcd]

COLUMNS = ("queue", "SL", "target", "waiting", "longest wait")


def rows(output: str) -> dict[str, dict[str, str]]:
    """The table's rows by queue name: {column: cell} for the first columns."""
    table = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("│")[1:-1]]
        if len(cells) > len(COLUMNS) and cells[0]:
            table[cells[0]] = dict(zip(COLUMNS, cells, strict=False))
    return table


async def test_once_prints_each_queue_with_its_waiting_calls_and_service_level(node, board):
    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["wallboard", "--endpoint", node.address, "--once"],
        env={"CCP_TOKEN": board.admin, "COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    shown = rows(result.output)
    assert set(shown) == {"sales", "support"}, result.output
    assert (shown["sales"]["waiting"], shown["sales"]["SL"]) == ("2", "0%")
    assert (shown["support"]["waiting"], shown["support"]["SL"]) == ("1", "100%")
    assert "0 available, 0 busy, 0 wrap-up, 1 break" in result.output


async def test_a_non_admin_token_is_refused_with_the_servers_reason(node, board):
    result = await asyncio.to_thread(
        CliRunner().invoke, main, ["wallboard", "--endpoint", node.address, "--token", board.agent, "--once"]
    )
    assert result.exit_code == 1
    assert "PERMISSION_DENIED" in result.output


def _frame(at: float, waiting: int) -> Frame:
    return Frame(at=at, queues=(admin_pb2.QueueStats(queue="q", waiting=waiting),), agents=())


def test_the_trend_keeps_the_peak_of_each_five_minutes_for_an_hour():
    trend = Trend()
    start = 3_000_000.0  # a bucket boundary
    trend.add(_frame(start + 10, 2))
    trend.add(_frame(start + 20, 7))  # the peak of the first bucket
    trend.add(_frame(start + 310, 1))
    assert trend.spark("q", now=start + 320)[-2:] == "█▂"  # 7 of 7, 1 of 7 on an 8-step scale
    # an hour later both have left the chart
    assert trend.spark("q", now=start + 3900).strip() == ""
