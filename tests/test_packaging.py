"""`operator` and `platform` are standard-library modules: our folders must not shadow them."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_stdlib_operator_and_platform_win_from_the_repo_root():
    probe = (
        "import operator, platform, sysconfig, pathlib;"
        "stdlib = pathlib.Path(sysconfig.get_paths()['stdlib']).resolve();"
        "print(pathlib.Path(operator.__file__).resolve().parent == stdlib,"
        " pathlib.Path(platform.__file__).resolve().parent == stdlib,"
        " callable(operator.itemgetter), bool(platform.python_version()))"
    )
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["True"] * 4, done.stdout + done.stderr


def test_our_packages_import_under_their_own_names():
    probe = "import ccp_acd, ccp_operator, ccpapi.v1.agent_pb2, ccp_acd.cli; print('ok')"
    done = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True)
    assert done.stdout.strip() == "ok", done.stderr
