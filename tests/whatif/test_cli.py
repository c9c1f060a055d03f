"""``ccp what-if`` from the command line: figures on the examples, precise errors on bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from ccp_acd.cli import main
from click.testing import CliRunner

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
QUEUES = str(EXAMPLES / "queues.yaml")
ROSTER = str(EXAMPLES / "embedded" / "agents.yaml")
LOAD = ["--calls-per-hour", "120", "--aht", "180", "--hours", "1", "--replications", "3", "--seed", "5"]


def _run(*args: str):
    return CliRunner().invoke(main, ["what-if", *args])


def test_prints_the_predicted_figures_of_every_example_queue():
    result = _run("-f", QUEUES, "--agents", "8", "--patience", "120", *LOAD)
    assert result.exit_code == 0, result.output
    for expected in ("what-if acme: 8 agents, 120 calls/h", "sales", "support", "general", "20 s / 80%", "30 s / 80%",
                     "agent occupancy", "95 % interval over 3 replications"):
        assert expected in result.output


def test_json_figures_are_consistent_and_the_same_seed_gives_the_same_answer():
    args = ("-f", QUEUES, "--roster", ROSTER, "--queue", "sales=2", "--queue", "support", "--patience", "60", "--json",
            *LOAD)
    first, again = _run(*args), _run(*args)
    assert first.exit_code == 0, first.output
    assert first.output == again.output
    report = json.loads(first.output)
    assert (report["agents"], report["replications"]) == (12, 3)
    sales, support = report["queues"]["sales"], report["queues"]["support"]
    assert sales["offered"]["mean"] > support["offered"]["mean"] > 0  # weighted 2 : 1
    assert sales["offered"]["mean"] + support["offered"]["mean"] == pytest.approx(report["calls"] / 3)
    assert 0 <= sales["service_level"]["low"] <= sales["service_level"]["mean"] <= 1
    assert sales["answered"]["mean"] + sales["abandoned"]["mean"] == pytest.approx(sales["offered"]["mean"])
    assert 0 < report["occupancy"]["mean"] < 1


def test_fewer_agents_predict_a_worse_service_level():
    def service_level(agents: int) -> float:
        result = _run("-f", QUEUES, "--agents", str(agents), "--queue", "general", "--json", *LOAD)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)["queues"]["general"]["service_level"]["mean"]

    assert service_level(3) < service_level(6)


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["-f", "no/such/queues.yaml", "--agents", "2", *LOAD], 2, "does not exist"),
        (["-f", QUEUES, "--agents", "0", *LOAD], 2, "Invalid value for '--agents': 0 is not in the range 1<=x<=10000"),
        (["-f", QUEUES, "--agents", "2", "--calls-per-hour", "-5", "--aht", "180"], 2, "-5.0 is not in the range x>0"),
        (["-f", QUEUES, "--agents", "2", "--roster", ROSTER, *LOAD], 2, "either --agents N or --roster FILE"),
        (["-f", QUEUES, *LOAD], 2, "either --agents N or --roster FILE"),
        (["-f", QUEUES, "--agents", "2", "--aht", "180"], 2, "needs --calls-per-hour and --aht"),
        (["-f", QUEUES, "--agents", "2", "--queue", "nope", *LOAD], 2, "queue 'nope' is not in the files given"),
        (["-f", QUEUES, "--agents", "2", "--warm-up", "3600", *LOAD], 2, "must be shorter than the load"),
        (["-f", QUEUES, "--agents", "2", "--recorded", "--from", "yesterday", "--to", "2026-01-01"], 2,
         "'yesterday' is not an ISO 8601 time"),
        (["-f", QUEUES, "--agents", "2", "--recorded", "--from", "2026-01-02", "--to", "2026-01-01"], 2,
         "must be after --from"),
        (["-f", str(EXAMPLES / "invalid" / "queue-bad-strategy.yaml"), "--agents", "2", *LOAD], 1, "spec.strategy"),
    ],
)
def test_bad_input_is_a_precise_error(args, code, message):
    result = _run(*args)
    assert result.exit_code == code, result.output
    assert message in result.output.replace("\n", " ")
