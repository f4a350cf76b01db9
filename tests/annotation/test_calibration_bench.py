"""bench/calibration.py in its quick mode, so that the benchmark cannot rot: every estimate of the results page is
scored against its truth, and the numbers are sane."""

from __future__ import annotations

import math

from bench.calibration import SCENARIOS, main


def test_the_quick_calibration_scores_every_estimate_against_its_truth(capsys):
    rows = main(["--quick"])
    printed = capsys.readouterr().out
    assert "| scenario | estimate | truth |" in printed and "R = 4 replicates" in printed
    assert {row.scenario for row in rows} == set(SCENARIOS)
    by_name = {(row.scenario, row.estimate): row for row in rows}
    for scenario in ("crowd", "ideal"):
        for name in (
            "accuracy, Wilson",
            "accuracy, two-way cluster-robust (annotators × images)",
            "HYPE∞, bootstrap over annotators",
        ):
            row = by_name[scenario, name]
            assert row.n == 4 and row.covered is not None and math.isfinite(row.bias) and abs(row.bias) < 0.05
        assert by_name[scenario, "d′"].covered is None  # the page shows d′ without an interval
        assert by_name[scenario, "fake error of a pool, Wilson (each pool)"].n == 4 * 5
    assert abs(by_name["hype_time", "HYPE-time (ms) against the threshold, bootstrap over annotators"].bias) < 30
