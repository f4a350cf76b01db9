"""A researcher's verbs on a study: create, edit and delete it, choose its pools and attention checks, open it (its
items drawn from its pools and encoded) and close it. Each raises ``StudyError`` with a message for the researcher.
"""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from annotation import images, readiness
from annotation.actions.errors import StudyError
from annotation.models import Study, StudyItem, StudyPool
from annotation.protocols import get_protocol, qualification
from annotation.protocols.sequence import apportion
from runs.models import ImagePool, JobStatus

# The study settings a researcher chooses; the rest of a study's row is its state.
STUDY_SETTINGS = (
    "name",
    "title",
    "instructions",
    "consent_text",
    "protocol",
    "feedback",
    "feedback_ms",
    "real_fraction",
    "items_per_assignment",
    "block_size",
    "judgments_per_item",
    "attention_per_assignment",
    "require_qualification",
    "qualification_items",
    "qualification_threshold",
    "max_assignments_per_annotator",
    "completion_code",
    "mixed_datasets_reason",
)
# Wording shown as it is: an open study's annotators must all have read the same.
FROZEN_WHEN_OPENED = tuple(name for name in STUDY_SETTINGS if name not in ("name",))
MAX_FEEDBACK_MS = 60_000


def study_settings_errors(values: Mapping[str, Any]) -> dict[str, str]:
    """Each setting that cannot work, with the reason (empty when all can): for forms and actions alike."""
    errors: dict[str, str] = {}
    protocol_name = values.get("protocol", Study.Protocol.SALIMANS)
    if protocol_name not in Study.Protocol.values:
        return {"protocol": f"unknown protocol {protocol_name!r}"}
    errors.update(get_protocol(protocol_name).violations(values))
    real_fraction = values.get("real_fraction", 0.5)
    if not 0 < real_fraction < 1:
        errors["real_fraction"] = "must be strictly between 0 and 1: a study needs real and generated images"
    for name in ("items_per_assignment", "judgments_per_item", "max_assignments_per_annotator"):
        if name in values and values[name] < 1:
            errors[name] = "must be at least 1"
    block_size = values.get("block_size")
    if block_size is not None and not 1 <= block_size <= values.get("items_per_assignment", block_size):
        errors["block_size"] = "must be between 1 and the items per assignment"
    if values.get("require_qualification") and values.get("qualification_items", 100) < 2:
        errors["qualification_items"] = "a qualification needs at least one real and one generated image"
    if not 0 <= values.get("qualification_threshold", 0.65) <= 1:
        errors["qualification_threshold"] = "must be a fraction between 0 and 1"
    if not 0 <= values.get("feedback_ms", 0) <= MAX_FEEDBACK_MS:
        errors["feedback_ms"] = f"must be between 0 (until the annotator goes on) and {MAX_FEEDBACK_MS} ms"
    return errors


def _check_settings(values: Mapping[str, Any]) -> None:
    errors = study_settings_errors(values)
    if errors:
        raise StudyError("; ".join(f"{name}: {message}" for name, message in errors.items()))


def locked_study(study: Study) -> Study:
    return Study.objects.select_for_update().get(pk=study.pk)


def create_study(*, name: str, protocol: str = Study.Protocol.SALIMANS, user: Any = None, **values: Any) -> Study:
    """A draft study with the protocol's standard settings, overridden by ``values`` (``STUDY_SETTINGS``)."""
    unknown = set(values) - set(STUDY_SETTINGS)
    if unknown:
        raise StudyError(f"unknown study settings: {', '.join(sorted(unknown))}")
    if protocol not in Study.Protocol.values:
        raise StudyError(f"unknown protocol {protocol!r}; choose one of {', '.join(Study.Protocol.values)}")
    chosen = {**get_protocol(protocol).defaults(), **values, "name": name, "protocol": protocol}
    _check_settings(_effective(Study(), chosen))
    return Study.objects.create(**chosen, created_by=user if user is not None and user.is_authenticated else None)


def _effective(study: Study, values: Mapping[str, Any]) -> dict[str, Any]:
    return {**{name: getattr(study, name) for name in STUDY_SETTINGS}, **values}


def edit_study(study: Study, **values: Any) -> Study:
    """Change a study's settings. Once opened only its name may change: its annotators read the rest."""
    unknown = set(values) - set(STUDY_SETTINGS)
    if unknown:
        raise StudyError(f"unknown study settings: {', '.join(sorted(unknown))}")
    with transaction.atomic():
        study = locked_study(study)
        changed = {name: value for name, value in values.items() if getattr(study, name) != value}
        frozen = sorted(set(changed) & set(FROZEN_WHEN_OPENED))
        if frozen and study.status != Study.Status.DRAFT:
            raise StudyError(f"study #{study.pk} is {study.status}: {', '.join(frozen)} can change only in a draft")
        _check_settings(_effective(study, changed))
        for name, value in changed.items():
            setattr(study, name, value)
        if changed:
            study.save(update_fields=list(changed))
    return study


