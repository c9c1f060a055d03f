"""The drills, in their short form, against the embedded platform: real etcd, real node processes, real faults.

Each runs a bounded load (20-25 s) with a fault in the middle and judges every
call's recorded history. The assertions are the design's guarantees (no call
lost or duplicated, every call accounted for) and generous bounds on the
timings (the drills report the measured figures; the targets are checked by
the drills' own tolerances in the full form, on a quiet machine).
"""

from __future__ import annotations

import json

import pytest
from ccp_acd.chaos.drill import drill_names, load_drill
from ccp_acd.chaos.runner import compare_overflow, run_drill, write_report

pytestmark = pytest.mark.slow

# Generous bounds (seconds) on "routing stopped" per drill, for a shared 2-core CI machine.
BOUNDS = {"kill-owner": 5.0, "kill-site": 15.0, "partition-site": 20.0}


def test_every_drill_document_is_valid_and_names_its_fault():
    names = drill_names()
    assert {"kill-owner", "kill-site", "etcd-member", "partition-site", "latency", "surge", "overflow"} <= set(names)
    for name in names:
        drill = load_drill(name)
        assert drill.short is not None and drill.short.duration_s < drill.load.duration_s, name
        tolerances = drill.steady_state_hypothesis.tolerances
        assert tolerances.lost == 0 and tolerances.duplicated == 0
        for action in drill.method:
            assert action.at_s < drill.short.duration_s, f"{name}: {action.action} must happen inside the short form"


@pytest.mark.parametrize("name", ["kill-owner", "kill-site", "etcd-member", "partition-site", "latency", "surge"])
async def test_drill_loses_and_duplicates_no_call(name, tmp_path):
    report = await run_drill(load_drill(name), short=True, workdir=tmp_path)
    print("\n".join(report.summary()))
    verdict = report.verdict
    assert verdict["lost"] == [] and verdict["duplicated"] == [] and verdict["inconsistent"] == []
    assert verdict["enqueued"] > 20 and verdict["unresolved"] == 0
    assert verdict["completed"] + verdict["abandoned"] + verdict["voicemail"] == verdict["enqueued"]
    if name in BOUNDS:
        stop = report.routing_stop
        figure = stop["longest_s"] if load_drill(name).measure.calls == "affected" else stop["resumed_after_s"]
        assert figure is not None, f"no call of the measured scope was routed after the fault: {stop}"
        assert figure < BOUNDS[name], f"routing stopped {figure:.2f}s"
    if name in ("kill-site", "partition-site"):
        downs = [e for e in report.etcd_events if e["key"].endswith("site-a/state") and '"down"' in e["value"]]
        assert downs, "site-a was never declared down"
    path = write_report(report, tmp_path / "reports", name)
    assert json.loads(path.read_text())["verdict"]["lost"] == []
    assert path.with_suffix(".txt").read_text().startswith(report.drill)


async def test_n_way_overflow_raises_the_overloaded_sites_service_level(tmp_path):
    without, with_ = await compare_overflow(load_drill("overflow"), short=True, seed=1)
    for report in (without, with_):
        print("\n".join(report.summary()))
        assert report.verdict["lost"] == [] and report.verdict["duplicated"] == []
    print(f"service level without overflow {without.service_level:.1%}, with {with_.service_level:.1%}")
    assert with_.service_level > without.service_level
