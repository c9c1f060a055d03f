"""The benchmark suite's smoke tests write their results to a temporary folder, never to bench/results/."""

from __future__ import annotations

import pytest

from bench import results


@pytest.fixture(autouse=True)
def _results_elsewhere(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path / "results")
    yield
