from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def percent(value: float | None, digits: int = 2) -> str:
    """0.0123 → "1.23%"; blank when there is no value."""
    return "" if value is None else f"{100 * value:.{digits}f}%"


@register.filter
def duration(seconds: float | None) -> str:
    """Seconds as "1h 02m", "3m 05s" or "42s"; blank when unknown."""
    if seconds is None:
        return ""
    s = int(seconds)
    if s >= 3600:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    if s >= 60:
        return f"{s // 60}m {s % 60:02d}s"
    return f"{s}s"
