"""``ccp what-if``: predicted SL, ASA and abandonment of a queue configuration before it is applied.

The I/O side of the what-if: reads the Queue resources (as ``ccp apply`` does),
the roster, and for a recorded load a tenant's call records from etcd; runs
``engine.simulate`` once per replication and prints ``report.summarize``.
docs/what-if.md explains the model and how to read the intervals.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

import click

from ccp_acd import etcd_cli
from ccp_acd.domain.models import QueueConfig
from ccp_acd.whatif import load, report
from ccp_acd.whatif.engine import Options, StaffMember, simulate


def _instant(ctx, param, value: str | None) -> float | None:
    """ISO 8601 to POSIX seconds; a time without a zone is UTC."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO 8601 time (e.g. 2026-05-04T09:00:00Z)") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp()


def _mix(values: tuple[str, ...], queues: dict[str, QueueConfig]) -> dict[str, float]:
    if not values:
        return dict.fromkeys(queues, 1.0)
    mix = {}
    for value in values:
        name, _, weight = value.partition("=")
        if name not in queues:
            raise click.BadParameter(f"queue {name!r} is not in the files given ({', '.join(sorted(queues))})",
                                     param_hint="--queue")
        try:
            mix[name] = float(weight) if weight else 1.0
        except ValueError:
            raise click.BadParameter(f"{value!r}: the weight must be a number", param_hint="--queue") from None
        if not mix[name] > 0:
            raise click.BadParameter(f"{value!r}: the weight must be positive", param_hint="--queue")
    return mix


def _queues(paths: tuple[Path, ...], tenant: str | None) -> tuple[str, dict[str, QueueConfig]]:
    from ccp_operator.specs import SpecError
    from ccp_operator.specs.loader import parse_documents, read_documents

    try:
        documents = read_documents(paths)
        named = {str((d.get("spec") or {}).get("tenant", "")) for d in documents if d.get("kind") == "Queue"}
        desired = parse_documents(documents, known_tenants=named)
    except SpecError as e:
        raise click.ClickException(str(e)) from None
    except (OSError, ValueError) as e:  # YAML errors are ValueErrors
        raise click.ClickException(f"cannot read the queue files: {e}") from None
    if not desired.queues:
        raise click.BadParameter("the files declare no Queue", param_hint="-f")
    if tenant is None:
        if len(desired.queues) > 1:
            raise click.BadParameter(f"queues of several tenants ({', '.join(sorted(desired.queues))}): pick one",
                                     param_hint="--tenant")
        tenant = next(iter(desired.queues))
    if tenant not in desired.queues:
        raise click.BadParameter(f"the files declare no queue of tenant {tenant!r}", param_hint="--tenant")
    return tenant, desired.queues[tenant]


def _staff(agents: int | None, roster: Path | None, queues: dict[str, QueueConfig]) -> list[StaffMember]:
    if (agents is None) == (roster is None):
        raise click.UsageError("give either --agents N or --roster FILE")
    if agents is not None:
        return load.generalists(agents, queues.values())
    from ccp_acd.sim.workload import load_roster

    try:
        entries = load_roster(roster).sim_agents()
    except (OSError, ValueError) as e:  # pydantic's ValidationError is a ValueError
        raise click.BadParameter(str(e), param_hint="--roster") from None
    return [StaffMember(id=a.id, skills=dict(a.skills), capacity=dict(a.capacity)) for a in entries]


def _records(endpoint: str, tenant: str, start: float, end: float, *, etcd_plaintext: bool):
    from ccp_acd.errors import CcpError
    from ccp_acd.state.etcd import EtcdStore

    security = etcd_cli.security(etcd_plaintext)

    async def read():
        store = await EtcdStore.connect(endpoint, security=security)
        try:
            return await store.history_between(tenant, start, end)
        finally:
            await store.close()

    try:
        return asyncio.run(read())
    except CcpError as e:
        raise click.ClickException(f"cannot read the call records of {tenant!r} from etcd at {endpoint}: {e}") from None


@click.command("what-if")
@click.option("-f", "--filename", "paths", multiple=True, required=True,
              type=click.Path(exists=True, path_type=Path), help="Queue resource file or folder (repeatable).")
@click.option("--tenant", default=None, help="Whose queues (needed when the files hold several tenants, and --recorded).")
@click.option("--agents", type=click.IntRange(min=1, max=10_000), default=None,
              help="Identical agents, each with every skill the queues ask for.")
@click.option("--roster", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="Agents with their own skills (examples/embedded/agents.yaml; its traffic part is not used).")
@click.option("--queue", "mix", multiple=True, metavar="NAME[=WEIGHT]",
              help="Where simulated calls arrive, weighted (repeatable; default: every queue equally).")
