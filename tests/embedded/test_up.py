"""`ccp up` end to end, as a user runs it: exits 0, every call accounted for, nothing left running,
also when interrupted (Ctrl-C, SIGTERM) in the middle of the load."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import scaled

pytestmark = [pytest.mark.etcd, pytest.mark.slow]

CCP = Path(sys.executable).with_name("ccp")
ENV = {**os.environ, "COLUMNS": "160"}


def _children(output: str) -> tuple[list[int], Path]:
    pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", output)]
    workdir = Path(re.search(r"run folder (\S+)", output).group(1))
    return pids, workdir


def _sip_children(output: str) -> list[int]:
    return [int(p) for p in re.findall(r"\(sip pid (\d+)\)", output)]


def _assert_nothing_left(pids: list[int], workdir: Path) -> None:
    assert len(pids) == 3, pids  # etcd and one node for each of the two sites
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()], "processes left running"
    leftover = subprocess.run(["pgrep", "-f", str(workdir)], capture_output=True, text=True)
    assert leftover.stdout.strip() == "", f"processes still using {workdir}: {leftover.stdout}"
    assert not workdir.exists()


def test_ccp_up_runs_to_completion_and_leaves_no_process_behind():
    done = subprocess.run(
        [str(CCP), "up", "--duration", "10", "--max-calls", "60", "--seed", "3", "--sip", "--sip-calls", "6"],
        capture_output=True,
        text=True,
        timeout=scaled(240),
        env=ENV,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "applied tenant/acme" in output and "applied queue/acme/support" in output
    assert "created 12 agents" in output and "heidi@site-b" in output
    planned = int(re.search(r"planned (\d+), enqueued (\d+)", output).group(1))
    completed = int(re.search(r"completed (\d+)", output).group(1))
    assert 0 < completed <= planned <= 60
    assert "lost 0, duplicated 0, inconsistent 0" in output
    assert "TLS everywhere; CA " in output  # generated into the run folder: etcd, nodes and clients use it
    assert "queues (times in model seconds)" in output and "agents by site and state" in output
    assert re.search(r"Prometheus: http://127\.0\.0\.1:\d+/metrics, http://127\.0\.0\.1:\d+/metrics", output), output
    assert re.search(r"wallboard: http://127\.0\.0\.1:\d+/wallboard#token=acme\.", output), output
    _assert_nothing_left(*_children(output))
    assert "STILL RUNNING" not in output
    # Real SIP calls: sipp as the carrier, through the IVR and a `ccp sip` adapter per site, to sipp phones.
    assert "SIP calls: placed 6, answered by the adapter 6, completed 6, failed 0, lost 0" in output, output
    sip = _sip_children(output)
    assert len(sip) == 2 + 4 + 1, sip  # an adapter per site, four phones, the caller
    assert "stopped 7 SIP processes" in output
    assert not [pid for pid in sip if Path(f"/proc/{pid}").exists()], "SIP processes left running"


def test_ccp_up_refuses_sip_without_sipp():
    done = subprocess.run([str(CCP), "up", "--sip"], capture_output=True, text=True, timeout=scaled(30),
                          env={**ENV, "PATH": str(CCP.parent)})
    assert done.returncode == 2, done.stdout + done.stderr
    assert "--sip needs sipp on PATH" in done.stderr


@pytest.mark.parametrize("signum, code, sip", [(signal.SIGINT, 130, "--sip"), (signal.SIGTERM, 143, "--no-sip")])
def test_an_interrupted_ccp_up_stops_everything_it_started(tmp_path, signum, code, sip):
    log = tmp_path / "up.log"
    with open(log, "w") as out:
        up = subprocess.Popen(
            [str(CCP), "up", "--duration", "120", "--max-calls", "400", sip], stdout=out, stderr=subprocess.STDOUT,
            env=ENV,
        )
    try:
        deadline = time.monotonic() + scaled(60)
        ready = "SIP: desk agents" if sip == "--sip" else "created 12 agents"
        while ready not in log.read_text():
            assert up.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        time.sleep(1.0)  # into the load
        up.send_signal(signum)
        assert up.wait(timeout=scaled(60)) == code, log.read_text()
    finally:
        if up.poll() is None:
            up.kill()
            up.wait()
    output = log.read_text()
    assert "stopped 3 processes" in output, output
    _assert_nothing_left(*_children(output))
    if sip == "--sip":
        assert "stopped 7 SIP processes" in output and "STILL RUNNING" not in output, output
        assert not [pid for pid in _sip_children(output) if Path(f"/proc/{pid}").exists()], "SIP processes left"
    else:
        assert "SIP" not in output, output
