"""The committed generated code is exactly what scripts/gen_protos.py makes of the .proto files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GENERATED = ("_pb2.py", "_pb2_grpc.py", "_pb2.pyi")


def _generated(folder: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(folder)): p.read_bytes()
        for p in folder.rglob("*")
        if p.is_file() and p.name.endswith(GENERATED)
    }


def test_generated_code_has_not_drifted(tmp_path):
    subprocess.run([sys.executable, "scripts/gen_protos.py", "--out", str(tmp_path)], cwd=ROOT, check=True)
    fresh = _generated(tmp_path)
    committed = _generated(ROOT / "protos")
    assert fresh, "the script generated nothing"
    assert sorted(committed) == sorted(fresh), "generated files missing or extra: run scripts/gen_protos.py"
    drifted = [name for name in fresh if fresh[name] != committed[name]]
    assert not drifted, f"stale generated code: {drifted}; run scripts/gen_protos.py and commit"
