"""The page's files ship in the wheel: pyproject's package data covers every file the listener serves."""

from __future__ import annotations

import tomllib
from fnmatch import fnmatch
from pathlib import Path

from ccp_acd.wallboard import web

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "platform" / "ccp_acd" / "wallboard" / "static"


def test_every_served_file_exists_and_is_package_data():
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = config["tool"]["setuptools"]["package-data"]["ccp_acd.wallboard"]
    for name in web.STATIC:
        assert (STATIC / name).is_file(), name
        assert any(fnmatch(f"static/{name}", p) for p in patterns), f"static/{name} is not package data"