@click.option("--calls-per-hour", type=click.FloatRange(min=0, min_open=True), default=None)
@click.option("--aht", type=click.FloatRange(min=0, min_open=True), default=None, help="Mean talk time, seconds.")
@click.option("--handle-times", type=click.Choice(load.HANDLE_DISTRIBUTIONS), default="exponential", show_default=True)
@click.option("--patience", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Mean patience (exponential), seconds; default: callers never hang up.")
@click.option("--hours", type=click.FloatRange(min=0, min_open=True, max=24 * 31), default=1.0, show_default=True,
              help="Hours of simulated arrivals.")
@click.option("--warm-up", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds of arrivals simulated but not counted (the queue fills as in a running center).")
@click.option("--replications", type=click.IntRange(min=1, max=1000), default=10, show_default=True)
@click.option("--seed", type=int, default=1, show_default=True)
@click.option("--answer-delay", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Seconds agents take to accept an offer.")
@click.option("--max-calls", type=click.IntRange(min=1, max=1_000_000), default=100_000, show_default=True)
@click.option("--max-hours", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Simulated hours after which a run stops [default: the load's hours + 24].")
@click.option("--recorded", is_flag=True, help="Replay the tenant's call records of [--from, --to) instead.")
@click.option("--etcd", "endpoint", default="127.0.0.1:2379", show_default=True, help="etcd host:port (--recorded).")
@etcd_cli.plaintext_option
@click.option("--from", "start", callback=_instant, default=None, help="ISO 8601 (--recorded).")
@click.option("--to", "end", callback=_instant, default=None, help="ISO 8601 (--recorded).")
@click.option("--json", "as_json", is_flag=True, help="Print the figures as JSON.")
def what_if(paths, tenant, agents, roster, mix, calls_per_hour, aht, handle_times, patience, hours, warm_up,
            replications, seed, answer_delay, max_calls, max_hours, recorded, endpoint, etcd_plaintext, start, end,
            as_json) -> None:
    """Predict a queue configuration's SL, ASA and abandonment against a simulated or recorded load."""
    tenant, queues = _queues(paths, tenant)
    staff = _staff(agents, roster, queues)
    if recorded:
        if start is None or end is None:
            raise click.UsageError("--recorded needs --from and --to")
        if end <= start:
            raise click.BadParameter("must be after --from", param_hint="--to")
        horizon_s = end - start
        records = _records(endpoint, tenant, start, end, etcd_plaintext=etcd_plaintext)
        loads = [load.recorded(records, start=start, end=end, queues=queues)]
    else:
        if calls_per_hour is None or aht is None:
            raise click.UsageError("a simulated load needs --calls-per-hour and --aht (or use --recorded)")
        horizon_s = hours * 3600
        weights = _mix(mix, queues)
        loads = [
            load.simulated(seed=seed + i, calls_per_hour=calls_per_hour, hours=hours, aht_s=aht, mix=weights,
                           patience_s=patience, handle=handle_times, max_calls=max_calls)
            for i in range(replications)
        ]
    if warm_up >= horizon_s:
        raise click.BadParameter(f"must be shorter than the load ({horizon_s:g} s)", param_hint="--warm-up")
    options = Options(answer_delay_s=answer_delay, max_calls=max_calls,
                      max_time_s=(max_hours * 3600) if max_hours else horizon_s + 24 * 3600)
    outcomes = [simulate(queues=queues, staff=staff, arrivals=arrivals, options=options) for arrivals in loads]
    summary = report.summarize(outcomes, queues, window_start_s=warm_up, window_end_s=horizon_s)
    if as_json:
        click.echo(json.dumps(_as_json(summary, queues, staff=len(staff), calls=sum(map(len, loads))), indent=2))
    else:
        _print(summary, queues, title=f"what-if {tenant}: {len(staff)} agents, "
               + (f"recorded {len(loads[0])} calls" if recorded else f"{calls_per_hour:g} calls/h, AHT {aht:g} s, "
                  f"{hours:g} h x {replications}"))


def _as_json(summary: report.Summary, queues: dict[str, QueueConfig], *, staff: int, calls: int) -> dict:
    return {
        "agents": staff,
        "calls": calls,
        "replications": summary.occupancy.n,
        "occupancy": _estimate(summary.occupancy),
        "unfinished": summary.unfinished,
        "refused": summary.refused,
        "queues": {
            name: {
                "sl_threshold_s": (queues.get(name) or QueueConfig(name)).sl_threshold_s,
                "sl_target": (queues.get(name) or QueueConfig(name)).sl_target,
                **{figure: _estimate(value) for figure, value in figures.items()},
            }
            for name, figures in summary.queues.items()
        },
    }


def _estimate(e: report.Estimate) -> dict:
    return {**asdict(e), "low": e.low, "high": e.high}


def _print(summary: report.Summary, queues: dict[str, QueueConfig], *, title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    def show(e: report.Estimate, fmt: str) -> str:
        return fmt.format(e.mean) + (f" ± {fmt.format(e.half_width)}" if e.n > 1 else "")

    table = Table(title=title)
    for column in ("queue", "offered", "answered", "SL", "T / target", "ASA", "abandoned", "longest wait"):
        table.add_column(column, justify="left" if column == "queue" else "right", no_wrap=True)
    for name, f in summary.queues.items():
        queue = queues.get(name) or QueueConfig(name)
        target = f"{queue.sl_threshold_s:g} s / {queue.sl_target:.0%}"
        if f["offered"].mean == 0:  # e.g. an overflow target nothing overflowed to
            table.add_row(name, "0", "0", "-", target, "-", "-", "-", style="dim")
            continue
        table.add_row(
            name, show(f["offered"], "{:.1f}"), show(f["answered"], "{:.1f}"), show(f["service_level"], "{:.1%}"),
            target, show(f["asa_s"], "{:.1f} s"), show(f["abandonment_rate"], "{:.1%}"),
            show(f["longest_wait_s"], "{:.0f} s"),
            style=None if f["service_level"].mean >= queue.sl_target else "red",
        )
    console = Console(width=max(Console().width, 132))  # not a terminal: rich assumes 80 columns and wraps figures
    console.print(table)
    console.print(f"agent occupancy {show(summary.occupancy, '{:.1%}')}"
                  + (f" (± : 95 % interval over {summary.occupancy.n} replications)" if summary.occupancy.n > 1 else ""))
    if summary.unfinished:
        console.print(f"[red]{summary.unfinished} calls were still in the system when the runs stopped[/red]")
    if summary.refused:
        console.print(f"[red]{summary.refused} calls were refused by a full queue[/red]")
