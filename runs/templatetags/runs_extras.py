"""The dashboard's filters: runs.numbers, for templates."""

from __future__ import annotations

from django import template

from runs import numbers

register = template.Library()

for _name in ("percent", "number", "measurement", "count", "setting", "duration"):
    register.filter(_name, getattr(numbers, _name))
