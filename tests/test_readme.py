"""The README's Python client snippet runs verbatim against a real node (token and address swapped in)."""

from __future__ import annotations

import asyncio
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
from ccp_acd.api.auth import issue_token
from ccp_acd.domain.models import Call, QueueConfig
from ccp_acd.state.store import TenantConfig

pytestmark = [pytest.mark.etcd]

ROOT = Path(__file__).resolve().parents[1]


async def test_the_readme_client_snippet_answers_a_call_and_reads_stats(store, node_processes):
    snippet = re.search(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S).group(1)
    tenant = f"readme-{secrets.token_hex(3)}"
    await store.put_tenant_config(TenantConfig(name=tenant, home_site="site-a"))
    await store.put_queue_config(tenant, QueueConfig(name="support"))
    now = time.time()
    await store.enqueue(tenant, Call(id=f"{time.time_ns():020d}-r1", queue="support", site="site-a",
                                     enqueued_at=now, queued_since=now))
    node = await asyncio.to_thread(node_processes, f"{tenant}-n1")
    token = await issue_token(store, tenant=tenant, role="admin")
    assert '"acme.k1a2b3.…"' in snippet and '"127.0.0.1:50051"' in snippet
    code = snippet.replace('"acme.k1a2b3.…"', repr(token)).replace('"127.0.0.1:50051"', repr(node.address))
    done = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", code], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert 'queue: "support"' in done.stdout and "answered: 1" in done.stdout, done.stdout
    (record,) = await store.history_since(tenant, 0)
    assert (record.state.value, record.agent_id) == ("completed", "alice")
