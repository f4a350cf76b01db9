"""Numbers for people: rates as percentages with three significant digits, measurements with a spread to
the spread's precision, counts with separators, settings as on/off, durations in days, hours and minutes.
Blank (or a dash) where there is no value. The dashboard's template filters and the admin use these."""

from __future__ import annotations

import math
from typing import Any


def percent(value: float | None, digits: int | None = None) -> str:
    """0.0123 → "1.23%", 0.123 → "12.3%", 1.0 → "100%": three significant digits, two decimals at most,
    unless ``digits`` fixes the decimals; blank when there is no value."""
    if value is None or not math.isfinite(value):
        return ""
    pct = 100 * value
    if digits is None:
        digits = 2 if abs(pct) < 1 else min(2, max(0, 2 - math.floor(math.log10(abs(pct)))))
    return f"{pct:.{digits}f}%"


def number(value: float | None, significant: int = 4) -> str:
    """A measurement with ``significant`` digits and thousands separators: 23.4567 → "23.46",
    12345.6 → "12,346"; a dash when there is none (a diverged value included)."""
    if value is None or not math.isfinite(value):
        return "–"
    if value == 0:
        return "0"
    decimals = max(0, significant - 1 - math.floor(math.log10(abs(value))))
    return f"{value:,.{decimals}f}"


def measurement(value: float | None, std: float | None = None) -> str:
    """A value with its spread: the spread to two significant digits, the value to the same decimals
    (6.5012, 0.1234 → "6.50 ± 0.12"); without a spread, ``number``."""
    if std is None or value is None or not math.isfinite(std) or std <= 0:
        return number(value)
    decimals = max(0, 1 - math.floor(math.log10(std)))
    return f"{value:,.{decimals}f} ± {std:,.{decimals}f}"


def metric(name: str, value: float | None) -> str:
    """A named metric's value: rates (errors, accuracies) as percentages, anything else as ``number``."""
    return percent(value) if any(word in name for word in ("error", "accuracy")) else number(value)


def count(value: int | None) -> str:
    """12345 → "12,345"."""
    return "" if value is None else f"{value:,}"


def setting(value: Any) -> str:
    """A config value as the run form shows it: booleans as on/off."""
    if isinstance(value, bool):
        return "on" if value else "off"
    return "–" if value is None else str(value)


def duration(seconds: float | None) -> str:
    """Seconds as "2d 03h", "1h 02m", "3m 05s" or "42s"; blank when unknown."""
    if seconds is None:
        return ""
    s = int(seconds)
    if s >= 86400:
        return f"{s // 86400}d {s % 86400 // 3600:02d}h"
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s}s"