def delete_study(study: Study) -> None:
    """Delete a draft; a study that was ever opened keeps its record (close it instead)."""
    with transaction.atomic():
        study = locked_study(study)
        _require_draft(study, "deletion")
        study.delete()


def set_study_pool(
    study: Study,
    pool: ImagePool,
    *,
    label: str = "",
    top_percent: float | None = None,
    weight: float = 1.0,
    max_items: int | None = None,
) -> StudyPool:
    """Add a pool to a draft study, or change how the study draws from it."""
    if weight <= 0:
        raise StudyError("weight: must be positive")
    if top_percent is not None and not 0 < top_percent <= 100:
        raise StudyError("top_percent: must be in (0, 100]")
    if top_percent is not None and pool.kind != ImagePool.Kind.GENERATED:
        raise StudyError(f"{pool}: a top percentage by Inception Score applies to generated pools only")
    with transaction.atomic():
        study = locked_study(study)
        _require_draft(study, "its pools")
        study_pool, _ = StudyPool.objects.update_or_create(
            study=study,
            pool=pool,
            defaults={"label": label, "top_percent": top_percent, "weight": weight, "max_items": max_items},
        )
    return study_pool


def remove_study_pool(study_pool: StudyPool) -> None:
    with transaction.atomic():
        _require_draft(locked_study(study_pool.study), "its pools")
        study_pool.delete()


def _require_draft(study: Study, what: str) -> None:
    if study.status != Study.Status.DRAFT:
        raise StudyError(f"study #{study.pk} is {study.status}: {what} can change only in a draft")


def add_attention_items(study: Study, pool: ImagePool, files: Sequence[str] = (), *, count: int | None = None) -> int:
    """Make images of ``pool`` attention checks of ``study``: obvious cases, whose truth is the pool's kind.
    The images are those named in ``files``, or ``count`` of the pool's images not yet in the study, at random.
    Returns how many were added; an image that already has a role in the study is refused."""
    listed = [image.file for image in _manifest(pool)]
    with transaction.atomic():
        study = locked_study(study)
        if study.status == Study.Status.CLOSED:
            raise StudyError(f"study #{study.pk} is closed")
        taken = set(StudyItem.objects.filter(study=study, pool=pool).values_list("file", flat=True))
        if count is not None:
            free = [name for name in listed if name not in taken]
            if count > len(free):
                raise StudyError(f"{pool}: {len(free)} images are not in the study yet, fewer than {count}")
            files = random.Random(f"{study.seed}:attention:{pool.pk}:{len(taken)}").sample(free, count)
        files = list(dict.fromkeys(files))
        if not files:
            raise StudyError("name at least one image of the pool, or give a count")
        missing = sorted(set(files) - set(listed))
        if missing:
            raise StudyError(f"{pool}: no image named {', '.join(missing[:5])} in its manifest")
        already = sorted(set(files) & taken)
        if already:
            raise StudyError(f"{', '.join(already[:5])}: already in study #{study.pk}")
        truth = pool.kind == ImagePool.Kind.REAL
        added = StudyItem.objects.bulk_create(
            StudyItem(study=study, pool=pool, file=name, truth_real=truth, purpose=StudyItem.Purpose.ATTENTION)
            for name in files
        )
        if study.status == Study.Status.OPEN:
            _encode(study, added)  # a draft's images are all encoded when it opens
    return len(files)


def remove_attention_item(item: StudyItem) -> None:
    """Take an attention check out of a study; one already shown to somebody stays, with its judgments."""
    with transaction.atomic():
        item = StudyItem.objects.select_for_update().get(pk=item.pk, purpose=StudyItem.Purpose.ATTENTION)
        if item.assignments.exists():
            raise StudyError(f"attention item #{item.pk} has been shown already; it stays with its judgments")
        item.delete()


def _manifest(pool: ImagePool) -> list[images.PoolImage]:
    if pool.status != JobStatus.DONE:
        raise StudyError(f"{pool} is {pool.status}: only a finished pool can be shown")
    try:
        return images.read_manifest(pool)
    except images.ImageError as exc:
        raise StudyError(str(exc)) from None


def _encode(study: Study, items: Sequence[StudyItem]) -> None:
    """Write the study's copy of each item's image with the one encoder (images.encode_study_images), in the mode
    of the images it serves already, if any."""
    served = StudyItem.objects.filter(study=study).exclude(pk__in=[item.pk for item in items]).first()
    try:
        mode = images.study_mode(study.public_id, served.pk) if served is not None else None
        sources = [images.Source(item.pk, images.image_path(item.pool, item.file), str(item.pool)) for item in items]
        images.encode_study_images(study.public_id, sources, mode=mode)
    except images.ImageError as exc:
        raise StudyError(str(exc)) from None


