"""`ccp apply` and `ccp token issue` against a real etcd, including their refusals."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from ccp_acd.cli import main
from ccp_acd.state.etcd import EtcdStore
from click.testing import CliRunner

pytestmark = [pytest.mark.etcd]

ROOT = Path(__file__).resolve().parents[1]


def test_apply_writes_the_examples_and_tokens_can_then_be_issued(etcd_server):
    runner = CliRunner()
    applied = runner.invoke(main, ["apply", "-f", str(ROOT / "examples"), "--etcd", etcd_server.endpoint])
    assert applied.exit_code == 0, applied.output
    assert "applied queue/acme/support" in applied.output
    issued = runner.invoke(main, ["token", "issue", "--tenant", "acme", "--role", "admin", "--etcd", etcd_server.endpoint])
    assert issued.exit_code == 0, issued.output
    assert issued.output.strip().startswith("acme.")


def test_apply_refuses_an_invalid_resource_naming_the_field(etcd_server):
    bad = ROOT / "examples" / "invalid" / "queue-sl-target-above-one.yaml"
    result = CliRunner().invoke(main, ["apply", "-f", str(bad), "--etcd", etcd_server.endpoint])
    assert result.exit_code == 1
    assert "spec.serviceLevel.target" in result.output


def test_token_issue_refuses_unknown_tenants_and_agent_tokens_without_agent(etcd_server):
    runner = CliRunner()
    etcd = ["--etcd", etcd_server.endpoint]
    unknown = runner.invoke(main, ["token", "issue", "--tenant", "nobody", "--role", "admin", *etcd])
    assert unknown.exit_code == 1 and "does not exist" in unknown.output
    no_agent = runner.invoke(main, ["token", "issue", "--tenant", "acme", "--role", "agent", *etcd])
    assert no_agent.exit_code == 2 and "--agent-id" in no_agent.output


def test_token_issue_expires_in_stores_the_expiry_and_refuses_a_non_positive_one(etcd_server):
    runner = CliRunner()
    etcd = ["--etcd", etcd_server.endpoint]
    runner.invoke(main, ["apply", "-f", str(ROOT / "examples"), *etcd])
    before = time.time()
    issued = runner.invoke(main, ["token", "issue", "--tenant", "acme", "--role", "admin", "--expires-in", "60", *etcd])
    assert issued.exit_code == 0, issued.output
    _, key_id, _ = issued.output.strip().split(".")

    async def expiry() -> float:
        store = await EtcdStore.connect(etcd_server.endpoint)
        try:
            return (await store.get_credential("acme", key_id)).expires_at
        finally:
            await store.close()

    assert before + 60 <= asyncio.run(expiry()) <= time.time() + 60
    zero = runner.invoke(main, ["token", "issue", "--tenant", "acme", "--role", "admin", "--expires-in", "0", *etcd])
    assert zero.exit_code == 2 and "--expires-in" in zero.output
