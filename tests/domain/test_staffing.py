"""Erlang C staffing against the published textbook case and hand arithmetic."""

from __future__ import annotations

import pytest
from ccp_acd.cli import main
from ccp_acd.domain.staffing import Forecast, required, scheduled, with_agents
from click.testing import CliRunner

# 100 calls per 30 min, AHT 180 s, T = 20 s: 10 Erlangs. Published: 14 agents -> P(wait) 0.1741,
# SL 0.8884, ASA 7.8 s (= 0.1741 * 180 / (14 - 10)).
TEXTBOOK = Forecast(calls=100, interval_s=1800, aht_s=180, threshold_s=20)


def test_the_textbook_case():
    assert TEXTBOOK.erlangs == pytest.approx(10.0)
    figures = with_agents(TEXTBOOK, 14)
    assert figures.waiting_probability == pytest.approx(0.1741, abs=5e-5)
    assert figures.service_level == pytest.approx(0.8884, abs=5e-5)
    assert figures.asa_s == pytest.approx(7.8, abs=0.05)
    assert figures.occupancy == pytest.approx(10 / 14)


def test_required_agents_for_80_in_20():
    # 13 agents fall short of 80 % in 20 s, 14 meet it (the published answer).
    assert with_agents(TEXTBOOK, 13).service_level < 0.8 <= with_agents(TEXTBOOK, 14).service_level
    assert required(TEXTBOOK, target_sl=0.8).agents == 14
    assert required(TEXTBOOK, target_sl=0.8, max_occupancy=0.7).agents == 15  # 10/14 = 71% > 70%


def test_an_unstable_queue_is_never_enough():
    figures = with_agents(TEXTBOOK, 10)
    assert (figures.service_level, figures.asa_s) == (0.0, float("inf"))


def test_shrinkage_and_bad_input():
    assert scheduled(14, 0.3) == 20  # 14 / 0.7
    with pytest.raises(ValueError):
        scheduled(14, 1.0)
    with pytest.raises(ValueError):
        required(TEXTBOOK, target_sl=1.0)


def test_ccp_staffing_prints_the_answer():
    result = CliRunner().invoke(main, ["staffing", "--calls", "100", "--aht", "180", "--shrinkage", "0.3"])
    assert result.exit_code == 0, result.output
    assert "needed on the phones: 14 (SL 0.8884, ASA 7.8 s)" in result.output
    assert "to schedule with 30% shrinkage: 20" in result.output
    refused = CliRunner().invoke(main, ["staffing", "--calls", "0", "--aht", "180"])
    assert refused.exit_code == 2 and "--calls" in refused.output
