"""Recorded what-if: a tenant's call records in a real etcd, replayed against new staffing."""

from __future__ import annotations

import asyncio
import json
import secrets
from datetime import UTC, datetime

import pytest
from ccp_acd.cli import main
from ccp_acd.domain.models import Call, CallState, QueueConfig
from ccp_acd.state import keys
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.whatif.engine import StaffMember, simulate
from ccp_acd.whatif.load import recorded
from ccp_acd.whatif.report import queue_figures
from click.testing import CliRunner

pytestmark = pytest.mark.etcd

T0 = 1_777_000_000.0  # the window's start, POSIX seconds
WINDOW_S = 60.0


def _record(offset_s: float, *, state: CallState, answered_s: float | None, ended_s: float, queue: str = "q") -> Call:
    at = T0 + offset_s
    return Call(
        id=f"{keys.nanos(at):020d}-{secrets.token_hex(4)}", queue=queue, state=state, enqueued_at=at, queued_since=at,
        answered_at=None if answered_s is None else T0 + answered_s, ended_at=T0 + ended_s,
        agent_id="x" if answered_s is not None else "",
    )


# What happened with two agents: c0 and c1 answered at once, c2 when c0's agent was free,
# c3 hung up after 5 s; two calls outside the window are not replayed.
HISTORY = [
    _record(0, state=CallState.COMPLETED, answered_s=0, ended_s=10),
    _record(1, state=CallState.COMPLETED, answered_s=1, ended_s=11),
    _record(2, state=CallState.COMPLETED, answered_s=10, ended_s=20),
    _record(3, state=CallState.ABANDONED, answered_s=None, ended_s=8),
    _record(-5, state=CallState.COMPLETED, answered_s=-5, ended_s=50),
    _record(WINDOW_S, state=CallState.COMPLETED, answered_s=WINDOW_S, ended_s=WINDOW_S + 500),
]


def _store_history(endpoint: str, tenant: str) -> None:
    async def write() -> None:
        store = await EtcdStore.connect(endpoint)
        try:
            for call in HISTORY:
                await store.put_record(keys.history(tenant, call.id), call)
        finally:
            await store.close()

    asyncio.run(write())


def _iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def test_replaying_the_recorded_calls_with_one_agent_predicts_the_longer_waits(etcd_server, tmp_path):
    tenant = f"whatif-{secrets.token_hex(3)}"
    _store_history(etcd_server.endpoint, tenant)

    async def read() -> list[Call]:
        store = await EtcdStore.connect(etcd_server.endpoint)
        try:
            return await store.history_between(tenant, T0, T0 + WINDOW_S)
        finally:
            await store.close()

    queues = {"q": QueueConfig("q", sl_threshold_s=10)}
    arrivals = recorded(asyncio.run(read()), start=T0, end=T0 + WINDOW_S, queues=queues)
    assert [(a.at_s, a.handle_s, a.patience_s) for a in arrivals] == [
        (0, 10, None), (1, 10, None), (2, 10, None), (3, 10, 5),  # the abandoned call gets the mean talk time
    ]
    by_staff = {}
    for agents in (2, 1):
        outcome = simulate(queues=queues, staff=[StaffMember(id=f"a{i}") for i in range(agents)], arrivals=arrivals)
        by_staff[agents] = sorted((c.enqueued_at, c.state, c.answered_at) for c in outcome.calls)
    # Two agents, as recorded: c2 waits for the first free agent at 10; c3 still hangs up at 8.
    assert by_staff[2] == [(0, CallState.COMPLETED, 0), (1, CallState.COMPLETED, 1), (2, CallState.COMPLETED, 10),
                           (3, CallState.ABANDONED, None)]
    # One agent: waits 0, 9 and 18.
    assert by_staff[1] == [(0, CallState.COMPLETED, 0), (1, CallState.COMPLETED, 10), (2, CallState.COMPLETED, 20),
                           (3, CallState.ABANDONED, None)]

    queue_file = tmp_path / "queue.yaml"
    queue_file.write_text(
        "apiVersion: ccp.dev/v1alpha1\nkind: Queue\nmetadata: {name: q}\n"
        f"spec: {{tenant: {tenant}, serviceLevel: {{thresholdSeconds: 10, target: 0.8}}}}\n"
    )
    result = CliRunner().invoke(main, [
        "what-if", "-f", str(queue_file), "--agents", "1", "--recorded", "--etcd", etcd_server.endpoint,
        "--tenant", tenant, "--from", _iso(T0), "--to", _iso(T0 + WINDOW_S), "--json",
    ])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.output)["queues"]["q"]
    assert figures["offered"]["mean"] == 4 and figures["answered"]["mean"] == 3
    assert figures["asa_s"]["mean"] == pytest.approx(9.0)
    assert figures["longest_wait_s"]["mean"] == 18
    # T = 10 s: the 5 s abandon is left out; waits 0 and 9 are within, 18 is not.
    assert figures["service_level"]["mean"] == pytest.approx(2 / 3)
    assert queue_figures(outcome, queues)["q"].service_level == pytest.approx(2 / 3)

