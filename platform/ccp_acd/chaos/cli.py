"""``ccp chaos`` (run drills, compare overflow) and ``ccp site`` (an SRE's failover and failback)."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import click

from ccp_acd import etcd_cli


@click.group()
def chaos() -> None:
    """Chaos drills against the embedded multi-site platform (see chaos/README.md)."""


@chaos.command("list")
def list_drills() -> None:
    """The drills in chaos/drills/."""
    from ccp_acd.chaos.drill import drill_names, load_drill

    for name in drill_names():
        click.echo(f"{name:16} {load_drill(name).title}")


@chaos.command()
@click.argument("drill")
@click.option("--short", is_flag=True, help="The bounded form CI runs (the drill's `short:` duration).")
@click.option("--runs", type=click.IntRange(min=1, max=20), default=1, show_default=True,
              help="Run it this many times and report the median and worst figures.")
@click.option("--seed", type=int, default=1, show_default=True, help="Seed of the first run's load (then +1 per run).")
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("chaos/reports"),
              show_default=True, help="Where the JSON report and the summary go.")
def run(drill, short, runs, seed, report_dir) -> None:
    """Run DRILL (a name from `ccp chaos list` or a path); exits 1 when the hypothesis does not hold."""
    from ccp_acd.chaos.drill import load_drill
    from ccp_acd.chaos.runner import run_drill, summarize_runs, write_report

    spec = load_drill(drill)
    reports = []
    for n in range(runs):
        report = asyncio.run(run_drill(spec, short=short, seed=seed + n))
        path = write_report(report, report_dir, Path(drill).stem)
        click.echo("\n".join(report.summary()))
        click.echo(f"  report: {path}")
        reports.append(report)
    if runs > 1:
        click.echo("\n".join(summarize_runs(reports)))
    sys.exit(0 if all(r.passed for r in reports) else 1)


@chaos.command()
@click.option("--short", is_flag=True, help="The bounded form CI runs.")
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--report-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("chaos/reports"),
              show_default=True)
def overflow(short, seed, report_dir) -> None:
    """Site-a at 150 % load, site-b and site-c at 50 %: service level without and with N-way overflow."""
    from ccp_acd.chaos.drill import load_drill
    from ccp_acd.chaos.runner import compare_overflow, write_report

    without, with_ = asyncio.run(compare_overflow(load_drill("overflow"), short=short, seed=seed))
    for name, report in (("overflow-off", without), ("overflow-on", with_)):
        path = write_report(report, report_dir, name)
        click.echo(f"{name}: " + "\n".join(report.summary()) + f"\n  report: {path}")
    click.echo(
        f"service level without overflow {without.service_level:.1%}, with N-way overflow {with_.service_level:.1%}"
    )
    sys.exit(0 if without.passed and with_.passed else 1)


@click.group()
def site() -> None:
    """Declare a site down (failover) or up (failback), or show every site's state."""


def _declare(site_name: str, status: str, reason: str, endpoint: str, etcd_plaintext: bool) -> None:
    from ccp_acd.domain.sites import SiteStatus
    from ccp_acd.state.etcd import EtcdStore
    from ccp_acd.state.sites import declare_site

    security = etcd_cli.security(etcd_plaintext)

    async def go() -> None:
        store = await EtcdStore.connect(endpoint, security=security)
        try:
            await declare_site(store, site_name, SiteStatus(status), reason)
        finally:
            await store.close()

    asyncio.run(go())
    click.echo(f"site {site_name} declared {status}: {reason}")


@site.command()
@click.argument("site_name", metavar="SITE")
@click.option("--reason", default="declared down by an SRE", show_default=True)
@click.option("--etcd", "endpoint", default="127.0.0.1:2379", show_default=True)
@etcd_cli.plaintext_option
def down(site_name, reason, endpoint, etcd_plaintext) -> None:
    """Fail SITE over: its nodes are fenced at their next commit; its waiting calls are adopted."""
    _declare(site_name, "down", reason, endpoint, etcd_plaintext)


@site.command()
@click.argument("site_name", metavar="SITE")
@click.option("--reason", default="failed back by an SRE", show_default=True)
@click.option("--etcd", "endpoint", default="127.0.0.1:2379", show_default=True)
@etcd_cli.plaintext_option
def up(site_name, reason, endpoint, etcd_plaintext) -> None:
    """Fail SITE back: its nodes may own queues and route again (calls already moved stay where they are)."""
    _declare(site_name, "up", reason, endpoint, etcd_plaintext)


@site.command()
@click.option("--etcd", "endpoint", default="127.0.0.1:2379", show_default=True)
@etcd_cli.plaintext_option
def status(endpoint, etcd_plaintext) -> None:
    """Every site: state, live nodes, queue owners."""
    from rich.console import Console
    from rich.table import Table

    from ccp_acd.domain.sites import SiteState
    from ccp_acd.state import keys
    from ccp_acd.state.codec import decode
    from ccp_acd.state.etcd import EtcdStore

    security = etcd_cli.security(etcd_plaintext)

    async def read() -> list[tuple[str, bytes, int]]:
        store = await EtcdStore.connect(endpoint, security=security)
        try:
            return (await store.read_prefix(keys.sites_prefix()))[0]
        finally:
            await store.close()

    rows: dict[str, dict[str, list[str] | str]] = {}
    for key, value, _ in asyncio.run(read()):
        name, kind, *rest = key[len(keys.sites_prefix()):].split("/")
        row = rows.setdefault(name, {"state": "up", "nodes": [], "owners": []})
        if kind == "state":
            state = decode(SiteState, value)
            row["state"] = f"{state.status} ({state.reason}, by {state.by})"
        elif kind == "nodes":
            row["nodes"].append(rest[0])
        elif kind == "owners":
            row["owners"].append(f"{'/'.join(rest)}: {value.decode()}")
    table = Table("site", "state", "live nodes", "queue owners")
    for name in sorted(rows):
        row = rows[name]
        table.add_row(name, row["state"], ", ".join(row["nodes"]) or "none", "\n".join(row["owners"]))
    Console().print(table)
