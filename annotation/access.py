"""Who sees a study's results, exports and annotators: its owner (who created it), members of the groups it is
shared with, and superusers. Staff status opens the researchers' pages; this decides which studies are on them."""

from __future__ import annotations

from typing import Any

from django.db.models import Q, QuerySet

from annotation.models import Study


def visible_studies(user: Any) -> QuerySet[Study]:
    studies = Study.objects.all()
    if user.is_superuser:
        return studies
    return studies.filter(Q(created_by=user) | Q(shared_with__in=user.groups.all())).distinct()


def can_view(user: Any, study: Study) -> bool:
    return visible_studies(user).filter(pk=study.pk).exists()
