"""The ``ccp`` command: run a node, the embedded platform, apply resources, issue tokens."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

REPO = Path(__file__).resolve().parents[2]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """ccp: a multi-tenant, multi-site contact-center ACD on etcd."""


@main.command()
def node() -> None:
    """Run one ACD node; settings come from CCP_* environment variables (see settings.py)."""
    from ccp_acd.server import main as serve

    serve()


@main.command()
@click.option("--examples", type=click.Path(exists=True, file_okay=False, path_type=Path), default=REPO / "examples",
              show_default=True, help="Folder of Tenant/Trunk/Queue resources to load.")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              default=REPO / "examples" / "embedded" / "agents.yaml", show_default=True,
              help="Simulated agents and traffic mix.")
@click.option("--duration", type=click.FloatRange(min=1), default=60.0, show_default=True,
              help="Real seconds of arrivals.")
@click.option("--max-calls", type=click.IntRange(min=1, max=100_000), default=400, show_default=True)
@click.option("--time-scale", type=click.FloatRange(min=1, max=1000), default=60.0, show_default=True,
              help="Model seconds per real second.")
@click.option("--rate", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Model calls per second (default: 75% of the agents' capacity).")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--nodes-per-site", type=click.IntRange(min=1, max=4), default=1, show_default=True)
def up(examples, roster, duration, max_calls, time_scale, rate, seed, nodes_per_site) -> None:
    """Start etcd and ACD nodes for two sites, load the examples, run a simulated load, show KPIs, stop."""
    from ccp_acd.embedded.up import UpOptions
    from ccp_acd.embedded.up import up as run_up

    verdict = run_up(
        UpOptions(
            examples=examples, roster=roster, duration_s=duration, max_calls=max_calls, time_scale=time_scale,
            rate_per_s=rate, seed=seed, nodes_per_site=nodes_per_site,
        )
    )
    sys.exit(0 if verdict.ok else 1)


@main.command()
@click.option("-f", "--filename", "paths", multiple=True, required=True,
              type=click.Path(exists=True, path_type=Path), help="Resource file or folder (repeatable).")
@click.option("--etcd", "endpoint", default="127.0.0.1:2379", show_default=True, help="etcd host:port.")
def apply(paths, endpoint) -> None:
    """Write Tenant/Trunk/Queue resources into etcd, as the operator does."""
    from ccp_operator.apply import apply_desired
    from ccp_operator.specs import SpecError, load_paths

    from ccp_acd.state.etcd import EtcdStore

    try:
        desired = load_paths(paths)
    except SpecError as e:
        raise click.ClickException(str(e)) from None

    async def write() -> list[str]:
        store = await EtcdStore.connect(endpoint)
        try:
            return await apply_desired(store, desired)
        finally:
            await store.close()

    for line in asyncio.run(write()):
        click.echo(f"applied {line}")


@main.group()
def token() -> None:
    """Tenant API tokens (only their SHA-256 is stored)."""


@token.command("issue")
@click.option("--tenant", required=True)
@click.option("--role", type=click.Choice(["admin", "agent", "interaction"]), required=True)
@click.option("--agent-id", default="", help="For role agent: the only agent the token may act as.")
@click.option("--etcd", "endpoint", default="127.0.0.1:2379", show_default=True)
def issue(tenant, role, agent_id, endpoint) -> None:
    """Create a token and print it once."""
    from ccp_acd.api.auth import issue_token
    from ccp_acd.state.etcd import EtcdStore

    if role == "agent" and not agent_id:
        raise click.UsageError("--agent-id is required for role agent")

    async def create() -> str:
        store = await EtcdStore.connect(endpoint)
        try:
            if await store.get_tenant_config(tenant) is None:
                raise click.ClickException(f"tenant {tenant!r} does not exist (apply its Tenant resource first)")
            return await issue_token(store, tenant=tenant, role=role, agent_id=agent_id)
        finally:
            await store.close()

    try:
        click.echo(asyncio.run(create()))
    except ValueError as e:
        raise click.ClickException(str(e)) from None
