"""What a draft study needs before it opens, each want named with the field to fix: texts for its annotators (a
public title, instructions, consent), and pools that differ in nothing but being real or generated.

A study that compares real Fashion-MNIST with generated digits measures nothing: annotators tell them apart by
what they show, not by how real they look. So pools must be of one dataset (unless the researcher writes why
the mix is wanted) and of one image size (always: annotators would see the difference, and the re-encoding at
opening would refuse it anyway, later). Colour modes may differ: opening serves every image in one mode
(annotation.images), and a size a manifest does not state is left to that re-encoding, which reads the images.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from annotation.models import Study, StudyPool
from runs import pool_files
from runs.models import ImagePool


@dataclass(frozen=True)
class Problem:
    field: str  # the study's field, or "pools"
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class PoolFacts:
    """What the annotators may see of a pool beyond its pixels' realism."""

    dataset: str
    image_size: str  # "28×28" (width × height), or "?" when the manifest does not say
    mode: str  # "L" (grey) or "RGB", or "?"


@functools.lru_cache(maxsize=4096)
def _manifest_layout(pool: ImagePool) -> tuple[str, str]:
    """A written pool's image size and colour mode from its manifest: a pool's images never change once written,
    so each is read once per process (an admin page lists every pool)."""
    manifest = pool_files.manifest(pool)
    height, width = manifest["size"]
    return f"{width}×{height}", str(manifest["mode"])


def pool_facts(pool: ImagePool) -> PoolFacts:
    try:
        size, mode = _manifest_layout(pool)
    except (pool_files.PoolFilesError, ValueError, TypeError):
        size, mode = "?", "?"
    return PoolFacts(dataset=pool.dataset, image_size=size, mode=mode)


def pool_label(pool: ImagePool) -> str:
    """A pool as a researcher chooses it: its dataset, where it comes from, its image size and its count."""
    facts = pool_facts(pool)
    if pool.kind == ImagePool.Kind.GENERATED:
        run = f"run #{pool.run_id} {pool.run.name!r}" if pool.run is not None else "run deleted"
        origin = f"{run}, checkpoint step {pool.step if pool.step is not None else '?'}"
    else:
        origin = f"{pool.split or 'dataset'} split"
    size = f"{facts.image_size} {facts.mode}"
    return f"pool #{pool.pk}: {pool.kind} {facts.dataset}, {origin}, {size}, {pool.size} images"


def problems(study: Study) -> list[Problem]:
    """Everything that keeps ``study`` from opening (empty: it may open). Settings are checked apart
    (actions.studies.study_settings_errors); the items drawn at opening are checked there too (counts, encoding)."""
    found = [
        Problem(name, f"{what} is empty: annotators must read it before they start")
        for name, what in (
            ("title", "the public title (annotators never see the internal name)"),
            ("instructions", "the instructions"),
            ("consent_text", "the consent text"),
        )
        if not getattr(study, name).strip()
    ]
    return found + pool_problems(study, list(study.study_pools.select_related("pool__run")))


def pool_problems(study: Study, study_pools: list[StudyPool]) -> list[Problem]:
    kinds = {sp.pool.kind for sp in study_pools}
    if kinds != {ImagePool.Kind.REAL, ImagePool.Kind.GENERATED}:
        return [Problem("pools", "a study needs a real pool and at least one generated pool")]
    facts = {sp.pool_id: pool_facts(sp.pool) for sp in study_pools}
    compared: list[tuple[str, str, str]] = [("image size", "image_size", "")]
    if not study.mixed_datasets_reason.strip():
        hint = " (to mix datasets on purpose, say why in 'mixed datasets reason')"
        compared.insert(0, ("dataset", "dataset", hint))
    found = []
    for label, attribute, hint in compared:
        values: dict[Any, list[StudyPool]] = {}
        for sp in study_pools:
            value = getattr(facts[sp.pool_id], attribute)
            if value != "?":
                values.setdefault(value, []).append(sp)
        if len(values) > 1:
            groups = "; ".join(
                f"{', '.join(f'pool #{sp.pool_id} ({sp.pool.kind})' for sp in group)} {value}"
                for value, group in values.items()
            )
            found.append(Problem("pools", f"the pools differ in {label}: {groups}{hint}"))
    return found
