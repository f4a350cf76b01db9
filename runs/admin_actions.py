"""What every admin action on selected rows does, for the runs' and the studies' admins alike."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest


def each(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet,
    what: str,
    call: Callable[[Any], Any],
    describe: Callable[[Any], str] | None = None,
    *,
    refusals: tuple[type[Exception], ...],
) -> list[Any]:
    """Call the action on each selected row; report how many it took, what each made (``describe`` of the
    action's result) and why it refused the others (``refusals``: the errors that say why). Returns the action's
    results."""
    done, refused = [], []
    for obj in queryset:
        try:
            done.append(call(obj))
        except refusals as exc:
            refused.append(f"{obj}: {exc}")
    modeladmin.message_user(
        request, f"{what}: {len(done)} of {len(done) + len(refused)}.", messages.SUCCESS if done else messages.WARNING
    )
    for result in done if describe else ():
        modeladmin.message_user(request, describe(result), messages.INFO)
    for reason in refused:
        modeladmin.message_user(request, reason, messages.ERROR)
    return done
