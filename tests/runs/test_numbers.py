"""Numbers for people on the runs side."""

from __future__ import annotations

import math

import pytest

from runs.numbers import count, duration, measurement, metric, number, percent, setting


@pytest.mark.parametrize(
    ("value", "shown"),
    [(0.0123, "1.23%"), (0.123, "12.3%"), (0.5, "50.0%"), (1.0, "100%"), (0.001234, "0.12%"), (0.0, "0.00%")],
)
def test_rates_are_percentages_with_three_significant_digits(value, shown):
    assert percent(value) == shown


def test_missing_or_diverged_values_are_blank_or_a_dash():
    assert percent(None) == "" and percent(math.nan) == ""
    assert number(None) == "–" and number(math.inf) == "–" and measurement(None, 0.1) == "–"


def test_measurements_read_to_the_precision_of_their_spread():
    assert measurement(6.5012, 0.1234) == "6.50 ± 0.12"
    assert measurement(245.4, 12.0) == "245 ± 12"
    assert measurement(23.4567, None) == "23.46"
    assert number(12345.6) == "12,346" and number(0.01234) == "0.01234"


def test_named_metrics_counts_settings_and_durations():
    assert metric("test_error", 0.348) == "34.8%" and metric("test_accuracy", 0.991) == "99.1%"
    assert metric("fid", 23.4567) == "23.46"
    assert count(1234567) == "1,234,567"
    assert (setting(True), setting(False), setting(None), setting(0.5)) == ("on", "off", "–", "0.5")
    assert (duration(42), duration(185), duration(3720), duration(2 * 86400 + 3 * 3600)) == (
        "42s",
        "3m 05s",
        "1h 02m",
        "2d 03h",
    )
