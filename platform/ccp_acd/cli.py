"""The ``ccp`` command: run a node, the embedded platform, apply resources, issue tokens."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import click

from ccp_acd import etcd_cli

REPO = Path(__file__).resolve().parents[2]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """ccp: a multi-tenant, multi-site contact-center ACD on etcd."""
    from ccp_acd.redaction import configure_logging

    # Whatever a subcommand logs is redacted: caller numbers and tokens are masked (docs/security.md).
    configure_logging()


@main.command()
def node() -> None:
    """Run one ACD node; settings come from CCP_* environment variables (see settings.py)."""
    from ccp_acd.server import main as serve

    serve()


@main.command()
def sip() -> None:
    """Run the SIP trunk adapter of one tenant and site; settings come from CCP_SIP_* variables (sip/settings.py)."""
    from pydantic import ValidationError

    from ccp_acd.sip.adapter import main as serve

    try:
        serve()
    except (ValidationError, ValueError) as e:
        raise click.ClickException(str(e)) from None


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
@click.option("--drain-timeout", type=click.FloatRange(min=0), default=30.0, show_default=True,
              help="Real seconds, after the last arrival, for the calls still in the system to end.")
@click.option("--sip/--no-sip", default=None,
              help="Also place real SIP calls: a `ccp sip` adapter per site, sipp as the carrier and as the agents' "
              "phones. Default: on when sipp is on PATH.")
@click.option("--sip-calls", type=click.IntRange(min=1, max=10_000), default=20, show_default=True,
              help="SIP calls the sipp caller places, through the IVR to the SIP desk agents.")
@click.option("--sip-rate", type=click.FloatRange(min=0.1, max=50), default=2.0, show_default=True,
              help="New SIP calls per real second.")
def up(examples, roster, duration, max_calls, time_scale, rate, seed, nodes_per_site, drain_timeout, sip, sip_calls,
       sip_rate) -> None:
    """Start etcd and ACD nodes for two sites, load the examples, run a simulated load and real SIP calls (sipp
    through `ccp sip` adapters), show KPIs, stop.

    Exits 0 when every call is accounted for, 1 when a call (simulated or SIP) was lost or
    duplicated, 130 on Ctrl-C and 143 on SIGTERM (after stopping everything).
    """
    from ccp_acd.embedded.sip import SipOptions
    from ccp_acd.embedded.sipp_peers import sipp_binary
    from ccp_acd.embedded.up import UpOptions
    from ccp_acd.embedded.up import up as run_up

    if sip and sipp_binary() is None:
        raise click.UsageError("--sip needs sipp on PATH (Debian/Ubuntu: apt-get install sip-tester); "
                               "or run with --no-sip")
    with_sip = sip if sip is not None else sipp_binary() is not None
    options = UpOptions(
        examples=examples, roster=roster, duration_s=duration, max_calls=max_calls, time_scale=time_scale,
        rate_per_s=rate, seed=seed, nodes_per_site=nodes_per_site, drain_timeout_s=drain_timeout,
        sip=SipOptions(calls=sip_calls, rate_per_s=sip_rate) if with_sip else None,
    )
    try:
        verdict = run_up(options)
    except KeyboardInterrupt:
        click.echo("interrupted; everything started was stopped", err=True)
        sys.exit(130)
    except asyncio.CancelledError:
        click.echo("terminated; everything started was stopped", err=True)
        sys.exit(143)
    sys.exit(0 if verdict.ok else 1)


@main.command()
@click.option("-f", "--filename", "paths", multiple=True, required=True,
              type=click.Path(exists=True, path_type=Path), help="Resource file or folder (repeatable).")
@click.option("--etcd", "endpoint", default="127.0.0.1:2379", show_default=True, help="etcd host:port.")
@etcd_cli.plaintext_option
def apply(paths, endpoint, etcd_plaintext) -> None:
    """Write Tenant/Trunk/Queue resources into etcd, as the operator does."""
    from ccp_operator.apply import apply_desired
    from ccp_operator.specs import SpecError, load_paths

    from ccp_acd.state.etcd import EtcdStore

    security = etcd_cli.security(etcd_plaintext)
    try:
        desired = load_paths(paths)
    except SpecError as e:
        raise click.ClickException(str(e)) from None

    async def write() -> list[str]:
        store = await EtcdStore.connect(endpoint, security=security)
        try:
            return await apply_desired(store, desired)
        finally:
            await store.close()

    for line in asyncio.run(write()):
        click.echo(f"applied {line}")


@main.command()
@click.option("--calls", type=click.FloatRange(min=0, min_open=True), required=True, help="Calls offered per interval.")
@click.option("--interval", "interval_min", type=click.FloatRange(min=1), default=30.0, show_default=True,
              help="Interval length, minutes.")
@click.option("--aht", type=click.FloatRange(min=1), required=True, help="Average handle time, seconds.")
@click.option("--threshold", type=click.FloatRange(min=0), default=20.0, show_default=True,
              help="Service-level threshold T, seconds.")
@click.option("--target-sl", type=click.FloatRange(min=0, max=1, min_open=True, max_open=True), default=0.8,
              show_default=True)
@click.option("--max-occupancy", type=click.FloatRange(min=0, max=1, min_open=True), default=1.0, show_default=True)
@click.option("--shrinkage", type=click.FloatRange(min=0, max=1, max_open=True), default=0.0, show_default=True)
def staffing(calls, interval_min, aht, threshold, target_sl, max_occupancy, shrinkage) -> None:
    """Agents needed for a service-level target (Erlang C), with the figures around it."""
    from rich.console import Console
    from rich.table import Table

    try:
        from ccp_acd.domain import staffing as erlang
    except ImportError:
        raise click.ClickException("ccp staffing needs the staffing extra: pip install 'ccp[staffing]'") from None

    forecast = erlang.Forecast(calls=calls, interval_s=interval_min * 60, aht_s=aht, threshold_s=threshold)
    needed = erlang.required(forecast, target_sl=target_sl, max_occupancy=max_occupancy)
    table = Table(title=f"{calls:g} calls per {interval_min:g} min, AHT {aht:g} s = {forecast.erlangs:.2f} Erlangs")
    for column in ("agents", "P(wait)", f"SL ({threshold:g} s)", "ASA", "occupancy"):
        table.add_column(column, justify="right")
    for agents in range(max(needed.agents - 2, 1), needed.agents + 3):
        row = erlang.with_agents(forecast, agents)
        style = "bold" if agents == needed.agents else None
        table.add_row(str(agents), f"{row.waiting_probability:.4f}", f"{row.service_level:.4f}",
                      f"{row.asa_s:.1f} s", f"{row.occupancy:.1%}", style=style)
    console = Console()
    console.print(table)
    console.print(f"needed on the phones: {needed.agents} (SL {needed.service_level:.4f}, ASA {needed.asa_s:.1f} s)")
    console.print(f"to schedule with {shrinkage:.0%} shrinkage: {erlang.scheduled(needed.agents, shrinkage)}")


@main.group()
def token() -> None:
    """Tenant API tokens (only their SHA-256 is stored)."""


@token.command("issue")
@click.option("--tenant", required=True)
@click.option("--role", type=click.Choice(["admin", "supervisor", "agent", "interaction"]), required=True)
@click.option("--agent-id", default="", help="For role agent: the only agent the token may act as.")
@click.option("--expires-in", type=click.IntRange(min=1), default=None,
              help="Seconds until the token is refused (default: never; a Tenant's rotation does not touch it).")
@click.option("--etcd", "endpoint", default="127.0.0.1:2379", show_default=True)
@etcd_cli.plaintext_option
def issue(tenant, role, agent_id, expires_in, endpoint, etcd_plaintext) -> None:
    """Create a token and print it once."""
    from ccp_acd.api.auth import issue_token
    from ccp_acd.state.etcd import EtcdStore

    if role == "agent" and not agent_id:
        raise click.UsageError("--agent-id is required for role agent")
    security = etcd_cli.security(etcd_plaintext)

    async def create() -> str:
        store = await EtcdStore.connect(endpoint, security=security)
        try:
            if await store.get_tenant_config(tenant) is None:
                raise click.ClickException(f"tenant {tenant!r} does not exist (apply its Tenant resource first)")
            expires_at = time.time() + expires_in if expires_in else 0.0
            return await issue_token(store, tenant=tenant, role=role, agent_id=agent_id, expires_at=expires_at)
        finally:
            await store.close()

    try:
        click.echo(asyncio.run(create()))
    except ValueError as e:
        raise click.ClickException(str(e)) from None


def _register() -> None:
    from ccp_acd.audit_cli import audit
    from ccp_acd.chaos.cli import chaos, site
    from ccp_acd.report_cli import report
    from ccp_acd.wallboard.terminal import wallboard
    from ccp_acd.whatif.cli import what_if

    for command in (chaos, site, report, audit, wallboard, what_if):
        main.add_command(command)


_register()