def open_study(study: Study, *, user: Any = None) -> Study:
    """Open a draft (its items are drawn from its pools now) or reopen a closed study."""
    with transaction.atomic():
        study = locked_study(study)
        if study.status == Study.Status.OPEN:
            raise StudyError(f"study #{study.pk} is already open")
        if study.status == Study.Status.DRAFT:
            _check_settings(_effective(study, {}))
            problems = readiness.problems(study)
            if problems:
                raise StudyError(f"study #{study.pk} cannot open: " + "; ".join(map(str, problems)))
            _build_items(study)
            study.opened_at = timezone.now()
        study.status = Study.Status.OPEN
        study.closed_at = None
        study.save(update_fields=["status", "opened_at", "closed_at"])
    return study


def close_study(study: Study, *, user: Any = None) -> Study:
    """Stop taking annotators; those in the middle of their sequence may finish it."""
    with transaction.atomic():
        study = locked_study(study)
        if study.status != Study.Status.OPEN:
            raise StudyError(f"study #{study.pk} is {study.status}: only an open study can be closed")
        study.status = Study.Status.CLOSED
        study.closed_at = timezone.now()
        study.save(update_fields=["status", "closed_at"])
    return study


def _build_items(study: Study) -> None:
    """The study's test and qualification items, from its pools (top k% and subsets applied)."""
    pools = list(study.study_pools.select_related("pool"))
    real = [sp for sp in pools if sp.pool.kind == ImagePool.Kind.REAL]
    generated = [sp for sp in pools if sp.pool.kind == ImagePool.Kind.GENERATED]
    if not real or not generated:
        raise StudyError(f"study #{study.pk} needs a real pool and at least one generated pool")
    rng = random.Random(study.seed)
    attention = set(
        StudyItem.objects.filter(study=study, purpose=StudyItem.Purpose.ATTENTION).values_list("pool_id", "file")
    )
    if len(attention) < study.attention_per_assignment:
        raise StudyError(
            f"study #{study.pk} shows {study.attention_per_assignment} attention checks per assignment but has "
            f"{len(attention)}: add them on the attention items page"
        )
    candidates: dict[int, list[images.PoolImage]] = {}
    for sp in pools:
        chosen = [image for image in _manifest(sp.pool) if (sp.pool_id, image.file) not in attention]
        if sp.top_percent is not None:
            if any(image.inception_kl is None for image in chosen):
                raise StudyError(f"{sp.pool}: its manifest has no per-image Inception Score; score the pool first")
            chosen.sort(key=lambda image: -image.inception_kl)  # type: ignore[operator]
            chosen = chosen[: max(1, round(len(chosen) * sp.top_percent / 100))]
        if sp.max_items is not None and sp.max_items < len(chosen):
            chosen = rng.sample(chosen, sp.max_items)
        rng.shuffle(chosen)
        candidates[sp.pool_id] = chosen
    qualifying: dict[int, list[images.PoolImage]] = defaultdict(list)
    if study.require_qualification:
        n_real, n_generated = qualification.split(study.qualification_items)
        for group, total in ((real, n_real), (generated, n_generated)):
            for sp, count in zip(group, apportion(total, [sp.weight for sp in group]), strict=True):
                qualifying[sp.pool_id] = candidates[sp.pool_id][:count]
                candidates[sp.pool_id] = candidates[sp.pool_id][count:]
    for sp, quota in pool_quotas(study, pools).items():
        if len(candidates[sp.pool_id]) < quota:
            raise StudyError(
                f"{sp.name}: {len(candidates[sp.pool_id])} images left for testing, but each assignment takes {quota}"
            )
    by_pool = {sp.pool_id: sp.pool for sp in pools}
    rows = [
        StudyItem(
            study=study,
            pool=by_pool[pool_id],
            file=image.file,
            truth_real=by_pool[pool_id].kind == ImagePool.Kind.REAL,
            purpose=purpose,
            inception_kl=image.inception_kl,
        )
        for purpose, groups in ((StudyItem.Purpose.TEST, candidates), (StudyItem.Purpose.QUALIFICATION, qualifying))
        for pool_id, chosen in groups.items()
        for image in chosen
    ]
    StudyItem.objects.bulk_create(rows, batch_size=2000)
    _encode(study, list(StudyItem.objects.filter(study=study).select_related("pool")))


def pool_quotas(study: Study, pools: Sequence[StudyPool]) -> dict[StudyPool, int]:
    """Test images per assignment from each pool: the real fraction, then each kind shared by weight."""
    n_real = round(study.items_per_assignment * study.real_fraction)
    quotas: dict[StudyPool, int] = {}
    for kind, total in ((ImagePool.Kind.REAL, n_real), (ImagePool.Kind.GENERATED, study.items_per_assignment - n_real)):
        group = [sp for sp in pools if sp.pool.kind == kind]
        quotas.update(zip(group, apportion(total, [sp.weight for sp in group]), strict=True))
    return quotas
