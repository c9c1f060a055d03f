"""`ccp apply` and `ccp token issue` against a real etcd, including their refusals, and the etcd transport every
etcd command must be told (TLS with CCP_ETCD_CA_FILE, or --etcd-plaintext / CCP_ETCD_PLAINTEXT=true)."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from ccp_acd.cli import main
from ccp_acd.embedded.processes import start_etcd
from ccp_acd.state.etcd import EtcdStore
from ccp_acd.tls import generate
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


# Unset for one invocation (CliRunner removes a variable whose value is None): the session sets CCP_ETCD_PLAINTEXT.
NO_ETCD_CHOICE = {
    name: None for name in ("CCP_ETCD_PLAINTEXT", "CCP_ETCD_CA_FILE", "CCP_ETCD_CERT_FILE", "CCP_ETCD_KEY_FILE")
}
ETCD_COMMANDS = {
    "apply": ["apply", "-f", str(ROOT / "examples")],
    "token issue": ["token", "issue", "--tenant", "acme", "--role", "admin"],
    "site status": ["site", "status"],
    "site down": ["site", "down", "site-z"],
    "what-if --recorded": ["what-if", "-f", str(ROOT / "examples" / "queues.yaml"), "--tenant", "acme", "--agents", "1",
                           "--recorded", "--from", "2026-01-01T00:00:00+00:00", "--to", "2026-01-01T01:00:00+00:00"],
}


@pytest.mark.parametrize("command", ETCD_COMMANDS)
def test_etcd_commands_without_an_etcd_ca_or_etcd_plaintext_refuse_naming_both(etcd_server, command):
    # The etcd here is plaintext: without the refusal the command would simply succeed.
    args = [*ETCD_COMMANDS[command], "--etcd", etcd_server.endpoint]
    result = CliRunner().invoke(main, args, env=NO_ETCD_CHOICE)
    assert result.exit_code == 2, result.output
    assert "no etcd TLS: set CCP_ETCD_CA_FILE" in result.output and "CCP_ETCD_PLAINTEXT=true" in result.output
    assert "--etcd-plaintext" in result.output


def test_etcd_plaintext_on_the_command_line_is_the_explicit_choice(etcd_server):
    args = [*ETCD_COMMANDS["site status"], "--etcd", etcd_server.endpoint, "--etcd-plaintext"]
    result = CliRunner().invoke(main, args, env=NO_ETCD_CHOICE)
    assert result.exit_code == 0, result.output


def test_etcd_commands_reach_a_tls_etcd_with_the_etcd_files_and_refuse_plaintext_on_top(tmp_path):
    certs = generate(tmp_path / "tls")
    etcd = start_etcd(tmp_path / "etcd", tls=certs)
    try:
        tls_env = {**NO_ETCD_CHOICE, "CCP_ETCD_CA_FILE": str(certs.ca_file), "CCP_ETCD_CERT_FILE": str(certs.cert_file),
                   "CCP_ETCD_KEY_FILE": str(certs.key_file)}
        runner = CliRunner()
        applied = runner.invoke(main, [*ETCD_COMMANDS["apply"], "--etcd", etcd.endpoint], env=tls_env)
        assert applied.exit_code == 0, applied.output
        issued = runner.invoke(main, [*ETCD_COMMANDS["token issue"], "--etcd", etcd.endpoint], env=tls_env)
        assert issued.exit_code == 0 and issued.output.strip().startswith("acme."), issued.output
        both = runner.invoke(main, [*ETCD_COMMANDS["site status"], "--etcd", etcd.endpoint, "--etcd-plaintext"],
                             env=tls_env)
        assert both.exit_code == 2 and "choose one" in both.output, both.output
    finally:
        etcd.stop()
