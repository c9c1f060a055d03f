"""Each benchmark's result file: ``bench/results/<name>.json`` (gitignored), read back by ``report``.

A result is a JSON object: ``name``, ``quick`` (sizes of the smoke form), ``date``
(UTC, ISO 8601), ``command`` (as typed), ``machine`` (``machine.describe``),
``seconds`` (wall time of the run) and the benchmark's own ``figures``.
"""

from __future__ import annotations

import json
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "bench" / "results"


def command_line() -> str:
    """The command that is running, as a reader would retype it from the repository root."""
    return shlex.join([".venv/bin/python", "-m", "bench", *sys.argv[1:]])


def now_iso() -> str:
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def write(result: dict, *, directory: Path | None = None) -> Path:
    folder = directory or RESULTS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{result['name']}.json"
    path.write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    return path


def read(name: str, *, directory: Path | None = None) -> dict | None:
    path = (directory or RESULTS_DIR) / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def read_all(names: list[str], *, directory: Path | None = None) -> dict[str, dict]:
    found = {name: read(name, directory=directory) for name in names}
    return {name: result for name, result in found.items() if result is not None}
