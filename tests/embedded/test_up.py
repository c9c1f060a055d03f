"""`ccp up` end to end, as a user runs it: exits 0, every call accounted for, nothing left running."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.etcd, pytest.mark.slow]

CCP = Path(sys.executable).with_name("ccp")


def test_ccp_up_runs_to_completion_and_leaves_no_process_behind():
    done = subprocess.run(
        [str(CCP), "up", "--duration", "8", "--max-calls", "40", "--seed", "3"],
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, "COLUMNS": "140"},
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "applied tenant/acme" in output and "applied queue/acme/support" in output
    assert "lost 0, duplicated 0" in output
    completed = int(re.search(r"completed (\d+)", output).group(1))
    assert completed > 0
    pids = [int(p) for p in re.findall(r"\(pid (\d+)\)", output)]
    assert len(pids) == 3, output  # etcd and one node for each of the two sites
    assert not [pid for pid in pids if Path(f"/proc/{pid}").exists()], "processes left running"
    assert "STILL RUNNING" not in output
