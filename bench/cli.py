"""``python -m bench <name> [--quick]``: run one benchmark (or all), write its result, print its figures."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import click
from rich.console import Console

from bench import machine, results

NAMES = ("etcd", "floor", "routing", "latency", "scaling", "memory", "stats", "quality", "sip")
console = Console(highlight=False)


def _shown(path) -> str:
    """``path`` relative to the repository when it is inside it."""
    return str(path.relative_to(results.ROOT)) if path.is_relative_to(results.ROOT) else str(path)


def _say(text: str) -> None:
    console.print(text, markup=False, soft_wrap=True)


def _runner(name: str, quick: bool, rate: float | None) -> Callable[[], dict]:
    """The benchmark's run, with its full or quick plan (imports are lazy: `report` needs none of them)."""
    if name == "etcd":
        from bench import etcd_limit

        return lambda: etcd_limit.run(etcd_limit.QUICK if quick else etcd_limit.FULL, say=_say)
    if name == "floor":
        from bench import floor

        return lambda: asyncio.run(floor.run(floor.QUICK if quick else floor.FULL, say=_say))
    if name == "routing":
        from bench import routing

        return lambda: asyncio.run(routing.run(routing.QUICK if quick else routing.FULL, say=_say))
    if name == "latency":
        from bench import latency

        return lambda: asyncio.run(latency.run(latency.QUICK if quick else latency.FULL, rate=rate, say=_say))
    if name == "scaling":
        from bench import scaling

        return lambda: asyncio.run(scaling.run(scaling.QUICK if quick else scaling.FULL, rate=rate, say=_say))
    if name == "memory":
        from bench import memory

        return lambda: asyncio.run(memory.run(memory.QUICK if quick else memory.FULL, say=_say))
    if name == "stats":
        from bench import stats

        return lambda: asyncio.run(stats.run(stats.QUICK if quick else stats.FULL, say=_say))
    if name == "quality":
        from bench import quality

        return lambda: asyncio.run(quality.run(quality.QUICK if quick else quality.FULL, say=_say))
    if name == "sip":
        from bench import sip

        return lambda: asyncio.run(sip.run(sip.QUICK if quick else sip.FULL, say=_say))
    raise click.BadParameter(f"unknown benchmark {name!r}")


def run_one(name: str, *, quick: bool, rate: float | None = None) -> dict:
    """Run benchmark ``name`` and write ``bench/results/<name>.json``; returns the result."""
    console.rule(f"bench {name}{' (quick)' if quick else ''}")
    about = machine.describe()
    started = time.monotonic()
    figures = _runner(name, quick, rate)()
    result = {
        "name": name,
        "quick": quick,
        "date": results.now_iso(),
        "command": results.command_line(),
        "machine": about,
        "seconds": round(time.monotonic() - started, 1),
        "figures": figures,
    }
    path = results.write(result)
    _say(f"{name}: {result['seconds']:.0f} s, written to {_shown(path)}")
    return result


@click.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("name", type=click.Choice([*NAMES, "all", "report"]))
@click.option("--quick", is_flag=True, help="Tiny counts and short steps: a smoke run of seconds, not a measurement.")
@click.option("--rate", type=float, default=None,
              help="latency/scaling: the offered calls/s for the latency figure (default: half the measured maximum).")
def main(name: str, quick: bool, rate: float | None) -> None:
    """Run a benchmark: etcd, routing, latency, scaling, memory, quality, sip; `all` runs them all, then `report`."""
    logging.basicConfig(level=logging.ERROR)
    if name == "report":
        from bench import report

        path = report.write()
        _say(f"written {_shown(path)}")
        return
    names = NAMES if name == "all" else (name,)
    for each in names:
        run_one(each, quick=quick, rate=rate)
    if name == "all":
        from bench import report

        path = report.write()
        _say(f"written {_shown(path)}")
